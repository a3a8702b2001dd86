import { Registry } from "prom-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { jetstream } from "@nats-io/jetstream";
import { budgetStateKey, type BudgetState, type TaskCompleted } from "@llm-router/shared";
import { completedTask } from "./support/completions.js";
import { createHarness, waitFor, type Harness } from "./support/harness.js";

const DAY1 = new Date("2026-03-10T23:59:00.000Z");
const DAY2 = new Date("2026-03-11T00:00:30.000Z");

const completion = (id: string, costUsd: number, at: Date): TaskCompleted =>
  completedTask(id, costUsd, at, {
    model: "sim:cloud-large",
    seed: 3_000_000_000,
    classification: { complexity: "expert", taskType: "reasoning", pFail: 0.7 },
  });

describe("the ledger", () => {
  let h: Harness;
  let now = DAY1;
  const registry = new Registry();

  beforeAll(async () => {
    h = await createHarness({ config: { budget: { limitUsd: 0.01, window: "day" } } });
    await h.startLedger({ now: () => now, budgetCheckMs: 50, registry });
  });
  afterAll(async () => {
    await h?.close();
  });

  // Distinct msgIDs defeat JetStream's dedup, as a redelivery after the duplicate window would.
  const publishCompleted = (c: TaskCompleted, msgID: string) => jetstream(h.nc).publish(h.topology.subjects["task.completed"], JSON.stringify(c), { msgID });

  it("counts a completion delivered twice once, in the rows and in the spend", async () => {
    const c = completion("ledger-dup", 0.004, DAY1);
    await publishCompleted(c, "a");
    await publishCompleted(c, "b");
    await publishCompleted(completion("ledger-other", 0.000000001, DAY1), "c");
    await waitFor(async () => (await h.query("SELECT 1 FROM tasks WHERE task_id = 'ledger-other'")).length === 1);
    await new Promise((r) => setTimeout(r, 200));
    expect(await h.query("SELECT task_id FROM tasks ORDER BY task_id")).toEqual([{ task_id: "ledger-dup" }, { task_id: "ledger-other" }]);
    expect(await h.query("SELECT call_id FROM model_calls ORDER BY call_id")).toHaveLength(2);
    // Exact to the nano-dollar: numeric, not float.
    expect(await h.query("SELECT spent_usd FROM budget_spend")).toEqual([{ spent_usd: "0.004000001" }]);
    const [decision] = await h.query<{ seed: string }>("SELECT seed FROM decisions WHERE task_id = 'ledger-dup'");
    expect(Number(decision?.seed)).toBe(3_000_000_000);
    // The tasks recorded, not the messages: the redelivery counts nothing.
    const recorded = (await registry.getSingleMetric("router_ledger_tasks_recorded_total")?.get())?.values ?? [];
    expect(recorded.map((v) => [v.labels.status, v.value])).toEqual([
      ["succeeded", 2],
      ["failed", 0],
    ]);

    // Redelivered later, in a batch (and transaction) of its own: still nothing added.
    await publishCompleted(c, "a-later");
    await waitFor(async () => {
      const info = await h.jsm.consumers.info(h.topology.stream, "ledger-completed");
      return (info.num_pending === 0 && info.num_ack_pending === 0) || undefined;
    }, { what: "the ledger to ack the later redelivery" });
    expect(await h.query("SELECT call_id FROM model_calls ORDER BY call_id")).toHaveLength(2);
    expect(await h.query("SELECT spent_usd FROM budget_spend")).toEqual([{ spent_usd: "0.004000001" }]);
  });

  it("exceeds the budget within the window and restores it when the window rolls over", async () => {
    const exceeded = h.collect(h.topology.subjects["budget.exceeded"]);
    const restored = h.collect(h.topology.subjects["budget.restored"]);
    await publishCompleted(completion("ledger-big", 0.01, DAY1), "d");
    const e = await waitFor(() => exceeded.json<BudgetState>()[0], { what: "budget.exceeded" });
    expect(e.windowStart).toBe("2026-03-10T00:00:00.000Z");
    expect(e.spentUsd).toBeCloseTo(0.014000001, 9);

    now = DAY2;
    const r = await waitFor(() => restored.json<BudgetState>()[0], { what: "budget.restored after rollover" });
    expect(r.windowStart).toBe("2026-03-11T00:00:00.000Z");
    expect(r.spentUsd).toBe(0);
    expect((await h.budgetKv.get(budgetStateKey("global", "day")))?.json<BudgetState>().state).toBe("ok");
    expect(exceeded.json()).toHaveLength(1);
    exceeded.stop();
    restored.stop();
  });

  it("records each call's prompt-cache reads and writes, 0 where the call reported none", async () => {
    const c = completion("ledger-cache", 0.0000001, DAY1);
    const first = c.calls[0]!;
    const cached: TaskCompleted = {
      ...c,
      calls: [{ ...first, ok: false, error: { code: "PROVIDER_UNAVAILABLE", message: "503" }, inputTokens: 0, outputTokens: 0, costUsd: 0 }, { ...first, callId: "ledger-cache:2", attempt: 2, inputTokens: 4000, cacheReadTokens: 3584, cacheWriteTokens: 256 }],
    };
    await publishCompleted(cached, "cache");
    const rows = await waitFor(async () => {
      const r = await h.query<{ call_id: string; input_tokens: number; cache_read_tokens: number; cache_write_tokens: number }>(
        "SELECT call_id, input_tokens, cache_read_tokens, cache_write_tokens FROM model_calls WHERE task_id = 'ledger-cache' ORDER BY attempt",
      );
      return r.length === 2 ? r : undefined;
    });
    expect(rows).toEqual([
      { call_id: "ledger-cache:1", input_tokens: 0, cache_read_tokens: 0, cache_write_tokens: 0 },
      { call_id: "ledger-cache:2", input_tokens: 4000, cache_read_tokens: 3584, cache_write_tokens: 256 },
    ]);
  });

  it("records feedback once per feedback id, and joins it to the task", async () => {
    h.publishRaw(h.topology.subjects["task.feedback"], JSON.stringify({ id: "fb-1", taskId: "ledger-dup", score: 0.25, comment: "too vague" }));
    h.publishRaw(h.topology.subjects["task.feedback"], JSON.stringify({ id: "fb-1", taskId: "ledger-dup", score: 0.25, comment: "too vague" }));
    h.publishRaw(h.topology.subjects["task.feedback"], JSON.stringify({ taskId: "ledger-dup", success: true }));
    const rows = await waitFor(async () => {
      const r = await h.query<{ score: number | null; success: boolean | null; model: string }>(
        "SELECT f.score, f.success, t.model FROM feedback f JOIN tasks t USING (task_id) ORDER BY f.received_at",
      );
      return r.length >= 2 ? r : undefined;
    });
    await new Promise((r) => setTimeout(r, 200));
    expect(await h.query("SELECT feedback_id FROM feedback")).toHaveLength(2);
    expect(rows).toEqual([
      { score: 0.25, success: null, model: "sim:cloud-large" },
      { score: null, success: true, model: "sim:cloud-large" },
    ]);
  });

  it("records text with NUL characters (U+FFFD in their place) without failing the batch they share", async () => {
    const withNul = completedTask("ledger-nul", 0, DAY2, { tenant: "nul-tenant" });
    withNul.task.metadata = { note: "a\u0000b", nested: { list: ["\u0000"] } };
    const innocent = completedTask("ledger-innocent", 0, DAY2);
    await publishCompleted(withNul, "nul-1");
    await publishCompleted(innocent, "innocent-1");
    h.publishRaw(h.topology.subjects["task.feedback"], JSON.stringify({ id: "fb-nul", taskId: "ledger-innocent", score: 1, comment: "great\u0000!" }));
    const rows = await waitFor(async () => {
      const r = await h.query<{ task_id: string; metadata: unknown }>("SELECT task_id, metadata FROM tasks WHERE task_id IN ('ledger-nul', 'ledger-innocent') ORDER BY task_id");
      return r.length === 2 ? r : undefined;
    }, { what: "both tasks recorded" });
    expect(rows[1]).toEqual({ task_id: "ledger-nul", metadata: { note: "a\ufffdb", nested: { list: ["\ufffd"] } } });
    const comments = await waitFor(async () => {
      const r = await h.query<{ comment: string }>("SELECT comment FROM feedback WHERE feedback_id = 'fb-nul'");
      return r.length === 1 ? r : undefined;
    }, { what: "the feedback recorded" });
    expect(comments[0]!.comment).toBe("great\ufffd!");
  });

  it("records and charges the calls of a task id reused by a new submission, and still counts a redelivery once", async () => {
    const spentToday = async () => Number((await h.query<{ spent_usd: string }>("SELECT spent_usd FROM budget_spend WHERE scope = 'global' AND window_start = '2026-03-11T00:00:00Z'"))[0]?.spent_usd ?? 0);
    const callsOf = (id: string) => h.query<{ call_id: string; cost_usd: string }>("SELECT call_id, cost_usd FROM model_calls WHERE task_id = $1 ORDER BY started_at", [id]);
    const drained = () =>
      waitFor(async () => {
        const info = await h.jsm.consumers.info(h.topology.stream, "ledger-completed");
        return (info.num_pending === 0 && info.num_ack_pending === 0) || undefined;
      }, { what: "the ledger to ack every completion" });
    const HOUR = 3_600_000;
    const first = completedTask("ledger-reuse", 0.001, DAY2, { model: "sim:cloud-mini" });
    await publishCompleted(first, "reuse-1");
    await waitFor(async () => (await callsOf("ledger-reuse")).length === 1 || undefined, { what: "the first run recorded" });
    const before = await spentToday();
    // The same id an hour later, from a new submission (past the stream's duplicate window),
    // published beside a redelivery of the first run, then redelivered itself.
    const again = completedTask("ledger-reuse", 0.002, new Date(DAY2.getTime() + HOUR), { model: "sim:cloud-mini" });
    await Promise.all([publishCompleted(again, "reuse-2"), publishCompleted(first, "reuse-1-again")]);
    await publishCompleted(again, "reuse-2-again");
    await drained();
    expect(await callsOf("ledger-reuse")).toEqual([
      { call_id: "ledger-reuse:1", cost_usd: "0.001000000" },
      { call_id: `ledger-reuse:1@${Date.parse(again.task.submittedAt)}`, cost_usd: "0.002000000" },
    ]);
    expect(await spentToday()).toBeCloseTo(before + 0.002, 9);
    // The task row keeps the first run.
    expect(await h.query("SELECT cost_usd FROM tasks WHERE task_id = 'ledger-reuse'")).toEqual([{ cost_usd: "0.001000000" }]);

    // Both runs of another id arriving together, neither recorded before: both charged.
    const runA = completedTask("ledger-reuse-b", 0.001, new Date(DAY2.getTime() + 2 * HOUR));
    const runB = completedTask("ledger-reuse-b", 0.002, new Date(DAY2.getTime() + 3 * HOUR));
    await Promise.all([publishCompleted(runA, "reuse-b-1"), publishCompleted(runB, "reuse-b-2")]);
    await drained();
    expect((await callsOf("ledger-reuse-b")).map((c) => c.cost_usd)).toEqual(["0.001000000", "0.002000000"]);
    expect(await spentToday()).toBeCloseTo(before + 0.005, 9);
    // One per new run, however the redeliveries fell into batches.
    const reused = (await registry.getSingleMetric("router_ledger_reused_task_ids_total")?.get())?.values ?? [];
    expect(reused.map((v) => v.value)).toEqual([2]);
  });

  it("records lone surrogates as U+FFFD, and a completion the database refuses fails alone, dead-lettered with the reason", async () => {
    const surrogates = completedTask("ledger-surrogate", 0, DAY2);
    surrogates.task.metadata = { note: "a\ud800b", "\udfff": ["\udc00"], fine: "\u{1F600}", escaped: "\\ud800\udc00" };
    // $10^12 does not fit the ledger's numeric(20, 9): no retry can ever write it.
    const poison = completedTask("ledger-poison", 1e12, DAY2);
    const innocent = completedTask("ledger-innocent-2", 0, DAY2);
    // Published together, so they share a batch (flushMs 20).
    await Promise.all([publishCompleted(surrogates, "sur-1"), publishCompleted(poison, "poison-1"), publishCompleted(innocent, "innocent-2")]);
    const dead = await waitFor(async () => {
      const r = await h.query<{ code: string; reason: string; delivery_count: number }>("SELECT code, reason, delivery_count FROM dead_letters WHERE task_id = 'ledger-poison'");
      return r.length === 1 ? r[0] : undefined;
    }, { what: "the refused completion dead-lettered" });
    expect(dead.code).toBe("MESSAGE_INVALID");
    expect(dead.reason).toMatch(/^the database refused this entry \(SQLSTATE 22003\): numeric field overflow/);
    // Refused on its first delivery: it was not retried (and did not hold the others back).
    expect(dead.delivery_count).toBe(1);
    const rows = await waitFor(async () => {
      const r = await h.query<{ task_id: string; metadata: unknown }>("SELECT task_id, metadata FROM tasks WHERE task_id LIKE 'ledger-%' AND task_id IN ('ledger-surrogate', 'ledger-innocent-2', 'ledger-poison') ORDER BY task_id");
      return r.length === 2 ? r : undefined;
    }, { what: "the other two completions recorded" });
    expect(rows).toEqual([
      { task_id: "ledger-innocent-2", metadata: null },
      { task_id: "ledger-surrogate", metadata: { note: "a\ufffdb", "\ufffd": ["\ufffd"], fine: "\u{1F600}", escaped: "\\ud800\ufffd" } },
    ]);
    expect(await h.query("SELECT 1 FROM model_calls WHERE task_id = 'ledger-poison'")).toEqual([]);
  });
});

describe("the ledger's budget metrics", () => {
  it("reports a scope exceeded when any of its windows is, whatever order the rules come in", async () => {
    const registry = new Registry();
    const h = await createHarness({
      config: {
        budgets: [
          { scope: "global", window: "day", limitUsd: 0.001 },
          { scope: "global", window: "month", limitUsd: 100 },
        ],
      },
    });
    try {
      await h.startLedger({ now: () => DAY1, budgetCheckMs: 50, registry });
      await jetstream(h.nc).publish(h.topology.subjects["task.completed"], JSON.stringify(completion("metrics-1", 0.002, DAY1)), { msgID: "metrics-1" });
      const exceeded = async () => (await registry.getSingleMetric("router_budget_exceeded")?.get())?.values.find((v) => v.labels.scope === "global")?.value;
      // The day's $0.001 is spent past; the month's $100 is not: the scope is exceeded.
      expect(await waitFor(async () => ((await exceeded()) === 1 ? 1 : undefined), { what: "router_budget_exceeded{scope=global} 1" })).toBe(1);
    } finally {
      await h.close();
    }
  });
});
