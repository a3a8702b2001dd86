/** The embedded PGlite ledger database: one process per data directory, and errors that say where and why. */
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { createLogger } from "@llm-router/shared";
import { DATA_DIR_LOCK, openLedgerDatabase } from "./db.js";

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

  it("names the directory and the reason when it cannot be opened", async () => {
    const file = join(mkdtempSync(join(tmpdir(), "router-pglite-lock-")), "not-a-dir");
    writeFileSync(file, "x");
    await expect(open(join(file, "data"))).rejects.toThrow(new RegExp(`cannot open the embedded ledger database in ${file}/data: .*(ENOTDIR|EEXIST)`));
  });
});
