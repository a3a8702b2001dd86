import { describe, expect, it } from "vitest";
import {
  DEFAULT_CONFIG_INPUT,
  ERROR_CODES,
  ModelConfig,
  PolicyConfig,
  RoutingDecision,
  StrategiesConfig,
  callCostUsd,
  countPromptTokens,
} from "@llm-router/shared";
import type { BudgetLadder, BudgetSnapshot, Classification, HealthSnapshot, ModelHealthEntry, StatsSnapshot, Complexity, Risk, Task, TaskConstraints, TaskType } from "@llm-router/shared";
import { ModelStats } from "@llm-router/shared";
import { createModelRegistry, policyVersion } from "./registry.js";
import { selectModel, strategyCallCounts } from "./select-model.js";
import type { SelectionContext } from "./select-model.js";

type Routed = Extract<RoutingDecision, { ok: true }>;
type Refused = Extract<RoutingDecision, { ok: false }>;

const NOW = new Date("2025-06-01T12:00:00.000Z");
/** Ten tokens of ordinary English. */
const SENTENCE = "The quick brown fox jumps over the lazy dog. ";
const BUDGET_OK: BudgetSnapshot = { state: "ok", revision: 3 };
const BUDGET_EXCEEDED: BudgetSnapshot = { state: "exceeded", revision: 4 };

/** The built-in simulator registry: local-small 0.55, local-coder 0.65 (code), cloud-mini 0.75, cloud-large 0.9. */
const simModels = (): ModelConfig[] => DEFAULT_CONFIG_INPUT.models.map((m) => ModelConfig.parse(m));

/** Several providers, for the provider constraint and fallback diversity. */
const multiProviderModels = (): ModelConfig[] =>
  [
    { spec: "ollama:small", local: true, quality: 0.5 },
    { spec: "ollama:medium", local: true, quality: 0.6 },
    { spec: "ollama:large", local: true, quality: 0.7 },
    { spec: "openai:gpt-4o-mini", inputPerMtok: 0.15, outputPerMtok: 0.6, quality: 0.75, contextWindow: 128_000 },
    { spec: "anthropic:claude-3-5-haiku-latest", inputPerMtok: 0.8, outputPerMtok: 4, quality: 0.8, contextWindow: 200_000 },
  ].map((m) => ModelConfig.parse(m));

interface Scenario {
  prompt?: string;
  id?: string;
  constraints?: TaskConstraints;
  complexity?: Complexity;
  taskType?: TaskType;
  risk?: Risk;
  pFail?: number;
  stats?: StatsSnapshot;
  health?: HealthSnapshot;
  budgetLadder?: BudgetLadder;
  budget?: BudgetSnapshot;
  models?: ModelConfig[];
  policy?: Record<string, unknown>;
  /** The execution strategies (`strategies` config); default none: one call per task. */
  strategies?: Record<string, unknown>;
}

function setup(s: Scenario = {}): { task: Task; classification: Classification; budget: BudgetSnapshot; ctx: SelectionContext } {
  const task: Task = {
    v: 1,
    id: s.id ?? "task-1",
    tenant: "default",
    messages: [{ role: "user", content: s.prompt ?? "hello there" }],
    constraints: s.constraints ?? {},
    submittedAt: NOW.toISOString(),
  };
  const classification: Classification = {
    complexity: s.complexity ?? "simple",
    risk: s.risk ?? "normal",
    taskType: s.taskType ?? "chat",
    confidence: 0.9,
    pFail: s.pFail,
    strategy: "rules",
    strategyVersion: "1",
    features: {},
    signals: [],
  };
  const policy = PolicyConfig.parse(s.policy ?? {});
  const ctx: SelectionContext = {
    registry: createModelRegistry(s.models ?? simModels()),
    policy,
    policyVersion: policyVersion(policy),
    now: NOW,
    stats: s.stats,
    health: s.health,
    budgetLadder: s.budgetLadder,
  };
  if (s.strategies) {
    const strategies = StrategiesConfig.parse(s.strategies);
    ctx.strategyByTier = strategies.byTier;
    ctx.strategyCalls = strategyCallCounts(strategies);
  }
  return { task, classification, budget: s.budget ?? BUDGET_OK, ctx };
}

function decide(s: Scenario = {}): RoutingDecision {
  const { ctx, ...input } = setup(s);
  const decision = selectModel(input, ctx);
  // Every decision must be publishable as-is.
  expect(RoutingDecision.parse(decision)).toEqual(decision);
  return decision;
}

function routed(s: Scenario = {}): Routed {
  const decision = decide(s);
  if (!decision.ok) throw new Error(`expected a model, got ${decision.error.code}: ${decision.error.message}`);
  return decision;
}

function refused(s: Scenario = {}): Refused {
  const decision = decide(s);
  if (decision.ok) throw new Error(`expected no model, got ${decision.model}`);
  return decision;
}

describe("selectModel", () => {
  it("picks a local model for a simple chat task", () => {
    const d = routed({ complexity: "simple", taskType: "chat" });
    expect(d.model).toBe("sim:local-small");
    expect(d.forcedLocal).toBe(false);
    expect(d.estimatedCostUsd).toBe(0);
    expect(d.strategy).toBe("single");
    expect(d.reason).toBe("sim:local-small: cheapest local model meeting quality 0.30 for a simple chat task (est. $0.000000)");
  });

  it("estimates input tokens from every message and caps output tokens at the policy maximum", () => {
    const { ctx, ...input } = setup({ policy: { maxOutputTokens: 2048 } });
    input.task.messages = [
      { role: "system", content: "You are a terse assistant." },
      { role: "user", content: "Summarise the quarterly report in three bullet points." },
    ];
    input.task.maxOutputTokens = 100_000;
    const d = selectModel(input, ctx);
    if (!d.ok) throw new Error(d.error.message);
    // The tokenizer's count of each message, plus 4 per message: 6 + 4 and 11 + 4.
    expect(d.estimatedInputTokens).toBe(countPromptTokens(input.task.messages));
    expect(d.estimatedInputTokens).toBe(25);
    expect(d.maxOutputTokens).toBe(2048);
  });

  it("picks the cheapest cloud model meeting quality for an expert task", () => {
    const premium = ModelConfig.parse({ spec: "sim:cloud-premium", inputPerMtok: 15, outputPerMtok: 75, quality: 0.97 });
    const d = routed({ complexity: "expert", taskType: "reasoning", models: [...simModels(), premium] });
    expect(d.model).toBe("sim:cloud-large");
    const large = simModels().find((m) => m.spec === "sim:cloud-large")!;
    expect(d.estimatedCostUsd).toBe(callCostUsd(large, d.estimatedInputTokens, d.maxOutputTokens));
    expect(d.reason).toMatch(
      /^sim:cloud-large: budget ok; no local model meets quality 0\.85 for an expert reasoning task; cheapest cloud model that does \(est\. \$0\.0102\d\d\)$/,
    );
  });

  it("routes to a local model while the budget is exceeded", () => {
    const scenario: Scenario = { complexity: "complex", taskType: "code" };
    expect(routed({ ...scenario, budget: BUDGET_OK })).toMatchObject({ model: "sim:cloud-mini", forcedLocal: false });

    const d = routed({ ...scenario, budget: BUDGET_EXCEEDED });
    expect(d.model).toBe("sim:local-coder");
    expect(d.forcedLocal).toBe(true);
    expect(d.budget).toEqual(BUDGET_EXCEEDED);
    expect(d.fallbacks.every((spec) => spec.startsWith("sim:local-"))).toBe(true);
    expect(d.reason).toMatch(/^sim:local-coder: budget exceeded, routed to a local model .*quality 0\.65 below the 0\.70 target/);
  });

  it("does not call a local pick forced when a local model would have been chosen anyway", () => {
    const d = routed({ complexity: "simple", taskType: "chat", budget: BUDGET_EXCEEDED });
    expect(d.model).toBe("sim:local-small");
    expect(d.forcedLocal).toBe(false);
    expect(d.reason).toContain("budget exceeded");
  });

  it("keeps a local-only task on local models without calling it forced", () => {
    const d = routed({ complexity: "complex", constraints: { localOnly: true } });
    expect(d.model).toBe("sim:local-coder");
    expect(d.forcedLocal).toBe(false);
    expect(d.fallbacks).toEqual(["sim:local-small"]);
    expect(d.reason).toContain("task is local-only");
  });

  it("keeps every task local when the policy disallows cloud models", () => {
    const d = routed({ complexity: "expert", policy: { cloudAllowed: false } });
    expect(d.model).toBe("sim:local-coder");
    expect(d.reason).toContain("cloud disallowed by policy");
  });

  it("respects the provider constraint", () => {
    const d = routed({ models: multiProviderModels(), constraints: { provider: "openai" } });
    expect(d.model).toBe("openai:gpt-4o-mini");
    expect(d.fallbacks).toEqual([]);
  });

  it("requires the code capability for a code task", () => {
    expect(routed({ taskType: "code" }).model).toBe("sim:local-coder");
    expect(routed({ taskType: "code" }).fallbacks).not.toContain("sim:local-small");
  });

  it("requires the capabilities a task asks for", () => {
    const d = routed({ constraints: { requiredCapabilities: ["json"] } });
    expect(d.model).toBe("sim:cloud-mini");
    expect(d.fallbacks).toEqual(["sim:cloud-large"]);
  });

  it("excludes models above the task's maximum cost", () => {
    // cloud-large costs ~$0.0103 for 1,024 output tokens, cloud-mini ~$0.0006.
    const d = routed({ complexity: "expert", constraints: { maxCostUsd: 0.001 } });
    expect(d.model).toBe("sim:cloud-mini");
    expect(d.fallbacks).not.toContain("sim:cloud-large");
    expect(d.reason).toContain("below the 0.85 target");
  });

  describe("a cost cap with a strategy of several calls", () => {
    const cloud = (): ModelConfig[] => simModels().filter((m) => !m.local);

    it("must cover every call of the tier's strategy, not one", () => {
      // Expert → parallel: three specialists and a synthesis. cloud-large's ~$0.0103 a call fits
      // $0.012 once, not four times; cloud-mini's ~$0.0006 does.
      expect(strategyCallCounts(StrategiesConfig.parse({}))).toEqual({ single: 1, chain: 2, parallel: 4, ensemble: 4 });
      expect(routed({ complexity: "expert", constraints: { maxCostUsd: 0.012 } }).model).toBe("sim:cloud-large");
      const d = routed({ complexity: "expert", constraints: { maxCostUsd: 0.012 }, strategies: {} });
      expect(d).toMatchObject({ model: "sim:cloud-mini", strategy: "parallel", reasonCode: "best_effort" });
    });

    it("turns the strategy into a single call when only one call fits, and says so", () => {
      const d = routed({ complexity: "expert", models: cloud(), constraints: { maxCostUsd: 0.001 }, strategies: {} });
      expect(d).toMatchObject({ model: "sim:cloud-mini", strategy: "single" });
      expect(d.reason).toContain("single call instead of parallel: the task's cost cap $0.001000 does not cover 4 calls on any model");
    });

    it("refuses, naming the calls, when not even one fits", () => {
      const d = refused({ complexity: "expert", models: cloud(), constraints: { maxCostUsd: 0.0001 }, strategies: {} });
      expect(d.error.code).toBe(ERROR_CODES.NO_ELIGIBLE_MODEL);
      expect(d.error.message).toContain("max cost $0.000100 (its parallel strategy makes 4 calls): sim:cloud-mini, sim:cloud-large");
    });
  });

  describe("a latency cap with a strategy of several calls", () => {
    const cloud = (): ModelConfig[] => simModels().filter((m) => !m.local);

    it("must cover the calls made one after another, not one", () => {
      // Complex → parallel: the specialists at once, then the synthesis — two of cloud-mini's
      // 1,500 ms in turn pass a 2,000 ms cap. One call fits: the task runs as a single call.
      const d = routed({ complexity: "complex", models: cloud(), constraints: { maxLatencyMs: 2000 }, strategies: {} });
      expect(d).toMatchObject({ model: "sim:cloud-mini", strategy: "single" });
      expect(d.reason).toContain("single call instead of parallel: the task's latency cap 2000 ms does not allow 2 calls in turn on any model");
      // 3,000 ms covers two of them.
      expect(routed({ complexity: "complex", models: cloud(), constraints: { maxLatencyMs: 3000 }, strategies: {} })).toMatchObject({ model: "sim:cloud-mini", strategy: "parallel" });
    });

    it("names both caps when both rule the strategy out", () => {
      const d = routed({ complexity: "complex", models: cloud(), constraints: { maxLatencyMs: 2000, maxCostUsd: 0.001 }, strategies: {} });
      expect(d.strategy).toBe("single");
      expect(d.reason).toContain("the task's cost cap $0.001000 does not cover 4 calls and its latency cap 2000 ms does not allow 2 calls in turn on any model");
    });

    it("refuses, naming the calls in turn, when not even one call fits", () => {
      const d = refused({ complexity: "complex", models: cloud(), constraints: { maxLatencyMs: 1000 }, strategies: {} });
      expect(d.error.message).toContain("max latency 1000 ms (its parallel strategy makes 2 calls in turn): sim:cloud-mini, sim:cloud-large");
    });
  });

  it("routes a task whose pFail is not a number as if it had none", () => {
    const none = routed({ complexity: "moderate" });
    expect(routed({ complexity: "moderate", pFail: Number.NaN }).model).toBe(none.model);
  });

  it("applies the stricter of the task's and the policy's maximum cost", () => {
    const d = routed({ complexity: "expert", constraints: { maxCostUsd: 1 }, policy: { maxCostPerTaskUsd: 0.001 } });
    expect(d.model).toBe("sim:cloud-mini");
  });

  it("excludes models slower than the maximum latency", () => {
    expect(routed({ complexity: "complex" }).model).toBe("sim:cloud-mini");
    const d = routed({ complexity: "complex", constraints: { maxLatencyMs: 1000 } });
    expect(d.model).toBe("sim:local-coder");
    expect(d.fallbacks).toEqual(["sim:local-small"]);
    expect(routed({ complexity: "complex", policy: { maxLatencyMs: 1000 } }).model).toBe("sim:local-coder");
  });

  it("excludes small-context models for a huge prompt", () => {
    // About 20,000 tokens: too big for local-small's 8,192-token window.
    const d = routed({ prompt: SENTENCE.repeat(2_000) });
    expect(d.estimatedInputTokens).toBeGreaterThan(18_000);
    expect(d.estimatedInputTokens).toBeLessThan(22_000);
    expect(d.model).toBe("sim:local-coder");
    expect(d.fallbacks).not.toContain("sim:local-small");
  });

  it("returns NO_ELIGIBLE_MODEL naming the constraint when nothing fits", () => {
    const d = refused({ constraints: { requiredCapabilities: ["vision"] } });
    expect(d.error.code).toBe(ERROR_CODES.NO_ELIGIBLE_MODEL);
    expect(d.error.message).toContain('requires capability "vision"');
    expect(d.error.message).toContain("sim:cloud-large");
    expect(d.budget).toEqual(BUDGET_OK);
  });

  it("rejects with BUDGET_EXHAUSTED, naming the budget, when it is exceeded and no local model can take the task", () => {
    const cloudOnly = simModels().filter((m) => !m.local);
    const d = refused({ models: cloudOnly, budget: { state: "exceeded", scope: "tenant:acme", revision: 7 } });
    expect(d.error.code).toBe(ERROR_CODES.BUDGET_EXHAUSTED);
    expect(d.error.message).toMatch(/^budget exceeded \(tenant:acme\) and no local model can take a simple chat task: local only \(budget exceeded\): sim:cloud-mini, sim:cloud-large/);
    // A task no model could take anyway is not the budget's doing.
    expect(refused({ models: cloudOnly, budget: BUDGET_EXCEEDED, prompt: SENTENCE.repeat(20_000) }).error.code).toBe(ERROR_CODES.NO_ELIGIBLE_MODEL);
  });

  it("caps the answer by what the task's token cap leaves of it, and refuses a prompt that leaves too little", () => {
    const prompt = SENTENCE.repeat(10);
    const inputTokens = countPromptTokens([{ content: prompt }]);
    const d = routed({ prompt, constraints: { maxTokens: inputTokens + 196 } });
    expect(d.estimatedInputTokens).toBe(inputTokens);
    expect(d.maxOutputTokens).toBe(196);
    const r = refused({ prompt, constraints: { maxTokens: inputTokens + 10 } });
    expect(r.error.code).toBe(ERROR_CODES.TOKEN_CAP_REACHED);
    expect(r.error.message).toBe(`the prompt (~${inputTokens} tokens) leaves no room for an answer within the task's ${inputTokens + 10}-token cap`);
  });

  describe("the budget ladder's soft step", () => {
    const SOFT: BudgetSnapshot = { state: "soft", scope: "global", revision: 3 };
    const cloud = (): ModelConfig[] => simModels().filter((m) => !m.local);

    it("keeps only the cheaper cloud models: an expert task that needs cloud-large gets the best cheaper one", () => {
      // Expert floor 0.85: only cloud-large meets it when the budget is fine.
      expect(routed({ complexity: "expert", models: cloud() }).model).toBe("sim:cloud-large");
      const d = routed({ complexity: "expert", models: cloud(), budget: SOFT });
      expect(d.model).toBe("sim:cloud-mini");
      expect(d.fallbacks).not.toContain("sim:cloud-large");
      expect(d.reason).toContain("budget past its soft limit (global): bar lowered by 0.1, cheaper cloud models only");
      expect(d.reason).not.toContain("budget ok");
    });

    it("keeps the better of two equally priced cloud models, whatever their order in the config", () => {
      const twins = (order: string[]) =>
        order.map((spec) => ModelConfig.parse({ spec, inputPerMtok: 1, outputPerMtok: 1, quality: spec === "b:y" ? 0.8 : 0.7 }));
      for (const order of [["a:x", "b:y"], ["b:y", "a:x"]]) {
        expect(routed({ complexity: "simple", models: twins(order), budget: SOFT }).model, order.join(",")).toBe("b:y");
      }
    });

    it("lowers the quality bar by the configured discount", () => {
      // Complex floor 0.7: local-coder (0.65) misses it, and meets 0.6 on the soft step.
      expect(routed({ complexity: "complex" }).model).toBe("sim:cloud-mini");
      expect(routed({ complexity: "complex", budget: SOFT }).model).toBe("sim:local-coder");
      expect(routed({ complexity: "complex", budget: SOFT, budgetLadder: { qualityDiscount: 0, cloudShare: 1 } }).model).toBe("sim:cloud-mini");
    });
  });

  it("returns NO_ELIGIBLE_MODEL when the prompt exceeds every context window", () => {
    const d = refused({ prompt: SENTENCE.repeat(20_000) });
    expect(d.error.code).toBe(ERROR_CODES.NO_ELIGIBLE_MODEL);
    expect(d.error.message).toContain("context window");
  });

  it("raises the quality bar for critical-risk tasks", () => {
    expect(routed({ risk: "normal" }).model).toBe("sim:local-small");
    const d = routed({ risk: "critical" });
    expect(d.model).toBe("sim:cloud-large");
    expect(d.reason).toContain("quality 0.80");
  });

  it("honours the task's minimum quality", () => {
    expect(routed({ constraints: { minQuality: 0.6 } }).model).toBe("sim:local-coder");
  });

  it("falls back to the highest-quality eligible model when none meets the bar", () => {
    const d = routed({ constraints: { minQuality: 0.95 } });
    expect(d.model).toBe("sim:cloud-large");
    expect(d.reason).toContain("quality 0.90 below the 0.95 target");
    expect(d.reasonCode).toBe("best_effort");
  });

  it("lists fallbacks that exclude the chosen model and are bounded by the policy", () => {
    const d = routed();
    expect(d.model).toBe("sim:local-small");
    expect(d.fallbacks).toEqual(["sim:local-coder", "sim:cloud-mini"]);
    expect(routed({ policy: { fallbacks: 1 } }).fallbacks).toEqual(["sim:local-coder"]);
    expect(routed({ policy: { fallbacks: 0 } }).fallbacks).toEqual([]);
    const all = routed({ policy: { fallbacks: 10 } });
    expect(all.fallbacks).toEqual(["sim:local-coder", "sim:cloud-mini", "sim:cloud-large"]);
  });

  it("puts models meeting the quality bar first in the fallbacks", () => {
    // Complex (0.7): both cloud models qualify, the local ones do not.
    const d = routed({ complexity: "complex", policy: { fallbacks: 3 } });
    expect(d.model).toBe("sim:cloud-mini");
    expect(d.fallbacks).toEqual(["sim:cloud-large", "sim:local-small", "sim:local-coder"]);
  });

  it("includes a model from another provider in the fallbacks when one is eligible", () => {
    const d = routed({ models: multiProviderModels() });
    expect(d.model).toBe("ollama:small");
    expect(d.fallbacks).toEqual(["ollama:medium", "openai:gpt-4o-mini"]);
    expect(routed({ models: multiProviderModels(), policy: { fallbacks: 1 } }).fallbacks).toEqual(["openai:gpt-4o-mini"]);
    // With the budget exceeded only the local provider is eligible.
    const local = routed({ models: multiProviderModels(), budget: BUDGET_EXCEEDED });
    expect(local.fallbacks).toEqual(["ollama:medium", "ollama:large"]);
  });

  it("ranks by cost alone when the policy does not prefer local models", () => {
    const freeCloud = ModelConfig.parse({ spec: "free:tiny", quality: 0.4 });
    const d = routed({ models: [...simModels(), freeCloud], policy: { preferLocal: false } });
    // Equal cost (0): the smallest model that meets 0.30 wins, local or not.
    expect(d.model).toBe("free:tiny");
    expect(routed({ models: [...simModels(), freeCloud] }).model).toBe("sim:local-small");
  });

  it("makes the same decision for the same input", () => {
    const a = decide({ complexity: "complex", taskType: "code", budget: BUDGET_EXCEEDED });
    const b = decide({ complexity: "complex", taskType: "code", budget: BUDGET_EXCEEDED });
    expect(a).toEqual(b);
    if (!a.ok) throw new Error(a.error.message);
    expect(a.decidedAt).toBe(NOW.toISOString());
    expect(Number.isInteger(a.seed) && a.seed >= 0 && a.seed < 2 ** 32).toBe(true);
    expect(routed({ id: "task-2" }).seed).not.toBe(a.seed);
  });

  it("records the registry and policy versions the decision was made with", () => {
    const base = routed();
    const repriced = simModels().map((m) => (m.spec === "sim:cloud-large" ? { ...m, outputPerMtok: 12 } : m));
    const other = routed({ models: repriced, policy: { fallbacks: 3 } });
    expect(base.registryVersion).toBe(createModelRegistry(simModels()).version);
    expect(base.policyVersion).toBe(policyVersion(PolicyConfig.parse({})));
    expect(other.registryVersion).not.toBe(base.registryVersion);
    expect(other.policyVersion).not.toBe(base.policyVersion);
  });

  describe("the pFail threshold", () => {
    // Moderate chat on the simulator registry: floor 0.5, top 0.9 − 0.02 = 0.88.
    it("routes by the tier's floor when the classification has no pFail", () => {
      expect(routed({ complexity: "moderate" }).model).toBe("sim:local-small");
    });

    it("raises the bar linearly with pFail, walking up the price list", () => {
      expect(routed({ complexity: "moderate", pFail: 0.05 }).model).toBe("sim:local-small"); // bar 0.538
      expect(routed({ complexity: "moderate", pFail: 0.1 }).model).toBe("sim:local-coder"); // bar 0.576
      expect(routed({ complexity: "moderate", pFail: 0.3 }).model).toBe("sim:cloud-mini"); // bar 0.728
      const d = routed({ complexity: "moderate", pFail: 0.5 }); // bar 0.88
      expect(d.model).toBe("sim:cloud-large");
      expect(d.reason).toContain("pFail 0.50 (threshold 0.5) raised the bar from 0.50");
      expect(d.reason).toContain("quality 0.88");
    });

    it("is the cost–quality knob: 0 sends everything to the top, a high threshold barely moves the floor", () => {
      expect(routed({ complexity: "simple", pFail: 0, policy: { pFailThreshold: 0 } }).model).toBe("sim:cloud-large");
      expect(routed({ complexity: "moderate", pFail: 0.1, policy: { pFailThreshold: 2 } }).model).toBe("sim:local-small");
    });

    it("raises the bar to the top model's quality exactly, not a rounding error above it", () => {
      // Simple floor 0.3; with no margin the bar is 0.3 + (0.9 − 0.3), which rounds above 0.9.
      const d = routed({ complexity: "simple", pFail: 1, policy: { escalationMargin: 0 } });
      expect(d).toMatchObject({ model: "sim:cloud-large", reasonCode: "cheapest" });
      expect(d.reason).not.toContain("below");
    });

    it("lowers the top of the bar by the escalation margin", () => {
      expect(routed({ complexity: "moderate", pFail: 0.9, policy: { escalationMargin: 0.2 } }).model).toBe("sim:cloud-mini");
    });

    it("raises the bar within what the budget allows: the best local model when it is exceeded", () => {
      const d = routed({ complexity: "moderate", pFail: 0.9, budget: BUDGET_EXCEEDED });
      expect(d.model).toBe("sim:local-coder");
      expect(d.forcedLocal).toBe(true);
    });
  });

  describe("model health", () => {
    const entry = (fields: Partial<ModelHealthEntry>): ModelHealthEntry => ({
      state: "open",
      reason: "5 of 6 calls failed in 30 s",
      since: "2025-06-01T11:59:50.000Z",
      by: "executor-1",
      ...fields,
    });
    const health = (models: Record<string, ModelHealthEntry>): HealthSnapshot => ({ v: 1, models });

    it("routes around a model whose circuit is open, and says why", () => {
      const open = health({ "sim:local-small": entry({ until: "2025-06-01T12:00:20.000Z" }) });
      const d = routed({ complexity: "simple", health: open });
      expect(d.model).toBe("sim:local-coder");
      expect(d.fallbacks).not.toContain("sim:local-small");
    });

    it("routes to it again once the cooldown has ended (half-open: the executor probes it)", () => {
      const ended = health({ "sim:local-small": entry({ until: "2025-06-01T11:59:59.999Z" }) });
      expect(routed({ complexity: "simple", health: ended }).model).toBe("sim:local-small");
    });

    it("never routes to an unavailable model; with none left the task fails with every reason", () => {
      const noKey = { state: "unavailable", reason: "environment variable SIM_KEY is not set" } as const;
      const all = health(Object.fromEntries(simModels().map((m) => [m.spec, entry(noKey)])));
      const d = refused({ health: all });
      expect(d.error.code).toBe(ERROR_CODES.NO_ELIGIBLE_MODEL);
      expect(d.reasonCode).toBe("no_eligible_model");
      expect(d.error.message).toContain("unavailable (environment variable SIM_KEY is not set): sim:local-small, sim:local-coder, sim:cloud-mini, sim:cloud-large");
      const one = health({ "sim:local-small": entry(noKey) });
      expect(routed({ complexity: "simple", health: one }).model).toBe("sim:local-coder");
      expect(d.error).not.toHaveProperty("retryAfterMs");
      expect(d.error.retryable).toBe(false);
    });

    it("refuses for a while, not for good, when only open circuits stand in the way: retryable after the first cooldown", () => {
      // Local only: the two local models' circuits open, one closing in 20 s, one in 45 s.
      const open = health({
        "sim:local-small": entry({ until: "2025-06-01T12:00:45.000Z" }),
        "sim:local-coder": entry({ until: "2025-06-01T12:00:20.000Z" }),
      });
      const d = refused({ constraints: { localOnly: true }, health: open });
      expect(d.error).toMatchObject({ code: ERROR_CODES.NO_ELIGIBLE_MODEL, retryable: true, retryAfterMs: 20_000 });
      expect(d.error.message).toContain("circuit open (5 of 6 calls failed in 30 s) until 2025-06-01T12:00:20.000Z: sim:local-coder");
      // One of them unavailable for good: still worth waiting for the other.
      const mixed = health({ "sim:local-small": entry({ state: "unavailable", reason: "no key" }), "sim:local-coder": entry({ until: "2025-06-01T12:00:20.000Z" }) });
      expect(refused({ constraints: { localOnly: true }, health: mixed }).error).toMatchObject({ retryable: true, retryAfterMs: 20_000 });
      // An open circuit on a model that could not take the task anyway is no reason to wait.
      const irrelevant = health({ "sim:local-small": entry({ state: "unavailable", reason: "no key" }), "sim:local-coder": entry({ state: "unavailable", reason: "no key" }), "sim:cloud-mini": entry({ until: "2025-06-01T12:00:20.000Z" }) });
      expect(refused({ constraints: { localOnly: true }, health: irrelevant }).error).toMatchObject({ retryable: false });
    });
  });

  describe("the answer value", () => {
    // Moderate chat among the cloud models: mini (quality 0.75, ≈ $0.0006) and large (0.9, ≈ $0.0102);
    // large is worth it once 0.15 of quality is worth its ≈ $0.0096 more, at ≈ $0.064 an answer.
    const cloud = (): ModelConfig[] => simModels().filter((m) => !m.local);

    it("takes the cheapest model meeting the bar at the default value of 0", () => {
      const d = routed({ complexity: "moderate", models: cloud() });
      expect(d.model).toBe("sim:cloud-mini");
      expect(d.reason).toContain("cheapest cloud model that does");
      expect(d.reasonCode).toBe("cheapest");
    });

    it("takes the pricier model only when its extra quality is worth its extra cost", () => {
      expect(routed({ complexity: "moderate", models: cloud(), policy: { answerValueUsd: 0.05 } }).model).toBe("sim:cloud-mini");
      const d = routed({ complexity: "moderate", models: cloud(), policy: { answerValueUsd: 0.08 } });
      expect(d.model).toBe("sim:cloud-large");
      expect(d.reason).toContain("no local model meets quality 0.50 for a moderate chat task; best-value (quality 0.90 at $0.080000 an answer) cloud model that does");
      expect(d.fallbacks[0]).toBe("sim:cloud-mini");
      expect(d.reasonCode).toBe("best_value");
    });

    it("weighs the value against the whole task's cost: a strategy of several calls pays each", () => {
      // Moderate → chain: two calls. Large's extra quality is worth $0.012 at $0.08 an answer,
      // less than its ≈ $0.019 more for two calls (one call: ≈ $0.0096, and large wins, above).
      const d = routed({ complexity: "moderate", models: cloud(), policy: { answerValueUsd: 0.08 }, strategies: {} });
      expect(d).toMatchObject({ model: "sim:cloud-mini", strategy: "chain" });
      const one = routed({ complexity: "moderate", models: cloud(), policy: { answerValueUsd: 0.08 } });
      // The estimate is the task's: both calls.
      expect(d.estimatedCostUsd).toBeCloseTo(2 * routed({ complexity: "moderate", models: cloud() }).estimatedCostUsd, 12);
      expect(one.model).toBe("sim:cloud-large");
    });

    it("never takes a model below the bar for its value, and keeps local models first when preferred", () => {
      expect(routed({ complexity: "expert", models: cloud(), policy: { answerValueUsd: 0 } }).model).toBe("sim:cloud-large"); // floor 0.85
      expect(routed({ complexity: "moderate", policy: { answerValueUsd: 1 } }).model).toBe("sim:local-coder");
    });
  });

  describe("outcome statistics", () => {
    const feedback = (model: string, score: number, n: number, complexity: Complexity = "moderate"): ModelStats => {
      const stats = new ModelStats();
      for (let i = 0; i < n; i++) stats.observe({ taskType: "chat", complexity, model, kind: "feedback", score });
      return stats;
    };

    it("replaces a model's registry quality once feedback outweighs the prior", () => {
      // local-small (registry 0.55) scores 0.2 on moderate chat: after 200 samples it no longer meets 0.5.
      const stats = feedback("sim:local-small", 0.2, 200).snapshot();
      const d = routed({ complexity: "moderate", stats });
      expect(d.model).toBe("sim:local-coder");
      expect(d.statsId).toBe(stats.id);
      expect(d.statsId).not.toBe("empty");
    });

    it("keeps the registry quality while there are few samples", () => {
      expect(routed({ complexity: "moderate", stats: feedback("sim:local-small", 0.2, 2).snapshot() }).model).toBe("sim:local-small");
    });

    it("only uses the statistics of the task's own type and complexity", () => {
      const stats = feedback("sim:local-small", 0.2, 200, "complex").snapshot();
      expect(routed({ complexity: "moderate", stats }).model).toBe("sim:local-small");
    });

    it("keeps routing to a reliable model that failed a few calls, and moves off one that keeps failing", () => {
      const calls = (model: string, ok: number, failed: number): StatsSnapshot => {
        const stats = new ModelStats();
        for (let i = 0; i < ok; i++) stats.observe({ taskType: "chat", complexity: "expert", model, kind: "call", ok: true });
        for (let i = 0; i < failed; i++) stats.observe({ taskType: "chat", complexity: "expert", model, kind: "call", ok: false, modelsFault: true });
        return stats.snapshot();
      };
      const expert = { complexity: "expert" as const, models: simModels().filter((m) => !m.local) };
      expect(routed(expert).model).toBe("sim:cloud-large");
      // 25 failures in 1,025 calls: 0.90 × 0.976 still clears the expert floor of 0.85.
      expect(routed({ ...expert, stats: calls("sim:cloud-large", 1000, 25) }).model).toBe("sim:cloud-large");
      // Half its calls failing: 0.90 × 0.55 clears nothing; the best eligible model serves instead.
      const failing = routed({ ...expert, stats: calls("sim:cloud-large", 100, 100) });
      expect(failing.model).not.toBe("sim:cloud-large");
    });

    it("records the empty snapshot when there are no statistics", () => {
      expect(routed().statsId).toBe("empty");
    });
  });

  describe("exploration (Thompson sampling)", () => {
    // Complex chat on the simulator registry: floor 0.7, so the greedy pick is cloud-mini (0.75)
    // and the local models (0.65, 0.55) sit below the bar on their registry quality alone.
    const IDS = Array.from({ length: 2000 }, (_, i) => `explore-${i}`);
    const scored = (entries: ReadonlyArray<readonly [model: string, score: number, n: number]>, complexity: Complexity = "complex"): StatsSnapshot => {
      const stats = new ModelStats();
      for (const [model, score, n] of entries) {
        for (let i = 0; i < n; i++) stats.observe({ taskType: "chat", complexity, model, kind: "feedback", score });
      }
      return stats.snapshot();
    };
    const greedyPolicy = { exploration: { enabled: false } };
    /** Decisions whose model differs from the greedy (exploration off) one for the same task. */
    const deviations = (s: Scenario, ids: readonly string[] = IDS): Routed[] =>
      ids.map((id) => routed({ ...s, id })).filter((d, i) => d.model !== routed({ ...s, id: ids[i], policy: { ...s.policy, ...greedyPolicy } }).model);

    it("decides exactly as the greedy rule without feedback, or with fewer than minSamples scores", () => {
      const ids = IDS.slice(0, 300);
      const everyone = { exploration: { maxShare: 1 } };
      expect(deviations({ complexity: "complex", policy: everyone }, ids)).toEqual([]);
      const few = scored([["sim:cloud-mini", 0.75, 19]]);
      expect(deviations({ complexity: "complex", stats: few, policy: everyone }, ids)).toEqual([]);
      // The whole decision, not just the model, is the greedy one (the policy differs, so its version does).
      const d = routed({ complexity: "complex", stats: few, policy: everyone });
      const greedy = routed({ complexity: "complex", stats: few, policy: greedyPolicy });
      expect({ ...d, policyVersion: greedy.policyVersion }).toEqual(greedy);
      expect(d.reason).not.toContain("explored");
    });

    it("tries a cheaper model the greedy rule never would, once the bucket has enough feedback", () => {
      const stats = scored([["sim:cloud-mini", 0.75, 30]]);
      const explored = deviations({ complexity: "complex", stats, policy: { exploration: { maxShare: 1 } } }, IDS.slice(0, 300));
      // Local-coder's prior Beta(13, 7) clears 0.7 about a third of the time, local-small's Beta(11, 9)
      // rarely; and when cloud-mini's own sample falls below the bar, cloud-large takes it: ≈ half in all.
      const share = explored.length / 300;
      expect(share).toBeGreaterThan(0.2);
      expect(share).toBeLessThan(0.6);
      const d = explored.find((e) => e.model === "sim:local-coder")!;
      expect(d.reasonCode).toBe("cheapest");
      expect(d.reason).toMatch(
        /; explored: Thompson sample 0\.\d\d for sim:local-coder \(mean 0\.65 from 0 scores\) over the greedy sim:cloud-mini \(mean 0\.75 from 30 scores\)$/,
      );
      // Should the explored model fail, the greedy choice serves the task.
      expect(d.fallbacks[0]).toBe("sim:cloud-mini");
    });

    it("keeps the greedy choice as the fallback even with one fallback slot and one provider", () => {
      // Complex chat, floor 0.7: the greedy pick is ollama:large; an explored ollama model's only
      // fallback must stay ollama:large, not be swapped for another provider's model.
      const stats = new ModelStats();
      for (let i = 0; i < 30; i++) stats.observe({ taskType: "chat", complexity: "complex", model: "ollama:large", kind: "feedback", score: 0.8 });
      const s: Scenario = { complexity: "complex", models: multiProviderModels(), stats: stats.snapshot(), policy: { fallbacks: 1, exploration: { maxShare: 1 } } };
      const explored = IDS.slice(0, 400)
        .map((id) => routed({ ...s, id }))
        .filter((d) => d.reason.includes("explored") && d.model.startsWith("ollama:"));
      expect(explored.length).toBeGreaterThan(0);
      for (const d of explored) {
        expect(d.reason).toContain("over the greedy ollama:large");
        expect(d.fallbacks).toEqual(["ollama:large"]);
      }
    });

    it("replays an explored decision exactly from the same inputs, and the seed decides it", () => {
      const stats = scored([["sim:cloud-mini", 0.75, 30]]);
      const s: Scenario = { complexity: "complex", stats, policy: { exploration: { maxShare: 1 } } };
      const [first] = deviations(s, IDS.slice(0, 300));
      expect(first).toBeDefined();
      const id = IDS.find((i) => routed({ ...s, id: i }).seed === first!.seed)!;
      expect(routed({ ...s, id })).toEqual(first);
      const models = new Set(IDS.slice(0, 50).map((i) => routed({ ...s, id: i }).model));
      expect(models.size).toBeGreaterThan(1);
    });

    it("learns that a cheaper model is good for a kind of task, where the greedy rule never finds out", () => {
      // The truth: local-coder answers complex chat as well as cloud-large; every answer is scored.
      const TRUE_SCORE: Record<string, number> = { "sim:local-small": 0.4, "sim:local-coder": 0.9, "sim:cloud-mini": 0.75, "sim:cloud-large": 0.9 };
      const run = (policy: Record<string, unknown>): string[] => {
        const stats = new ModelStats(scored([["sim:cloud-mini", 0.75, 20]]));
        return IDS.slice(0, 400).map((id) => {
          const { model } = routed({ complexity: "complex", id, stats: stats.snapshot(), policy });
          stats.observe({ taskType: "chat", complexity: "complex", model, kind: "feedback", score: TRUE_SCORE[model]! });
          return model;
        });
      };
      const learned = run({});
      const last = learned.slice(-100);
      expect(last.filter((m) => m === "sim:local-coder").length).toBeGreaterThan(85);
      // Same inputs, same decisions: the whole run replays.
      expect(run({})).toEqual(learned);
      // Without exploration the free local model is never tried, so never learned about.
      expect(new Set(run(greedyPolicy))).toEqual(new Set(["sim:cloud-mini"]));
    });

    it("never explores a task whose client set its own minQuality: the bar holds for the models' means", () => {
      // Complex chat with 30 scores for cloud-mini: without a client bar about half the ids explore (above).
      const stats = scored([["sim:cloud-mini", 0.75, 30]]);
      const s: Scenario = { complexity: "complex", stats, policy: { exploration: { maxShare: 1 } } };
      expect(deviations(s, IDS.slice(0, 300)).length).toBeGreaterThan(0);
      // Even a bar no higher than the policy's own floor (0.7) is the client's: held to means.
      for (const minQuality of [0.7, 0.85]) {
        expect(deviations({ ...s, constraints: { minQuality } }, IDS.slice(0, 300))).toEqual([]);
      }
    });

    it("deviates from the greedy choice in at most maxShare of decisions", () => {
      const stats = scored([["sim:cloud-mini", 0.75, 30]]);
      const share = (maxShare: number): number => deviations({ complexity: "complex", stats, policy: { exploration: { maxShare } } }).length / IDS.length;
      // The explore draw is below 0.1 for ≈ 10% of ids (±0.7% at 2,000); about half of those pick another model.
      const atDefault = share(0.1);
      expect(atDefault).toBeGreaterThan(0);
      expect(atDefault).toBeLessThanOrEqual(0.1);
      expect(share(0.5)).toBeLessThanOrEqual(0.5);
      expect(share(0)).toBe(0);
      expect(deviations({ complexity: "complex", stats, policy: { exploration: { enabled: false, maxShare: 1 } } })).toEqual([]);
    });

    it("never explores for a critical-risk task", () => {
      // Critical: bar 0.8, greedy cloud-large; cloud-mini's Beta(15 + 22.5, 5 + 7.5) clears 0.8 often.
      const stats = scored([["sim:cloud-mini", 0.75, 30], ["sim:cloud-large", 0.9, 30]]);
      const s: Scenario = { complexity: "complex", risk: "critical", stats, policy: { exploration: { maxShare: 1 } } };
      expect(deviations(s, IDS.slice(0, 500))).toEqual([]);
      expect(routed(s).model).toBe("sim:cloud-large");
      // The same bar from the policy on a normal-risk task does explore.
      expect(deviations({ ...s, risk: "normal", policy: { exploration: { maxShare: 1 }, minQuality: { complex: 0.8 } } }, IDS.slice(0, 500)).length).toBeGreaterThan(0);
    });

    it("counts only the feedback of models the task may use", () => {
      // Budget exceeded: only local models are eligible, and none has feedback yet.
      const stats = scored([["sim:cloud-mini", 0.75, 30]]);
      const s: Scenario = { complexity: "complex", stats, budget: BUDGET_EXCEEDED, policy: { exploration: { maxShare: 1 } } };
      expect(deviations(s, IDS.slice(0, 300))).toEqual([]);
      expect(deviations({ ...s, policy: { exploration: { maxShare: 1, minSamples: 0 } } }, IDS.slice(0, 300)).length).toBeGreaterThan(0);
    });
  });
});
