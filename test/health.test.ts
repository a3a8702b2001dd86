/**
 * Model health across services, on real NATS: a circuit breaker that opens in the executor and a
 * provider without credentials both reach the selector through KV, which then routes around the
 * model.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DEFAULT_CONFIG_INPUT, ERROR_CODES, HEALTH_KV_KEY, type HealthSnapshot, type RoutingDecision, type TaskCompleted, type TaskRouted } from "@llm-router/shared";
import type { SelectorService } from "@llm-router/selector";
import { createHarness, waitFor, type Harness } from "./support/harness.js";

describe("model health reaches the selector", () => {
  let h: Harness;
  let selector: SelectorService;
  let routed: ReturnType<Harness["collect"]>;

  beforeAll(async () => {
    // The cheapest local model always fails; an Anthropic model has no API key in the environment.
    const models = [
      ...DEFAULT_CONFIG_INPUT.models.map((m) => (m.spec === "sim:local-small" ? { ...m, sim: { latencyMs: 0, failureRate: 1 } } : m)),
      { spec: "anthropic:claude-test", inputPerMtok: 1, outputPerMtok: 5, quality: 0.95, capabilities: ["chat"], contextWindow: 200000 },
    ];
    h = await createHarness({
      config: {
        models,
        providers: { sim: { type: "simulator" }, anthropic: { type: "anthropic" } },
        executor: { retries: 0, breaker: { minCalls: 2, failureRate: 0.5, cooldownMs: 60_000 } },
      },
    });
    routed = h.collect(h.topology.subjects["task.routed"]);
    await h.startClassifier();
    selector = await h.startSelector();
    await h.startExecutor({ env: {}, replicaId: "primary", unavailableRefreshMs: 300 });
  });
  afterAll(async () => {
    routed?.stop();
    await h?.close();
  });

  const decisionOf = (id: string): Promise<RoutingDecision> =>
    waitFor(() => routed.json<TaskRouted>().find((r) => r.task.id === id)?.decision, { what: `task.routed for ${id}` });

  it("publishes a model whose provider has no key as unavailable, and the selector never routes to it", async () => {
    const entry = await waitFor(() => selector.health().models["anthropic:claude-test"], { what: "health entry for the keyless model" });
    expect(entry).toMatchObject({ state: "unavailable", reason: "environment variable ANTHROPIC_API_KEY is not set" });

    h.publishRaw(h.topology.subjects["task.submitted"], JSON.stringify({ id: "h-anthropic", prompt: "Hello", constraints: { provider: "anthropic" } }));
    const decision = await decisionOf("h-anthropic");
    expect(decision.ok).toBe(false);
    if (decision.ok) return;
    expect(decision.error.code).toBe(ERROR_CODES.NO_ELIGIBLE_MODEL);
    expect(decision.error.message).toContain("unavailable (environment variable ANTHROPIC_API_KEY is not set): anthropic:claude-test");
  });

  it("takes a replica's unavailable models out of the health when it stops, until another replica without the key writes them again", async () => {
    // A second replica lacking the key (a canary, a one-off process) writes the entry under its name.
    const canary = await h.startExecutor({ env: {}, replicaId: "canary" });
    await waitFor(() => (selector.health().models["anthropic:claude-test"]?.by === "canary" ? true : undefined), { what: "the canary's entry" });
    await canary.stop();
    // Gone with the canary (a replica writes its entry only where none stands), then written
    // again by the first executor, which still lacks the key.
    await waitFor(() => (selector.health().models["anthropic:claude-test"]?.by === "primary" ? true : undefined), { what: "the first replica's entry again", timeoutMs: 5000 });
  });

  it("opens the failing model's circuit after the configured failures; every selector sees it within a second", async () => {
    for (const id of ["h-1", "h-2"]) {
      h.publishRaw(h.topology.subjects["task.submitted"], JSON.stringify({ id, prompt: "Hi there!" }));
      const decision = await decisionOf(id);
      expect(decision.ok && decision.model).toBe("sim:local-small");
    }
    // The second failure opens the circuit; the executor writes it to KV as it happens.
    await waitFor(() => selector.health().models["sim:local-small"]?.state === "open" || undefined, {
      what: "the open circuit in the selector's health",
      timeoutMs: 10_000,
    });
    const entry = selector.health().models["sim:local-small"]!;
    expect(entry.reason).toBe("2 of 2 calls failed within 30 s");
    expect(Date.parse(entry.until!) - Date.parse(entry.since)).toBe(60_000);
    // What the selector routes by is the executor's own entry, read through KV (how fast is the
    // watch's latency: not a test's to time on a shared host).
    const written = (await h.budgetKv.get(HEALTH_KV_KEY))?.json<HealthSnapshot>();
    expect(written?.models["sim:local-small"]).toEqual(entry);

    h.publishRaw(h.topology.subjects["task.submitted"], JSON.stringify({ id: "h-3", prompt: "Hi there!" }));
    const third = await decisionOf("h-3");
    expect(third.ok).toBe(true);
    if (!third.ok) return;
    expect(third.model).not.toBe("sim:local-small");
    expect(third.fallbacks).not.toContain("sim:local-small");
  });
});

describe("a task whose every model is cooling down", () => {
  let h: Harness;
  let selector: SelectorService;

  beforeAll(async () => {
    h = await createHarness();
    await h.startClassifier();
    selector = await h.startSelector();
    await h.startExecutor();
  });
  afterAll(async () => {
    await h?.close();
  });

  it("waits for the first circuit to close instead of failing the task", async () => {
    const routed = h.collect(h.topology.subjects["task.routed"]);
    const completed = h.collect(h.topology.subjects["task.completed"]);
    // Both local models' circuits open, closing in 3 and 60 seconds; the task may only run locally.
    const since = new Date().toISOString();
    const until = (ms: number) => new Date(Date.now() + ms).toISOString();
    const snapshot: HealthSnapshot = {
      v: 1,
      models: {
        "sim:local-small": { state: "open", reason: "test: failing", since, until: until(3_000), by: "test" },
        "sim:local-coder": { state: "open", reason: "test: failing", since, until: until(60_000), by: "test" },
      },
    };
    await h.budgetKv.put(HEALTH_KV_KEY, JSON.stringify(snapshot));
    await waitFor(() => Object.keys(selector.health().models).length === 2 || undefined, { what: "the selector to see both circuits open" });

    h.publishRaw(h.topology.subjects["task.submitted"], JSON.stringify({ id: "cool-1", prompt: "Hi there!", constraints: { localOnly: true } }));
    const done = await waitFor(() => completed.json<TaskCompleted>().find((c) => c.task.id === "cool-1"), { what: "cool-1 completed", timeoutMs: 30_000 });
    expect(done.result).toMatchObject({ status: "succeeded", model: "sim:local-small" });
    // Routed once, after the wait: the refusals while both circuits were open were not published.
    const decisions = routed.json<TaskRouted>().filter((r) => r.task.id === "cool-1");
    expect(decisions).toHaveLength(1);
    expect(Date.parse(decisions[0]!.decision.decidedAt)).toBeGreaterThanOrEqual(Date.parse(snapshot.models["sim:local-small"]!.until!));
    routed.stop();
    completed.stop();
  });
});
