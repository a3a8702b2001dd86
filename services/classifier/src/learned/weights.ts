/**
 * The weights file of the learned pFail model, format "router-learned-v1": JSON with the metadata
 * first and the weights last, so `head -c 600 weights.json` shows what a file is.
 *
 * `version` is "sha256:" plus 16 hex digits of SHA-256 over the model itself (format, featurizer,
 * dims, bias and the dense weights), so the same training run gives the same version on any
 * machine and any edit to the numbers is caught on load. `weights` is the dense array when that is
 * the shorter JSON, otherwise `[index, value]` pairs of the non-zero weights. Values are rounded to
 * WEIGHT_SIGNIFICANT_DIGITS: the saved (rounded) model is the model; predictions move by ~1e-6.
 */
import { createHash } from "node:crypto";
import { ConfigError } from "@llm-router/shared";
import { z } from "zod";
import { FEATURIZER_VERSION } from "./featurize.js";
import type { LearnedWeights } from "./logistic.js";

export const WEIGHTS_FORMAT = "router-learned-v1";
export const WEIGHT_SIGNIFICANT_DIGITS = 6;

export const TrainedOn = z.object({
  /** The data files, as given to the trainer. */
  files: z.array(z.string()).min(1),
  /** Labelled rows the model was fitted on (the training split only). */
  rows: z.number().int().nonnegative(),
  /** What label 1 means, in words. */
  label: z.string().min(1),
  strong: z.string().min(1),
  weak: z.string().min(1),
});
export type TrainedOn = z.infer<typeof TrainedOn>;

export const HeldOutMetrics = z.object({
  rows: z.number().int().nonnegative(),
  auc: z.number().nullable(),
  logLoss: z.number().nullable(),
});
export type HeldOutMetrics = z.infer<typeof HeldOutMetrics>;

export const WeightsFile = z.object({
  format: z.literal(WEIGHTS_FORMAT),
  version: z.string().regex(/^sha256:[0-9a-f]{16}$/, "expected sha256: and 16 hex digits"),
  /** featurize.ts's FEATURIZER_VERSION at training time; weights only fit that featurizer. */
  featurizer: z.string().min(1),
  dims: z.number().int().positive(),
  trainedOn: TrainedOn,
  heldOut: HeldOutMetrics.optional(),
  createdAt: z.iso.datetime(),
  bias: z.number(),
  weights: z.union([z.array(z.number()), z.array(z.tuple([z.number().int().nonnegative(), z.number()]))]),
});
export type WeightsFile = z.infer<typeof WeightsFile>;

/** A model read from a weights file: usable by `predict`, with its provenance. */
export interface LoadedWeights extends LearnedWeights {
  readonly version: string;
  readonly featurizer: string;
  readonly trainedOn: TrainedOn;
  readonly heldOut: HeldOutMetrics | undefined;
  readonly createdAt: string;
}

export interface SaveWeightsOptions {
  trainedOn: TrainedOn;
  heldOut?: HeldOutMetrics;
  /** When training finished; injected so a save is reproducible in tests. */
  createdAt: Date;
}

function round(x: number): number {
  return x === 0 ? 0 : Number(x.toPrecision(WEIGHT_SIGNIFICANT_DIGITS));
}

function contentVersion(featurizer: string, dims: number, bias: number, dense: ArrayLike<number>): string {
  const hash = createHash("sha256");
  hash.update(JSON.stringify([WEIGHTS_FORMAT, featurizer, dims, bias]));
  // Chunked: one JSON string of 2^18 numbers would be several MB.
  const CHUNK = 8192;
  for (let start = 0; start < dense.length; start += CHUNK) {
    hash.update(JSON.stringify(Array.from({ length: Math.min(CHUNK, dense.length - start) }, (_, i) => dense[start + i])));
  }
  return `sha256:${hash.digest("hex").slice(0, 16)}`;
}

/** Serialise a trained model; the result is the whole file, ending in a newline. */
export function saveWeights(model: LearnedWeights, options: SaveWeightsOptions): string {
  if (model.weights.length !== model.dims) throw new RangeError(`weights has ${model.weights.length} entries for ${model.dims} dims`);
  const dense = Array.from(model.weights, round);
  const bias = round(model.bias);
  if (!dense.every(Number.isFinite) || !Number.isFinite(bias)) throw new RangeError("cannot save a model with non-finite weights");
  const pairs: [number, number][] = [];
  dense.forEach((w, i) => {
    if (w !== 0) pairs.push([i, w]);
  });
  const denseJson = JSON.stringify(dense);
  const pairsJson = JSON.stringify(pairs);
  const file: Omit<WeightsFile, "weights"> = {
    format: WEIGHTS_FORMAT,
    version: contentVersion(FEATURIZER_VERSION, model.dims, bias, dense),
    featurizer: FEATURIZER_VERSION,
    dims: model.dims,
    trainedOn: options.trainedOn,
    ...(options.heldOut === undefined ? {} : { heldOut: options.heldOut }),
    createdAt: options.createdAt.toISOString(),
    bias,
  };
  // Spliced in by hand: the array is already serialised once to compare the two encodings.
  const head = JSON.stringify(file);
  return `${head.slice(0, -1)},"weights":${pairsJson.length < denseJson.length ? pairsJson : denseJson}}\n`;
}

function invalid(problem: string, cause?: unknown): ConfigError {
  return new ConfigError(`invalid weights file: ${problem}`, { cause });
}

function denseWeights(file: WeightsFile): Float64Array {
  const dense = new Float64Array(file.dims);
  const entries = file.weights;
  const first = entries[0];
  // An empty array is the sparse form of an all-zero model: a dense one has `dims` entries.
  if (typeof first === "number") {
    if (entries.length !== file.dims) throw invalid(`weights has ${entries.length} entries but dims is ${file.dims}`);
    dense.set(entries as number[]);
    return dense;
  }
  let previous = -1;
  for (const [index, value] of entries as [number, number][]) {
    if (index >= file.dims) throw invalid(`weights: index ${index} is out of range for dims ${file.dims}`);
    if (index <= previous) throw invalid(`weights: indices must be strictly increasing (${index} after ${previous})`);
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
  const weights = denseWeights(file);
  const version = contentVersion(file.featurizer, file.dims, file.bias, weights);
  if (version !== file.version) throw invalid(`version ${file.version} does not match the content (${version}): the file was edited or corrupted`);
  return {
    dims: file.dims,
    bias: file.bias,
    weights,
    version: file.version,
    featurizer: file.featurizer,
    trainedOn: file.trainedOn,
    heldOut: file.heldOut,
    createdAt: file.createdAt,
  };
}
