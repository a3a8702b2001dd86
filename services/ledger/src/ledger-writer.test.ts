/** The ledger writer on a disk with room for part of a batch: what fits is written, the rest waits. */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { createLogger } from "@llm-router/shared";
import { completedTask } from "../../../test/support/completions.js";
import { DiskSpaceLow, diskRefusal, openLedgerDatabase, type LedgerDatabase } from "./db.js";
import { createLedgerWriter } from "./ledger-writer.js";
import { tasks } from "./schema.js";

const log = createLogger({ service: "test", level: "silent" });

const FLOOR = 64 * 2 ** 20;
const AT = new Date("2026-12-02T06:00:00Z");

/**
 * A writer of `batchSize` on PGlite whose disk has `room` bytes above the default floor; `use`
 * records `sizes` (task id → message bytes) and returns each entry's outcome.
 */
async function withRoom(room: number, batchSize: number, use: (o: { database: LedgerDatabase; record: (sizes: Record<string, number>) => Promise<PromiseSettledResult<void>[]> }) => Promise<void>): Promise<void> {
  const database = await openLedgerDatabase({ dataDir: mkdtempSync(join(tmpdir(), "router-writer-disk-")), log, freeBytesOf: () => FLOOR + room });
  const writer = createLedgerWriter({ db: database.db, log, batchSize, flushMs: 10, budgets: [], beforeBatch: database.assertFreeSpace });
  try {
    await use({ database, record: (sizes) => Promise.allSettled(Object.entries(sizes).map(([id, bytes]) => writer.record({ kind: "completed", value: completedTask(id, 0, AT), bytes }))) });
  } finally {
    await writer.close();
    await database.close();
  }
}

const written = async (database: LedgerDatabase): Promise<string[]> => (await database.db.select({ id: tasks.taskId }).from(tasks)).map((r) => r.id).sort();

describe("the ledger writer below the disk floor", () => {
  it("splits a batch that does not fit, writes the entries that do, and leaves the one that does not to wait", async () => {
    // 50 KB above the floor: a 1 KB message needs 4 KB, a 100 KB one 400 KB.
    await withRoom(50 * 1024, 4, async ({ database, record }) => {
      const outcomes = await record({ a: 1024, b: 1024, c: 100 * 1024, d: 1024 });
      expect(outcomes.map((o) => o.status)).toEqual(["fulfilled", "fulfilled", "rejected", "fulfilled"]);
      expect((outcomes[2] as PromiseRejectedResult).reason).toBeInstanceOf(DiskSpaceLow);
      expect(await written(database)).toEqual(["a", "b", "d"]);
      // The consumers pause until the entry refused has its room.
      expect(diskRefusal(database)).toContain("plus 400 KB for the messages waiting");
    });
  }, 60_000);

  it("owes nothing for a batch whose parts all fit: the consumers do not pause", async () => {
    // Room for either 1 KB entry (4 KB), not for both at once (8 KB).
    await withRoom(6 * 1024, 2, async ({ database, record }) => {
      expect((await record({ a: 1024, b: 1024 })).map((o) => o.status)).toEqual(["fulfilled", "fulfilled"]);
      expect(await written(database)).toEqual(["a", "b"]);
      expect(diskRefusal(database)).toBeUndefined();
    });
  }, 60_000);
});
