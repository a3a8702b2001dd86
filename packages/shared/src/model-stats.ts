/**
 * Outcome statistics per (task type, complexity, model): what the router has learned about how
 * well each model does each kind of task. One aggregation, used by the ledger for real outcomes
 * and feedback and by the routing evaluation for its training rows, so the evaluation measures
 * the code that runs in production.
 *
 * Two kinds of sample feed a bucket:
 * - a call sample: a model call the pipeline made — whether it answered, and when it failed,
 *   whether the failure counts against the model (not when the task's deadline ran out, the
 *   request was bad, the provider's key is missing or the executor shut down: see
 *   `NOT_THE_MODELS_FAULT`). It says the call worked, not that the answer was good;
 * - a feedback sample (`score` in [0, 1]): a user's verdict on an answer (or, in the routing
 *   evaluation, the benchmark's score).
 * The selector's expected quality is the mean score, shrunk towards the registry's prior, times
 * the model's reliability, its share of calls that did not fail by its own fault, shrunk towards
 * 1 (see {@link expectedQuality}). Its exploration samples the Beta posterior of the score and
 * multiplies by the same reliability. Cost and latency use every sample that has them.
 *
 * A snapshot is plain JSON (it travels through NATS KV to every selector replica) and its `id`
 * is a content hash, so a decision can name the exact statistics it saw.
 */
import { createHash } from "node:crypto";
import { z } from "zod";
import type { Complexity, TaskType } from "./contracts.js";

interface SampleCommon {
  taskType: TaskType;
  complexity: Complexity;
  /** `provider:model` spec (or the benchmark's model name in the evaluation). */
  model: string;
  costUsd?: number;
  latencyMs?: number;
}

export type OutcomeSample =
  /** A model call: `ok` when it answered; a failure counts against the model when `modelsFault`. */
  | (SampleCommon & { kind: "call"; ok: boolean; modelsFault?: boolean })
  /** A verdict on an answer: quality in [0, 1]. */
  | (SampleCommon & { kind: "feedback"; score: number });

/** Running sums of one (task type, complexity, model) bucket. */
export interface BucketStats {
  /** Call samples, those that answered, and those that failed by the model's fault. */
  n: number;
  successes: number;
  failures: number;
  /** Feedback samples, and the sum of their scores. */
  scored: number;
  scoreSum: number;
  /** Samples with a cost, and its sum in USD. */
  costed: number;
  costSum: number;
  /** Samples with a latency, and latency counts per bucket of {@link LATENCY_BOUNDS_MS} (last: above). */
  latencyCounts: number[];
}

/** Upper bounds of the latency histogram kept per bucket, ms. */
/** Adds `from`'s counts and sums to `into`, in place: every field of a bucket is additive. */
export function addBucket(into: BucketStats, from: BucketStats): void {
  into.n += from.n;
  into.successes += from.successes;
  into.failures += from.failures;
  into.scored += from.scored;
  into.scoreSum += from.scoreSum;
  into.costed += from.costed;
  into.costSum += from.costSum;
  from.latencyCounts.forEach((c, i) => (into.latencyCounts[i] = (into.latencyCounts[i] ?? 0) + c));
}

export const LATENCY_BOUNDS_MS = [100, 250, 500, 1000, 2500, 5000, 10_000, 30_000, 60_000, 120_000] as const;

export interface StatsSnapshot {
  /** Content hash of `buckets` (first 12 hex digits of sha256); "empty" when there are none. */
  id: string;
  /** Keyed by {@link bucketKey}. */
  buckets: Record<string, BucketStats>;
}

export const EMPTY_STATS: StatsSnapshot = { id: "empty", buckets: {} };

/** Key of the current snapshot in the router's KV bucket (next to the budget state). */
export const STATS_KV_KEY = "stats";

export function bucketKey(taskType: string, complexity: string, model: string): string {
  return `${taskType}|${complexity}|${model}`;
}

/** Mutable accumulator; `snapshot()` freezes the current sums into a {@link StatsSnapshot}. */
export class ModelStats {
  private readonly buckets = new Map<string, BucketStats>();

  constructor(from: StatsSnapshot = EMPTY_STATS) {
    for (const [key, b] of Object.entries(from.buckets)) this.buckets.set(key, { ...b, latencyCounts: [...b.latencyCounts] });
  }

  get size(): number {
    return this.buckets.size;
  }

  observe(sample: OutcomeSample): void {
    const key = bucketKey(sample.taskType, sample.complexity, sample.model);
    let b = this.buckets.get(key);
    if (!b) {
      b = { n: 0, successes: 0, failures: 0, scored: 0, scoreSum: 0, costed: 0, costSum: 0, latencyCounts: new Array<number>(LATENCY_BOUNDS_MS.length + 1).fill(0) };
      this.buckets.set(key, b);
    }
    if (sample.kind === "call") {
      b.n++;
      if (sample.ok) b.successes++;
      else if (sample.modelsFault) b.failures++;
    } else {
      if (!(sample.score >= 0 && sample.score <= 1)) throw new RangeError(`score must be in [0, 1], got ${sample.score}`);
      b.scored++;
      b.scoreSum += sample.score;
    }
    if (sample.costUsd !== undefined && Number.isFinite(sample.costUsd)) {
      b.costed++;
      b.costSum += sample.costUsd;
    }
    if (sample.latencyMs !== undefined && Number.isFinite(sample.latencyMs)) {
      const i = LATENCY_BOUNDS_MS.findIndex((bound) => sample.latencyMs! <= bound);
      b.latencyCounts[i === -1 ? LATENCY_BOUNDS_MS.length : i]!++;
    }
  }

  /** Adds another snapshot's counts and sums, bucket by bucket: every field is additive. */
  absorb(other: StatsSnapshot): void {
    for (const [key, o] of Object.entries(other.buckets)) {
      const b = this.buckets.get(key);
      if (b) addBucket(b, o);
      else this.buckets.set(key, { ...o, latencyCounts: [...o.latencyCounts] });
    }
  }

  snapshot(): StatsSnapshot {
    if (this.buckets.size === 0) return EMPTY_STATS;
    const keys = [...this.buckets.keys()].sort();
    const buckets: Record<string, BucketStats> = {};
    for (const key of keys) {
      const b = this.buckets.get(key)!;
      buckets[key] = { ...b, latencyCounts: [...b.latencyCounts] };
    }
    const id = createHash("sha256").update(JSON.stringify(buckets)).digest("hex").slice(0, 12);
    return { id, buckets };
  }
}

export interface QualityEstimate {
  /** Expected quality: the posterior mean score `alpha / (alpha + beta)` times `reliability`. */
  quality: number;
  /** Feedback scores behind it (0: the prior alone). */
  samples: number;
  /**
   * The Beta posterior of the score, for Thompson sampling: `alpha = priorSamples·prior +
   * Σ scores`, `beta = priorSamples·(1 − prior) + Σ (1 − scores)`. A score in [0, 1] counts as a
   * fractional success, so the running `scored` and `scoreSum` of a bucket are all it needs.
   */
  alpha: number;
  beta: number;
  /**
   * The share of the model's calls that answered among those it answered or failed by its own
   * fault, shrunk towards 1 as if there were `priorSamples` answered calls before:
   * `(priorSamples + successes) / (priorSamples + successes + failures)`.
   * A failed call yields no answer at all, so the expected quality of routing to the model is
   * the score's mean times this.
   */
  reliability: number;
}

/**
 * Expected quality of `model` on tasks of this type and complexity: the mean feedback score,
 * shrunk towards `prior` (the registry's quality) as if the prior were `priorSamples` samples —
 * `(priorSamples·prior + scoreSum) / (priorSamples + scored)` — times the model's reliability on
 * them. With no samples it is the prior; with many, the data.
 */
export function expectedQuality(
  stats: StatsSnapshot,
  key: { taskType: string; complexity: string; model: string },
  prior: number,
  priorSamples: number,
): QualityEstimate {
  const b = stats.buckets[bucketKey(key.taskType, key.complexity, key.model)];
  const scored = b?.scored ?? 0;
  const scoreSum = b?.scoreSum ?? 0;
  // Calls that say something about the model: those it answered and those it failed; a failure
  // that was not its fault (a deadline, a bad request) counts neither way.
  const successes = b?.successes ?? 0;
  const failures = b?.failures ?? 0;
  const alpha = priorSamples * prior + scoreSum;
  // Clamped: a float sum of scores ≤ 1 may round a hair above their count.
  const beta = Math.max(0, priorSamples * (1 - prior) + scored - scoreSum);
  const reliability = failures === 0 ? 1 : (priorSamples + successes) / (priorSamples + successes + failures);
  // Without feedback the mean is the prior itself, not a product that may round differently.
  const mean = scored === 0 ? prior : (priorSamples * prior + scoreSum) / (priorSamples + scored);
  return { quality: mean * reliability, samples: scored, alpha, beta, reliability };
}

/** Approximate latency percentile of a bucket from its histogram: the upper bound of the bin holding it (Infinity above the last). */
export function latencyPercentileMs(b: BucketStats, q: number): number | null {
  const total = b.latencyCounts.reduce((s, c) => s + c, 0);
  if (total === 0) return null;
  let seen = 0;
  for (let i = 0; i < b.latencyCounts.length; i++) {
    seen += b.latencyCounts[i]!;
    if (seen >= q * total) return LATENCY_BOUNDS_MS[i] ?? Number.POSITIVE_INFINITY;
  }
  return Number.POSITIVE_INFINITY;
}

/** The wire form of a snapshot (NATS KV), validated where it is read. */
export const StatsSnapshotSchema = z.object({
  id: z.string().min(1),
  buckets: z.record(
    z.string(),
    z.object({
      n: z.number().int().nonnegative(),
      successes: z.number().int().nonnegative(),
      /** Absent from snapshots kept before failures were told apart from scores. */
      failures: z.number().int().nonnegative().default(0),
      scored: z.number().int().nonnegative(),
      scoreSum: z.number().nonnegative(),
      costed: z.number().int().nonnegative(),
      costSum: z.number().nonnegative(),
      latencyCounts: z.array(z.number().int().nonnegative()),
    }),
  ),
});
