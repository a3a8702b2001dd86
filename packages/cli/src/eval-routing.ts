/**
 * The routing-quality evaluation: the router's own classify and select functions, scored on
 * routing-eval JSONL rows (per-prompt outcomes of several models).
 *
 * 1. Registry: one model per benchmark model, spec `bench:<name>`, priced so that the selector's
 *    estimate for a prompt is the model's mean recorded `cost_usd`, with the mean training score
 *    as its registry quality (the prior the statistics are shrunk towards).
 * 2. Learning, from the `--train` rows only: the pFail model is fitted on them
 *    (`trainPFail`, the trainer `npm run train:classifier` uses), and every model's outcome on
 *    every training prompt is fed to `ModelStats`, the aggregation the ledger runs on real
 *    feedback, under the task type and complexity the classifier gives that prompt.
 * 3. Routing: each `--test` prompt is classified by `classifyInProcess` (rules + the learned
 *    model) and routed by `selectModel` at every setting of the knob, and the chosen model's
 *    recorded score and cost are what the router earns. The settings lie between the test rows'
 *    switch points (where the selector's rule changes a row's model; see knobsAtSwitches), so
 *    the curve moves a small share of the rows at each step, and every setting is scored.
 * 4. Cross-validation (`folds`): steps 1–3 run once per fold, each fold's test rows routed by
 *    what its own training rows taught, and every knob setting is scored over all the folds'
 *    test rows together. pFail is a calibrated probability, so one threshold means the same in
 *    every fold. For a strong/weak pair the knob is
 *    `policy.pFailThreshold` (RouteLLM's threshold); for many models it is
 *    `policy.answerValueUsd` (what a perfect answer is worth), with pFail raising the quality bar
 *    at a fixed threshold: the value picks the efficient model of each task type and complexity.
 *
 * The policy has no quality floors (every tier's minimum is 0), so the knob alone moves the
 * router between "cheapest model for everything" and "best expected model for everything".
 */
import { classifyInProcess, chooseModelPair, constantLabelProblem, createRandom, expectedCalibrationError, heldOutPlaces, labelRow, outcomePattern, reliability, trainPFail, type LearnedModel, type ModelPair, type ReliabilityBin } from "@llm-router/classifier";
import {
  bootstrapIntervals,
  costQualityCurve,
  EVAL_ERROR_CODES,
  EvalError,
  multiReport,
  pairReportFromPoints,
  requireStrongDearer,
  toMultiOutcomes,
  toPairOutcomes,
  type BootstrapInterval,
  type CostQualityPoint,
  type KnobPoint,
  type MultiReport,
  type PairReport,
  type RoutingEvalRow,
} from "@llm-router/eval";
import { selectModel, createModelRegistry, policyVersion } from "@llm-router/selector";
import {
  CAPABILITIES,
  callCostUsd,
  compareStrings,
  countPromptTokens,
  expectedQuality,
  ModelConfig,
  ModelStats,
  PolicyConfig,
  type Classification,
  type StatsSnapshot,
  type Task,
} from "@llm-router/shared";
import { UsageError } from "./args.js";

/** Output tokens the selector assumes per prompt; prices are set so that this many cost the mean `cost_usd`. */
export const EVAL_OUTPUT_TOKENS = 1000;
export const BENCH_PROVIDER = "bench";
/** pFail model size used by the evaluation (as the bundled weights). */
export const EVAL_DIMS = 2 ** 16;
/** Many-model mode's fixed policy.pFailThreshold (see EvalRoutingOptions.pFailThreshold). */
export const DEFAULT_MULTI_PFAIL_THRESHOLD = 1;

/** One training set and the rows it routes; the test rows never overlap the training rows. */
export interface EvalFold {
  train: readonly RoutingEvalRow[];
  test: readonly RoutingEvalRow[];
}

/** One training and test set, or (cross-validation) several folds scored together. */
export type EvalRoutingOptions = EvalRoutingSettings & (EvalFold | { folds: readonly EvalFold[] });

export interface EvalRoutingSettings {
  /** Pair mode: both given. */
  strong?: string;
  weak?: string;
  /** Many-model mode: the models to route between. Default: every model of the test rows. */
  models?: readonly string[];
  /** Knob settings at most (between quantiles of the test rows' switch points; see knobsAtSwitches). Default 101. */
  knobs?: number;
  /**
   * Many-model mode: the fixed policy.pFailThreshold while the answer value is swept. Default 1:
   * the bar rises with pFail over its whole range (0.5, the service default, reaches the top at
   * pFail 0.5 and sends half the prompts to the best model whatever their value).
   */
  pFailThreshold?: number;
  /** Seeds the pFail model's shuffle and the bootstrap's draws. Default 1. */
  seed?: number;
  /**
   * Bootstrap draws of the test rows for 95% intervals of the headline figures (the test sample's
   * noise; the trained router stays fixed). Default 0: none.
   */
  bootstrap?: number;
  /** Called with progress lines for long steps. */
  progress?: (line: string) => void;
}

interface Common {
  models: string[];
  /** The pair the pFail model was trained on. */
  pfailPair: { strong: string; weak: string };
  /** How many training sets (1 without cross-validation). */
  folds: number;
  /** Training rows, per fold on average with several. */
  trainRows: number;
  /** Test rows routed, over all folds. */
  testRows: number;
  /** The training statistics' id, one per fold joined by "+". */
  statsId: string;
  /**
   * How well pFail's probabilities match what happened on the test rows: "the weak model fails
   * where the strong one succeeds" (pfailPair, both outcomes recorded) by ten equal-count bins of
   * pFail, and the expected calibration error over them. Null when no test row has both outcomes.
   */
  pfail_calibration: { rows: number; ece: number; bins: ReliabilityBin[] } | null;
  /**
   * The knob swept (`policy.pFailThreshold` or `policy.answerValueUsd`), its settings (at most
   * `knobs`; see knobsAtSwitches), and the largest share of test rows whose model changes between
   * two adjacent settings: about 1/(settings − 1), or more where that many rows switch at one value.
   */
  sweep: { knob: string; settings: number; largest_step: number };
  /**
   * 95% percentile-bootstrap intervals of the headline figures over redrawn test rows (pair:
   * strong_share_at_95, savings_at_95, apgr; many models: savings_at_95), or null without
   * `bootstrap` draws.
   */
  bootstrap: { samples: number; level: number; intervals: Record<string, BootstrapInterval | null> } | null;
}

export type EvalRoutingResult =
  | ({ mode: "pair"; strong: string; weak: string } & Common & PairReport)
  | ({ mode: "multi"; pFailThreshold: number } & Common & MultiReport & { apgr: null; cpt50: null; cpt80: null; strong_share_at_95: null; points: CostQualityPoint[] });

export const specOf = (model: string): string => `${BENCH_PROVIDER}:${model}`;
const modelOf = (spec: string): string => spec.slice(BENCH_PROVIDER.length + 1);

function meanBy<T>(items: readonly T[], value: (t: T) => number | undefined): number | undefined {
  let sum = 0;
  let n = 0;
  for (const item of items) {
    const v = value(item);
    if (v === undefined) continue;
    sum += v;
    n++;
  }
  return n > 0 ? sum / n : undefined;
}

/** The registry the router picks from: price from mean cost_usd, prior quality from the training scores. */
export function benchRegistry(models: readonly string[], train: readonly RoutingEvalRow[], test: readonly RoutingEvalRow[]): ModelConfig[] {
  return models.map((model) => {
    const outcome = (r: RoutingEvalRow) => (Object.hasOwn(r.outcomes, model) ? r.outcomes[model] : undefined);
    const meanCost = meanBy(train, (r) => outcome(r)?.cost_usd) ?? meanBy(test, (r) => outcome(r)?.cost_usd) ?? 0;
    const quality = meanBy(train, (r) => outcome(r)?.score) ?? 0.5;
    return ModelConfig.parse({
      spec: specOf(model),
      outputPerMtok: (meanCost * 1e6) / EVAL_OUTPUT_TOKENS,
      quality,
      capabilities: [...CAPABILITIES],
      contextWindow: 100_000_000,
    });
  });
}

function taskOf(row: RoutingEvalRow): Task {
  return {
    v: 1,
    id: row.id,
    tenant: "eval",
    messages: [{ role: "user", content: row.prompt }],
    constraints: {},
    submittedAt: "2026-01-01T00:00:00.000Z",
  };
}

/** Every model's outcome on every training prompt, as feedback under the prompt's classification. */
export function trainingStats(train: readonly RoutingEvalRow[], models: readonly string[], learned: LearnedModel): StatsSnapshot {
  const stats = new ModelStats();
  for (const row of train) {
    const c = classifyInProcess(taskOf(row), learned);
    for (const model of models) {
      if (!Object.hasOwn(row.outcomes, model)) continue;
      const o = row.outcomes[model]!;
      stats.observe({ kind: "feedback", taskType: c.taskType, complexity: c.complexity, model: specOf(model), score: o.score, costUsd: o.cost_usd });
    }
  }
  return stats.snapshot();
}

/**
 * Up to `count` thresholds spanning the pFail values: 0 (escalate all), quantiles, and just above
 * the largest. `npm run calibrate` starts from these; the routing eval places its own settings at
 * the rows' switch points instead (knobsAtSwitches), which pFail alone does not locate.
 */
export function knobSettings(pFails: readonly number[], count: number): number[] {
  const sorted = [...new Set(pFails)].sort((a, b) => a - b);
  const knobs = new Set<number>([0]);
  const inner = Math.max(0, count - 2);
  for (let i = 0; i < inner && sorted.length > 0; i++) knobs.add(sorted[Math.round((i / Math.max(1, inner - 1)) * (sorted.length - 1))]!);
  knobs.add(1.01);
  return [...knobs].sort((a, b) => a - b);
}

/**
 * Up to `count` knob settings that trace the router's curve step by step: 0 (everything escalated
 * for a pair, the cheapest models for many), a setting above the largest switch point (nothing
 * escalated; the best expected models), and between them settings at equal-count quantiles of the
 * test rows' switch points (`switches`: each knob value at which some row's chosen model changes,
 * one entry per change). Each inner setting lies midway between two adjacent distinct switch
 * points, so no setting sits on a row's switch point (where the selector's float arithmetic could
 * go either way), and between adjacent settings about 1/(count − 1) of the changes happen, or one
 * value's changes where more rows tie on it. With fewer distinct switch points than settings, every
 * gap between them gets one, and so every routing the knob can reach is scored.
 */
export function knobsAtSwitches(switches: readonly number[], count: number): number[] {
  const sorted = switches.filter((s) => Number.isFinite(s) && s >= 0).sort((a, b) => a - b);
  // Distinct switch points with how many changes happen at or below each.
  const values: number[] = [];
  const atOrBelow: number[] = [];
  sorted.forEach((s, i) => {
    if (values[values.length - 1] === s) atOrBelow[atOrBelow.length - 1] = i + 1;
    else {
      values.push(s);
      atOrBelow.push(i + 1);
    }
  });
  const last = values[values.length - 1];
  const knobs = [0];
  const inner = Math.max(0, count - 2);
  const gaps = values.length - 1;
  if (gaps <= inner) {
    for (let j = 0; j < gaps; j++) knobs.push((values[j]! + values[j + 1]!) / 2);
  } else {
    // The gap whose share of the changes below it is nearest each quantile; a wide tie can make
    // two quantiles pick the same gap, which then counts once.
    let j = 0;
    for (let i = 1; i <= inner; i++) {
      const target = (i * sorted.length) / (inner + 1);
      while (j < gaps - 1 && Math.abs(atOrBelow[j + 1]! - target) <= Math.abs(atOrBelow[j]! - target)) j++;
      const knob = (values[j]! + values[j + 1]!) / 2;
      if (knob !== knobs[knobs.length - 1]) knobs.push(knob);
    }
  }
  knobs.push(last === undefined || last <= 0 ? 1 : 2 * last);
  return knobs;
}

/** One model as the selector weighs it for one prompt. */
interface Contender {
  spec: string;
  /** Expected quality for the prompt's task type and complexity (statistics shrunk towards the registry quality). */
  quality: number;
  costUsd: number;
}

/** What the selector weighs for one test prompt: its pFail and every model, in registry order. */
interface PromptTerms {
  pFail: number | undefined;
  contenders: Contender[];
}

function promptTerms(classification: Classification, inputTokens: number, fold: Pick<PreparedFold, "registry" | "stats">, priorSamples: number): PromptTerms {
  const { taskType, complexity } = classification;
  return {
    pFail: Number.isFinite(classification.pFail) ? classification.pFail : undefined,
    contenders: fold.registry.models.map((model) => ({
      spec: model.spec,
      quality: expectedQuality(fold.stats, { taskType, complexity, model: model.spec }, model.quality, priorSamples).quality,
      costUsd: callCostUsd(model, inputTokens, EVAL_OUTPUT_TOKENS),
    })),
  };
}

/**
 * The selector's decision under the eval's policy (services/selector/src/select-model.ts, steps
 * 3–4, with no quality floor, no escalation margin and every model eligible), as the index of the
 * model chosen: the bar is `top · raise` with `top` the best quality and `raise = min(1, pFail /
 * threshold)` (1 at a threshold of 0, 0 without a pFail); of the models reaching it, the best
 * value `quality × value − cost`, then the cheaper, the smaller quality, the spec. The best model
 * always reaches the bar. It only places the knob settings: every setting is still routed by
 * `selectModel`, so were this to drift from the selector the steps would grow uneven (the sweep
 * tests say so), but no figure would be wrong.
 */
function choiceAt(terms: PromptTerms, pFailThreshold: number, answerValueUsd: number): number {
  const { pFail, contenders } = terms;
  const raise = pFail === undefined ? 0 : pFailThreshold <= 0 ? 1 : Math.min(1, pFail / pFailThreshold);
  const top = Math.max(0, ...contenders.map((c) => c.quality));
  const bar = raise === 0 ? 0 : Math.min(top, top * raise);
  const value = (c: Contender): number => c.quality * answerValueUsd - c.costUsd;
  let chosen = -1;
  contenders.forEach((c, i) => {
    const best = contenders[chosen];
    if (!(c.quality >= bar)) return;
    if (!best || (value(best) - value(c) || c.costUsd - best.costUsd || c.quality - best.quality || compareStrings(c.spec, best.spec)) < 0) chosen = i;
  });
  return chosen;
}

/**
 * The knob values at which `choice` changes, given every value where it may (`candidates`): the
 * choice is read at 0 and between each two adjacent candidates, and a candidate where the two
 * sides differ is a switch point.
 */
function switchPoints(candidates: readonly number[], choice: (knob: number) => number): number[] {
  const at = [...new Set(candidates.filter((c) => Number.isFinite(c) && c >= 0))].sort((a, b) => a - b);
  const switches: number[] = [];
  let before = choice(0);
  at.forEach((c, i) => {
    const next = at[i + 1];
    const after = choice(next === undefined ? (c > 0 ? 2 * c : 1) : (c + next) / 2);
    if (after !== before) switches.push(c);
    before = after;
  });
  return switches;
}

/**
 * A prompt's switch points in `policy.pFailThreshold`: the choice depends on the threshold only
 * through the bar `top · min(1, pFail / threshold)`, and the models reaching it change where the
 * bar passes a model's quality q, at threshold pFail · top / q — not at pFail itself (a weak model
 * at 0.9 of the strong one's quality keeps the prompt until the threshold falls below pFail / 0.9).
 */
function pFailSwitches(terms: PromptTerms): number[] {
  const { pFail, contenders } = terms;
  if (pFail === undefined) return [];
  const top = Math.max(0, ...contenders.map((c) => c.quality));
  const candidates = contenders.filter((c) => c.quality > 0 && c.quality < top).map((c) => (pFail * top) / c.quality);
  return switchPoints(candidates, (threshold) => choiceAt(terms, threshold, 0));
}

/**
 * A prompt's switch points in `policy.answerValueUsd` at a fixed pFail threshold: the bar is
 * fixed, and two models trade places where their values `quality × value − cost` cross, at
 * value (cost₁ − cost₂) / (quality₁ − quality₂).
 */
function valueSwitches(terms: PromptTerms, pFailThreshold: number): number[] {
  const { contenders } = terms;
  const candidates = contenders.flatMap((a, i) => contenders.slice(i + 1).filter((b) => b.quality !== a.quality).map((b) => (b.costUsd - a.costUsd) / (b.quality - a.quality)));
  return switchPoints(candidates, (value) => choiceAt(terms, pFailThreshold, value));
}

/** The largest share of rows whose chosen model differs between two adjacent settings (`choices[row][setting]`). */
function largestStep(choices: readonly (readonly string[])[], settings: number): number {
  let largest = 0;
  for (let k = 1; k < settings; k++) largest = Math.max(largest, choices.filter((row) => row[k] !== row[k - 1]).length);
  return choices.length > 0 ? largest / choices.length : 0;
}

/**
 * The eval's policy: no quality floors, so the knobs alone decide; no exploration, so each
 * setting's figures are the greedy router's and do not move with the prompts' ids.
 */
function evalPolicy(knobs: { pFailThreshold: number; answerValueUsd: number }): PolicyConfig {
  return PolicyConfig.parse({
    preferLocal: false,
    exploration: { enabled: false },
    minQuality: { simple: 0, moderate: 0, complex: 0, expert: 0 },
    criticalMinQuality: 0,
    requiredCapabilities: {},
    defaultMaxOutputTokens: EVAL_OUTPUT_TOKENS,
    maxOutputTokens: EVAL_OUTPUT_TOKENS,
    fallbacks: 0,
    ...knobs,
    escalationMargin: 0,
  });
}

function missingModel(model: string, rows: readonly RoutingEvalRow[], side: string): never {
  const known = [...new Set(rows.flatMap((r) => Object.keys(r.outcomes)))].sort();
  throw new EvalError(EVAL_ERROR_CODES.EVAL_MODEL_MISSING, `${side} model "${model}" is not in the test rows; models: ${known.join(", ")}`);
}

/** pFail against the label it predicts, over the test rows (in `test` order, as `classifications`) that have both outcomes. */
function pFailCalibration(test: readonly RoutingEvalRow[], classifications: readonly Classification[], pair: ModelPair): Common["pfail_calibration"] {
  const scored = test.flatMap((row, i) => {
    const labelled = labelRow(row, pair);
    return labelled.labelled ? [{ p: classifications[i]?.pFail ?? 0, label: labelled.label }] : [];
  });
  if (scored.length === 0) return null;
  const bins = reliability(scored);
  return { rows: scored.length, ece: expectedCalibrationError(bins), bins };
}

/** The dearest and the cheapest of `models` by their mean cost on the rows. */
function pricedPair(rows: readonly RoutingEvalRow[], models: readonly string[]): ModelPair {
  const { strong, weak } = chooseModelPair(rows.map((r) => ({ outcomes: Object.fromEntries(Object.entries(r.outcomes).filter(([m]) => models.includes(m))) })));
  return { strong: strong.model, weak: weak.model };
}

/** What one fold's training taught, and its test prompts classified. */
interface PreparedFold {
  tasks: Task[];
  classifications: Classification[];
  /** Each task's prompt tokens, counted once rather than at every knob setting. */
  inputTokens: number[];
  registry: ReturnType<typeof createModelRegistry>;
  stats: StatsSnapshot;
}

/**
 * Never test on training rows: a fold's training row goes when one of its test rows has the same
 * id or the same prompt (the same question under another id, in the same file or another).
 * @throws EvalError `EVAL_INPUT_INVALID` when that leaves a fold nothing to train on.
 */
export function withoutTestRows(folds: readonly EvalFold[], progress: (line: string) => void): EvalFold[] {
  return folds.map(({ train, test }, k) => {
    const testIds = new Set(test.map((r) => r.id));
    const testPrompts = new Set(test.map((r) => r.prompt.trim()));
    const kept = train.filter((r) => !testIds.has(r.id) && !testPrompts.has(r.prompt.trim()));
    if (kept.length === train.length) return { train, test };
    const which = folds.length > 1 ? `fold ${k + 1}: ` : "";
    if (kept.length === 0) {
      throw new EvalError(
        EVAL_ERROR_CODES.EVAL_INPUT_INVALID,
        `${which}every training row is also a test row (the same id or prompt): hold rows apart with --split F or --folds K, or give another --test file`,
      );
    }
    progress(`${which}dropped ${train.length - kept.length} training rows whose id or prompt is also a test row's (never test on training rows)`);
    return { train: kept, test };
  });
}

/**
 * Whether a run routes between a strong/weak pair (a model of the pair given, or no --models and
 * test rows with two models) rather than among many models.
 */
function isPairRun(options: Pick<EvalRoutingSettings, "strong" | "weak" | "models">, testModels: readonly string[]): boolean {
  return options.strong !== undefined || options.weak !== undefined || (options.models === undefined && testModels.length === 2);
}

/**
 * The strong/weak pair a pair run routes between: the given models, and the one not given picked
 * by mean cost in the test rows.
 *
 * @throws EvalError `EVAL_MODEL_MISSING` for a model with no outcome in the test rows, or the same model twice.
 */
function routedPair(test: readonly RoutingEvalRow[], options: Pick<EvalRoutingSettings, "strong" | "weak">): ModelPair {
  let chosen: ReturnType<typeof chooseModelPair>;
  try {
    chosen = chooseModelPair(test, { strong: options.strong, weak: options.weak });
  } catch (err) {
    // A --strong/--weak that names no model of the test rows, or the same model twice.
    throw new EvalError(EVAL_ERROR_CODES.EVAL_MODEL_MISSING, `${(err as Error).message} (in the test rows)`, { cause: err });
  }
  requireStrongDearer(chosen.strong, chosen.weak, "the test rows");
  return { strong: chosen.strong.model, weak: chosen.weak.model };
}

/** How `holdOut` places rows: within the pair's outcome patterns, or by id hash alone. */
export type Stratify = "outcomes" | "none";

export interface HoldOutOptions extends Pick<EvalRoutingSettings, "strong" | "weak" | "models"> {
  readonly seed: number;
  /** Default: "outcomes" for a strong/weak pair, "none" for many models. */
  readonly stratify?: Stratify | undefined;
}

/**
 * The training and test rows of `--split F` (test: the rows of `testRows` placed below F; train:
 * the rows of `trainRows` placed at or above it) or of `--folds K` (fold k tests the rows placed in
 * [k/K, (k+1)/K) and trains on the others), with a line saying how they were made.
 *
 * For a strong/weak pair the rows are placed, by default, within the routed pair's outcome
 * patterns (both models right, only one, neither): the test rows among themselves, so every
 * held-out part of --test keeps its mix whatever else is trained on, and training rows that are
 * not test rows (other --train files) among themselves. On MMLU the 20% split's strong-call share
 * at 95% quality moved with a standard deviation of 6.3 points over seeds 1–48 by id hash alone
 * and 4.1 stratified, the means 41.8% and 43.0%. Many models are placed by id hash alone: on
 * RouterBench, stratifying by the outcome patterns of the routed models (or of the pFail pair)
 * spread the figures no less (docs/routing-eval.md). `stratify: "none"` places every run by id
 * hash (splitRows and foldOf).
 *
 * @throws UsageError for `stratify: "outcomes"` with many models.
 */
export function holdOut(
  trainRows: readonly RoutingEvalRow[],
  testRows: readonly RoutingEvalRow[],
  options: HoldOutOptions & ({ readonly split: number } | { readonly folds: number }),
): { folds: EvalFold[]; description: string; stratified: boolean } {
  const testModels = [...new Set(testRows.flatMap((r) => Object.keys(r.outcomes)))].sort(compareStrings);
  const pair = isPairRun(options, testModels);
  if (options.stratify === "outcomes" && !pair) {
    throw new UsageError("--stratify outcomes is for a strong/weak pair (--strong/--weak, or test rows with two models): with --models or many models, leave it out (rows are held out by id hash)");
  }
  let stratum: ((row: RoutingEvalRow) => string) | undefined;
  if (pair && options.stratify !== "none") {
    // The pair evaluateRouting will route, sorted: the patterns do not depend on which is named strong.
    const { strong, weak } = routedPair(testRows, options);
    const models = [strong, weak].sort(compareStrings);
    stratum = (row) => outcomePattern(row, models);
  }
  const how = stratum === undefined ? "by id" : "by id, stratified by the pair's outcomes";
  // The test rows are placed among themselves, and so are the training rows that are not test
  // rows: each part of --test keeps its own mix, and another --train file moves no test row.
  const purpose = "folds" in options ? "eval-fold" : "split";
  const testIds = new Set(testRows.map((r) => r.id));
  const placeTest = heldOutPlaces(testRows, { seed: options.seed, purpose, stratum });
  const placeRest = heldOutPlaces(trainRows.filter((r) => !testIds.has(r.id)), { seed: options.seed, purpose, stratum });
  const place = (r: RoutingEvalRow): number => (testIds.has(r.id) ? placeTest(r) : placeRest(r));
  const stratified = stratum !== undefined;
  if ("folds" in options) {
    const k = options.folds;
    const fold = (r: RoutingEvalRow): number => Math.floor(k * place(r));
    const folds = Array.from({ length: k }, (_, i) => ({ train: trainRows.filter((r) => fold(r) !== i), test: testRows.filter((r) => fold(r) === i) }));
    return { folds, stratified, description: `${k} folds ${how} (seed ${options.seed}): ${folds.map((f) => f.test.length).join(" / ")} test rows` };
  }
  const { split } = options;
  const folds = [{ train: trainRows.filter((r) => place(r) >= split), test: testRows.filter((r) => place(r) < split) }];
  return { folds, stratified, description: `split ${split} ${how} (seed ${options.seed}): ${folds[0]!.train.length} training rows, ${folds[0]!.test.length} test rows` };
}

export function evaluateRouting(options: EvalRoutingOptions): EvalRoutingResult {
  const progress = options.progress ?? (() => undefined);
  const folds = withoutTestRows("folds" in options ? options.folds : [{ train: options.train, test: options.test }], progress);
  if (folds.length === 0) throw new EvalError(EVAL_ERROR_CODES.EVAL_INPUT_INVALID, "no folds");
  for (const [k, fold] of folds.entries()) {
    const which = folds.length > 1 ? ` in fold ${k + 1}` : "";
    if (fold.test.length === 0) throw new EvalError(EVAL_ERROR_CODES.EVAL_INPUT_INVALID, `no test rows${which}`);
    if (fold.train.length === 0) throw new EvalError(EVAL_ERROR_CODES.EVAL_INPUT_INVALID, `no training rows${which}: give --train`);
  }
  const test = folds.flatMap((f) => f.test);
  const allTrain = folds.flatMap((f) => f.train);
  const testModels = [...new Set(test.flatMap((r) => Object.keys(r.outcomes)))].sort();
  if (testModels.length < 2) {
    const found = testModels.length === 0 ? "no model outcomes" : `outcomes for one model only (${testModels[0]})`;
    throw new EvalError(EVAL_ERROR_CODES.EVAL_INPUT_INVALID, `the test rows have ${found}: scoring a router needs at least two models' recorded outcomes per prompt`);
  }
  const pairMode = isPairRun(options, testModels);
  // The pair sweeps pFailThreshold itself: a held value would be silently overridden.
  if (pairMode && options.pFailThreshold !== undefined) throw new UsageError("--pfail-threshold is for many models (--models): a strong/weak pair sweeps policy.pFailThreshold itself");
  let models: string[];
  if (pairMode) {
    const { strong, weak } = routedPair(test, options);
    models = [strong, weak];
  } else {
    models = [...new Set(options.models ?? testModels)];
    for (const m of models) if (!testModels.includes(m)) missingModel(m, test, "--models");
    if (models.length < 2) throw new EvalError(EVAL_ERROR_CODES.EVAL_INPUT_INVALID, `--models needs at least two different models, got ${models.join(", ")}`);
  }

  // Every test row needs every routed model's outcome to be scored: say so before training.
  const incomplete = test.filter((r) => models.some((m) => !Object.hasOwn(r.outcomes, m)));
  if (incomplete.length > 0) {
    const first = incomplete[0]!;
    const lacking = models.filter((m) => !Object.hasOwn(first.outcomes, m));
    const more = incomplete.length > 1 ? ` (and ${incomplete.length - 1} more test rows)` : "";
    throw new EvalError(EVAL_ERROR_CODES.EVAL_MODEL_MISSING, `test row "${first.id}" has no outcome for ${lacking.map((m) => `"${m}"`).join(", ")}${more}: every test row needs an outcome for each routed model (${models.join(", ")}); pick the models with --models or --strong/--weak`);
  }

  const trainModels = new Set(allTrain.flatMap((r) => Object.keys(r.outcomes)));
  const trainedOn = models.filter((m) => trainModels.has(m));
  if (trainedOn.length < 2) {
    const found = trainedOn.length === 0 ? "none" : `only ${trainedOn[0]}`;
    throw new EvalError(EVAL_ERROR_CODES.EVAL_MODEL_MISSING, `the training rows have outcomes for ${found} of the routed models (${models.join(", ")}): train on rows with at least two of them`);
  }
  // The pFail model learns the pair's gap: the pair routed between, or among many models the most
  // and least expensive.
  const pair = pairMode ? { strong: models[0]!, weak: models[1]! } : pricedPair(allTrain, models);
  const prepared: PreparedFold[] = folds.map((fold, k) => {
    const which = folds.length > 1 ? `fold ${k + 1}/${folds.length}: ` : "";
    // Counted as used: a row without both of the pair's outcomes teaches pFail nothing.
    const labelled = fold.train.filter((r) => labelRow(r, pair).labelled).length;
    const unlabelled = fold.train.length - labelled;
    progress(`${which}training pFail on ${labelled} rows (${pair.strong} vs ${pair.weak})${unlabelled > 0 ? `; ${unlabelled} training rows lack an outcome for one of them` : ""}…`);
    const training = trainPFail(fold.train, { pair, dims: EVAL_DIMS, testFraction: 0, seed: options.seed ?? 1, progress: (line) => progress(`${which}  ${line}`) });
    const constant = constantLabelProblem(training.trainPositiveRate, pair);
    if (constant) throw new EvalError(EVAL_ERROR_CODES.EVAL_INPUT_INVALID, `${which}${constant}`);
    const learned: LearnedModel = { ...training.model, version: "eval" };
    const stats = trainingStats(fold.train, models, learned);
    const fed = fold.train.reduce((n, r) => n + models.filter((m) => Object.hasOwn(r.outcomes, m)).length, 0);
    progress(`${which}fed ${fed} outcomes of ${models.length} models on ${fold.train.length} rows to the statistics (${Object.keys(stats.buckets).length} buckets)`);
    const registry = createModelRegistry(benchRegistry(models, fold.train, fold.test));
    const tasks = fold.test.map(taskOf);
    return { tasks, classifications: tasks.map((t) => classifyInProcess(t, learned)), inputTokens: tasks.map((t) => countPromptTokens(t.messages)), registry, stats };
  });

  // A pair sweeps RouteLLM's pFail threshold; many models sweep the answer value. The settings go
  // where the test rows' choices change: quantiles of pFail alone left most of a pair's rows
  // switching between two settings (a GSM8K split jumped from 19% to 50% strong calls), and the
  // curve's straight line across such a gap overstates the strong calls needed.
  const multiThreshold = options.pFailThreshold ?? DEFAULT_MULTI_PFAIL_THRESHOLD;
  const priorSamples = evalPolicy({ pFailThreshold: multiThreshold, answerValueUsd: 0 }).statsPriorSamples;
  const switches = prepared.flatMap((fold) =>
    fold.classifications.flatMap((c, i) => {
      const terms = promptTerms(c, fold.inputTokens[i]!, fold, priorSamples);
      return pairMode ? pFailSwitches(terms) : valueSwitches(terms, multiThreshold);
    }),
  );
  const knobs = knobsAtSwitches(switches, options.knobs ?? 101);
  const knobName = pairMode ? "policy.pFailThreshold" : "policy.answerValueUsd";
  const policyAt = (knob: number) =>
    evalPolicy(pairMode ? { pFailThreshold: knob, answerValueUsd: 0 } : { pFailThreshold: multiThreshold, answerValueUsd: knob });
  progress(`routing ${test.length} test prompts at ${knobs.length} settings of ${knobName}…`);
  const now = new Date("2026-01-01T00:00:00.000Z");
  // Each test row's chosen model at every knob, in the order of `test`.
  const choices: string[][] = test.map(() => []);
  for (const knob of knobs) {
    const policy = policyAt(knob);
    let row = 0;
    for (const { tasks, classifications, inputTokens, registry, stats } of prepared) {
      const ctx = { registry, policy, policyVersion: policyVersion(policy), now, stats };
      tasks.forEach((task, i) => {
        const decision = selectModel({ task, classification: classifications[i]!, inputTokens: inputTokens[i]!, budget: { state: "ok", revision: 0 } }, ctx);
        if (!decision.ok) throw new EvalError(EVAL_ERROR_CODES.EVAL_INPUT_INVALID, `prompt "${task.id}": ${decision.error.message}`);
        choices[row++]!.push(modelOf(decision.model));
      });
    }
  }
  const sweep = { knob: knobName, settings: knobs.length, largest_step: largestStep(choices, knobs.length) };
  progress(`largest step between adjacent settings: ${(100 * sweep.largest_step).toFixed(1)}% of the test rows change model`);
  const common: Common = {
    models,
    pfailPair: pair,
    folds: folds.length,
    trainRows: Math.round(allTrain.length / folds.length),
    testRows: test.length,
    statsId: prepared.map((f) => f.stats.id).join("+"),
    pfail_calibration: pFailCalibration(test, prepared.flatMap((f) => f.classifications), pair),
    sweep,
    bootstrap: null,
  };
  const draws = options.bootstrap ?? 0;
  const bootstrap = (figures: (indices: Uint32Array) => Record<string, number | null>): Common["bootstrap"] => {
    if (draws === 0) return null;
    progress(`bootstrap: ${draws} redraws of the ${test.length} test rows…`);
    return { samples: draws, level: 0.95, intervals: bootstrapIntervals(figures, { rows: test.length, samples: draws, random: createRandom(options.seed ?? 1) }) };
  };

  if (pairMode) {
    const [strong, weak] = models as [string, string];
    const outcomes = toPairOutcomes(test, { strong, weak });
    // toStrong[i × knobs + k]: whether row i went to the strong model at knob k.
    const toStrong = Uint8Array.from(choices.flatMap((row) => row.map((m) => (m === strong ? 1 : 0))));
    // Rows outer, knobs inner: one pass over each row's choices (the bootstrap calls this per
    // redraw); each knob's sums still add the rows in order.
    const strongCalls = new Float64Array(knobs.length);
    const quality = new Float64Array(knobs.length);
    const cost = new Float64Array(knobs.length);
    const pointsOf = (rows: ArrayLike<number>): KnobPoint[] => {
      strongCalls.fill(0);
      quality.fill(0);
      cost.fill(0);
      for (let j = 0; j < rows.length; j++) {
        const i = rows[j]!;
        const o = outcomes[i]!;
        const at = i * knobs.length;
        for (let k = 0; k < knobs.length; k++) {
          if (toStrong[at + k] === 1) {
            strongCalls[k]!++;
            quality[k]! += o.strongScore;
            cost[k]! += o.strongCost;
          } else {
            quality[k]! += o.weakScore;
            cost[k]! += o.weakCost;
          }
        }
      }
      const n = rows.length;
      return knobs.map((knob, k) => ({ knob, strong_share: strongCalls[k]! / n, quality: quality[k]! / n, cost: cost[k]! / n }));
    };
    const report = pairReportFromPoints(pointsOf(outcomes.map((_, i) => i)), outcomes);
    // Only the figures the test rows define (null, or NaN for APGR, where they are not): where
    // the two models' mean quality is the same APGR is undefined, and redraws that happen to
    // differ would give it a meaningless interval. A figure null on every draw gets none.
    const figures = ["strong_share_at_95", "savings_at_95", "apgr"] as const;
    const intervals = bootstrap((drawn) => {
      const r = pairReportFromPoints(pointsOf(drawn), Array.from(drawn, (i) => outcomes[i]!));
      return Object.fromEntries(figures.map((name) => [name, Number.isFinite(report[name]) ? r[name] : null]));
    });
    return { mode: "pair", strong, weak, ...common, bootstrap: intervals, ...report };
  }
  const routed = new Set(models);
  const rows = test.map((r, i) => ({ id: r.id, outcomes: Object.fromEntries(Object.entries(toMultiOutcomes(r)).filter(([m]) => routed.has(m))), choices: choices[i]! }));
  const report = multiReport(rows, knobs);
  const intervals = bootstrap((drawn) => ({ savings_at_95: multiReport(Array.from(drawn, (i) => rows[i]!), knobs).savings_at_95 }));
  return { mode: "multi", pFailThreshold: multiThreshold, ...common, bootstrap: intervals, ...report, curve: costQualityCurve(report.points), apgr: null, cpt50: null, cpt80: null, strong_share_at_95: null };
}
