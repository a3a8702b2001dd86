/**
 * The selector's decision: pure data in, pure data out (no clock, no I/O, and no randomness but
 * what the decision's seed draws), so every decision can be replayed from the inputs it records.
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
 * 5. Exploration (Thompson sampling, `policy.exploration`): once some eligible model has enough
 *    feedback for this kind of task, a seed-drawn share of decisions re-runs steps 3–4 with each
 *    model's quality sampled from its Beta posterior instead of its mean. A model the greedy rule
 *    never tries gets tried in proportion to the chance that it is good enough, and learns from
 *    the feedback that follows; cost still decides among those that clear the bar. When the
 *    sampled choice differs from the greedy one, the decision takes it, puts the greedy choice
 *    first in its fallbacks and says so in its reason. Critical-risk tasks never explore.
 */
import { BudgetLadder, EMPTY_HEALTH, EMPTY_STATS, ERROR_CODES, callCostUsd, compareStrings, countPromptTokens, expectedQuality, minDefined, providerKey, tierStrategy, unhealthyReason } from "@llm-router/shared";
import type {
  QualityEstimate,
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
import { derivedStream, fnv1a32, sampleBeta } from "./bandit.js";
import type { ModelRegistry } from "./registry.js";

export interface SelectionInput {
  task: Task;
  classification: Classification;
  budget: BudgetSnapshot;
  /**
   * The prompt's input tokens, when known without the prompt: replay re-decides from the
   * recorded estimate, since the ledger does not keep prompts. Default: estimated from the task.
   */
  inputTokens?: number;
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
  /**
   * The calls each strategy makes (`strategyCallCounts(config.strategies)`), which a task's cost
   * cap must cover; default one each.
   */
  strategyCalls?: Readonly<Record<ExecutionStrategy, number>>;
  /** What the soft step of the budget ladder does (`budgetLadder`); default its defaults. */
  budgetLadder?: BudgetLadder;
}

/** The hard limits one task puts on a model. */
interface HardLimits {
  capabilities: readonly Capability[];
  contextTokens: number;
  provider: string | undefined;
  /** Why cloud models are out (task, policy, budget); empty when they are allowed. */
  localOnlyBecause: readonly string[];
  maxLatencyMs: number | undefined;
  maxCostUsd: number | undefined;
  /**
   * The calls the task's strategy makes on the model (the cost cap must cover them all), the
   * calls made one after another (the latency cap must cover those), and its name.
   */
  calls: number;
  rounds: number;
  strategy: ExecutionStrategy;
  health: HealthSnapshot;
  now: Date;
}

interface Candidate {
  model: ModelConfig;
  /** The task's estimated cost on this model: every call of the strategy. */
  costUsd: number;
  /**
   * Quality for this task's type and complexity: the expected quality (feedback shrunk towards
   * `model.quality`), or a draw from its posterior when the decision explores.
   */
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

/** The quality a routing pass ranks a model by: its posterior mean, or a Thompson sample. */
type QualityOf = (model: ModelConfig) => number;

/** One pass of steps 1–4 under one budget state and one way of rating quality. */
interface Routing {
  limits: HardLimits;
  candidates: Candidate[];
  required: number;
  pick: Selection | undefined;
}

export function selectModel(input: SelectionInput, ctx: SelectionContext): RoutingDecision {
  const { task, classification, budget } = input;
  const { policy } = ctx;
  const stats = ctx.stats ?? EMPTY_STATS;
  const inputTokens = input.inputTokens ?? countPromptTokens(task.messages);
  const health = ctx.health ?? EMPTY_HEALTH;
  const unhealthy = ctx.registry.models.map((m) => m.spec).filter((spec) => unhealthyReason(health, spec, ctx.now) !== undefined);
  const common = {
    policyVersion: ctx.policyVersion,
    registryVersion: ctx.registry.version,
    statsId: stats.id,
    budget,
    decidedAt: ctx.now.toISOString(),
    ...(unhealthy.length > 0 ? { unhealthy } : {}),
  };
  const { maxTokens } = task.constraints;
  // The task's token cap bounds the answer too: what the prompt leaves of it.
  const outputTokens = Math.min(task.maxOutputTokens ?? policy.defaultMaxOutputTokens, policy.maxOutputTokens, maxTokens === undefined ? Infinity : maxTokens - inputTokens);
  if (outputTokens < MIN_OUTPUT_TOKENS) {
    const message = `the prompt (~${inputTokens} tokens) leaves no room for an answer within the task's ${maxTokens}-token cap`;
    return { ok: false, error: { code: ERROR_CODES.TOKEN_CAP_REACHED, message, retryable: false }, reason: message, reasonCode: "no_eligible_model", estimatedInputTokens: inputTokens, ...common };
  }
  // The budget ladder's soft step: a lower bar, and only the cheaper cloud models (see route).
  const soft = budget.state === "soft";
  const ladder = ctx.budgetLadder ?? DEFAULT_LADDER;
  const floor = Math.max(0, requiredQuality(task, classification, policy) - (soft ? ladder.qualityDiscount : 0));
  const taskLabel = `${article(classification.complexity)} ${classification.complexity} ${classification.taskType} task`;

  const seed = fnv1a32(task.id);
  const budgetExceeded = budget.state === "exceeded";
  const estimateOf = (model: ModelConfig): QualityEstimate =>
    expectedQuality(stats, { taskType: classification.taskType, complexity: classification.complexity, model: model.spec }, model.quality, policy.statsPriorSamples);
  const meanOf: QualityOf = (model) => estimateOf(model).quality;
  // A NaN would make the bar NaN and every model neither meet it nor miss it: no pFail instead.
  const pFail = Number.isFinite(classification.pFail) ? classification.pFail : undefined;
  const raise = pFail === undefined ? 0 : policy.pFailThreshold <= 0 ? 1 : Math.min(1, pFail / policy.pFailThreshold);
  const barFor = (eligible: readonly Candidate[]): number => {
    if (raise === 0 || eligible.length === 0) return floor;
    const top = Math.max(floor, Math.max(...eligible.map((c) => c.quality)) - policy.escalationMargin);
    // Clamped: at raise 1, floor + (top − floor) can round a hair above top (0.3 + 0.6).
    return Math.min(top, floor + (top - floor) * raise);
  };
  // The tier's strategy, unless the task's cost cap cannot cover its calls on any model that
  // would take the task while one call fits: then a single call (the reason says so).
  const forTier = tierStrategy(classification, ctx.strategyByTier);
  const tier: RoutedStrategy = { name: forTier, calls: Math.max(1, ctx.strategyCalls?.[forTier] ?? 1), rounds: strategyRounds(forTier) };
  const routeAs = (strategy: RoutedStrategy, qualityOf: QualityOf, exceeded: boolean, health: HealthSnapshot = ctx.health ?? EMPTY_HEALTH): Routing => {
    const limits = hardLimits(task, classification, policy, exceeded, inputTokens + outputTokens, health, ctx.now, strategy);
    const candidates = ctx.registry.models.map((model) => screenModel(model, qualityOf(model), limits, inputTokens, outputTokens));
    if (soft && !exceeded) keepCheapestCloud(candidates, ladder.cloudShare);
    const eligible = candidates.filter((c) => c.exclusions.length === 0);
    const required = barFor(eligible);
    return { limits, candidates, required, pick: pickModel(eligible, required, policy) };
  };

  let strategy = tier;
  let greedy = routeAs(tier, meanOf, budgetExceeded);
  let capped: string | undefined;
  if (!greedy.pick && tier.calls > 1 && (greedy.limits.maxCostUsd !== undefined || greedy.limits.maxLatencyMs !== undefined)) {
    const single = routeAs(SINGLE_CALL, meanOf, budgetExceeded);
    if (single.pick) {
      strategy = SINGLE_CALL;
      const { maxCostUsd, maxLatencyMs } = greedy.limits;
      const excludedBy = (exclusion: string): boolean => greedy.candidates.some((c) => c.exclusions.includes(exclusion));
      const caps = [
        maxCostUsd !== undefined && excludedBy(costCapExclusion(maxCostUsd, greedy.limits)) ? `cost cap ${usd(maxCostUsd)} does not cover ${tier.calls} calls` : undefined,
        maxLatencyMs !== undefined && excludedBy(latencyCapExclusion(maxLatencyMs, greedy.limits)) ? `latency cap ${maxLatencyMs} ms does not allow ${tier.rounds} calls in turn` : undefined,
      ].filter((cap) => cap !== undefined);
      capped = `single call instead of ${forTier}: the task's ${caps.join(" and its ")} on any model`;
      greedy = single;
    }
  }
  /** Every further routing pass (the budget's replay, exploration) under the strategy chosen. */
  const route = (qualityOf: QualityOf, exceeded: boolean, health?: HealthSnapshot): Routing => routeAs(strategy, qualityOf, exceeded, health);

  if (!greedy.pick) {
    // Rejected for the budget only when a model would take the task were the budget fine.
    const becauseOfBudget = budgetExceeded && route(meanOf, false).pick !== undefined;
    const code = becauseOfBudget ? ERROR_CODES.BUDGET_EXHAUSTED : ERROR_CODES.NO_ELIGIBLE_MODEL;
    const head = becauseOfBudget ? `budget exceeded${budget.scope ? ` (${budget.scope})` : ""} and no local model can take ${taskLabel}` : `no model passes the hard filters for ${taskLabel}`;
    const message = `${head}: ${describeExclusions(greedy.candidates)}`;
    // Only open circuits stand between the task and a model: one closes at its cooldown's end,
    // so the task can wait for it (the selector's worker redelivers it then) instead of failing.
    const reopensInMs = becauseOfBudget ? undefined : circuitWait(ctx.health ?? EMPTY_HEALTH, ctx.now, (health) => route(meanOf, budgetExceeded, health).pick !== undefined);
    const error = reopensInMs === undefined ? { code, message, retryable: false } : { code, message, retryable: true, retryAfterMs: reopensInMs };
    return { ok: false, error, reason: message, reasonCode: "no_eligible_model", estimatedInputTokens: inputTokens, ...common };
  }

  // Exploration replaces the greedy pick only when the sampled qualities choose another model:
  // otherwise the decision is exactly the greedy one, so at most the explored share deviates.
  let qualityOf = meanOf;
  let routing = greedy;
  let pick = greedy.pick;
  let fallbackPick = greedy.pick;
  let exploration: string | undefined;
  const sampleOf = thompsonSampler(seed, greedy.pick.order, estimateOf, task, classification, policy.exploration);
  if (sampleOf) {
    const trial = route(sampleOf, budgetExceeded);
    const greedySpec = greedy.pick.chosen.model.spec;
    if (trial.pick && trial.pick.chosen.model.spec !== greedySpec) {
      qualityOf = sampleOf;
      routing = trial;
      pick = trial.pick;
      // Should the explored model fail, the model the greedy rule chose serves the task.
      fallbackPick = leading(trial.pick, greedySpec);
      exploration = describeExploration(trial.pick.chosen, estimateOf, greedy.pick.chosen);
    }
  }

  const { chosen } = pick;
  // Forced local means the budget, not the policy, kept a cloud model out: replay the same
  // selection as if the budget were fine and see whether it would have gone to the cloud.
  const forcedLocal = budgetExceeded && chosen.model.local && route(qualityOf, false).pick?.chosen.model.local === false;

  return {
    ok: true,
    model: chosen.model.spec,
    fallbacks: chooseFallbacks(fallbackPick, policy.fallbacks, exploration === undefined ? undefined : greedy.pick.chosen.model.spec),
    strategy: strategy.name,
    forcedLocal,
    estimatedInputTokens: inputTokens,
    maxOutputTokens: outputTokens,
    estimatedCostUsd: chosen.costUsd,
    seed,
    reasonCode: !pick.meetsQuality ? "best_effort" : policy.answerValueUsd > 0 ? "best_value" : "cheapest",
    reason: explain(pick, {
      required: routing.required,
      taskLabel,
      budgetExceeded,
      localOnlyBecause: routing.limits.localOnlyBecause,
      preferLocal: policy.preferLocal,
      answerValueUsd: policy.answerValueUsd,
      escalation: raise > 0 && pFail !== undefined ? `pFail ${pFail.toFixed(2)} (threshold ${policy.pFailThreshold}) raised the bar from ${floor.toFixed(2)}` : undefined,
      ladder: soft ? `budget past its soft limit${budget.scope ? ` (${budget.scope})` : ""}: bar lowered by ${ladder.qualityDiscount}, cheaper cloud models only` : undefined,
      exploration,
      capped,
    }),
    ...common,
  };
}

/**
 * Ms until the first open circuit's cooldown ends, when closing the open circuits (every entry
 * with an end; unavailable models stay out) would let `routes` find a model; otherwise undefined.
 */
function circuitWait(health: HealthSnapshot, now: Date, routes: (health: HealthSnapshot) => boolean): number | undefined {
  const ends = Object.values(health.models).flatMap((e) => (e.state === "open" && e.until !== undefined && Date.parse(e.until) > now.getTime() ? [Date.parse(e.until)] : []));
  if (ends.length === 0) return undefined;
  const lasting: HealthSnapshot = { v: 1, models: Object.fromEntries(Object.entries(health.models).filter(([, e]) => !(e.state === "open" && e.until !== undefined))) };
  return routes(lasting) ? Math.min(...ends) - now.getTime() : undefined;
}

/**
 * The Thompson sampler for this decision, or undefined when it routes by means: exploration is
 * off, the task is critical (no experiments where a wrong answer is costly), the client set its
 * own `minQuality` (a bar it asked for is held to the models' means, not to lucky draws), no eligible model
 * has `minSamples` feedback scores for this kind of task yet (before that the registry's
 * qualities are all there is, and sampling them would only add noise), or the seed's own
 * uniform draw is not below `maxShare` (which bounds the share of decisions that explore).
 * Each model's draw comes from a stream of its own (seed × spec), so it does not depend on
 * which other models are eligible.
 */
function thompsonSampler(
  seed: number,
  eligible: readonly Candidate[],
  estimateOf: (model: ModelConfig) => QualityEstimate,
  task: Task,
  classification: Classification,
  exploration: PolicyConfig["exploration"],
): QualityOf | undefined {
  if (!exploration.enabled || classification.risk === "critical" || task.constraints.minQuality !== undefined) return undefined;
  if (!eligible.some((c) => estimateOf(c.model).samples >= exploration.minSamples)) return undefined;
  if (derivedStream(seed, "explore")() >= exploration.maxShare) return undefined;
  return (model) => {
    const { alpha, beta, quality, reliability } = estimateOf(model);
    // No prior weight and no feedback: no posterior to draw from, only the registry's quality.
    return alpha + beta > 0 ? sampleBeta(derivedStream(seed, model.spec), alpha, beta) * reliability : quality;
  };
}

/** "Thompson sample 0.71 for a (mean 0.65 from 3 scores) over the greedy b (mean 0.75 from 24 scores)". */
function describeExploration(chosen: Candidate, estimateOf: (model: ModelConfig) => QualityEstimate, greedy: Candidate): string {
  const mean = (c: Candidate): string => {
    const { quality, samples } = estimateOf(c.model);
    return `mean ${quality.toFixed(2)} from ${samples} score${samples === 1 ? "" : "s"}`;
  };
  return `explored: Thompson sample ${chosen.quality.toFixed(2)} for ${chosen.model.spec} (${mean(chosen)}) over the greedy ${greedy.model.spec} (${mean(greedy)})`;
}

/** The selection with the model `spec` moved to the front of its fallback order. */
function leading(pick: Selection, spec: string): Selection {
  const first = pick.order.find((c) => c.model.spec === spec);
  return first ? { ...pick, order: [first, ...pick.order.filter((c) => c !== first)] } : pick;
}

/**
 * The model calls each strategy makes: one; a plan and an answer; each specialist and the
 * synthesis; each answering model and the critic. Estimates of a task's cost multiply by them.
 */
export function strategyCallCounts(strategies: Pick<StrategiesConfig, "parallel" | "ensemble">): Record<ExecutionStrategy, number> {
  return { single: 1, chain: 2, parallel: strategies.parallel.specialists.length + 1, ensemble: strategies.ensemble.size + 1 };
}

/** A strategy and the calls it makes on the chosen model. */
interface RoutedStrategy {
  name: ExecutionStrategy;
  calls: number;
  rounds: number;
}
const SINGLE_CALL: RoutedStrategy = { name: "single", calls: 1, rounds: 1 };

/**
 * The calls a strategy makes one after another: one for a single call; two for the others — a
 * plan then the answer, the specialists (at once) then the synthesis, the answers (at once) then
 * the critic. A latency cap must cover each of them at the model's typical latency.
 */
function strategyRounds(strategy: ExecutionStrategy): number {
  return strategy === "single" ? 1 : 2;
}

function costCapExclusion(maxCostUsd: number, limits: Pick<HardLimits, "calls" | "strategy">): string {
  return limits.calls > 1 ? `max cost ${usd(maxCostUsd)} (its ${limits.strategy} strategy makes ${limits.calls} calls)` : `max cost ${usd(maxCostUsd)}`;
}

function latencyCapExclusion(maxLatencyMs: number, limits: Pick<HardLimits, "rounds" | "strategy">): string {
  return limits.rounds > 1 ? `max latency ${maxLatencyMs} ms (its ${limits.strategy} strategy makes ${limits.rounds} calls in turn)` : `max latency ${maxLatencyMs} ms`;
}


const DEFAULT_LADDER = BudgetLadder.parse({});

/** An answer with room for fewer tokens than this is not worth routing (as in the executor). */
const MIN_OUTPUT_TOKENS = 16;

/**
 * The soft step's "cheaper cloud models only": of the cloud models still eligible, the cheapest
 * `share` (by this task's estimated cost, at least one) stay; the rest are excluded with the reason.
 */
function keepCheapestCloud(candidates: Candidate[], share: number): void {
  // Ties on cost: the better model, then by spec — never the configuration's order.
  const cloud = candidates
    .filter((c) => !c.model.local && c.exclusions.length === 0)
    .sort((a, b) => a.costUsd - b.costUsd || b.quality - a.quality || compareStrings(a.model.spec, b.model.spec));
  const keep = Math.max(1, Math.ceil(cloud.length * share));
  for (const c of cloud.slice(keep)) c.exclusions.push("budget past its soft limit: only the cheaper cloud models");
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
  strategy: RoutedStrategy,
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
    calls: strategy.calls,
    rounds: strategy.rounds,
    strategy: strategy.name,
    health,
    now,
  };
}

function screenModel(model: ModelConfig, quality: number, limits: HardLimits, inputTokens: number, outputTokens: number): Candidate {
  // The task's cost: every call of its strategy, each estimated at this model's price.
  const costUsd = callCostUsd(model, inputTokens, outputTokens) * limits.calls;
  const exclusions: string[] = [];
  for (const capability of limits.capabilities) {
    if (!model.capabilities.includes(capability)) exclusions.push(`requires capability "${capability}"`);
  }
  if (model.contextWindow < limits.contextTokens) exclusions.push(`needs a context window of ${limits.contextTokens} tokens`);
  if (limits.provider !== undefined && providerKey(model.spec) !== limits.provider) {
    exclusions.push(`provider must be "${limits.provider}"`);
  }
  if (!model.local && limits.localOnlyBecause.length > 0) exclusions.push(`local only (${limits.localOnlyBecause.join(", ")})`);
  if (limits.maxLatencyMs !== undefined && model.typicalLatencyMs * limits.rounds > limits.maxLatencyMs) exclusions.push(latencyCapExclusion(limits.maxLatencyMs, limits));
  if (limits.maxCostUsd !== undefined && costUsd > limits.maxCostUsd) exclusions.push(costCapExclusion(limits.maxCostUsd, limits));
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
/**
 * The first `count` of the rest of the order; when they all share the chosen model's provider,
 * the last is swapped for the best of another provider (one outage should not take them all).
 * @param keep a fallback never swapped out: the greedy choice behind an explored one.
 */
function chooseFallbacks(pick: Selection, count: number, keep?: string): string[] {
  const rest = pick.order.filter((c) => c !== pick.chosen);
  const fallbacks = rest.slice(0, count);
  const home = providerKey(pick.chosen.model.spec);
  if (fallbacks.length > 0 && fallbacks.every((c) => providerKey(c.model.spec) === home)) {
    const other = rest.find((c) => providerKey(c.model.spec) !== home);
    const slot = fallbacks.findLastIndex((c) => c.model.spec !== keep);
    if (other && slot >= 0) fallbacks[slot] = other;
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
  /** Set when pFail raised the bar: said after the choice. */
  escalation: string | undefined;
  /** Set on the budget ladder's soft step. */
  ladder: string | undefined;
  /** Set when the decision explored: said last. */
  exploration: string | undefined;
  /** Set when the cost cap turned the tier's strategy into a single call. */
  capped: string | undefined;
}

function explain(pick: Selection, facts: ReasonFacts): string {
  return [explainChoice(pick, facts), facts.ladder, facts.escalation, facts.capped, facts.exploration].filter((part) => part !== undefined).join("; ");
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
  // A cloud pick implies the budget is not exceeded (that excludes cloud models outright); past
  // its soft limit the ladder's note follows the choice instead.
  const budget = facts.ladder === undefined ? "budget ok; " : "";
  if (facts.preferLocal) {
    return `${model.spec}: ${budget}no local model meets quality ${target} for ${facts.taskLabel}; ${best} cloud model that does (${est})`;
  }
  return `${model.spec}: ${budget}${best} model meeting quality ${target} for ${facts.taskLabel} (${est})`;
}

/** "requires capability "vision": a, b; max latency 500 ms: c" — each filter with the models it excluded. */
function describeExclusions(candidates: readonly Candidate[]): string {
  const byFilter = new Map<string, string[]>();
  for (const { model, exclusions } of candidates) {
    for (const exclusion of exclusions) byFilter.set(exclusion, [...(byFilter.get(exclusion) ?? []), model.spec]);
  }
  return [...byFilter].map(([filter, specs]) => `${filter}: ${specs.join(", ")}`).join("; ");
}

function article(word: string): string {
  return /^[aeiou]/i.test(word) ? "an" : "a";
}

function usd(amount: number): string {
  return `$${amount.toFixed(6)}`;
}
