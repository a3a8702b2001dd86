/**
 * The budget ladder through the running pipeline (real NATS and Postgres): as spend crosses the
 * soft threshold the selector takes the cheaper cloud model with a lowered bar, once exceeded it
 * routes to a local model — which then answers, with no cloud call — and a task no local model
 * can take is rejected with BUDGET_EXHAUSTED.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { jetstream } from "@nats-io/jetstream";
import type { RoutingDecision, TaskRouted } from "@llm-router/shared";
import type { SelectorService } from "@llm-router/selector";
import { completedTask } from "./support/completions.js";
import { createHarness, waitFor, type Harness } from "./support/harness.js";

describe("the budget ladder", () => {
  let h: Harness;
  let selector: SelectorService;
  let routed: ReturnType<Harness["collect"]>;

  beforeAll(async () => {
    h = await createHarness({ config: { budgets: [{ scope: "global", window: "day", limitUsd: 1, softRatio: 0.8 }], policy: { exploration: { enabled: false } } } });
    routed = h.collect(h.topology.subjects["task.routed"]);
    await h.startLedger({ budgetCheckMs: 50 });
    selector = await h.startSelector();
    await h.startClassifier();
  });
  afterAll(async () => {
    routed?.stop();
    await h?.close();
  });

  // Spend recorded as if earlier tasks had run (the executor is not started: decisions are what is tested).
  const spend = (id: string, usd: number) => jetstream(h.nc).publish(h.topology.subjects["task.completed"], JSON.stringify(completedTask(id, usd, new Date())), { msgID: `${id}:completed` });
  // minQuality 0.85: with the budget fine only sim:cloud-large (0.9) meets it.
  const submit = (id: string, constraints: Record<string, unknown> = {}) =>
    h.publishRaw(h.topology.subjects["task.submitted"], JSON.stringify({ id, prompt: "Summarise the trade-offs of event sourcing.", constraints: { minQuality: 0.85, ...constraints } }));
  const decision = (id: string) => waitFor(() => routed.json<TaskRouted>().find((r) => r.task.id === id)?.decision, { what: `the decision for ${id}` });
  const model = (d: RoutingDecision) => (d.ok ? d.model : `refused ${d.error.code}`);

  it("steps down: cloud-large while ok, the cheaper cloud-mini past the soft limit, a local model once exceeded, and rejects what no local model can take", async () => {
    submit("ladder-ok");
    expect(model(await decision("ladder-ok"))).toBe("sim:cloud-large");

    await spend("ladder-spend-1", 0.85);
    await waitFor(() => selector.budget({ tenant: "default" }).state === "soft", { what: "the soft state" });
    submit("ladder-soft");
    const soft = await decision("ladder-soft");
    expect(model(soft)).toBe("sim:cloud-mini");
    expect(soft.budget).toMatchObject({ state: "soft", scope: "global" });
    expect(soft.reason).toContain("budget past its soft limit (global)");

    await spend("ladder-spend-2", 0.2);
    await waitFor(() => selector.budget({ tenant: "default" }).state === "exceeded", { what: "the exceeded state" });
    submit("ladder-exceeded");
    const exceeded = await decision("ladder-exceeded");
    expect(model(exceeded)).toMatch(/^sim:local-/);
    expect(exceeded.ok && exceeded.forcedLocal).toBe(true);

    // No local model offers "json": nothing can take it while cloud is out.
    submit("ladder-rejected", { requiredCapabilities: ["json"] });
    const rejected = await decision("ladder-rejected");
    expect(model(rejected)).toBe("refused BUDGET_EXHAUSTED");
  });

  it("once exceeded by spend, a task is answered by a local model, and no cloud model is called for it", async () => {
    expect(selector.budget({ tenant: "default" }).state).toBe("exceeded");
    await h.startExecutor();
    submit("ladder-run");
    const row = await waitFor(async () => (await h.query<{ status: string; model: string; cost_usd: string }>("SELECT status, model, cost_usd FROM tasks WHERE task_id = 'ladder-run'"))[0], { what: "ladder-run in the ledger" });
    expect(row).toMatchObject({ status: "succeeded", cost_usd: "0.000000000" });
    expect(row.model).toMatch(/^sim:local-/);
    const calls = await h.query<{ model: string }>("SELECT model FROM model_calls WHERE task_id = 'ladder-run'");
    expect(calls.length).toBeGreaterThan(0);
    expect(calls.filter((c) => !c.model.startsWith("sim:local-"))).toEqual([]);
  });
});
