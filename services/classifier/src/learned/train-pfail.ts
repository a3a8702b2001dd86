/**
 * Training the pFail model from routing-eval rows: label each row for a strong/weak pair, split
 * off a held-out share by id, featurize, fit, and measure on the held-out rows. One function for
 * `npm run train:classifier` and for the routing evaluation, which trains on its `--train` rows.
 */
import type { RoutingEvalRow } from "@llm-router/eval";
import { auc, logLoss, type Scored } from "./evaluate.js";
import { featurize } from "./featurize.js";
import { createRandom } from "./hash.js";
import { EXCLUSION_REASONS, labelRow, splitRows, type ExclusionReason, type ModelPair } from "./labels.js";
import { predict, resolveTrainOptions, train, type EpochProgress, type LearnedWeights, type TrainingExample } from "./logistic.js";

export interface PFailTrainingOptions {
  pair: ModelPair;
  /** Feature vector length (2^16 for the bundled weights). */
  dims: number;
  /** Share of labelled rows held out by id hash, in [0, 1). 0 trains on every row. */
  testFraction: number;
  /** Seeds the split and the shuffle. */
  seed: number;
  epochs?: number;
  learningRate?: number;
  l2?: number;
  includeBothFail?: boolean;
  onEpoch?: (progress: EpochProgress) => void;
}

export interface HeldOutScore {
  rows: number;
  auc: number;
  logLoss: number;
  /** Log-loss of predicting the training base rate for every held-out row. */
  baseRateLogLoss: number;
}

export interface PFailTraining {
  model: LearnedWeights;
  /** Rows excluded from labelling, by reason. */
  excluded: Record<ExclusionReason, number>;
  trainRows: number;
  /** Share of training rows labelled 1. */
  trainPositiveRate: number;
  /** Absent when nothing was held out. */
  heldOut?: HeldOutScore;
}

/** @throws RangeError when no row can be labelled for training, or for invalid options. */
export function trainPFail(rows: readonly RoutingEvalRow[], options: PFailTrainingOptions): PFailTraining {
  const resolved = resolveTrainOptions({
    dims: options.dims,
    epochs: options.epochs,
    learningRate: options.learningRate,
    l2: options.l2,
    random: createRandom(options.seed),
    onEpoch: options.onEpoch,
  });
  const excluded = Object.fromEntries(Object.values(EXCLUSION_REASONS).map((r) => [r, 0])) as Record<ExclusionReason, number>;
  const labelled: { id: string; prompt: string; label: 0 | 1 }[] = [];
  for (const row of rows) {
    const result = labelRow(row, options.pair, { includeBothFail: options.includeBothFail });
    if (result.labelled) labelled.push({ id: row.id, prompt: row.prompt, label: result.label });
    else excluded[result.reason]++;
  }
  const { train: trainRows, test: testRows } = splitRows(labelled, { testFraction: options.testFraction, seed: options.seed });
  if (trainRows.length === 0) throw new RangeError(`no labelled training rows for ${options.pair.strong} / ${options.pair.weak}`);
  const toExample = (r: { prompt: string; label: 0 | 1 }): TrainingExample => ({ features: featurize(r.prompt, options.dims), label: r.label });
  const trainExamples = trainRows.map(toExample);
  const model = train(trainExamples, resolved);
  const trainPositiveRate = trainExamples.filter((e) => e.label === 1).length / trainExamples.length;
  const training: PFailTraining = { model, excluded, trainRows: trainExamples.length, trainPositiveRate };
  if (testRows.length > 0) {
    const scored: Scored[] = testRows.map((r) => ({ p: predict(model, featurize(r.prompt, options.dims)), label: r.label }));
    training.heldOut = {
      rows: scored.length,
      auc: auc(scored),
      logLoss: logLoss(scored),
      baseRateLogLoss: logLoss(scored.map((s) => ({ p: trainPositiveRate, label: s.label }))),
    };
  }
  return training;
}
