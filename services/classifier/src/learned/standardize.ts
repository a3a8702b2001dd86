/**
 * Standardised rule features for training. `featurize` puts each rule feature in its slot as
 * `log1p(x)`, unscaled: a count of words sits near 4, a share of non-ASCII characters near 0,
 * and most rule features are 0 on most prompts. An L2 penalty on such columns punishes the weight
 * of a rare or small-valued feature far more than a common one's, and the n-gram block (norm 1,
 * spread over hundreds of slots) drowns them all. So the trainer fits on each rule slot's
 * `(log1p(x) − mean) / sd · RULE_BLOCK_WEIGHT`, the mean and sd over its training rows, and then
 * folds the affine map into the weights it saves: `w_raw = w · k` with `k = RULE_BLOCK_WEIGHT / sd`
 * and `bias_raw = bias − Σ w · k · mean`, which give the same score on the raw vector. The
 * weights file and the scoring path never see the statistics.
 *
 * Against the features of `hashed-ngrams-rules-2` (rule slots `log1p(x) / 8` inside one L2
 * normalisation with the n-grams), 5-fold cross-validation over fold seeds 1-10: GSM8K needed
 * 65.4% strong calls for 95% of GPT-4's quality instead of 69.1%; MMLU (seeds 1-6) 41.7%
 * instead of 41.3%, a small loss (README › Classifier).
 */
import type { LearnedWeights } from "./logistic.js";
import type { SparseVector } from "./sparse-vector.js";

/** The rule block's scale after standardising: each slot's standard deviation becomes this. */
export const DEFAULT_RULE_BLOCK_WEIGHT = 0.05;

/** Per rule slot: its training mean, and the factor `k` a centred value is multiplied by (0: constant, dropped). */
export interface RuleStandardizer {
  readonly mean: Float64Array;
  readonly factor: Float64Array;
}

/**
 * Means and factors of the slots below `ruleSlots` over `vectors` (a slot a vector lacks is 0
 * there). A slot constant over the rows gets factor 0: it carries nothing to learn from.
 * @throws RangeError when `blockWeight` is not positive and finite.
 */
export function fitRuleStandardizer(vectors: readonly SparseVector[], ruleSlots: number, blockWeight = DEFAULT_RULE_BLOCK_WEIGHT): RuleStandardizer {
  if (!(blockWeight > 0 && Number.isFinite(blockWeight))) throw new RangeError(`the rule block weight must be a positive number, got ${blockWeight}`);
  const sum = new Float64Array(ruleSlots);
  const sumSquares = new Float64Array(ruleSlots);
  for (const v of vectors) {
    for (let i = 0; i < v.indices.length; i++) {
      const slot = v.indices[i] ?? 0;
      if (slot >= ruleSlots) break;
      const x = v.values[i] ?? 0;
      sum[slot] = (sum[slot] ?? 0) + x;
      sumSquares[slot] = (sumSquares[slot] ?? 0) + x * x;
    }
  }
  const n = Math.max(1, vectors.length);
  const mean = sum.map((s) => s / n);
  const factor = new Float64Array(ruleSlots);
  for (let slot = 0; slot < ruleSlots; slot++) {
    const m = mean[slot] ?? 0;
    const variance = (sumSquares[slot] ?? 0) / n - m * m;
    // Below this the slot is constant up to rounding: 1/sd would blow rounding up.
    if (variance > 1e-12) factor[slot] = blockWeight / Math.sqrt(variance);
  }
  return { mean, factor };
}

/**
 * The vector the trainer fits on: every slot with a factor holds `(x − mean) · factor` (present
 * even where `x` is 0), slots with factor 0 are dropped, and the n-gram slots are unchanged.
 */
export function standardizeRules(x: SparseVector, standardizer: RuleStandardizer): SparseVector {
  const { mean, factor } = standardizer;
  const ruleSlots = factor.length;
  let firstNgram = 0;
  while (firstNgram < x.indices.length && (x.indices[firstNgram] ?? 0) < ruleSlots) firstNgram++;
  let used = 0;
  for (let slot = 0; slot < ruleSlots; slot++) if ((factor[slot] ?? 0) !== 0) used++;
  const ngrams = x.indices.length - firstNgram;
  const indices = new Uint32Array(used + ngrams);
  const values = new Float32Array(used + ngrams);
  let at = 0;
  let read = 0;
  for (let slot = 0; slot < ruleSlots; slot++) {
    let raw = 0;
    if (read < firstNgram && x.indices[read] === slot) raw = x.values[read++] ?? 0;
    const k = factor[slot] ?? 0;
    if (k === 0) continue;
    indices[at] = slot;
    values[at++] = (raw - (mean[slot] ?? 0)) * k;
  }
  indices.set(x.indices.subarray(firstNgram), at);
  values.set(x.values.subarray(firstNgram), at);
  return { indices, values };
}

/**
 * Weights fitted on standardised vectors, as weights for the raw ones: the same `bias + w · x`
 * for every vector (to rounding). Slots at or above the rule block are copied.
 */
export function unstandardize(fitted: LearnedWeights, standardizer: RuleStandardizer): LearnedWeights {
  const weights = Float64Array.from(fitted.weights);
  let bias = fitted.bias;
  standardizer.factor.forEach((k, slot) => {
    // k is 0 for a dropped slot: whatever the fit left there, it carries no weight (and no -0).
    const w = k === 0 ? 0 : (fitted.weights[slot] ?? 0) * k;
    weights[slot] = w;
    bias -= w * (standardizer.mean[slot] ?? 0);
  });
  return { dims: fitted.dims, bias, weights };
}
