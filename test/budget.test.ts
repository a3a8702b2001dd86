import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { budgetStateKey, parseConfig, type BudgetState } from "@llm-router/shared";
import type { SelectorService } from "@llm-router/selector";
import { createHarness, testConfigInput, waitFor, type Harness, type Stoppable } from "./support/harness.js";

interface DecisionRow {
  model: string;
  forced_local: boolean;
  budget_state: string;
}

describe("the global budget", () => {
  let h: Harness;
  let selector: SelectorService;
  let ledger: Stoppable;

  // One expert-quality task on sim:cloud-large costs more than this.
  const LIMIT_USD = 0.0001;

  beforeAll(async () => {
    h = await createHarness({ config: { budget: { limitUsd: LIMIT_USD, window: "day" } } });
    ledger = await h.startLedger();
    await h.startExecutor();
    selector = await h.startSelector();
    await h.startClassifier();
  });
  afterAll(async () => {
    await h?.close();
  });

  // minQuality 0.9 admits only sim:cloud-large while the budget allows cloud.
  const submitCloudTask = (id: string): void =>
    h.publishRaw(h.topology.subjects["task.submitted"], JSON.stringify({ id, prompt: `Design a sharded rate limiter (${id}).`, constraints: { minQuality: 0.9 } }));
  const decision = (id: string) => async () => (await h.query<DecisionRow>("SELECT * FROM decisions WHERE task_id = $1", [id]))[0];

  it("never spends past the limit: a cloud call the budget cannot cover is not made, the budget is exceeded, and cloud-class tasks go local", async () => {
    const exceeded = h.collect(h.topology.subjects["budget.exceeded"]);

    submitCloudTask("spend-1");
    const first = await waitFor(decision("spend-1"), { what: "first decision" });
    expect(first.model).toBe("sim:cloud-large");
    expect(first.budget_state).toBe("ok");
    // The executor's reservation for cloud-large was refused: no cloud call, the fallback answered.
    const task = await waitFor(async () => (await h.query<{ model: string; cost_usd: string }>("SELECT model, cost_usd FROM tasks WHERE task_id = 'spend-1'"))[0], { what: "spend-1 in the ledger" });
    expect(task.model).toMatch(/^sim:local-/);
    expect(await h.query("SELECT 1 FROM model_calls WHERE task_id = 'spend-1' AND model = 'sim:cloud-large'")).toHaveLength(0);

    const event = await waitFor(() => exceeded.json<BudgetState>()[0], { what: "budget.exceeded" });
    expect(event.state).toBe("exceeded");
    expect(event.spentUsd).toBeLessThanOrEqual(LIMIT_USD);
    expect(event.limitUsd).toBe(LIMIT_USD);

    // The selector sees the KV state through its watch; the next cloud-class task goes local.
    await waitFor(() => selector.budget().state === "exceeded", { what: "selector to see the exceeded state" });
    submitCloudTask("spend-2");
    const second = await waitFor(decision("spend-2"), { what: "second decision" });
    expect(second.model).toMatch(/^sim:local-/);
    expect(second.forced_local).toBe(true);
    expect(second.budget_state).toBe("exceeded");

    // More traffic while exceeded adds no cloud spend and no second event.
    // Summed over windows: a midnight between the two reads changes nothing.
    const spent = async () => (await h.query<{ spent: string | null }>("SELECT sum(spent_usd)::text AS spent FROM budget_spend WHERE scope = 'global'"))[0]?.spent ?? "0";
    const spentBefore = await spent();
    submitCloudTask("spend-3");
    // Routed local by the selector (not merely refused a reservation by the executor).
    expect(await waitFor(decision("spend-3"))).toMatchObject({ forced_local: true, budget_state: "exceeded" });
    await waitFor(async () => (await h.query("SELECT 1 FROM tasks WHERE task_id = 'spend-3'")).length === 1 || undefined, { what: "spend-3 in the ledger" });
    expect(await h.query("SELECT model FROM model_calls WHERE task_id = 'spend-3' AND model NOT LIKE 'sim:local-%'")).toEqual([]);
    expect(await spent()).toBe(spentBefore);
    expect(exceeded.json<BudgetState>()).toHaveLength(1);
    const stored = await h.budgetKv.get(budgetStateKey("global", "day"));
    expect(stored?.json<BudgetState>().state).toBe("exceeded");
    exceeded.stop();
  });

  it("a selector started while the budget is exceeded reads the state and routes local from its first task", async () => {
    await selector.stop();
    selector = await h.startSelector();
    submitCloudTask("after-restart");
    const d = await waitFor(decision("after-restart"), { what: "decision after selector restart" });
    expect(d.model).toMatch(/^sim:local-/);
    expect(d.forced_local).toBe(true);
  });

  it("budget.restored lifts the restriction when the limit is raised", async () => {
    const restored = h.collect(h.topology.subjects["budget.restored"]);
    await ledger.stop();
    const raised = parseConfig(testConfigInput(h.id, { budget: { limitUsd: 1000, window: "day" } }), { NATS_URL: h.natsUrl }).config;
    ledger = await h.startLedger({ config: raised });

    const event = await waitFor(() => restored.json<BudgetState>()[0], { what: "budget.restored" });
    expect(event.state).toBe("ok");
    expect(event.limitUsd).toBe(1000);

    await waitFor(() => selector.budget().state === "ok", { what: "selector to see the restored state" });
    submitCloudTask("after-restore");
    const d = await waitFor(decision("after-restore"), { what: "decision after restore" });
    expect(d.model).toBe("sim:cloud-large");
    expect(d.forced_local).toBe(false);
    restored.stop();
  });
});
