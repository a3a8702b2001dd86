/**
 * The weights file of the learned pFail model (pfail-model.ts), format "router-learned-v2": JSON
 * with the metadata and calibration first and the two heads last, so `head -c 800 weights.json`
 * shows what a file is. (v1 held one head, a classifier of "the weak fails where the strong
 * succeeds"; such a file is refused with a message to retrain.)
 *
 * `version` is "sha256:" plus 16 hex digits of SHA-256 over the model itself (format, featurizer,
 * dims, calibration, each head's bias and dense weights), so the same training run gives the
 * same version on any machine and any edit to the numbers is caught on load. A head's `weights`
 * is the dense array when that is the shorter JSON, otherwise `[index, value]` pairs of the
 * non-zero weights. Values are rounded to WEIGHT_SIGNIFICANT_DIGITS: the saved (rounded) model is
 * the model; predictions move by ~1e-6.
 */
import { createHash } from "node:crypto";
import { ConfigError } from "@llm-router/shared";
import { z } from "zod";
import { FEATURIZER_VERSION, MAX_DIMS, MIN_DIMS, RULE_SLOTS } from "./featurize.js";
import type { LearnedWeights } from "./logistic.js";
import { categoryModel, type CategoryHead, type CategoryModel } from "./category-model.js";
import type { Calibration, PFailModel } from "./pfail-model.js";

export const WEIGHTS_FORMAT = "router-learned-v2";
export const WEIGHT_SIGNIFICANT_DIGITS = 6;

export const TrainedOn = z.object({
  /** The data files, as given to the trainer. */
  files: z.array(z.string()).min(1),
  /** Labelled rows the model was fitted on (the training split only). */
  rows: z.number().int().nonnegative(),
  /** What the model predicts, in words. */
  label: z.string().min(1),
  strong: z.string().min(1),
  weak: z.string().min(1),
});
export type TrainedOn = z.infer<typeof TrainedOn>;

export const HeldOutMetrics = z.object({
  rows: z.number().int().nonnegative(),
  /** pFail's AUC and log-loss against "the weak model fails and the strong one succeeds". */
  auc: z.number().nullable(),
  logLoss: z.number().nullable(),
  /** Each head's AUC against its model's success. */
  weakAuc: z.number().nullable().optional(),
  strongAuc: z.number().nullable().optional(),
});
export type HeldOutMetrics = z.infer<typeof HeldOutMetrics>;

/** A weight or bias: finite (JSON cannot say otherwise) and within float32, which scoring packs them into. */
const Weight = z.number().min(-1e6).max(1e6);
const HeadWeights = z.union([z.array(Weight), z.array(z.tuple([z.number().int().nonnegative(), Weight]))]);
const HeadFile = z.object({ bias: Weight, weights: HeadWeights });
type HeadFile = z.infer<typeof HeadFile>;

/** The optional category head (category-model.ts): pruned one-vs-rest heads over the same slots. */
export const CategoriesFile = z.object({
  /** Training rows the heads were fitted on, and weights kept per category. */
  rows: z.number().int().nonnegative(),
  termsPerCategory: z.number().int().positive(),
  /** No kept slot is in more than this share of the training prompts. */
  maxShare: z.number().positive().max(1),
  /** Top-1 accuracy on the held-out rows. */
  heldOut: z.object({ rows: z.number().int().nonnegative(), accuracy: z.number().min(0).max(1) }).optional(),
  heads: z
    .array(z.object({ label: z.string().min(1), bias: z.number(), weights: z.array(z.tuple([z.number().int().nonnegative(), z.number()])) }))
    .min(2),
});
export type CategoriesFile = z.infer<typeof CategoriesFile>;

export const WeightsFile = z.object({
  format: z.literal(WEIGHTS_FORMAT, { error: (issue) => `expected "${WEIGHTS_FORMAT}", got ${JSON.stringify(issue.input)}${issue.input === "router-learned-v1" ? " (a one-head model from an older build: retrain with npm run train:classifier)" : ""}` }),
  version: z.string().regex(/^sha256:[0-9a-f]{16}$/, "expected sha256: and 16 hex digits"),
  /** featurize.ts's FEATURIZER_VERSION at training time; weights only fit that featurizer. */
  featurizer: z.string().min(1),
  // Bounded before anything is allocated: an edited `dims` must not make the loader allocate gigabytes.
  dims: z.number().int().min(MIN_DIMS).max(MAX_DIMS),
  trainedOn: TrainedOn,
  heldOut: HeldOutMetrics.optional(),
  createdAt: z.iso.datetime(),
  /** pFail = sigmoid(scale · (pStrong − pWeak) + offset). */
  calibration: z.object({ scale: z.number(), offset: z.number() }),
  /** P(the weak model succeeds). */
  weak: HeadFile,
  /** P(the strong model succeeds). */
  strong: HeadFile,
  /** Present when trained with `--categories`. */
  categories: CategoriesFile.optional(),
  /** Per rule slot, the largest value training saw (PFailModel.ruleMax); absent in older files. */
  ruleMax: z.array(z.number().nonnegative().max(1e6)).max(RULE_SLOTS).optional(),
});
export type WeightsFile = z.infer<typeof WeightsFile>;

/** A model read from a weights file: usable by `predictPFail`, with its provenance. */
export interface LoadedWeights extends PFailModel {
  readonly version: string;
  readonly featurizer: string;
  readonly trainedOn: TrainedOn;
  readonly heldOut: HeldOutMetrics | undefined;
  readonly createdAt: string;
  readonly categories: CategoryModel | undefined;
  readonly categoriesHeldOut: CategoriesFile["heldOut"];
}

export interface SaveWeightsOptions {
  trainedOn: TrainedOn;
  heldOut?: HeldOutMetrics;
  /** A category head to save with the model, and what its training measured. */
  categories?: { model: CategoryModel; rows: number; termsPerCategory: number; maxShare: number; heldOut?: { rows: number; accuracy: number } };
  /** When training finished; injected so a save is reproducible in tests. */
  createdAt: Date;
}

/** A non-negative value rounded to WEIGHT_SIGNIFICANT_DIGITS, never below it. */
function roundUp(x: number): number {
  const nearest = round(x);
  if (nearest >= x) return nearest;
  const unit = 10 ** (Math.floor(Math.log10(x)) + 1 - WEIGHT_SIGNIFICANT_DIGITS);
  return Number((nearest + unit).toPrecision(WEIGHT_SIGNIFICANT_DIGITS));
}

function round(x: number): number {
  return x === 0 ? 0 : Number(x.toPrecision(WEIGHT_SIGNIFICANT_DIGITS));
}

interface RoundedHead {
  readonly bias: number;
  readonly dense: number[];
}

function roundHead(name: string, head: LearnedWeights, dims: number): RoundedHead {
  if (head.dims !== dims || head.weights.length !== dims) throw new RangeError(`${name} head has ${head.weights.length} weights for ${dims} dims`);
  const dense = Array.from(head.weights, round);
  const bias = round(head.bias);
  if (!dense.every(Number.isFinite) || !Number.isFinite(bias)) throw new RangeError(`cannot save a model with non-finite weights (${name} head)`);
  return { bias, dense };
}

function contentVersion(
  featurizer: string,
  dims: number,
  calibration: Calibration,
  heads: readonly { bias: number; dense: ArrayLike<number> }[],
  categories?: readonly CategoryHead[],
  ruleMax?: ArrayLike<number>,
): string {
  const hash = createHash("sha256");
  hash.update(JSON.stringify([WEIGHTS_FORMAT, featurizer, dims, calibration.scale, calibration.offset, ...heads.map((h) => h.bias)]));
  // Chunked: one JSON string of 2^18 numbers would be several MB.
  const CHUNK = 8192;
  for (const { dense } of heads) {
    for (let start = 0; start < dense.length; start += CHUNK) {
      hash.update(JSON.stringify(Array.from({ length: Math.min(CHUNK, dense.length - start) }, (_, i) => dense[start + i])));
    }
  }
  // Only when present, so a file without categories keeps the version it always had.
  for (const head of categories ?? []) hash.update(JSON.stringify([head.label, head.bias, head.weights]));
  if (ruleMax !== undefined) hash.update(JSON.stringify(["ruleMax", ...Array.from(ruleMax)]));
  return `sha256:${hash.digest("hex").slice(0, 16)}`;
}

/** The category heads with their numbers rounded as saved. */
function roundCategories(model: CategoryModel): CategoryHead[] {
  const heads = model.heads.map((head) => ({ label: head.label, bias: round(head.bias), weights: head.weights.map(([slot, w]) => [slot, round(w)] as const) }));
  if (!heads.every((h) => Number.isFinite(h.bias) && h.weights.every(([, w]) => Number.isFinite(w)))) throw new RangeError("cannot save a category head with non-finite weights");
  return heads;
}

/** A head's weights as JSON: the dense array or the non-zero `[index, value]` pairs, whichever is shorter. */
function headJson({ bias, dense }: RoundedHead): string {
  const pairs: [number, number][] = [];
  dense.forEach((w, i) => {
    if (w !== 0) pairs.push([i, w]);
  });
  const denseJson = JSON.stringify(dense);
  const pairsJson = JSON.stringify(pairs);
  return `{"bias":${JSON.stringify(bias)},"weights":${pairsJson.length < denseJson.length ? pairsJson : denseJson}}`;
}

/** Serialise a trained model; the result is the whole file, ending in a newline. */
export function saveWeights(model: PFailModel, options: SaveWeightsOptions): string {
  const weak = roundHead("weak", model.weak, model.dims);
  const strong = roundHead("strong", model.strong, model.dims);
  const calibration = { scale: round(model.calibration.scale), offset: round(model.calibration.offset) };
  if (!Number.isFinite(calibration.scale) || !Number.isFinite(calibration.offset)) throw new RangeError("cannot save a model with a non-finite calibration");
  const categories = options.categories && roundCategories(options.categories.model);
  // Rounded up, so no value training saw is clipped by the rounding.
  const ruleMax = model.ruleMax && Array.from(model.ruleMax, roundUp);
  const file: Omit<WeightsFile, "weak" | "strong" | "categories"> = {
    format: WEIGHTS_FORMAT,
    version: contentVersion(FEATURIZER_VERSION, model.dims, calibration, [weak, strong], categories, ruleMax),
    featurizer: FEATURIZER_VERSION,
    dims: model.dims,
    trainedOn: options.trainedOn,
    ...(options.heldOut === undefined ? {} : { heldOut: options.heldOut }),
    createdAt: options.createdAt.toISOString(),
    calibration,
    ...(ruleMax === undefined ? {} : { ruleMax }),
  };
  // Spliced in by hand: each head's array is already serialised once to compare the two encodings.
  const head = JSON.stringify(file);
  const categoriesJson =
    options.categories && categories
      ? `,"categories":${JSON.stringify({ rows: options.categories.rows, termsPerCategory: options.categories.termsPerCategory, maxShare: options.categories.maxShare, ...(options.categories.heldOut && { heldOut: options.categories.heldOut }), heads: categories })}`
      : "";
  return `${head.slice(0, -1)},"weak":${headJson(weak)},"strong":${headJson(strong)}${categoriesJson}}\n`;
}

function invalid(problem: string, cause?: unknown): ConfigError {
  return new ConfigError(`invalid weights file: ${problem}`, { cause });
}

function denseWeights(name: string, head: HeadFile, dims: number): Float64Array {
  const dense = new Float64Array(dims);
  const entries = head.weights;
  const first = entries[0];
  // An empty array is the sparse form of an all-zero model: a dense one has `dims` entries.
  if (typeof first === "number") {
    if (entries.length !== dims) throw invalid(`${name}.weights has ${entries.length} entries but dims is ${dims}`);
    dense.set(entries as number[]);
    return dense;
  }
  let previous = -1;
  for (const [index, value] of entries as [number, number][]) {
    if (index >= dims) throw invalid(`${name}.weights: index ${index} is out of range for dims ${dims}`);
    if (index <= previous) throw invalid(`${name}.weights: indices must be strictly increasing (${index} after ${previous})`);
    dense[index] = value;
    previous = index;
  }
  return dense;
}

/**
 * Validate a parsed weights file and turn it into a model for `predict`. Throws ConfigError
 * (code CONFIG_INVALID) whose message names the problem: a field that does not validate, a wrong
 * format, weights trained for another featurizer, or a version that does not match the content.
 */
export function loadWeights(json: unknown): LoadedWeights {
  const parsed = WeightsFile.safeParse(json);
  if (!parsed.success) {
    const issues = parsed.error.issues.slice(0, 3).map((issue) => `${issue.path.length > 0 ? issue.path.join(".") : "(root)"}: ${issue.message}`);
    const more = parsed.error.issues.length > 3 ? ` (and ${parsed.error.issues.length - 3} more)` : "";
    throw invalid(`${issues.join("; ")}${more}`, parsed.error);
  }
  const file = parsed.data;
  if (file.featurizer !== FEATURIZER_VERSION) {
    throw invalid(`trained with featurizer "${file.featurizer}", but this build computes "${FEATURIZER_VERSION}": retrain`);
  }
  const weak = { dims: file.dims, bias: file.weak.bias, weights: denseWeights("weak", file.weak, file.dims) };
  const strong = { dims: file.dims, bias: file.strong.bias, weights: denseWeights("strong", file.strong, file.dims) };
  const version = contentVersion(
    file.featurizer,
    file.dims,
    file.calibration,
    [
      { bias: weak.bias, dense: weak.weights },
      { bias: strong.bias, dense: strong.weights },
    ],
    file.categories?.heads,
    file.ruleMax,
  );
  if (version !== file.version) throw invalid(`version ${file.version} does not match the content (${version}): the file was edited or corrupted`);
  let categories: CategoryModel | undefined;
  if (file.categories) {
    try {
      categories = categoryModel(file.categories.heads, file.dims);
    } catch (err) {
      throw invalid(`categories: ${err instanceof Error ? err.message : String(err)}`, err);
    }
  }
  return {
    dims: file.dims,
    weak,
    strong,
    calibration: file.calibration,
    version: file.version,
    featurizer: file.featurizer,
    trainedOn: file.trainedOn,
    heldOut: file.heldOut,
    createdAt: file.createdAt,
    categories,
    categoriesHeldOut: file.categories?.heldOut,
    ...(file.ruleMax === undefined ? {} : { ruleMax: Float64Array.from(file.ruleMax) }),
  };
}
