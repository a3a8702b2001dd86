import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { eq } from "drizzle-orm";
import { jetstreamManager } from "@nats-io/jetstream";
import { Registry } from "prom-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ledgerSchema, type LedgerDatabase } from "@llm-router/ledger";
import { requestApi } from "@llm-router/shared";
import { createHarness, waitFor, type Harness, type Stoppable } from "./support/harness.js";

type LedgerOptions = Parameters<Harness["startLedger"]>[0];

/** The four services with the ledger on PGlite in a directory of the describe's own. */
function pipelineOnPglite(ledgerOptions: LedgerOptions = {}): { h: Harness; ledger: Stoppable & { database: LedgerDatabase } } {
  const ctx = {} as { h: Harness; ledger: Stoppable & { database: LedgerDatabase } };
  const dir = mkdtempSync(join(tmpdir(), "router-pglite-"));
  beforeAll(async () => {
    ctx.h = await createHarness();
    ctx.ledger = await ctx.h.startLedger({ pgliteDir: join(dir, "ledger"), ...ledgerOptions });
    await ctx.h.startExecutor();
    await ctx.h.startSelector();
    await ctx.h.startClassifier();
  });
  afterAll(async () => {
    await ctx.h?.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return ctx;
}

const taskRow = (database: LedgerDatabase, id: string) => database.db.select().from(ledgerSchema.tasks).where(eq(ledgerSchema.tasks.taskId, id));

function recorded(database: LedgerDatabase, id: string) {
  return waitFor(async () => {
    const r = await taskRow(database, id);
    return r.length > 0 ? r[0] : undefined;
  }, { what: `task ${id} in PGlite` });
}

describe("the ledger without DATABASE_URL (embedded PGlite)", () => {
  const ctx = pipelineOnPglite();

  it("applies the same migrations and records tasks, decisions and calls", async () => {
    const { h, ledger } = ctx;
    expect(ledger.database.kind).toBe("pglite");
    h.publishRaw(h.topology.subjects["task.submitted"], JSON.stringify({ id: "pglite-1", prompt: "What is JetStream?" }));
    const { decisions, modelCalls } = ledgerSchema;
    const db = ledger.database.db;
    const task = await recorded(ledger.database, "pglite-1");
    expect(task?.status).toBe("succeeded");
    const [decision] = await db.select().from(decisions).where(eq(decisions.taskId, "pglite-1"));
    expect(decision?.model).toBe(task?.model);
    const calls = await db.select().from(modelCalls).where(eq(modelCalls.taskId, "pglite-1"));
    expect(calls).toHaveLength(1);
    expect(calls[0]?.model).toMatch(/^sim:/);
  });
});

describe("the embedded ledger on a disk running out of space", () => {
  // The disk's free space as the ledger sees it; the floor is the default 64 MB.
  const FLOOR = 64 * 2 ** 20;
  let free = 2 ** 40;
  const registry = new Registry();
  const ctx = pipelineOnPglite({ registry, pglite: { freeBytesOf: () => free } });
  const retried = async (): Promise<number> =>
    ((await registry.getSingleMetric("router_stage_messages_total")?.get())?.values ?? []).filter((v) => v.labels.stage === "ledger" && v.labels.outcome === "retry").reduce((n, v) => n + v.value, 0);

  it("pulls nothing below the floor (the completion waits, using up no deliveries), says so, and records it once there is room", async () => {
    const { h, ledger } = ctx;
    const jsm = await jetstreamManager(h.nc);
    free = 10 * 2 ** 20;
    h.publishRaw(h.topology.subjects["task.submitted"], JSON.stringify({ id: "disk-low-1", prompt: "What is JetStream?" }));
    // The completion reaches the ledger's consumer (a pull already waiting may take it, and its
    // batch is refused); then nothing more is pulled: no redelivery, whatever the backoff says.
    const reached = async () => {
      const i = await jsm.consumers.info(h.topology.stream, "ledger-completed");
      return i.num_pending + i.num_ack_pending > 0;
    };
    await waitFor(reached, { what: "the completion at the ledger's consumer" });
    const deliveries = async () => (await jsm.consumers.info(h.topology.stream, "ledger-completed")).delivered.consumer_seq;
    const delivered = await deliveries();
    await new Promise((r) => setTimeout(r, 4000));
    expect(await deliveries()).toBe(delivered);
    expect(await reached()).toBe(true);
    expect(await taskRow(ledger.database, "disk-low-1")).toHaveLength(0);
    expect(await retried()).toBeLessThanOrEqual(1);
    expect(await registry.getSingleMetricAsString("router_ledger_disk_free_bytes")).toContain(`router_ledger_disk_free_bytes ${10 * 2 ** 20}`);
    // router health (exit 1) says why.
    const health = await requestApi(h.nc, "router.health", {}, { prefix: h.topology.subjects.prefix });
    expect(health.ok).toBe(false);
    expect(health.database).toMatchObject({ ok: false, kind: "pglite" });
    expect(health.database.error).toMatch(/^10 MB free on the disk under .*, below ledger.minFreeDiskMb \(64 MB\)( plus \d+ KB for the messages waiting)?: the ledger writes nothing until there is room/);

    // Just above the floor, but not with room for the message refused (4× its bytes): still paused,
    // and router health says what it waits for.
    free = FLOOR + 1024;
    await new Promise((r) => setTimeout(r, 2500));
    expect(await deliveries()).toBe(delivered);
    expect((await requestApi(h.nc, "router.health", {}, { prefix: h.topology.subjects.prefix })).database.error).toMatch(/below ledger.minFreeDiskMb \(64 MB\) plus \d+ KB for the messages waiting/);
    expect(await taskRow(ledger.database, "disk-low-1")).toHaveLength(0);

    free = 2 ** 40;
    expect((await recorded(ledger.database, "disk-low-1"))?.status).toBe("succeeded");
    expect((await requestApi(h.nc, "router.health", {}, { prefix: h.topology.subjects.prefix })).database).toEqual({ ok: true, kind: "pglite" });
  }, 60_000);
});
