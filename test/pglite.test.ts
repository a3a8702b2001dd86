import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { eq } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ledgerSchema, type LedgerDatabase } from "@llm-router/ledger";
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
    const { tasks, decisions, modelCalls } = ledgerSchema;
    const db = ledger.database.db;
    const [task] = await waitFor(async () => {
      const r = await db.select().from(tasks).where(eq(tasks.taskId, "pglite-1"));
      return r.length > 0 ? r : undefined;
    }, { what: "the task in PGlite" });
    expect(task?.status).toBe("succeeded");
    const [decision] = await db.select().from(decisions).where(eq(decisions.taskId, "pglite-1"));
    expect(decision?.model).toBe(task?.model);
    const calls = await db.select().from(modelCalls).where(eq(modelCalls.taskId, "pglite-1"));
    expect(calls).toHaveLength(1);
    expect(calls[0]?.model).toMatch(/^sim:/);
  });
});
