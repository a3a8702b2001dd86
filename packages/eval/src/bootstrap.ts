/**
 * How much a figure measured on a test set moves with the test set: the percentile bootstrap
 * (Efron & Tibshirani, "An Introduction to the Bootstrap", 1993, ch. 13). The test rows are drawn
 * again with replacement, as many as there are, the statistic is recomputed on each draw, and the
 * interval is the middle `level` of those values. It measures the test sample's noise only: the
 * router (trained once) stays fixed.
 */

/** A bootstrap percentile interval. */
export interface BootstrapInterval {
  /** The `(1 − level) / 2` and `(1 + level) / 2` quantiles of the statistic over the draws where it is defined. */
  low: number;
  high: number;
  /** Draws where the statistic was undefined (e.g. the quality target never reached). */
  undefinedDraws: number;
}

export interface BootstrapOptions {
  /** Rows in the test set; every draw picks this many indices in [0, rows). */
  rows: number;
  /** Number of draws, at least 1. */
  samples: number;
  /** Central share the interval covers, in (0, 1). Default 0.95. */
  level?: number;
  /** Source of [0, 1) floats; seeded, so the interval is reproducible. */
  random: () => number;
}

/** Quantile `q` of ascending `sorted`, interpolating between neighbours (type 7, as R's and numpy's default). */
export function quantileSorted(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  const at = q * (sorted.length - 1);
  const below = Math.floor(at);
  const above = Math.min(below + 1, sorted.length - 1);
  const lo = sorted[below] ?? Number.NaN;
  return lo + (at - below) * ((sorted[above] ?? lo) - lo);
}

/**
 * The percentile bootstrap interval of each figure `figures` computes from a draw's row indices
 * (with repeats); a figure is null where it is undefined on that draw. All figures come from the
 * same draws. A figure no draw defines gets a null interval.
 */
export function bootstrapIntervals<K extends string>(
  figures: (indices: Uint32Array) => Record<K, number | null>,
  options: BootstrapOptions,
): Record<K, BootstrapInterval | null> {
  const { rows, samples, random } = options;
  const level = options.level ?? 0.95;
  if (!Number.isInteger(rows) || rows < 1) throw new RangeError(`rows must be a positive integer, got ${rows}`);
  if (!Number.isInteger(samples) || samples < 1) throw new RangeError(`samples must be a positive integer, got ${samples}`);
  if (!(level > 0 && level < 1)) throw new RangeError(`level must be in (0, 1), got ${level}`);
  const values = new Map<K, number[]>();
  const indices = new Uint32Array(rows);
  for (let s = 0; s < samples; s++) {
    for (let i = 0; i < rows; i++) indices[i] = Math.floor(random() * rows);
    for (const [name, v] of Object.entries(figures(indices)) as [K, number | null][]) {
      const list = values.get(name) ?? [];
      values.set(name, list);
      if (v !== null && Number.isFinite(v)) list.push(v);
    }
  }
  const out = {} as Record<K, BootstrapInterval | null>;
  for (const [name, list] of values) {
    list.sort((a, b) => a - b);
    out[name] = list.length === 0 ? null : { low: quantileSorted(list, (1 - level) / 2), high: quantileSorted(list, (1 + level) / 2), undefinedDraws: samples - list.length };
  }
  return out;
}
