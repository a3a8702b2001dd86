/**
 * The category head: which of the training data's own categories a prompt belongs to (MMLU's
 * subjects, RouterBench's tasks, a team's "support" / "code-review" / … labels), learned from the
 * `category` of routing-eval rows where the data has one. Opt-in (`train:classifier --categories`):
 * the bundled weights carry none, and a classification names a category only when its model does.
 *
 * One logistic head per category (one-vs-rest) over the same feature vector as pFail, each cut to
 * `termsPerCategory` weights on slots that at most `maxShare` of the training prompts have, then
 * refitted on those slots. A dense head per category would cost a dot product per category on
 * every task; the cut heads are a short list of (category, weight) per slot that the fused
 * scoring pass reads beside the pFail heads, so a task pays for the few slots it has that carry a
 * category's weight. The prediction is the category whose head scores highest, with that head's
 * probability. How much accuracy each setting buys, and what it costs a task: README › Classifier.
 */
import { featurize, RULE_SLOTS } from "./featurize.js";
import { createRandom } from "./hash.js";
import { splitHeldApart } from "./labels.js";
import { resolveTrainOptions, sigmoid, train, type LearnedWeights } from "./logistic.js";
import type { SparseVector } from "./sparse-vector.js";
import { fitRuleStandardizer, standardizeRules, unstandardize } from "./standardize.js";

/** A category's pruned head: its bias and its weights at strictly increasing slots. */
export interface CategoryHead {
  readonly label: string;
  readonly bias: number;
  readonly weights: readonly (readonly [slot: number, weight: number])[];
}

/**
 * The heads as the scoring pass reads them: for slot s, the postings `start[s]..start[s+1]` of
 * `categories` (which head) and `weights`.
 */
export interface CategoryModel {
  readonly heads: readonly CategoryHead[];
  readonly start: Int32Array;
  readonly categories: Uint16Array;
  readonly weights: Float64Array;
}

export interface CategoryPrediction {
  readonly category: string;
  /** The winning head's probability that the prompt is of its category. */
  readonly probability: number;
}

/** At most this many categories: postings store the category in 16 bits. */
export const MAX_CATEGORIES = 65_535;

/** Index the pruned heads by slot. @throws RangeError on a slot outside `dims` or unsorted slots. */
export function categoryModel(heads: readonly CategoryHead[], dims: number): CategoryModel {
  if (heads.length < 2 || heads.length > MAX_CATEGORIES) throw new RangeError(`a category model needs 2 to ${MAX_CATEGORIES} categories, got ${heads.length}`);
  const counts = new Int32Array(dims + 1);
  heads.forEach((head) => {
    let previous = -1;
    for (const [slot] of head.weights) {
      if (!Number.isInteger(slot) || slot < 0 || slot >= dims) throw new RangeError(`category "${head.label}": slot ${slot} is outside [0, ${dims})`);
      if (slot <= previous) throw new RangeError(`category "${head.label}": slots must be strictly increasing (${slot} after ${previous})`);
      previous = slot;
      counts[slot + 1] = (counts[slot + 1] ?? 0) + 1;
    }
  });
  const start = new Int32Array(dims + 1);
  for (let s = 0; s < dims; s++) start[s + 1] = (start[s] ?? 0) + (counts[s + 1] ?? 0);
  const total = start[dims] ?? 0;
  const categories = new Uint16Array(total);
  const weights = new Float64Array(total);
  const next = start.slice(0, dims);
  heads.forEach((head, k) => {
    for (const [slot, weight] of head.weights) {
      const at = next[slot] ?? 0;
      categories[at] = k;
      weights[at] = weight;
      next[slot] = at + 1;
    }
  });
  return { heads, start, categories, weights };
}

/** The best category from each head's logit (`bias + w · x`). */
export function bestCategory(model: CategoryModel, logits: ArrayLike<number>): CategoryPrediction {
  let best = 0;
  for (let k = 1; k < model.heads.length; k++) if ((logits[k] ?? -Infinity) > (logits[best] ?? -Infinity)) best = k;
  return { category: model.heads[best]?.label ?? "", probability: sigmoid(logits[best] ?? 0) };
}

/** The category of a feature vector from `featurize` (the reference the fused scoring pass matches). */
export function predictCategory(model: CategoryModel, x: SparseVector): CategoryPrediction {
  const logits = Float64Array.from(model.heads, (h) => h.bias);
  for (let i = 0; i < x.indices.length; i++) {
    const slot = x.indices[i] ?? 0;
    for (let p = model.start[slot] ?? 0; p < (model.start[slot + 1] ?? 0); p++) {
      const k = model.categories[p] ?? 0;
      logits[k] = (logits[k] ?? 0) + (model.weights[p] ?? 0) * (x.values[i] ?? 0);
    }
  }
  return bestCategory(model, logits);
}

/**
 * The slots a head keeps: its `terms` largest weights (by magnitude) among the slots at most
 * `maxShare` of the training prompts have. A slot most prompts have (a rule feature, " the") is
 * read on nearly every task for every category that keeps it: by magnitude alone (maxShare 1,
 * the default) the 58 MMLU and GSM8K categories cost +12 to +14 µs a task; maxShare 0.1 about
 * half that, for less accuracy (README › Classifier).
 */
export function keptSlots(head: LearnedWeights, terms: number, documentFrequency: Int32Array, maxPrompts: number): number[] {
  return Array.from(head.weights.keys())
    .filter((slot) => head.weights[slot] !== 0 && (documentFrequency[slot] ?? 0) <= maxPrompts)
    .sort((a, b) => Math.abs(head.weights[b] ?? 0) - Math.abs(head.weights[a] ?? 0) || a - b)
    .slice(0, terms)
    .sort((a, b) => a - b);
}

/** The vector with only the given slots (sorted ascending) kept. */
function restrict(x: SparseVector, keep: Uint8Array): SparseVector {
  let n = 0;
  for (let i = 0; i < x.indices.length; i++) if (keep[x.indices[i] ?? 0] === 1) n++;
  const indices = new Uint32Array(n);
  const values = new Float32Array(n);
  n = 0;
  for (let i = 0; i < x.indices.length; i++) {
    const slot = x.indices[i] ?? 0;
    if (keep[slot] !== 1) continue;
    indices[n] = slot;
    values[n++] = x.values[i] ?? 0;
  }
  return { indices, values };
}

export interface CategoryTrainingOptions {
  dims: number;
  /** Share of rows held out by id hash, in [0, 1); the held-out accuracy is measured on them. */
  testFraction: number;
  seed: number;
  /** Weights kept per category. Default 256. */
  termsPerCategory?: number;
  /** A slot more than this share of the training prompts have is never kept. Default 1 (any slot). */
  maxShare?: number;
  /** Categories with fewer training rows are left out (their rows too). Default 10. */
  minRows?: number;
  epochs?: number;
  learningRate?: number;
  l2?: number;
  /** Each standardised rule feature's standard deviation in the fit (standardize.ts). Default DEFAULT_RULE_BLOCK_WEIGHT (0.05). */
  ruleBlockWeight?: number;
  progress?: (line: string) => void;
}

export interface CategoryTraining {
  model: CategoryModel;
  trainRows: number;
  /** Rows without a category, and rows of categories with fewer than `minRows` training rows. */
  excluded: { uncategorised: number; rareCategory: number };
  /** Top-1 accuracy of the pruned heads on the held-out rows; absent when none were held out. */
  heldOut?: { rows: number; accuracy: number };
}

export const DEFAULT_TERMS_PER_CATEGORY = 256;
export const DEFAULT_MIN_CATEGORY_ROWS = 10;
export const DEFAULT_MAX_SHARE = 1;

/** @throws RangeError when fewer than two categories have `minRows` training rows. */
export function trainCategories(rows: readonly { id: string; prompt: string; category?: string | undefined }[], options: CategoryTrainingOptions): CategoryTraining {
  const terms = options.termsPerCategory ?? DEFAULT_TERMS_PER_CATEGORY;
  const minRows = options.minRows ?? DEFAULT_MIN_CATEGORY_ROWS;
  if (!Number.isInteger(terms) || terms < 1) throw new RangeError(`termsPerCategory must be a positive integer, got ${terms}`);
  if (!Number.isInteger(minRows) || minRows < 1) throw new RangeError(`minRows must be a positive integer, got ${minRows}`);
  const maxShare = options.maxShare ?? DEFAULT_MAX_SHARE;
  if (!(maxShare > 0 && maxShare <= 1)) throw new RangeError(`maxShare must be in (0, 1], got ${maxShare}`);
  const resolved = resolveTrainOptions({ dims: options.dims, epochs: options.epochs, learningRate: options.learningRate, l2: options.l2 });
  const progress = options.progress ?? (() => undefined);

  const categorised = rows.filter((r) => r.category !== undefined && r.category.trim() !== "") as { id: string; prompt: string; category: string }[];
  const { train: trainRows, test: testRows } = splitHeldApart(categorised, { testFraction: options.testFraction, seed: options.seed });
  const counts = new Map<string, number>();
  for (const r of trainRows) counts.set(r.category, (counts.get(r.category) ?? 0) + 1);
  const labels = [...counts].filter(([, n]) => n >= minRows).map(([label]) => label).sort();
  if (labels.length < 2) throw new RangeError(`categories need at least 2 categories with ${minRows}+ training rows, found ${labels.length}`);
  if (labels.length > MAX_CATEGORIES) throw new RangeError(`at most ${MAX_CATEGORIES} categories, found ${labels.length}`);
  const known = new Set(labels);
  const kept = trainRows.filter((r) => known.has(r.category));
  const raw = kept.map((r) => featurize(r.prompt, options.dims));
  const documentFrequency = new Int32Array(options.dims);
  for (const x of raw) for (const slot of x.indices) documentFrequency[slot] = (documentFrequency[slot] ?? 0) + 1;
  // Fitted on standardised rule features, saved as weights for raw vectors, as the pFail heads are.
  const standardizer = fitRuleStandardizer(raw, RULE_SLOTS, options.ruleBlockWeight);
  const examples = kept.map((r, i) => ({ features: standardizeRules(raw[i] as SparseVector, standardizer), category: r.category }));
  const maxPrompts = Math.floor(maxShare * examples.length);
  // Every fit shuffles from the same seed, so a head does not depend on how many came before.
  const fit = (label: string, features: (e: (typeof examples)[number]) => SparseVector): LearnedWeights =>
    train(
      examples.map((e) => ({ features: features(e), label: e.category === label ? 1 : 0 })),
      { ...resolved, random: createRandom(options.seed), onEpoch: undefined },
    );
  const heads = labels.map((label, k): CategoryHead => {
    progress(`category ${k + 1}/${labels.length}: ${label} (${counts.get(label)} rows)`);
    // Choose the slots on a head fitted to every slot, then refit on those slots alone: the kept
    // weights (and the bias) must make up for the slots left out (with maxShare 0.1 and featurizer
    // version 2, 34% held-out accuracy on the 58 MMLU and GSM8K categories, against 12% for the
    // first fit's weights).
    const slots = keptSlots(fit(label, (e) => e.features), terms, documentFrequency, maxPrompts);
    const keep = new Uint8Array(options.dims);
    for (const slot of slots) keep[slot] = 1;
    const head = unstandardize(fit(label, (e) => restrict(e.features, keep)), standardizer);
    return { label, bias: head.bias, weights: slots.map((slot) => [slot, head.weights[slot] ?? 0] as const) };
  });
  const model = categoryModel(heads, options.dims);
  const training: CategoryTraining = {
    model,
    trainRows: kept.length,
    excluded: { uncategorised: rows.length - categorised.length, rareCategory: trainRows.length - kept.length },
  };
  const scored = testRows.filter((r) => known.has(r.category));
  if (scored.length > 0) {
    const right = scored.filter((r) => predictCategory(model, featurize(r.prompt, options.dims)).category === r.category).length;
    training.heldOut = { rows: scored.length, accuracy: right / scored.length };
  }
  return training;
}

