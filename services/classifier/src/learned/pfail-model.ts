/**
 * The learned pFail model: two logistic heads over the same features and a calibration.
 *
 * - `weak` predicts P(the weak model succeeds), `strong` P(the strong model succeeds), each fitted on
 *   every row with an outcome for its model.
 * - Their difference, `pStrong − pWeak`, is the expected score gained by calling the strong model:
 *   P(only the strong succeeds) − P(only the weak succeeds). It ranks prompts for routing.
 * - pFail = σ(scale · (pStrong − pWeak) + offset): that gain mapped, monotonically, to the
 *   probability that the weak model fails where the strong one succeeds (Platt scaling, fitted on
 *   out-of-fold gains so the training rows' own fit does not flatter it).
 *
 * Why two heads and not one classifier of "the weak fails where the strong succeeds": a prompt
 * both models fail looks hard, so a single model learns to send it up, and the strong call earns
 * nothing. On MMLU a fifth of the prompts the weak model fails, the strong one fails too; the
 * strong head learns which those are. Held out over eight splits of the MMLU file, ranking by the
 * gain needed 39% strong calls for 95% of always-strong quality where the single classifier
 * needed 51%.
 */
import { checkIndices, sigmoid, type LearnedWeights } from "./logistic.js";
import type { CategoryModel } from "./category-model.js";
import { dotInterleaved } from "./featurize.js";
import type { SparseVector } from "./sparse-vector.js";

/** pFail = sigmoid(scale · gain + offset). */
export interface Calibration {
  readonly scale: number;
  readonly offset: number;
}

/** Both heads have the model's `dims`. */
export interface PFailModel {
  readonly dims: number;
  readonly weak: LearnedWeights;
  readonly strong: LearnedWeights;
  readonly calibration: Calibration;
  /**
   * Per rule slot, the largest value training saw: a prompt's rule features are clipped to it
   * before scoring. A linear head extrapolates: a slot that barely varied in training (the share
   * of non-ASCII characters, at most 0.16 in the benchmarks) has a large weight, and a prompt all
   * in another script would otherwise carry it five times past anything learned.
   */
  readonly ruleMax?: Float64Array;
}

export interface PFailPrediction {
  /** P(the weak model succeeds). */
  readonly pWeak: number;
  /** P(the strong model succeeds). */
  readonly pStrong: number;
  /** pStrong − pWeak: the expected score gained by calling the strong model, in [−1, 1]. */
  readonly gain: number;
  /** P(the weak model fails and the strong one succeeds), calibrated from the gain. */
  readonly pFail: number;
}

/**
 * Both heads' weights interleaved, `[weak₀, strong₀, weak₁, strong₁, …]`: a feature's two weights
 * share a cache line, so a prediction misses the cache once per feature, not twice. The weights
 * are also where a prediction's time goes after featurizing — 2 × 65,536 float64 weights (1 MB)
 * missed the cache on most of a prompt's ~600 features and took 11% of a classification.
 * `predictPFail` reads them as float64, the same numbers `predict` multiplies; `predictPFailText`
 * as float32, half the bytes to miss (512 KB for 65,536 dims), for a score within float32
 * rounding, which it already is. Built once per model (the models are immutable).
 */
const packed = new WeakMap<PFailModel, Float64Array>();
const packed32 = new WeakMap<PFailModel, Float32Array>();

function interleave<A extends Float64Array | Float32Array>(model: PFailModel, cache: WeakMap<PFailModel, A>, make: (length: number) => A): A {
  let weights = cache.get(model);
  if (weights === undefined) {
    weights = make(2 * model.dims);
    for (let i = 0; i < model.dims; i++) {
      weights[2 * i] = model.weak.weights[i] ?? 0;
      weights[2 * i + 1] = model.strong.weights[i] ?? 0;
    }
    cache.set(model, weights);
  }
  return weights;
}

const packedWeights = (model: PFailModel): Float64Array => interleave(model, packed, (n) => new Float64Array(n));
const packedWeights32 = (model: PFailModel): Float32Array => interleave(model, packed32, (n) => new Float32Array(n));

/**
 * Both heads and the calibrated pFail for one feature vector: the same numbers as `predict` on
 * each head (the same products, summed in the same order). Throws when an index is beyond `dims`.
 */
export function predictPFail(model: PFailModel, features: SparseVector): PFailPrediction {
  checkIndices(features, model.dims);
  const { indices, values } = features;
  const weights = packedWeights(model);
  let weak = 0;
  let strong = 0;
  const { ruleMax } = model;
  for (let i = 0; i < indices.length; i++) {
    const slot = indices[i] ?? 0;
    const at = 2 * slot;
    const x = ruleMax !== undefined && slot < ruleMax.length ? Math.min(values[i] ?? 0, ruleMax[slot] ?? 0) : (values[i] ?? 0);
    weak += (weights[at] ?? 0) * x;
    strong += (weights[at + 1] ?? 0) * x;
  }
  return fromScores(model, weak, strong);
}

const scores = new Float64Array(2);

/**
 * `predictPFail(model, featurize(text, model.dims, ruleFeatures))` without building the vector
 * (see `dotInterleaved`): the same probabilities to within float32 rounding of the features and
 * weights, with no sort and no allocation. What classification runs on every task.
 * @param categories a category model to score in the same pass; `logits` receives each head's.
 */
export function predictPFailText(
  model: PFailModel,
  text: string,
  ruleFeatures?: Readonly<Record<string, number>>,
  categories?: { readonly model: CategoryModel; readonly logits: Float64Array },
): PFailPrediction {
  dotInterleaved(text, model.dims, packedWeights32(model), scores, ruleFeatures, categories, model.ruleMax);
  return fromScores(model, scores[0] ?? 0, scores[1] ?? 0);
}

function fromScores(model: PFailModel, weak: number, strong: number): PFailPrediction {
  const pWeak = sigmoid(weak + model.weak.bias);
  const pStrong = sigmoid(strong + model.strong.bias);
  const gain = pStrong - pWeak;
  return { pWeak, pStrong, gain, pFail: sigmoid(model.calibration.scale * gain + model.calibration.offset) };
}

/** Probabilities are clipped away from 0 and 1 for the log of a degenerate base rate. */
const CLIP = 1e-6;
/** Newton steps at most; a 1-D logistic fit converges in well under ten. */
const MAX_NEWTON_STEPS = 50;
/** Keeps the Hessian invertible when every score is the same. */
const RIDGE = 1e-9;

/**
 * Platt scaling: the (scale, offset) that minimise the log-loss of σ(scale · x + offset) on
 * `(x, label)` pairs, by Newton's method from (0, logit(base rate)). Deterministic. With only
 * one class present, the scale is 0 and the offset the clipped base rate's logit.
 */
export function fitCalibration(scores: readonly number[], labels: readonly (0 | 1)[]): Calibration {
  if (scores.length !== labels.length) throw new RangeError(`${scores.length} scores for ${labels.length} labels`);
  if (scores.length === 0) throw new RangeError("cannot calibrate on no rows");
  const positives = labels.reduce<number>((n, y) => n + y, 0);
  const base = Math.min(1 - CLIP, Math.max(CLIP, positives / labels.length));
  let scale = 0;
  let offset = Math.log(base / (1 - base));
  if (positives === 0 || positives === labels.length) return { scale, offset };
  for (let step = 0; step < MAX_NEWTON_STEPS; step++) {
    // Gradient and Hessian of the summed log-loss in (scale, offset).
    let gs = 0;
    let go = 0;
    let hss = RIDGE;
    let hso = 0;
    let hoo = RIDGE;
    for (let i = 0; i < scores.length; i++) {
      const x = scores[i] ?? 0;
      const p = sigmoid(scale * x + offset);
      const r = p - (labels[i] ?? 0);
      const w = p * (1 - p);
      gs += r * x;
      go += r;
      hss += w * x * x;
      hso += w * x;
      hoo += w;
    }
    const det = hss * hoo - hso * hso;
    const ds = (hoo * gs - hso * go) / det;
    const dOffset = (hss * go - hso * gs) / det;
    scale -= ds;
    offset -= dOffset;
    if (Math.abs(ds) < 1e-10 && Math.abs(dOffset) < 1e-10) break;
  }
  return { scale, offset };
}
