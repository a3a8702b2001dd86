/** Held-out metrics for a probability model: ranking quality (AUC) and calibration (log-loss). */

export interface Scored {
  /** Predicted probability of label 1. */
  readonly p: number;
  readonly label: 0 | 1;
}

/**
 * Area under the ROC curve: the probability that a random positive scores above a random
 * negative, ties counting half (Mann–Whitney U with average ranks). NaN when either class is absent.
 */
export function auc(scored: readonly Scored[]): number {
  const sorted = [...scored].sort((a, b) => a.p - b.p);
  let positives = 0;
  let positiveRankSum = 0;
  for (let start = 0; start < sorted.length; ) {
    let end = start;
    while (end < sorted.length && sorted[end]?.p === sorted[start]?.p) end++;
    const averageRank = (start + 1 + end) / 2; // ranks start..end-1, 1-based
    for (let i = start; i < end; i++) {
      if (sorted[i]?.label === 1) {
        positives++;
        positiveRankSum += averageRank;
      }
    }
    start = end;
  }
  const negatives = sorted.length - positives;
  if (positives === 0 || negatives === 0) return Number.NaN;
  return (positiveRankSum - (positives * (positives + 1)) / 2) / (positives * negatives);
}

/** Probabilities are clipped to [EPSILON, 1 - EPSILON]: one confident mistake costs ~34.5, not ∞. */
const EPSILON = 1e-15;

/** Mean negative log-likelihood in nats; NaN for an empty set. */
export function logLoss(scored: readonly Scored[]): number {
  if (scored.length === 0) return Number.NaN;
  let sum = 0;
  for (const { p, label } of scored) {
    const clipped = Math.min(1 - EPSILON, Math.max(EPSILON, p));
    sum -= label === 1 ? Math.log(clipped) : Math.log(1 - clipped);
  }
  return sum / scored.length;
}

/** One bin of a reliability table: its rows, their mean predicted probability and the observed rate. */
export interface ReliabilityBin {
  readonly rows: number;
  readonly meanP: number;
  readonly observed: number;
}

/**
 * A reliability table: the rows sorted by predicted probability and dealt into `bins` bins of
 * (nearly) equal size, rows with the same probability kept in one bin. Equal counts, not equal
 * widths: pFail sits mostly in a narrow band, where fixed-width bins would leave most of the
 * range empty and one bin holding most rows. Fewer bins when there are fewer distinct values.
 */
export function reliability(scored: readonly Scored[], bins = 10): ReliabilityBin[] {
  if (!Number.isInteger(bins) || bins < 1) throw new RangeError(`bins must be a positive integer, got ${bins}`);
  const sorted = [...scored].sort((a, b) => a.p - b.p);
  const table: ReliabilityBin[] = [];
  let start = 0;
  for (let b = 1; b <= bins && start < sorted.length; b++) {
    let end = Math.max(start + 1, Math.round((b * sorted.length) / bins));
    // Ties stay together: a bin ends only where the probability changes (or at the end).
    while (end < sorted.length && sorted[end]?.p === sorted[end - 1]?.p) end++;
    if (b === bins) end = sorted.length;
    let pSum = 0;
    let positives = 0;
    for (let i = start; i < end; i++) {
      pSum += sorted[i]?.p ?? 0;
      positives += sorted[i]?.label ?? 0;
    }
    table.push({ rows: end - start, meanP: pSum / (end - start), observed: positives / (end - start) });
    start = end;
  }
  return table;
}

/** Expected calibration error: the row-weighted mean of |mean predicted − observed| over the bins; NaN when empty. */
export function expectedCalibrationError(table: readonly ReliabilityBin[]): number {
  const rows = table.reduce((n, b) => n + b.rows, 0);
  if (rows === 0) return Number.NaN;
  return table.reduce((sum, b) => sum + b.rows * Math.abs(b.meanP - b.observed), 0) / rows;
}
