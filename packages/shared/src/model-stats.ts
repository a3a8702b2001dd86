/**
 * Outcome statistics per (task type, complexity, model): what the router has learned about how
 * well each model does each kind of task. One aggregation, used by the ledger for real outcomes
 * and feedback and by the routing evaluation for its training rows, so the evaluation measures
 * the code that runs in production.
 *
 * Two kinds of sample feed a bucket:
 * - a quality sample (`score` in [0, 1]): user feedback, or a pipeline failure (score 0);
 * - a success-only sample (no score): a task the pipeline completed, which says the call worked,
 *   not that the answer was good.
 * The selector's expected quality uses only quality samples, shrunk towards the registry's prior
 * (see {@link expectedQuality}), and so does its exploration, which samples the Beta posterior
 * behind that mean; success rate, latency and cost use every sample.
 *
 * A snapshot is plain JSON (it travels through NATS KV to every selector replica) and its `id`
 * is a content hash, so a decision can name the exact statistics it saw.
 */
import { createHash } from "node:crypto";
import { z } from "zod";
import type { Complexity, TaskType } from "./contracts.js";

export interface OutcomeSample {
  taskType: TaskType;
  complexity: Complexity;
  /** `provider:model` spec (or the benchmark's model name in the evaluation). */
  model: string;
  /** Quality in [0, 1]; absent for a success-only sample. */
  score?: number;
  success: boolean;
  costUsd?: number;
  latencyMs?: number;
}

/** Running sums of one (task type, complexity, model) bucket. */
export interface BucketStats {
  /** Every sample. */
  n: number;
  successes: number;
  /** Samples with a score, and the sum of their scores. */
  scored: number;
  scoreSum: number;
  /** Samples with a cost, and its sum in USD. */
  costed: number;
  costSum: number;
  /** Samples with a latency, and latency counts per bucket of {@link LATENCY_BOUNDS_MS} (last: above). */
  latencyCounts: number[];
}

/** Upper bounds of the latency histogram kept per bucket, ms. */
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
      b = { n: 0, successes: 0, scored: 0, scoreSum: 0, costed: 0, costSum: 0, latencyCounts: new Array<number>(LATENCY_BOUNDS_MS.length + 1).fill(0) };
      this.buckets.set(key, b);
    }
    b.n++;
    if (sample.success) b.successes++;
    if (sample.score !== undefined) {
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
  /** Posterior mean quality: `alpha / (alpha + beta)`. */
  quality: number;
  /** Quality samples behind it (0: the prior alone). */
  samples: number;
  /**
   * The Beta posterior the mean belongs to, for Thompson sampling: `alpha = priorSamples·prior +
   * Σ scores`, `beta = priorSamples·(1 − prior) + Σ (1 − scores)`. A score in [0, 1] counts as a
   * fractional success, so the running `scored` and `scoreSum` of a bucket are all it needs.
   */
  alpha: number;
  beta: number;
}

/**
 * Expected quality of `model` on tasks of this type and complexity: the mean feedback score,
 * shrunk towards `prior` (the registry's quality) as if the prior were `priorSamples` samples —
 * `(priorSamples·prior + scoreSum) / (priorSamples + scored)`. With no feedback it is the prior;
 * with many samples, the data.
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
  const alpha = priorSamples * prior + scoreSum;
  // Clamped: a float sum of scores ≤ 1 may round a hair above their count.
  const beta = Math.max(0, priorSamples * (1 - prior) + scored - scoreSum);
  // Without feedback the mean is the prior itself, not a product that may round differently.
  if (scored === 0) return { quality: prior, samples: 0, alpha, beta };
  return { quality: (priorSamples * prior + scoreSum) / (priorSamples + scored), samples: scored, alpha, beta };
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
      scored: z.number().int().nonnegative(),
      scoreSum: z.number().nonnegative(),
      costed: z.number().int().nonnegative(),
      costSum: z.number().nonnegative(),
      latencyCounts: z.array(z.number().int().nonnegative()),
    }),
  ),
});
