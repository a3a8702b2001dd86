/**
 * The selector's decision: pure data in, pure data out (no clock, no randomness, no I/O), so
 * every decision can be replayed from the inputs it records.
 *
 * 1. Hard filters decide which models may take the task at all (capabilities, context window,
 *    provider, local-only, latency, cost, health: an open circuit or missing credentials). Each
 *    exclusion keeps its reason.
 * 2. Each eligible model's expected quality for this kind of task comes from the outcome
 *    statistics (feedback per task type, complexity and model), shrunk towards its registry
 *    quality (`expectedQuality` in @llm-router/shared/model-stats).
 * 3. The quality bar starts at the tier's minimum (raised for critical risk and by the task) and
 *    rises with the classification's pFail, linearly, to the best expected quality among the
 *    eligible (minus `policy.escalationMargin`), which it reaches at `policy.pFailThreshold`:
 *    `bar = floor + (top − floor) · min(1, pFail / threshold)`. Within one kind of task this is
 *    RouteLLM's threshold rule (a cheaper model is used while pFail stays below a point); across
 *    several models it walks up the price list as pFail grows. The threshold is the router's
 *    cost–quality knob. Without a pFail (no learned model) the bar is the floor.
 * 4. Among the eligible that meet the bar, the best value wins: local first when the policy
 *    prefers local, then the highest `quality × policy.answerValueUsd − cost` (with the default
 *    value of 0, the cheapest), then the smallest quality, so a big model is not wasted. When none
 *    meets the bar, the highest-quality eligible model is used and the reason says so.
 */
import { EMPTY_HEALTH, EMPTY_STATS, ERROR_CODES, callCostUsd, estimateTokens, expectedQuality, minDefined, providerKey, unhealthyReason } from "@llm-router/shared";
import type {
  BudgetSnapshot,
  Capability,
  HealthSnapshot,
  Classification,
  ExecutionStrategy,
  ModelConfig,
  PolicyConfig,
  RoutingDecision,
  StatsSnapshot,
  StrategiesConfig,
  Task,
} from "@llm-router/shared";
import { compareStrings } from "./registry.js";
import type { ModelRegistry } from "./registry.js";

export interface SelectionInput {
  task: Task;
  classification: Classification;
  budget: BudgetSnapshot;
}

export interface SelectionContext {
  registry: ModelRegistry;
  policy: PolicyConfig;
  policyVersion: string;
  /** The decision's timestamp; injected so the function stays pure. */
  now: Date;
  /** Outcome statistics; default none (registry qualities alone). */
  stats?: StatsSnapshot;
  /** Model health from the executors (open circuits, missing credentials); default all healthy. */
  health?: HealthSnapshot;
  /** The execution strategy per tier (`strategies.byTier`); default `single` for every task. */
  strategyByTier?: StrategiesConfig["byTier"];
}

/** Tokens a chat message costs beyond its text (role and separators), roughly. */
const MESSAGE_OVERHEAD_TOKENS = 4;

/** The hard limits one task puts on a model. */
interface HardLimits {
  capabilities: readonly Capability[];
  contextTokens: number;
  provider: string | undefined;
  /** Why cloud models are out (task, policy, budget); empty when they are allowed. */
  localOnlyBecause: readonly string[];
  maxLatencyMs: number | undefined;
  maxCostUsd: number | undefined;
  health: HealthSnapshot;
  now: Date;
}

interface Candidate {
  model: ModelConfig;
  costUsd: number;
  /** Expected quality for this task's type and complexity: feedback shrunk towards `model.quality`. */
  quality: number;
  /** One entry per failed hard filter, worded the same for every model it excludes. */
  exclusions: string[];
}

interface Selection {
  chosen: Candidate;
  meetsQuality: boolean;
  /** Every eligible model in fallback order: those meeting the bar first, each group ranked. */
  order: Candidate[];
}

export function selectModel(input: SelectionInput, ctx: SelectionContext): RoutingDecision {
  const { task, classification, budget } = input;
  const { policy } = ctx;
  const stats = ctx.stats ?? EMPTY_STATS;
  const common = {
    policyVersion: ctx.policyVersion,
    registryVersion: ctx.registry.version,
    statsId: stats.id,
    budget,
    decidedAt: ctx.now.toISOString(),
  };

  const inputTokens =
    estimateTokens(task.messages.map((m) => m.content).join("\n")) + MESSAGE_OVERHEAD_TOKENS * task.messages.length;
  const outputTokens = Math.min(task.maxOutputTokens ?? policy.defaultMaxOutputTokens, policy.maxOutputTokens);
  const floor = requiredQuality(task, classification, policy);
  const taskLabel = `${article(classification.complexity)} ${classification.complexity} ${classification.taskType} task`;

  const budgetExceeded = budget.state === "exceeded";
  const limitsFor = (exceeded: boolean): HardLimits =>
    hardLimits(task, classification, policy, exceeded, inputTokens + outputTokens, ctx.health ?? EMPTY_HEALTH, ctx.now);
  const qualityOf = (model: ModelConfig): number =>
    expectedQuality(stats, { taskType: classification.taskType, complexity: classification.complexity, model: model.spec }, model.quality, policy.statsPriorSamples).quality;
  const screen = (limits: HardLimits): Candidate[] =>
    ctx.registry.models.map((model) => screenModel(model, qualityOf(model), limits, inputTokens, outputTokens));
  const { pFail } = classification;
  const raise = pFail === undefined ? 0 : policy.pFailThreshold <= 0 ? 1 : Math.min(1, pFail / policy.pFailThreshold);
  const barFor = (eligible: readonly Candidate[]): number => {
    if (raise === 0 || eligible.length === 0) return floor;
    const top = Math.max(floor, Math.max(...eligible.map((c) => c.quality)) - policy.escalationMargin);
    return floor + (top - floor) * raise;
  };
  const limits = limitsFor(budgetExceeded);
  const candidates = screen(limits);
  const eligible = candidates.filter((c) => c.exclusions.length === 0);
  const required = barFor(eligible);
  const pick = pickModel(eligible, required, policy);

  if (!pick) {
    const message = `no model passes the hard filters for ${taskLabel}: ${describeExclusions(candidates)}`;
    return { ok: false, error: { code: ERROR_CODES.NO_ELIGIBLE_MODEL, message, retryable: false }, reason: message, reasonCode: "no_eligible_model", ...common };
  }

  const { chosen } = pick;
  // Forced local means the budget, not the policy, kept a cloud model out: replay the same
  // selection as if the budget were fine and see whether it would have gone to the cloud.
  let forcedLocal = false;
  if (budgetExceeded && chosen.model.local) {
    const unconstrained = screen(limitsFor(false)).filter((c) => c.exclusions.length === 0);
    forcedLocal = pickModel(unconstrained, barFor(unconstrained), policy)?.chosen.model.local === false;
  }

  return {
    ok: true,
    model: chosen.model.spec,
    fallbacks: chooseFallbacks(pick, policy.fallbacks),
    strategy: strategyFor(classification, ctx.strategyByTier),
    forcedLocal,
    estimatedInputTokens: inputTokens,
    maxOutputTokens: outputTokens,
    estimatedCostUsd: chosen.costUsd,
    seed: fnv1a32(task.id),
    reasonCode: !pick.meetsQuality ? "best_effort" : policy.answerValueUsd > 0 ? "best_value" : "cheapest",
    reason: explain(pick, {
      required,
      taskLabel,
      budgetExceeded,
      localOnlyBecause: limits.localOnlyBecause,
      preferLocal: policy.preferLocal,
      answerValueUsd: policy.answerValueUsd,
      escalation: raise > 0 && pFail !== undefined ? `pFail ${pFail.toFixed(2)} (threshold ${policy.pFailThreshold}) raised the bar from ${floor.toFixed(2)}` : undefined,
    }),
    ...common,
  };
}

/** The tier's strategy; critical risk overrides the tier. */
function strategyFor(classification: Classification, byTier: StrategiesConfig["byTier"] | undefined): ExecutionStrategy {
  if (!byTier) return "single";
  return classification.risk === "critical" ? byTier.critical : byTier[classification.complexity];
}

function requiredQuality(task: Task, classification: Classification, policy: PolicyConfig): number {
  return Math.max(
    policy.minQuality[classification.complexity],
    task.constraints.minQuality ?? 0,
    classification.risk === "critical" ? policy.criticalMinQuality : 0,
  );
}

function localOnlyReasons(task: Task, policy: PolicyConfig, budgetExceeded: boolean): string[] {
  const reasons: string[] = [];
  if (task.constraints.localOnly) reasons.push("task is local-only");
  if (!policy.cloudAllowed) reasons.push("cloud disallowed by policy");
  if (budgetExceeded) reasons.push("budget exceeded");
  return reasons;
}

function hardLimits(
  task: Task,
  classification: Classification,
  policy: PolicyConfig,
  budgetExceeded: boolean,
  contextTokens: number,
  health: HealthSnapshot,
  now: Date,
): HardLimits {
  const { constraints } = task;
  const capabilities = new Set([
    ...(constraints.requiredCapabilities ?? []),
    ...(policy.requiredCapabilities[classification.taskType] ?? []),
  ]);
  return {
    capabilities: [...capabilities].sort(compareStrings),
    contextTokens,
    provider: constraints.provider,
    localOnlyBecause: localOnlyReasons(task, policy, budgetExceeded),
    maxLatencyMs: minDefined(constraints.maxLatencyMs, policy.maxLatencyMs),
    maxCostUsd: minDefined(constraints.maxCostUsd, policy.maxCostPerTaskUsd),
    health,
    now,
  };
}

function screenModel(model: ModelConfig, quality: number, limits: HardLimits, inputTokens: number, outputTokens: number): Candidate {
  const costUsd = callCostUsd(model, inputTokens, outputTokens);
  const exclusions: string[] = [];
  for (const capability of limits.capabilities) {
    if (!model.capabilities.includes(capability)) exclusions.push(`requires capability "${capability}"`);
  }
  if (model.contextWindow < limits.contextTokens) exclusions.push(`needs a context window of ${limits.contextTokens} tokens`);
  if (limits.provider !== undefined && providerKey(model.spec) !== limits.provider) {
    exclusions.push(`provider must be "${limits.provider}"`);
  }
  if (!model.local && limits.localOnlyBecause.length > 0) exclusions.push(`local only (${limits.localOnlyBecause.join(", ")})`);
  if (limits.maxLatencyMs !== undefined && model.typicalLatencyMs > limits.maxLatencyMs) {
    exclusions.push(`max latency ${limits.maxLatencyMs} ms`);
  }
  if (limits.maxCostUsd !== undefined && costUsd > limits.maxCostUsd) exclusions.push(`max cost ${usd(limits.maxCostUsd)}`);
  const unhealthy = unhealthyReason(limits.health, model.spec, limits.now);
  if (unhealthy !== undefined) exclusions.push(unhealthy);
  return { model, costUsd, quality, exclusions };
}

function pickModel(eligible: readonly Candidate[], required: number, policy: Pick<PolicyConfig, "preferLocal" | "answerValueUsd">): Selection | undefined {
  const ranked = [...eligible].sort(byRank(policy));
  const meets = ranked.filter((c) => c.quality >= required);
  const below = ranked.filter((c) => c.quality < required);
  const order = [...meets, ...below];
  const top = meets[0];
  if (top) return { chosen: top, meetsQuality: true, order };
  // Nothing is good enough: take the best there is. When cloud models are excluded (budget,
  // local-only, policy) every eligible model is local, so this is also the best local model.
  // Ties on quality keep the ranking order (cheaper first).
  const [first, ...rest] = below;
  if (!first) return undefined;
  const best = rest.reduce((b, c) => (c.quality > b.quality ? c : b), first);
  return { chosen: best, meetsQuality: false, order };
}

/**
 * Local first (when preferred), then better value (`quality × answerValueUsd − cost`; at a value
 * of 0, cheaper), then cheaper, then smaller (the least model that does the job), then spec.
 */
function byRank({ preferLocal, answerValueUsd }: Pick<PolicyConfig, "preferLocal" | "answerValueUsd">): (a: Candidate, b: Candidate) => number {
  const value = (c: Candidate): number => c.quality * answerValueUsd - c.costUsd;
  return (a, b) =>
    (preferLocal ? Number(b.model.local) - Number(a.model.local) : 0) ||
    value(b) - value(a) ||
    a.costUsd - b.costUsd ||
    a.quality - b.quality ||
    compareStrings(a.model.spec, b.model.spec);
}

/**
 * The next models in fallback order. If they all share the chosen model's provider, the last slot
 * goes to the best model of another provider: a provider outage would otherwise take out the
 * whole chain.
 */
function chooseFallbacks(pick: Selection, count: number): string[] {
  const rest = pick.order.filter((c) => c !== pick.chosen);
  const fallbacks = rest.slice(0, count);
  const home = providerKey(pick.chosen.model.spec);
  if (fallbacks.length > 0 && fallbacks.every((c) => providerKey(c.model.spec) === home)) {
    const other = rest.find((c) => providerKey(c.model.spec) !== home);
    if (other) fallbacks[fallbacks.length - 1] = other;
  }
  return fallbacks.map((c) => c.model.spec);
}

interface ReasonFacts {
  required: number;
  taskLabel: string;
  budgetExceeded: boolean;
  localOnlyBecause: readonly string[];
  preferLocal: boolean;
  answerValueUsd: number;
  /** Set when pFail raised the bar: said first in the reason. */
  escalation: string | undefined;
}

function explain(pick: Selection, facts: ReasonFacts): string {
  const reason = explainChoice(pick, facts);
  return facts.escalation === undefined ? reason : `${reason}; ${facts.escalation}`;
}

function explainChoice(pick: Selection, facts: ReasonFacts): string {
  const { model, costUsd, quality } = pick.chosen;
  const target = facts.required.toFixed(2);
  const est = `est. ${usd(costUsd)}`;
  if (!pick.meetsQuality) {
    const gap = `quality ${quality.toFixed(2)} below the ${target} target`;
    if (facts.localOnlyBecause.length > 0) {
      return `${model.spec}: ${facts.localOnlyBecause.join(" and ")}, routed to a local model for ${facts.taskLabel} (${gap}, ${est})`;
    }
    return `${model.spec}: no eligible model meets quality ${target} for ${facts.taskLabel}; best effort with the highest-quality one (${gap}, ${est})`;
  }
  // At a positive answer value the winner is the best value, not necessarily the cheapest.
  const best = facts.answerValueUsd > 0 ? `best-value (quality ${quality.toFixed(2)} at ${usd(facts.answerValueUsd)} an answer)` : "cheapest";
  if (model.local) {
    const budget = facts.budgetExceeded ? "budget exceeded; " : "";
    return `${model.spec}: ${budget}${best} local model meeting quality ${target} for ${facts.taskLabel} (${est})`;
  }
  // A cloud pick implies the budget is ok: exceeded budgets exclude cloud models outright.
  if (facts.preferLocal) {
    return `${model.spec}: budget ok; no local model meets quality ${target} for ${facts.taskLabel}; ${best} cloud model that does (${est})`;
  }
  return `${model.spec}: budget ok; ${best} model meeting quality ${target} for ${facts.taskLabel} (${est})`;
}

/** "requires capability "vision": a, b; max latency 500 ms: c" — each filter with the models it excluded. */
function describeExclusions(candidates: readonly Candidate[]): string {
  const byFilter = new Map<string, string[]>();
  for (const { model, exclusions } of candidates) {
    for (const exclusion of exclusions) byFilter.set(exclusion, [...(byFilter.get(exclusion) ?? []), model.spec]);
  }
  return [...byFilter].map(([filter, specs]) => `${filter}: ${specs.join(", ")}`).join("; ");
}

/** FNV-1a, 32 bit: a stable non-negative seed from the task id, so replays draw the same numbers. */
function fnv1a32(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return hash >>> 0;
}

function article(word: string): string {
  return /^[aeiou]/i.test(word) ? "an" : "a";
}

function usd(amount: number): string {
  return `$${amount.toFixed(6)}`;
}
