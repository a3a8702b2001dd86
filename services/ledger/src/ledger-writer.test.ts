/** The ledger writer on a disk with room for part of a batch: what fits is written, the rest waits. */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { createLogger } from "@llm-router/shared";
import { completedTask } from "../../../test/support/completions.js";
import { DiskSpaceLow, diskRefusal, openLedgerDatabase } from "./db.js";
import { createLedgerWriter } from "./ledger-writer.js";
import { tasks } from "./schema.js";

const log = createLogger({ service: "test", level: "silent" });

describe("the ledger writer below the disk floor", () => {
  it("splits a batch that does not fit, writes the entries that do, and leaves the one that does not to wait", async () => {
    const floor = 64 * 2 ** 20;
    // 50 KB above the floor: a 1 KB message needs 4 KB, a 100 KB one 400 KB.
    const database = await openLedgerDatabase({ dataDir: mkdtempSync(join(tmpdir(), "router-writer-disk-")), log, freeBytesOf: () => floor + 50 * 1024 });
    try {
      const writer = createLedgerWriter({ db: database.db, log, batchSize: 4, flushMs: 10, budgets: [], beforeBatch: database.assertFreeSpace });
      const at = new Date("2026-12-02T06:00:00Z");
      const sizes = { a: 1024, b: 1024, c: 100 * 1024, d: 1024 };
      const outcomes = await Promise.allSettled(Object.entries(sizes).map(([id, bytes]) => writer.record({ kind: "completed", value: completedTask(id, 0, at), bytes })));
      expect(outcomes.map((o) => o.status)).toEqual(["fulfilled", "fulfilled", "rejected", "fulfilled"]);
      expect((outcomes[2] as PromiseRejectedResult).reason).toBeInstanceOf(DiskSpaceLow);
      const written = await database.db.select({ id: tasks.taskId }).from(tasks);
      expect(written.map((r) => r.id).sort()).toEqual(["a", "b", "d"]);
      // The consumers pause until the entry refused has its room.
      expect(diskRefusal(database)).toContain("plus 400 KB for the messages waiting");
      await writer.close();
    } finally {
      await database.close();
    }
  }, 60_000);
});
