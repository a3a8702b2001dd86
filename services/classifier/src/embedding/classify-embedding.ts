/**
 * The embedding-centroid strategy: labelled example texts are embedded once at start and
 * averaged into one centroid per label of each dimension (complexity, taskType, risk); a task is
 * embedded and takes, per dimension, the label of the nearest centroid by cosine similarity.
 *
 * Every vector is L2-normalised before it is averaged, so a long example (larger raw norm with
 * some models) weighs no more than a short one, and the centroid is normalised again so cosine
 * similarity is a plain dot product. A dimension with fewer than two labelled centroids tells
 * nothing apart and is left out of the verdict, as is one whose two nearest centroids tie; the
 * cascade takes those from the rules. A task equally near everything gets no verdict at all.
 *
 * Confidence comes from the margin between the nearest and the second-nearest centroid, not from
 * the similarity itself: embedding models differ in how similar everything is (many put unrelated
 * texts at 0.6–0.8), but a wide gap between the two best labels means the same on all of them.
 *   confidence_d = clamp((best_d − second_d) / FULL_CONFIDENCE_MARGIN, 0, 1)
 *   confidence   = mean of confidence_d over the dimensions judged
 */
import { readFile } from "node:fs/promises";
import type { Embedder } from "@llm-router/executor";
import {
  COMPLEXITIES,
  Complexity,
  ConfigError,
  ERROR_CODES,
  ProviderError,
  RISKS,
  Risk,
  TASK_TYPES,
  TaskType,
  type Task,
} from "@llm-router/shared";
import { z } from "zod";
import type { EscalationStrategy, StrategyOutcome, StrategyVerdict } from "../strategy.js";

export const EMBEDDING_STRATEGY_VERSION = "centroid-1";

/**
 * Characters of a text sent to the embedding model: about 2,000 tokens, inside the context of
 * common local embedding models (nomic-embed-text, 2,048) and far inside OpenAI's 8,191. A
 * longer text keeps its head and its tail (see `embeddingText`).
 */
export const MAX_EMBED_TEXT_CHARS = 8000;

/** Examples per embeddings request while building centroids. */
export const EMBED_BATCH_SIZE = 64;

/** A margin between the best and second-best similarity at or above this is full confidence. */
export const FULL_CONFIDENCE_MARGIN = 0.2;

/** One line of the examples file. Unknown keys are rejected: a misspelt label must not vanish silently. */
export const LabelledExample = z
  .strictObject({
    text: z.string().trim().min(1),
    complexity: Complexity.optional(),
    taskType: TaskType.optional(),
    risk: Risk.optional(),
  })
  .refine((e) => e.complexity !== undefined || e.taskType !== undefined || e.risk !== undefined, {
    message: "needs at least one of complexity, taskType, risk",
  });
export type LabelledExample = z.infer<typeof LabelledExample>;

/** The dimensions a centroid strategy judges, in the order signals list them. */
export const CENTROID_DIMENSIONS = ["complexity", "taskType", "risk"] as const;
export type CentroidDimension = (typeof CENTROID_DIMENSIONS)[number];

export interface LabelCentroid<L extends string = string> {
  readonly label: L;
  /** Unit length, `dims` long. */
  readonly vector: Float32Array;
  /** How many examples it averages. */
  readonly examples: number;
}

/** The centroids of one embedding model; labels without examples have none. */
export interface Centroids {
  /** Length of every vector the model returns. */
  readonly dims: number;
  readonly complexity: readonly LabelCentroid<Complexity>[];
  readonly taskType: readonly LabelCentroid<TaskType>[];
  readonly risk: readonly LabelCentroid<Risk>[];
}

/**
 * Parse a JSONL examples file: one `{text, complexity?, taskType?, risk?}` per line, blank lines
 * skipped. Throws `ConfigError` naming `file` and the 1-based line of the first bad one.
 */
export function parseExamples(jsonl: string, file: string): LabelledExample[] {
  const examples: LabelledExample[] = [];
  jsonl.split(/\r?\n/).forEach((line, i) => {
    if (line.trim() === "") return;
    const where = `${file}:${i + 1}`;
    let json: unknown;
    try {
      json = JSON.parse(line);
    } catch (err) {
      throw new ConfigError(`${where}: not JSON (${err instanceof Error ? err.message : String(err)})`, { cause: err });
    }
    const parsed = LabelledExample.safeParse(json);
    if (!parsed.success) {
      const issues = parsed.error.issues.map((issue) => `${issue.path.length > 0 ? issue.path.join(".") : "(line)"}: ${issue.message}`);
      throw new ConfigError(`${where}: ${issues.join("; ")}`, { cause: parsed.error });
    }
    examples.push(parsed.data);
  });
  if (examples.length === 0) throw new ConfigError(`${file}: no examples`);
  return examples;
}

/** Read and parse an examples file; see `parseExamples`. */
export async function loadExamples(file: string): Promise<LabelledExample[]> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (err) {
    throw new ConfigError(`${file}: cannot read the embedding examples file (${err instanceof Error ? err.message : String(err)})`, { cause: err });
  }
  return parseExamples(text, file);
}

export interface BuildCentroidsOptions {
  /** Deadline per embeddings request. */
  timeoutMs: number;
  /** Examples per request. Default `EMBED_BATCH_SIZE` (64). */
  batchSize?: number;
  /** Aborts the build (shutdown during start); the build then rejects with `signal.reason`. */
  signal?: AbortSignal;
}

/**
 * Embed the examples (in batches, one request at a time: a local model serves one batch at a
 * time anyway) and average them into a unit centroid per label. Rejects with the embedder's
 * `ProviderError` when a request fails, with a `MALFORMED_RESPONSE` when batches disagree on the
 * vector length, and with `ConfigError` when no dimension has two labels to tell apart.
 */
export async function buildCentroids(
  embedder: Embedder,
  model: string,
  examples: readonly LabelledExample[],
  opts: BuildCentroidsOptions,
): Promise<Centroids> {
  const batchSize = opts.batchSize ?? EMBED_BATCH_SIZE;
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new RangeError(`batchSize must be a positive integer, got ${batchSize}`);
  const vectors: Float32Array[] = [];
  for (let start = 0; start < examples.length; start += batchSize) {
    const batch = examples.slice(start, start + batchSize);
    const embedded = await embedder.embed({
      model,
      inputs: batch.map((e) => embeddingText(e.text)),
      timeoutMs: opts.timeoutMs,
      ...(opts.signal ? { signal: opts.signal } : {}),
    });
    if (embedded.length !== batch.length) {
      throw new ProviderError(ERROR_CODES.MALFORMED_RESPONSE, `${embedder.key}: ${embedded.length} embeddings for ${batch.length} examples`);
    }
    for (const vector of embedded) {
      const first = vectors[0];
      if (first && vector.length !== first.length) {
        throw new ProviderError(
          ERROR_CODES.MALFORMED_RESPONSE,
          `${embedder.key}: model ${model} returned ${first.length}-dimensional embeddings, then ${vector.length}-dimensional ones`,
        );
      }
      vectors.push(normalised(vector));
    }
  }
  const dims = vectors[0]?.length;
  if (dims === undefined) throw new ConfigError("no labelled examples to build embedding centroids from");

  const centroids: Centroids = {
    dims,
    complexity: centroidsOf(COMPLEXITIES, (e) => e.complexity, examples, vectors, dims),
    taskType: centroidsOf(TASK_TYPES, (e) => e.taskType, examples, vectors, dims),
    risk: centroidsOf(RISKS, (e) => e.risk, examples, vectors, dims),
  };
  if (CENTROID_DIMENSIONS.every((d) => centroids[d].length < 2)) throw new ConfigError(NO_TWO_LABELS);
  return centroids;
}

const NO_TWO_LABELS = "embedding examples give no dimension two labels: every task would get the same answer";

/** Refuses examples that could never tell two labels apart, before anything is embedded. */
export function checkExampleLabels(examples: readonly LabelledExample[], file: string): void {
  const labelled = CENTROID_DIMENSIONS.map((d) => new Set(examples.map((e) => e[d]).filter((l) => l !== undefined)).size);
  if (labelled.every((n) => n < 2)) throw new ConfigError(`${file}: ${NO_TWO_LABELS}`);
}

/** Centroids being built while the service runs. */
export interface PendingCentroids {
  /** Set once built. */
  readonly centroids: Centroids | undefined;
  /** Why the last attempt failed, while none has succeeded. */
  readonly lastError: string | undefined;
  /** Resolves when built (never rejects: a failed attempt is retried until `stop`). */
  readonly built: Promise<Centroids | undefined>;
  /** Resolves once the first attempt ended, built or not. */
  readonly firstAttempt: Promise<void>;
  stop(): void;
}

/** Deadline per embeddings request while building: a cold local model may first have to load. */
export const BUILD_TIMEOUT_MS = 60_000;
const RETRY_FIRST_MS = 1000;
const RETRY_MAX_MS = 60_000;

/**
 * Build the centroids without holding up the start: an embedding server that is down or still
 * loading leaves the cascade on its in-process strategies (the embedding strategy answers
 * `unavailable`) instead of failing the classifier — and the pipeline — in a restart loop.
 * Failed attempts are retried with backoff (1 s doubling to 60 s) until `stop`.
 */
export function buildCentroidsInBackground(
  embedder: Embedder,
  model: string,
  examples: readonly LabelledExample[],
  opts: { timeoutMs: number; log: { info(o: object, m: string): void; warn(o: object, m: string): void } },
): PendingCentroids {
  const stopping = new AbortController();
  const state: { centroids: Centroids | undefined; lastError: string | undefined } = { centroids: undefined, lastError: undefined };
  let firstAttemptEnded = (): void => undefined;
  const firstAttempt = new Promise<void>((resolve) => (firstAttemptEnded = resolve));
  const built = (async () => {
    for (let attempt = 1, delay = RETRY_FIRST_MS; !stopping.signal.aborted; attempt++, delay = Math.min(RETRY_MAX_MS, delay * 2)) {
      const started = performance.now();
      try {
        state.centroids = await buildCentroids(embedder, model, examples, { timeoutMs: Math.max(opts.timeoutMs, BUILD_TIMEOUT_MS), signal: stopping.signal });
        state.lastError = undefined;
        opts.log.info({ provider: embedder.key, model, examples: examples.length, attempt, ms: Math.round(performance.now() - started) }, "embedding centroids built");
        return state.centroids;
      } catch (err) {
        firstAttemptEnded();
        if (stopping.signal.aborted) break;
        state.lastError = err instanceof Error ? err.message : String(err);
        opts.log.warn({ provider: embedder.key, model, attempt, retryInMs: delay, error: state.lastError }, "building embedding centroids failed; the in-process strategies decide until it succeeds");
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, delay);
          stopping.signal.addEventListener("abort", () => (clearTimeout(timer), resolve()), { once: true });
        });
      }
    }
    return undefined;
  })().finally(firstAttemptEnded);
  return {
    get centroids() {
      return state.centroids;
    },
    get lastError() {
      return state.lastError;
    },
    built,
    firstAttempt,
    stop: () => stopping.abort(new Error("classifier stopping")),
  };
}

/** The embedding strategy over centroids still being built: `unavailable` until they are. */
export function lazyEmbeddingClassifier(pending: PendingCentroids, make: (centroids: Centroids) => EmbeddingClassifier): EmbeddingClassifier {
  let ready: EmbeddingClassifier | undefined;
  return {
    name: "embedding",
    version: EMBEDDING_STRATEGY_VERSION,
    classify(task, signal) {
      const centroids = pending.centroids;
      if (centroids) return (ready ??= make(centroids)).classify(task, signal);
      const why = pending.lastError === undefined ? "still being built" : `not built yet (last attempt: ${pending.lastError})`;
      return Promise.resolve({ ok: false, failure: { reason: "unavailable", message: `embedding centroids ${why}` } });
    },
  };
}

function centroidsOf<L extends string>(
  labels: readonly L[],
  labelOf: (example: LabelledExample) => L | undefined,
  examples: readonly LabelledExample[],
  vectors: readonly Float32Array[],
  dims: number,
): LabelCentroid<L>[] {
  const sums = new Map<L, { sum: Float64Array; examples: number }>();
  examples.forEach((example, i) => {
    const label = labelOf(example);
    const vector = vectors[i];
    if (label === undefined || !vector) return;
    let entry = sums.get(label);
    if (!entry) sums.set(label, (entry = { sum: new Float64Array(dims), examples: 0 }));
    for (let j = 0; j < dims; j++) entry.sum[j]! += vector[j]!;
    entry.examples += 1;
  });
  // Vocabulary order: centroids (and signals) come out the same whatever the order of the file.
  return labels.flatMap((label) => {
    const entry = sums.get(label);
    // The sum points where the mean does: normalising either gives the same unit centroid.
    return entry ? [{ label, vector: normalised(entry.sum), examples: entry.examples }] : [];
  });
}

export interface EmbeddingClassifierOptions {
  embedder: Embedder;
  /** The embedding model the centroids were built with. */
  model: string;
  centroids: Centroids;
  /** Deadline for the task's embeddings request. */
  timeoutMs: number;
}

/** The embedding strategy, as the cascade escalates to it. */
export type EmbeddingClassifier = EscalationStrategy<"embedding">;

export function createEmbeddingClassifier(o: EmbeddingClassifierOptions): EmbeddingClassifier {
  const { embedder, model, centroids, timeoutMs } = o;

  async function classify(task: Task, signal?: AbortSignal): Promise<StrategyOutcome> {
    const text = taskText(task);
    if (text.trim() === "") return { ok: false, failure: { reason: "unavailable", message: "the task has no text to embed" } };
    let vector: Float32Array | undefined;
    try {
      [vector] = await embedder.embed({ model, inputs: [text], timeoutMs, ...(signal ? { signal } : {}) });
    } catch (err) {
      // An abort is the caller giving up (shutdown), not a provider failure; anything but a
      // ProviderError is a bug. Both propagate.
      if (signal?.aborted || !(err instanceof ProviderError)) throw err;
      return { ok: false, failure: { reason: err.code === ERROR_CODES.PROVIDER_TIMEOUT ? "timeout" : "provider-error", message: err.message, code: err.code } };
    }
    if (vector?.length !== centroids.dims) {
      const message = `${embedder.key}: model ${model} returned a ${vector?.length ?? 0}-dimensional embedding, the centroids are ${centroids.dims}-dimensional`;
      return { ok: false, failure: { reason: "provider-error", message } };
    }
    const unit = normalised(vector);
    const confidences: number[] = [];
    const signals: string[] = [];
    function judge<L extends string>(dimension: CentroidDimension, candidates: readonly LabelCentroid<L>[]): L | undefined {
      if (candidates.length < 2) return undefined;
      const { best, similarity, margin } = nearest(unit, candidates);
      // An exact tie (a zero vector, or a text sharing nothing with any example) is no evidence;
      // the first label in vocabulary order would win it only by position.
      if (margin <= 0) return undefined;
      confidences.push(clamp(margin / FULL_CONFIDENCE_MARGIN, 0, 1));
      signals.push(`centroid:${dimension}=${best}(${similarity.toFixed(2)})`);
      return best;
    }
    const complexity = judge("complexity", centroids.complexity);
    const taskType = judge("taskType", centroids.taskType);
    const risk = judge("risk", centroids.risk);
    if (confidences.length === 0) {
      return { ok: false, failure: { reason: "unavailable", message: "the task is equally near every centroid" } };
    }
    const verdict: StrategyVerdict = {
      ...(complexity === undefined ? {} : { complexity }),
      ...(taskType === undefined ? {} : { taskType }),
      ...(risk === undefined ? {} : { risk }),
      confidence: confidences.reduce((a, b) => a + b, 0) / confidences.length,
      signals,
    };
    return { ok: true, verdict };
  }

  return { name: "embedding", version: EMBEDDING_STRATEGY_VERSION, classify };
}

/**
 * What the model reads of a task: its user messages (the system prompt describes the
 * deployment, not the request), bounded by `embeddingText`.
 */
export function taskText(task: Pick<Task, "messages">): string {
  return embeddingText(
    task.messages
      .filter((m) => m.role === "user")
      .map((m) => m.content)
      .join("\n\n"),
  );
}

/**
 * `text` cut to `MAX_EMBED_TEXT_CHARS`: the head and the tail, because the instruction tends to
 * open a message ("summarise this: …") and the newest turn closes the conversation.
 */
export function embeddingText(text: string): string {
  if (text.length <= MAX_EMBED_TEXT_CHARS) return text;
  const half = Math.floor((MAX_EMBED_TEXT_CHARS - 3) / 2);
  return `${text.slice(0, half)}\n…\n${text.slice(-half)}`;
}

function nearest<L extends string>(unit: Float32Array, candidates: readonly LabelCentroid<L>[]): { best: L; similarity: number; margin: number } {
  let best: LabelCentroid<L> | undefined;
  let bestSimilarity = -Infinity;
  let secondSimilarity = -Infinity;
  for (const candidate of candidates) {
    const similarity = dot(unit, candidate.vector);
    if (similarity > bestSimilarity) {
      secondSimilarity = bestSimilarity;
      bestSimilarity = similarity;
      best = candidate;
    } else if (similarity > secondSimilarity) {
      secondSimilarity = similarity;
    }
  }
  // Only called with two or more candidates, so both are set.
  if (!best) throw new Error("nearest needs at least two centroids");
  return { best: best.label, similarity: bestSimilarity, margin: bestSimilarity - secondSimilarity };
}

function dot(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += a[i]! * b[i]!;
  return sum;
}

/** A unit-length copy; a zero vector stays zero (similar to nothing) rather than becoming NaN. */
function normalised(v: ArrayLike<number>): Float32Array {
  const norm = Math.sqrt(dot(v, v));
  const out = new Float32Array(v.length);
  if (norm === 0) return out;
  for (let i = 0; i < v.length; i++) out[i] = v[i]! / norm;
  return out;
}

function clamp(x: number, lo: number, hi: number): number {
  return Math.min(hi, Math.max(lo, x));
}
