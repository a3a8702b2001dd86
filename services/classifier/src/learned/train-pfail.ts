/**
 * Training the pFail model from routing-eval rows: label each row for a strong/weak pair, split
 * off a held-out share by id, featurize, fit the two heads and the calibration (pfail-model.ts),
 * and measure on the held-out rows. One function for `npm run train:classifier` and for the
 * routing evaluation, which trains on its `--train` rows.
 */
import type { RoutingEvalRow } from "@llm-router/eval";
import { auc, expectedCalibrationError, logLoss, reliability, type ReliabilityBin, type Scored } from "./evaluate.js";
import { featurize, RULE_SLOTS } from "./featurize.js";
import { createRandom } from "./hash.js";
import { EXCLUSION_REASONS, foldOf, labelRow, splitHeldApart, type ExclusionReason, type ModelPair } from "./labels.js";
import { predict, resolveTrainOptions, train, type EpochProgress, type LearnedWeights, type ResolvedTrainOptions } from "./logistic.js";
import { fitCalibration, predictPFail, type PFailModel } from "./pfail-model.js";
import type { SparseVector } from "./sparse-vector.js";
import { DEFAULT_RULE_BLOCK_WEIGHT, fitRuleStandardizer, standardizeRules, unstandardize } from "./standardize.js";

export type HeadName = "weak" | "strong";

/** Default folds for the out-of-fold gains the calibration is fitted on. */
export const DEFAULT_CALIBRATION_FOLDS = 3;

export interface PFailTrainingOptions {
  pair: ModelPair;
  /** Feature vector length (2^16 for the bundled weights). */
  dims: number;
  /** Share of labelled rows held out by id hash, in [0, 1). 0 trains on every row. */
  testFraction: number;
  /** Seeds the split, the folds and the shuffles. */
  seed: number;
  epochs?: number;
  learningRate?: number;
  l2?: number;
  /** Each standardised rule feature's standard deviation in the fit (standardize.ts). Default DEFAULT_RULE_BLOCK_WEIGHT (0.05). */
  ruleBlockWeight?: number;
  /** Folds for cross-fitting the calibration, at least 2. Default 3. */
  calibrationFolds?: number;
  /** Called after each epoch of the final heads, for progress output. */
  onEpoch?: (head: HeadName, progress: EpochProgress) => void;
  /** Called with a line at each step (cross-fitting, final heads). */
  progress?: (line: string) => void;
}

export interface HeldOutScore {
  rows: number;
  /** pFail against "the weak model fails and the strong one succeeds". */
  auc: number;
  logLoss: number;
  /** Log-loss of predicting the training base rate for every held-out row. */
  baseRateLogLoss: number;
  /** pFail's reliability table over the held-out rows (ten equal-count bins) and its expected calibration error. */
  reliability: ReliabilityBin[];
  ece: number;
  /** Each head against its own label (the model succeeds). */
  weakAuc: number;
  strongAuc: number;
}

export interface PFailTraining {
  model: PFailModel;
  /** Rows excluded from labelling, by reason. */
  excluded: Record<ExclusionReason, number>;
  trainRows: number;
  /** Share of training rows where the weak model fails and the strong one succeeds. */
  trainPositiveRate: number;
  /** Absent when nothing was held out. */
  heldOut?: HeldOutScore;
}

interface Example {
  readonly id: string;
  readonly features: SparseVector;
  readonly weakOk: 0 | 1;
  readonly strongOk: 0 | 1;
  readonly label: 0 | 1;
}

type HeadOptions = Omit<ResolvedTrainOptions, "random"> & { ruleBlockWeight: number };

/**
 * Both heads on `examples`, fitted on their rule features standardised over these examples and
 * returned as weights for raw `featurize` vectors. Each head's shuffle starts from the same seed,
 * so a head never depends on the other.
 */
function fitHeads(examples: readonly Example[], options: HeadOptions, seed: number, onEpoch?: PFailTrainingOptions["onEpoch"]): { weak: LearnedWeights; strong: LearnedWeights } {
  const standardizer = fitRuleStandardizer(examples.map((e) => e.features), RULE_SLOTS, options.ruleBlockWeight);
  const features = examples.map((e) => standardizeRules(e.features, standardizer));
  const head = (name: HeadName, label: (e: Example) => 0 | 1): LearnedWeights =>
    unstandardize(
      train(
        examples.map((e, i) => ({ features: features[i] as SparseVector, label: label(e) })),
        { ...options, random: createRandom(seed), onEpoch: onEpoch && ((p) => onEpoch(name, p)) },
      ),
      standardizer,
    );
  return { weak: head("weak", (e) => e.weakOk), strong: head("strong", (e) => e.strongOk) };
}

/** Per rule slot, the largest value among `vectors` (0 for a slot none has). */
function ruleMaxima(vectors: readonly SparseVector[]): Float64Array {
  const max = new Float64Array(RULE_SLOTS);
  for (const v of vectors) {
    for (let i = 0; i < v.indices.length; i++) {
      const slot = v.indices[i] ?? 0;
      if (slot >= RULE_SLOTS) break;
      max[slot] = Math.max(max[slot] ?? 0, v.values[i] ?? 0);
    }
  }
  return max;
}

/** @throws RangeError when no row can be labelled for training, or for invalid options. */
export function trainPFail(rows: readonly RoutingEvalRow[], options: PFailTrainingOptions): PFailTraining {
  const { seed } = options;
  const resolved = resolveTrainOptions({ dims: options.dims, epochs: options.epochs, learningRate: options.learningRate, l2: options.l2 });
  const folds = options.calibrationFolds ?? DEFAULT_CALIBRATION_FOLDS;
  if (!Number.isInteger(folds) || folds < 2) throw new RangeError(`calibrationFolds must be an integer of at least 2, got ${folds}`);
  const ruleBlockWeight = options.ruleBlockWeight ?? DEFAULT_RULE_BLOCK_WEIGHT;
  if (!(ruleBlockWeight > 0 && Number.isFinite(ruleBlockWeight))) throw new RangeError(`ruleBlockWeight must be a positive number, got ${ruleBlockWeight}`);
  const progress = options.progress ?? (() => undefined);
  const headOptions = { ...resolved, onEpoch: undefined, ruleBlockWeight };

  const excluded = Object.fromEntries(Object.values(EXCLUSION_REASONS).map((r) => [r, 0])) as Record<ExclusionReason, number>;
  const labelled: { id: string; prompt: string; weakOk: 0 | 1; strongOk: 0 | 1; label: 0 | 1 }[] = [];
  for (const row of rows) {
    const result = labelRow(row, options.pair);
    if (result.labelled) labelled.push({ id: row.id, prompt: row.prompt, weakOk: result.weakOk, strongOk: result.strongOk, label: result.label });
    else excluded[result.reason]++;
  }
  const { train: trainRows, test: testRows, dropped } = splitHeldApart(labelled, { testFraction: options.testFraction, seed });
  if (dropped > 0) progress(`dropped ${dropped} training rows whose prompt is held out under another id`);
  if (trainRows.length === 0) throw new RangeError(`no labelled training rows for ${options.pair.strong} / ${options.pair.weak}`);
  const toExample = (r: (typeof labelled)[number]): Example => ({ ...r, features: featurize(r.prompt, options.dims) });
  const examples = trainRows.map(toExample);

  // Out-of-fold gains: each row's gain comes from heads that never saw it, so the calibration
  // sees gains as spread as a new prompt's are.
  const gains = new Float64Array(examples.length);
  const foldOfExample = examples.map((e) => foldOf(e.id, folds, seed));
  for (let fold = 0; fold < folds; fold++) {
    progress(`cross-fitting the calibration: fold ${fold + 1}/${folds}`);
    const heads = fitHeads(examples.filter((_, i) => foldOfExample[i] !== fold), headOptions, seed);
    examples.forEach((e, i) => {
      if (foldOfExample[i] === fold) gains[i] = predict(heads.strong, e.features) - predict(heads.weak, e.features);
    });
  }
  const calibration = fitCalibration(Array.from(gains), examples.map((e) => e.label));
  progress(`fitting both heads on ${examples.length} rows`);
  const heads = fitHeads(examples, headOptions, seed, options.onEpoch);
  const model: PFailModel = { dims: options.dims, ...heads, calibration, ruleMax: ruleMaxima(examples.map((e) => e.features)) };

  const trainPositiveRate = examples.filter((e) => e.label === 1).length / examples.length;
  const training: PFailTraining = { model, excluded, trainRows: examples.length, trainPositiveRate };
  if (testRows.length > 0) {
    const predictions = testRows.map((r) => ({ r, p: predictPFail(model, featurize(r.prompt, options.dims)) }));
    const scored: Scored[] = predictions.map(({ r, p }) => ({ p: p.pFail, label: r.label }));
    const table = reliability(scored);
    training.heldOut = {
      rows: scored.length,
      auc: auc(scored),
      logLoss: logLoss(scored),
      baseRateLogLoss: logLoss(scored.map((s) => ({ p: trainPositiveRate, label: s.label }))),
      reliability: table,
      ece: expectedCalibrationError(table),
      weakAuc: auc(predictions.map(({ r, p }) => ({ p: p.pWeak, label: r.weakOk }))),
      strongAuc: auc(predictions.map(({ r, p }) => ({ p: p.pStrong, label: r.strongOk }))),
    };
  }
  return training;
}
