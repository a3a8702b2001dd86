/**
 * A budget rule added in the middle of a window, on real NATS and Postgres: the ledger restarted
 * with the new rule counts the window's calls recorded before it (per tenant, per run, within the
 * window's bounds), steps the scopes down the ladder at once, and never counts a call twice — not
 * on a second restart, not for the calls recorded after.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { jetstream } from "@nats-io/jetstream";
import { budgetStateKey, parseConfig, type BudgetState, type TaskCompleted } from "@llm-router/shared";
import { completedTask, type CompletionFields } from "./support/completions.js";
import { createHarness, testConfigInput, waitFor, type Harness, type Stoppable } from "./support/harness.js";

const AT = new Date("2026-04-02T10:15:00.000Z");
const HOUR = 3_600_000;

describe("a budget rule added mid-window", () => {
  let h: Harness;
  let ledger: Stoppable;

  const withBudgets = (budgets: unknown[]) => parseConfig(testConfigInput(h.id, { budgets }), { NATS_URL: h.natsUrl }).config;
  const GLOBAL_ONLY = [{ scope: "global", window: "month", limitUsd: 100 }];
  const WITH_NEW_RULES = [...GLOBAL_ONLY, { scope: "tenant", window: "day", limitUsd: 0.01 }, { scope: "run", window: "hour", limitUsd: 0.002, softRatio: 0.5 }];

  const publish = (id: string, costUsd: number, at: Date, fields: CompletionFields) =>
    jetstream(h.nc).publish(h.topology.subjects["task.completed"], JSON.stringify(completedTask(id, costUsd, at, fields) satisfies TaskCompleted), { msgID: `${id}:completed` });
  const spend = async () =>
    Object.fromEntries(
      (await h.query<{ scope: string; window: string; window_start: Date; spent_usd: string }>("SELECT scope, \"window\", window_start, spent_usd FROM budget_spend ORDER BY 1, 2, 3")).map((r) => [
        `${r.scope} ${r.window} ${new Date(r.window_start).toISOString()}`,
        r.spent_usd,
      ]),
    );
  const stateOf = async (scope: string, window: "hour" | "day" | "month") => {
    const entry = await h.budgetKv.get(budgetStateKey(scope, window));
    return entry?.operation === "PUT" ? entry.json<BudgetState>() : undefined;
  };

  beforeAll(async () => {
    h = await createHarness({ config: { budgets: GLOBAL_ONLY } });
    ledger = await h.startLedger({ now: () => AT, budgetCheckMs: 50 });
  });
  afterAll(async () => {
    await h?.close();
  });

  it("counts the calls recorded earlier in the window once the rule is configured, and only once", async () => {
    await publish("acme-run1", 0.009, AT, { tenant: "acme", runId: "r1" });
    await publish("acme-run2", 0.004, new Date(AT.getTime() - 2 * HOUR), { tenant: "acme", runId: "r2" }); // today, an earlier hour
    await publish("acme-yesterday", 0.5, new Date(AT.getTime() - 24 * HOUR), { tenant: "acme", runId: "r1" }); // this month, not today
    await publish("beta-1", 0.001, AT, { tenant: "beta" });
    await waitFor(async () => (await spend())["global month 2026-04-01T00:00:00.000Z"] === "0.514000000", { what: "the month's spend under the global rule" });
    // Only the configured rule was counted.
    expect(Object.keys(await spend())).toEqual(["global month 2026-04-01T00:00:00.000Z"]);

    const exceeded = h.collect(h.topology.subjects["budget.exceeded"]);
    await ledger.stop();
    ledger = await h.startLedger({ config: withBudgets(WITH_NEW_RULES), now: () => AT, budgetCheckMs: 50 });
    const counted = {
      "global month 2026-04-01T00:00:00.000Z": "0.514000000",
      // Today's calls by tenant: yesterday's $0.50 is outside the window.
      "tenant:acme day 2026-04-02T00:00:00.000Z": "0.013000000",
      "tenant:beta day 2026-04-02T00:00:00.000Z": "0.001000000",
      // This hour's calls by run: r2's call was two hours ago; beta's task has no run.
      "run:r1 hour 2026-04-02T10:00:00.000Z": "0.009000000",
    };
    expect(await spend()).toEqual(counted);
    // The ladder sees it at once: acme and r1 are past their limits, beta is not.
    expect(await stateOf("tenant:acme", "day")).toMatchObject({ state: "exceeded", spentUsd: 0.013 });
    expect(await stateOf("run:r1", "hour")).toMatchObject({ state: "exceeded" });
    expect((await stateOf("tenant:beta", "day"))?.state).toBe("ok");
    await waitFor(() => exceeded.json<BudgetState>().length >= 2, { what: "budget.exceeded for acme and r1" });
    expect(exceeded.json<BudgetState>().map((e) => e.scope).sort()).toEqual(["run:r1", "tenant:acme"]);
    exceeded.stop();

    // A second restart finds nothing to add: the counted spend already covers the calls.
    await ledger.stop();
    ledger = await h.startLedger({ config: withBudgets(WITH_NEW_RULES), now: () => AT, budgetCheckMs: 50 });
    expect(await spend()).toEqual(counted);

    // Calls recorded afterwards are added once, by the writer, on top.
    await publish("acme-run1-later", 0.001, AT, { tenant: "acme", runId: "r1" });
    await waitFor(async () => (await spend())["tenant:acme day 2026-04-02T00:00:00.000Z"] === "0.014000000", { what: "acme's later call" });
    expect(await spend()).toEqual({
      ...counted,
      "global month 2026-04-01T00:00:00.000Z": "0.515000000",
      "tenant:acme day 2026-04-02T00:00:00.000Z": "0.014000000",
      "run:r1 hour 2026-04-02T10:00:00.000Z": "0.010000000",
    });
  });

  it("restores a scope when its window ends, and drops its ok state from KV once another has ended", async () => {
    let clock = AT;
    await ledger.stop();
    ledger = await h.startLedger({ config: withBudgets(WITH_NEW_RULES), now: () => clock, budgetCheckMs: 50 });
    expect((await stateOf("run:r1", "hour"))?.state).toBe("exceeded");
    // The next hour: r1's window rolled over, its spend is 0 again.
    clock = new Date(AT.getTime() + HOUR);
    await waitFor(async () => (await stateOf("run:r1", "hour"))?.state === "ok" || undefined, { what: "r1 restored in the next hour" });
    // The hour after: r1 spent nothing and is ok, its state says nothing the selectors need.
    clock = new Date(AT.getTime() + 2 * HOUR);
    await waitFor(async () => (await stateOf("run:r1", "hour")) === undefined || undefined, { what: "r1's ended ok state dropped" });
    // States of windows still running stay, ok ones included.
    expect((await stateOf("tenant:beta", "day"))?.state).toBe("ok");
    expect((await stateOf("tenant:acme", "day"))?.state).toBe("exceeded");
    expect((await stateOf("global", "month"))?.state).toBe("ok");
  });

  it("drops the states of a rule taken out of the config; selectors stop routing by them at once", async () => {
    const clock = new Date(AT.getTime() + 2 * HOUR);
    await ledger.stop();
    expect((await stateOf("tenant:acme", "day"))?.state).toBe("exceeded");
    // A selector configured without the tenant rule, while the ledger is down: acme's exceeded
    // state is still in KV but no rule of this selector writes it.
    const selector = await h.startSelector({ config: withBudgets(GLOBAL_ONLY), now: () => clock });
    expect(selector.budget({ tenant: "acme" }).state).toBe("ok");
    expect(selector.budget().state).toBe("ok");
    // One configured with it routes acme by it — until its window has ended.
    let later = clock;
    const withRule = await h.startSelector({ config: withBudgets(WITH_NEW_RULES), now: () => later });
    expect(withRule.budget({ tenant: "acme" })).toMatchObject({ state: "exceeded", scope: "tenant:acme" });
    expect(withRule.budget().state).toBe("exceeded");
    later = new Date("2026-04-03T00:00:01.000Z");
    expect(withRule.budget({ tenant: "acme" }).state).toBe("ok");
    expect(withRule.budget().state).toBe("ok");
    // The ledger, restarted without the rule, purges the state.
    ledger = await h.startLedger({ config: withBudgets(GLOBAL_ONLY), now: () => clock, budgetCheckMs: 50 });
    await waitFor(async () => (await stateOf("tenant:acme", "day")) === undefined || undefined, { what: "acme's state purged" });
    expect((await stateOf("global", "month"))?.state).toBe("ok");
    // And with no budget left at all, the last state goes too.
    await ledger.stop();
    ledger = await h.startLedger({ config: withBudgets([]), now: () => clock, budgetCheckMs: 50 });
    expect(await stateOf("global", "month")).toBeUndefined();
  });
});

describe("a task id reused by another run", () => {
  let h: Harness;
  let ledger: Stoppable;
  const RULES = [
    { scope: "run", window: "day", limitUsd: 1 },
    { scope: "tenant", window: "day", limitUsd: 10 },
  ];

  const publish = (c: TaskCompleted, msgID: string) => jetstream(h.nc).publish(h.topology.subjects["task.completed"], JSON.stringify(c), { msgID });
  const spend = async () =>
    Object.fromEntries((await h.query<{ scope: string; spent_usd: string }>("SELECT scope, spent_usd FROM budget_spend ORDER BY scope")).map((r) => [r.scope, r.spent_usd]));
  const restart = async () => {
    await ledger.stop();
    ledger = await h.startLedger({ now: () => AT, budgetCheckMs: 50 });
  };

  beforeAll(async () => {
    h = await createHarness({ config: { budgets: RULES } });
    ledger = await h.startLedger({ now: () => AT, budgetCheckMs: 50 });
  });
  afterAll(async () => {
    await h?.close();
  });

  it("charges each run its own calls after a restart, though the decision row keeps the first run", async () => {
    // An agent framework names its tasks step-1, step-2… in every run: the second run's step-1
    // reuses the first run's id (past the stream's duplicate window), under another tenant too.
    await publish(completedTask("step-1", 0.3, AT, { tenant: "acme", runId: "run-A" }), "run-A:step-1");
    await waitFor(async () => (await h.query("SELECT 1 FROM model_calls")).length === 1 || undefined, { what: "run A's call" });
    await publish(completedTask("step-1", 0.6, new Date(AT.getTime() + 60_000), { tenant: "beta", runId: "run-B" }), "run-B:step-1");
    await waitFor(async () => (await h.query("SELECT 1 FROM model_calls")).length === 2 || undefined, { what: "run B's call" });
    const own = { "run:run-A": "0.300000000", "run:run-B": "0.600000000", "tenant:acme": "0.300000000", "tenant:beta": "0.600000000" };
    expect(await spend()).toEqual(own);
    // Each call carries its own run.
    expect(await h.query("SELECT run_id, tenant FROM model_calls ORDER BY started_at")).toEqual([
      { run_id: "run-A", tenant: "acme" },
      { run_id: "run-B", tenant: "beta" },
    ]);

    // An ordinary restart reconciles the window from model_calls: nothing to add to either run.
    await restart();
    expect(await spend()).toEqual(own);
    expect(await h.budgetKv.get(budgetStateKey("run:run-A", "day")).then((e) => e?.json<BudgetState>())).toMatchObject({ state: "ok", spentUsd: 0.3 });
  });

  it("still counts calls recorded before calls carried their run, by the decision's run", async () => {
    // A call written before the run_id column existed, and the spend never counted for it.
    await h.query("UPDATE model_calls SET run_id = NULL WHERE run_id = 'run-A'");
    await h.query("DELETE FROM budget_spend WHERE scope = 'run:run-A'");
    await restart();
    expect((await spend())["run:run-A"]).toBe("0.300000000");
    expect((await spend())["run:run-B"]).toBe("0.600000000");
  });

  it("counts a reused id's run that named no run under no run, not the decision's", async () => {
    await publish(completedTask("step-1", 0.1, new Date(AT.getTime() + 120_000), { tenant: "gamma" }), "no-run:step-1");
    await waitFor(async () => (await h.query("SELECT 1 FROM model_calls")).length === 3 || undefined, { what: "the run-less call" });
    expect(await h.query("SELECT run_id FROM model_calls WHERE tenant = 'gamma'")).toEqual([{ run_id: "" }]);
    await restart();
    expect(await spend()).toEqual({ "run:run-A": "0.300000000", "run:run-B": "0.600000000", "tenant:acme": "0.300000000", "tenant:beta": "0.600000000", "tenant:gamma": "0.100000000" });
  });
});
