import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { sql } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { LedgerDatabase } from "@llm-router/ledger";
import { createHarness, waitFor, type Harness, type Stoppable } from "./support/harness.js";

describe("the ledger without DATABASE_URL (embedded PGlite)", () => {
  let h: Harness;
  let ledger: Stoppable & { database: LedgerDatabase };
  const dir = mkdtempSync(join(tmpdir(), "router-pglite-"));

  beforeAll(async () => {
    h = await createHarness();
    ledger = await h.startLedger({ pgliteDir: join(dir, "ledger") });
    await h.startExecutor();
    await h.startSelector();
    await h.startClassifier();
  });
  afterAll(async () => {
    await h?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("applies the same migrations and records tasks, decisions and calls", async () => {
    expect(ledger.database.kind).toBe("pglite");
    h.publishRaw(h.topology.subjects["task.submitted"], JSON.stringify({ id: "pglite-1", prompt: "What is JetStream?" }));
    const rows = await waitFor(async () => {
      const r = await ledger.database.db.execute(
        sql`SELECT t.status, d.model AS decided, count(c.call_id)::int AS calls FROM tasks t JOIN decisions d USING (task_id) JOIN model_calls c USING (task_id) WHERE t.task_id = 'pglite-1' GROUP BY 1, 2`,
      );
      const list = (r as unknown as { rows: { status: string; decided: string; calls: number }[] }).rows;
      return list.length > 0 ? list : undefined;
    }, { what: "the task in PGlite" });
    expect(rows[0]).toMatchObject({ status: "succeeded", calls: 1 });
    expect(rows[0]?.decided).toMatch(/^sim:/);
  });
});
