/** The embedded PGlite ledger database: one process per data directory, and errors that say where and why. */
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { describe, expect, it } from "vitest";
import { createLogger } from "@llm-router/shared";
import { DATA_DIR_LOCK, diskRefusal, openLedgerDatabase } from "./db.js";

const log = createLogger({ service: "test", level: "silent" });
const open = (dataDir: string) => openLedgerDatabase({ dataDir, log });

describe("the embedded ledger database (PGlite)", () => {
  it("holds its data directory: a second open is refused until the first closes", async () => {
    const dir = mkdtempSync(join(tmpdir(), "router-pglite-lock-"));
    const first = await open(dir);
    try {
      expect(existsSync(join(dir, DATA_DIR_LOCK))).toBe(true);
      await expect(open(dir)).rejects.toThrow(`cannot open the embedded ledger database in ${dir}: it is already open in this process`);
    } finally {
      await first.close();
    }
    expect(existsSync(join(dir, DATA_DIR_LOCK))).toBe(false);
    await (await open(dir)).close();
  }, 60_000);

  it("refuses a directory another live process holds, naming it, and takes over one a gone process left", async () => {
    const dir = mkdtempSync(join(tmpdir(), "router-pglite-lock-"));
    const other = spawn("sleep", ["30"]);
    try {
      writeFileSync(join(dir, DATA_DIR_LOCK), `${other.pid}\n`);
      await expect(open(dir)).rejects.toThrow(new RegExp(`it is in use by process ${other.pid} \\(another ledger, or npm run replay\\)`));
    } finally {
      other.kill();
    }
    // A crashed run's lock: its process has exited.
    const gone = spawnSync("true").pid;
    writeFileSync(join(dir, DATA_DIR_LOCK), `${gone}\n`);
    await (await open(dir)).close();
  }, 60_000);

  it("refuses to open on a disk with less free space than the floor (PGlite would hang on a write that does not fit)", async () => {
    const dir = mkdtempSync(join(tmpdir(), "router-pglite-disk-"));
    // The real filesystem's free space, against a floor no disk meets.
    await expect(openLedgerDatabase({ dataDir: dir, log, minFreeBytes: Number.MAX_SAFE_INTEGER })).rejects.toThrow(
      new RegExp(`cannot open the embedded ledger database in ${dir}: \\d+ MB free on the disk under ${dir}, below ledger.minFreeDiskMb \\(\\d+ MB\\): the ledger writes nothing until there is room`),
    );
    // Refused before anything was written: no lock left, no database started.
    expect(existsSync(join(dir, DATA_DIR_LOCK))).toBe(false);
    expect(existsSync(join(dir, "PG_VERSION"))).toBe(false);
    // 0 turns the floor off; a floor the disk meets opens.
    await (await openLedgerDatabase({ dataDir: dir, log, minFreeBytes: 0, freeBytesOf: () => 0 })).close();
    const database = await openLedgerDatabase({ dataDir: dir, log, minFreeBytes: 2 ** 20 });
    try {
      expect(database.freeBytes?.()).toBeGreaterThan(2 ** 20);
      expect(() => database.assertFreeSpace?.()).not.toThrow();
    } finally {
      await database.close();
    }
  }, 60_000);

  it("leaves room above the floor for the batch about to be written, and pauses for a message refused until it fits", async () => {
    const dir = mkdtempSync(join(tmpdir(), "router-pglite-disk-"));
    const floor = 64 * 2 ** 20;
    let free = floor + 2 * 2 ** 20;
    // What it logs, as JSON lines.
    const lines: { level: string; msg: string }[] = [];
    const destination = new Writable({
      write(chunk: Buffer, _encoding, done) {
        lines.push(JSON.parse(chunk.toString()) as { level: string; msg: string });
        done();
      },
    });
    const logged = createLogger({ service: "test", level: "info", destination });
    const database = await openLedgerDatabase({ dataDir: dir, log: logged, freeBytesOf: () => free });
    try {
      lines.length = 0;
      // 2 MB over the default floor: small batches go; a batch of several messages, 1 MB (about 4 MB on
      // disk), is refused to be written in parts, owing nothing and saying no low disk.
      expect(() => database.assertFreeSpace?.(100_000)).not.toThrow();
      expect(() => database.assertFreeSpace?.(2 ** 20)).toThrow(`66 MB free on the disk under ${dir}: not enough above ledger.minFreeDiskMb (64 MB) for a batch of 4 MB; written in parts`);
      expect(diskRefusal(database)).toBeUndefined();
      expect(lines).toEqual([]);
      // A single message refused owes its room: the plain check (pulls, health) refuses too, so nothing more is pulled for it.
      expect(() => database.assertFreeSpace?.(2 ** 20, true)).toThrow("plus 4 MB for the messages waiting");
      expect(lines.map((l) => l.level)).toEqual(["error"]);
      expect(diskRefusal(database)).toBe(`66 MB free on the disk under ${dir}, below ledger.minFreeDiskMb (64 MB) plus 4 MB for the messages waiting: the ledger writes nothing until there is room (free space there, or set DATABASE_URL to use a Postgres server); its messages wait in the stream`);
      // A smaller one refused too: the smallest is what the pause waits for.
      free = floor + 1024;
      expect(() => database.assertFreeSpace?.(1000, true)).toThrow("plus 4 KB for the messages waiting");
      expect(diskRefusal(database)).toContain("plus 4 KB for the messages waiting");
      // Room for it: pulls go on (said once), and once a batch at least that large is written the debt is gone.
      free = floor + 8192;
      expect(diskRefusal(database)).toBeUndefined();
      expect(lines.map((l) => l.msg).at(-1)).toBe("the ledger's disk has room again: writing resumes");
      expect(() => database.assertFreeSpace?.(1000)).not.toThrow();
      free = floor;
      expect(diskRefusal(database)).toBeUndefined();
    } finally {
      await database.close();
    }
  }, 60_000);

  it("names the directory and the reason when it cannot be opened", async () => {
    const file = join(mkdtempSync(join(tmpdir(), "router-pglite-lock-")), "not-a-dir");
    writeFileSync(file, "x");
    await expect(open(join(file, "data"))).rejects.toThrow(new RegExp(`cannot open the embedded ledger database in ${file}/data: .*(ENOTDIR|EEXIST)`));
  });
});
