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
