/**
 * Routing metrics for a strong/weak model pair (RouteLLM's method): sweep the router's threshold,
 * record the strong-call share and mean quality at each setting, and score the resulting curve.
 *
 * Inputs are camelCase TypeScript data; outputs (curve points, baselines, the report) use
 * snake_case keys because they are printed as JSON by the evaluation CLI as they are.
 *
 * Between two sweep points every metric interpolates linearly: a router can reach any share
 * between two adjacent thresholds by sending each prompt in the tied band to the strong model with
 * a fixed probability, and its expected quality and cost are then linear in the share. The random
 * baseline is the same argument applied to the two endpoints.
 *
 * A curve whose settings stop short of share 0 or share 1 is completed with the always-weak and
 * always-strong points — mixing a setting with either is the same kind of mix — and every figure
 * (APGR, CPT, the 95% point) reads the same completed curve: a figure that assumed the end for one
 * and not for another would contradict it (CPT at the 95% point's PGR would differ from it).
 */
import { EVAL_ERROR_CODES, EvalError } from "./eval-errors.js";
import type { RoutingEvalRow } from "./routing-eval-file.js";

/**
 * How close to a target counts as reaching it. Mean scores over thousands of rows carry float
 * error near 1e-15; without this slack the 100% PGR endpoint could be "unreachable".
 */
export const REACH_TOLERANCE = 1e-9;

/** The fraction of always-strong quality the headline metrics are taken at. */
export const QUALITY_TARGET_FRACTION = 0.95;

/** Both models' outcomes on one prompt. Scores are in [0, 1], costs in USD. */
export interface PairOutcome {
  strongScore: number;
  weakScore: number;
  strongCost: number;
  weakCost: number;
}

/** A prompt's outcomes plus the router's score `s`: higher means more likely to need the strong model (e.g. pFail). */
export interface PairRow extends PairOutcome {
  s: number;
}

/** One way of splitting calls between the two models, with its mean outcome per prompt. */
export interface OperatingPoint {
  /** Fraction of prompts sent to the strong model, in [0, 1]. */
  strong_share: number;
  /** Mean score per prompt. */
  quality: number;
  /** Mean cost per prompt, USD. */
  cost: number;
  /** Performance gap recovered at this point; see {@link pgr}. NaN when the two models tie. */
  pgr: number;
}

/** A point of a threshold sweep. */
export interface CurvePoint extends OperatingPoint {
  /**
   * Prompts with `s >= threshold` go to the strong model. `null` for the all-weak endpoint,
   * which no finite threshold expresses (and JSON cannot carry Infinity).
   */
  threshold: number | null;
}

/** A model and its mean `cost_usd` per prompt on some rows. */
export interface PricedModel {
  readonly model: string;
  readonly meanCostUsd: number;
}

/**
 * Refuses a pair whose strong model costs no more than the weak one on `rows` (words such as "the
 * test rows"): the router escalates from the cheap model to the dear one, so a swapped pair turns
 * every figure upside down (negative savings, no 95% point) and trains a pFail model backwards.
 * @throws EvalError `EVAL_INPUT_INVALID` saying to swap --strong and --weak, or, when the two cost
 *   the same, that a router between them has nothing to save.
 */
export function requireStrongDearer(strong: PricedModel, weak: PricedModel, rows: string): void {
  if (strong.meanCostUsd > weak.meanCostUsd) return;
  if (strong.meanCostUsd === weak.meanCostUsd) {
    // Swapping them would not help: two local models at $0, say.
    throw new EvalError(
      EVAL_ERROR_CODES.EVAL_INPUT_INVALID,
      `${strong.model} and ${weak.model} cost the same on ${rows} ($${strong.meanCostUsd.toPrecision(3)} a prompt): routing between them saves nothing; choose models of different prices`,
    );
  }
  throw new EvalError(
    EVAL_ERROR_CODES.EVAL_INPUT_INVALID,
    `the strong model must cost more than the weak one on ${rows}: ${strong.model} $${strong.meanCostUsd.toPrecision(3)} a prompt, ${weak.model} $${weak.meanCostUsd.toPrecision(3)}; swap --strong and --weak`,
  );
}

/**
 * Picks one strong/weak pair out of routing-eval rows.
 * @throws EvalError `EVAL_MODEL_MISSING` naming the first row that lacks either model.
 */
export function toPairOutcomes(rows: readonly RoutingEvalRow[], models: { strong: string; weak: string }): PairOutcome[] {
  return rows.map((row) => {
    // hasOwn: a model named "constructor" must not find Object.prototype's.
    const strong = Object.hasOwn(row.outcomes, models.strong) ? row.outcomes[models.strong] : undefined;
    const weak = Object.hasOwn(row.outcomes, models.weak) ? row.outcomes[models.weak] : undefined;
    if (!strong || !weak) {
      const missing = strong ? models.weak : models.strong;
      throw new EvalError(EVAL_ERROR_CODES.EVAL_MODEL_MISSING, `row "${row.id}" has no outcome for model "${missing}"`);
    }
    return { strongScore: strong.score, weakScore: weak.score, strongCost: strong.cost_usd, weakCost: weak.cost_usd };
  });
}

/**
 * Performance gap recovered: (quality − weak) / (strong − weak). 0 at always-weak quality, 1 at
 * always-strong; above 1 when routing beats the strong model alone. NaN when `strong === weak`:
 * with no gap there is nothing to recover.
 */
export function pgr(quality: number, weak: number, strong: number): number {
  const gap = strong - weak;
  return gap === 0 ? Number.NaN : (quality - weak) / gap;
}

/**
 * Every setting of a threshold router: for each distinct router score t (strong when s ≥ t), the
 * strong-call share, mean quality and mean cost, plus the all-weak endpoint (threshold `null`).
 * Rows with equal `s` always move together, so a band of ties adds one point, not one per row.
 *
 * @returns points in ascending `strong_share`, from exactly 0 to exactly 1.
 * @throws EvalError `EVAL_INPUT_INVALID` for no rows or a non-finite number.
 */
export function sweepThresholds(rows: readonly PairRow[]): CurvePoint[] {
  checkRows(rows, true);
  const n = rows.length;
  const sorted = [...rows].sort((a, b) => b.s - a.s);
  // Totals in the same order as the prefix sums, so both endpoints come out exactly equal to the
  // always-weak and always-strong means and their PGR is exactly 0 and 1.
  let sumWeakScore = 0;
  let sumWeakCost = 0;
  let sumStrongScore = 0;
  for (const r of sorted) {
    sumWeakScore += r.weakScore;
    sumWeakCost += r.weakCost;
    sumStrongScore += r.strongScore;
  }
  const weakQ = sumWeakScore / n;
  const strongQ = sumStrongScore / n;

  let preStrongScore = 0;
  let preStrongCost = 0;
  let preWeakScore = 0;
  let preWeakCost = 0;
  const point = (k: number, threshold: number | null): CurvePoint => {
    const quality = (preStrongScore + (sumWeakScore - preWeakScore)) / n;
    return {
      threshold,
      strong_share: k / n,
      quality,
      cost: (preStrongCost + (sumWeakCost - preWeakCost)) / n,
      pgr: pgr(quality, weakQ, strongQ),
    };
  };

  const curve: CurvePoint[] = [point(0, null)];
  let k = 0;
  while (k < n) {
    const t = (sorted[k] as PairRow).s;
    for (; k < n && (sorted[k] as PairRow).s === t; k++) {
      const r = sorted[k] as PairRow;
      preStrongScore += r.strongScore;
      preStrongCost += r.strongCost;
      preWeakScore += r.weakScore;
      preWeakCost += r.weakCost;
    }
    curve.push(point(k, t));
  }
  return curve;
}

/**
 * APGR: the area under PGR against strong-call share over [0, 1], by the trapezoid rule. A curve
 * that does not span [0, 1] is completed with the always-weak point (0, PGR 0) and the
 * always-strong point (1, PGR 1). A random router scores 0.5; a perfect one 1 − f/2 when a
 * fraction f of prompts needs the strong model (more if the weak model sometimes beats the strong
 * one). NaN when PGR is undefined (both models have the same mean quality).
 */
export function apgr(curve: readonly OperatingPoint[]): number {
  const pts = pgrPoints(curve);
  if (!pts) return Number.NaN;
  let area = 0;
  for (let i = 1; i < pts.length; i++) {
    const a = pts[i - 1] as PgrPoint;
    const b = pts[i] as PgrPoint;
    area += ((a.pgr + b.pgr) / 2) * (b.share - a.share);
  }
  return area;
}

/**
 * CPT(x%): the smallest strong-call share whose PGR reaches `xPercent`/100. Between the last point
 * below the target and the first at or above it, the share is interpolated linearly (a router
 * mixes the two thresholds); the curve is completed with (0, 0) and (1, 1) as in {@link apgr}.
 * @returns the share in [0, 1], or `null` if no point reaches the target (only possible above 100%)
 *   or PGR is undefined (both models have the same mean quality).
 */
export function cpt(curve: readonly OperatingPoint[], xPercent: number): number | null {
  const pts = pgrPoints(curve);
  if (!pts) return null;
  const hit = firstReaching(pts, (p) => p.pgr, xPercent / 100);
  if (!hit) return null;
  const { before, after, f } = hit;
  return before ? lerp(before.share, after.share, f) : after.share;
}

/** The always-weak and always-strong points a curve is completed with where its settings stop short of share 0 or 1. */
export interface CurveEnds {
  always_weak: OperatingPoint;
  always_strong: OperatingPoint;
}

/**
 * The operating point with the smallest strong-call share whose mean quality reaches `target`
 * (an absolute mean score, not a fraction), interpolating every field linearly between the last
 * sweep point below the target and the first at or above it. A curve that stops short of share 0
 * or 1 is completed with `ends`, as {@link apgr} and {@link cpt} complete it.
 * @returns `null` when no point of the curve reaches the target.
 * @throws EvalError `EVAL_INPUT_INVALID` when the curve stops short of share 0 or 1 and no `ends` are given.
 */
export function operatingPointAtQuality(curve: readonly OperatingPoint[], target: number, ends?: CurveEnds): OperatingPoint | null {
  const pts = completed(curve, ends);
  const hit = firstReaching(pts, (p) => p.quality, target);
  if (!hit) return null;
  const { before, after, f } = hit;
  if (!before) return { strong_share: after.strong_share, quality: after.quality, cost: after.cost, pgr: after.pgr };
  return {
    strong_share: lerp(before.strong_share, after.strong_share, f),
    quality: lerp(before.quality, after.quality, f),
    cost: lerp(before.cost, after.cost, f),
    pgr: lerp(before.pgr, after.pgr, f),
  };
}

/** The smallest strong-call share reaching mean quality `target`; see {@link operatingPointAtQuality}. */
export function strongShareAtQuality(curve: readonly OperatingPoint[], target: number, ends?: CurveEnds): number | null {
  return operatingPointAtQuality(curve, target, ends)?.strong_share ?? null;
}

/**
 * Cost saved, as a fraction of the always-strong cost, at the smallest strong-call share reaching
 * 95% of always-strong quality. The always-strong point is the curve's point at share 1.
 * @returns `null` when 95% is never reached or always-strong costs nothing.
 * @throws EvalError `EVAL_INPUT_INVALID` when the curve has no point at share 0 or at share 1.
 */
export function savingsAt95(curve: readonly OperatingPoint[]): number | null {
  const strong = curve.find((p) => p.strong_share === 1);
  if (!strong) throw new EvalError(EVAL_ERROR_CODES.EVAL_INPUT_INVALID, "the curve has no always-strong point (strong_share 1)");
  const at = operatingPointAtQuality(curve, QUALITY_TARGET_FRACTION * strong.quality);
  if (!at || strong.cost <= 0) return null;
  return 1 - at.cost / strong.cost;
}

/** Every prompt to the strong model: PGR 1, or NaN when both models have the same mean quality. */
export function alwaysStrong(rows: readonly PairOutcome[]): OperatingPoint {
  checkRows(rows, false);
  const quality = mean(rows, (r) => r.strongScore);
  return { strong_share: 1, quality, cost: mean(rows, (r) => r.strongCost), pgr: pgr(quality, mean(rows, (r) => r.weakScore), quality) };
}

/** Every prompt to the weak model: PGR 0, or NaN when both models have the same mean quality. */
export function alwaysWeak(rows: readonly PairOutcome[]): OperatingPoint {
  checkRows(rows, false);
  const quality = mean(rows, (r) => r.weakScore);
  return { strong_share: 0, quality, cost: mean(rows, (r) => r.weakCost), pgr: pgr(quality, quality, mean(rows, (r) => r.strongScore)) };
}

/**
 * The oracle: the strong model exactly when it scores higher than the weak one — for 1/0 scores,
 * when the weak model fails and the strong one succeeds. On a tie the weak (cheaper) model answers.
 */
export function oracle(rows: readonly PairOutcome[]): OperatingPoint {
  checkRows(rows, false);
  const toStrong = (r: PairOutcome): boolean => r.strongScore > r.weakScore;
  const quality = mean(rows, (r) => (toStrong(r) ? r.strongScore : r.weakScore));
  return {
    strong_share: rows.filter(toStrong).length / rows.length,
    quality,
    cost: mean(rows, (r) => (toStrong(r) ? r.strongCost : r.weakCost)),
    pgr: pgr(quality, mean(rows, (r) => r.weakScore), mean(rows, (r) => r.strongScore)),
  };
}

/**
 * The random router's curve in expectation: sending each prompt to the strong model with
 * probability p gives quality and cost linear in p, i.e. the straight line between the
 * always-weak and always-strong points, which is all this returns.
 */
export function randomCurve(rows: readonly PairOutcome[]): OperatingPoint[] {
  return [alwaysWeak(rows), alwaysStrong(rows)];
}

/**
 * The summary scores of a curve. `null` where a target is never reached; when the two models have
 * equal mean quality PGR is undefined, `apgr` is NaN (JSON prints it as null) and the CPTs null.
 */
export interface CurveScores {
  apgr: number;
  cpt50: number | null;
  cpt80: number | null;
  strong_share_at_95: number | null;
  savings_at_95: number | null;
}

export interface PairBaselines extends CurveEnds {
  oracle: OperatingPoint;
  /** The random router's scores, from {@link randomCurve}: APGR 0.5, CPT(x%) = x/100 (NaN and null when PGR is undefined). */
  random: CurveScores;
}

/** The reference routers every learned router is compared with. */
export function pairBaselines(rows: readonly PairOutcome[]): PairBaselines {
  const strong = alwaysStrong(rows);
  return {
    always_strong: strong,
    always_weak: alwaysWeak(rows),
    oracle: oracle(rows),
    random: curveScores(randomCurve(rows), strong.quality),
  };
}

/** The evaluation of one router on one strong/weak pair, as the CLI prints it. */
export interface PairReport extends CurveScores {
  curve: CurvePoint[];
  baselines: PairBaselines;
}

/**
 * Sweeps the router's scores and scores the curve: APGR, CPT(50%), CPT(80%), and the strong-call
 * share and cost saved at 95% of always-strong quality, next to the baselines.
 * @throws EvalError `EVAL_INPUT_INVALID` for no rows or a non-finite number.
 */
export function pairReport(rows: readonly PairRow[]): PairReport {
  const curve = sweepThresholds(rows);
  const baselines = pairBaselines(rows);
  return { ...curveScores(curve, baselines.always_strong.quality), curve, baselines };
}

/** A router's measured choice at one knob setting: how many prompts went to the strong model, and the outcome. */
export interface KnobPoint {
  /** The knob value (e.g. the pFail threshold). */
  knob: number;
  strong_share: number;
  quality: number;
  cost: number;
}

/**
 * Scores a router measured at a set of knob settings (rather than from one score per prompt):
 * the curve is every setting in ascending strong-call share, one per share, and savings are
 * against the always-strong baseline's cost. A setting that scores below one with a smaller share
 * stays on the curve: dropping it would pick the router's settings by their outcomes on the test
 * rows, which flatters the figures (RouteLLM scores every threshold too). Where the settings stop
 * short of share 0 or 1 (a knob range that stops before its extremes), every figure completes the
 * curve with the always-weak and always-strong points alike; the reported `curve` is the settings
 * alone.
 * @throws EvalError `EVAL_INPUT_INVALID` for no rows or no points.
 */
export function pairReportFromPoints(points: readonly KnobPoint[], rows: readonly PairOutcome[]): PairReport {
  if (points.length === 0) throw new EvalError(EVAL_ERROR_CODES.EVAL_INPUT_INVALID, "no knob settings to evaluate");
  const baselines = pairBaselines(rows);
  const weakQ = baselines.always_weak.quality;
  const strongQ = baselines.always_strong.quality;
  // Settings with the same share send the same prompts up (the threshold sweep is nested); on a
  // tie the better-scoring one is kept, so the order of the settings does not matter.
  const sorted = [...points].sort((a, b) => a.strong_share - b.strong_share || b.quality - a.quality);
  const curve: CurvePoint[] = [];
  for (const p of sorted) {
    const last = curve[curve.length - 1];
    if (last && p.strong_share === last.strong_share) continue;
    curve.push({ threshold: p.knob, strong_share: p.strong_share, quality: p.quality, cost: p.cost, pgr: pgr(p.quality, weakQ, strongQ) });
  }
  const at = operatingPointAtQuality(curve, QUALITY_TARGET_FRACTION * strongQ, baselines);
  const strongCost = baselines.always_strong.cost;
  return {
    apgr: apgr(curve),
    cpt50: cpt(curve, 50),
    cpt80: cpt(curve, 80),
    strong_share_at_95: at?.strong_share ?? null,
    savings_at_95: at && strongCost > 0 ? 1 - at.cost / strongCost : null,
    curve,
    baselines,
  };
}

function curveScores(curve: readonly OperatingPoint[], strongQuality: number): CurveScores {
  return {
    apgr: apgr(curve),
    cpt50: cpt(curve, 50),
    cpt80: cpt(curve, 80),
    strong_share_at_95: strongShareAtQuality(curve, QUALITY_TARGET_FRACTION * strongQuality),
    savings_at_95: savingsAt95(curve),
  };
}

interface PgrPoint {
  share: number;
  pgr: number;
}

/**
 * The curve as (share, PGR), ascending, completed with the always-weak (0, 0) and always-strong
 * (1, 1) points where it stops short; `null` when PGR is undefined. A NaN PGR must not be completed
 * with a 1: CPT would then read 100% off the invented end.
 */
function pgrPoints(curve: readonly OperatingPoint[]): PgrPoint[] | null {
  if (curve.some((p) => Number.isNaN(p.pgr))) return null;
  const pts = curve.map((p) => ({ share: p.strong_share, pgr: p.pgr })).sort((a, b) => a.share - b.share);
  if (!(pts.length > 0 && (pts[0] as PgrPoint).share <= 0)) pts.unshift({ share: 0, pgr: 0 });
  if (!((pts[pts.length - 1] as PgrPoint).share >= 1)) pts.push({ share: 1, pgr: 1 });
  return pts;
}

/** The curve in ascending share, completed with `ends` where it stops short of share 0 or 1. */
function completed(curve: readonly OperatingPoint[], ends: CurveEnds | undefined): OperatingPoint[] {
  const pts = [...curve].sort((a, b) => a.strong_share - b.strong_share);
  const startsAt0 = pts.length > 0 && (pts[0] as OperatingPoint).strong_share <= 0;
  const endsAt1 = pts.length > 0 && (pts[pts.length - 1] as OperatingPoint).strong_share >= 1;
  if (startsAt0 && endsAt1) return pts;
  if (!ends) throw new EvalError(EVAL_ERROR_CODES.EVAL_INPUT_INVALID, "the curve stops short of strong_share 0 or 1 and no always-weak and always-strong points were given to complete it");
  return [...(startsAt0 ? [] : [ends.always_weak]), ...pts, ...(endsAt1 ? [] : [ends.always_strong])];
}

/**
 * The first point (in the given order) whose value reaches `target`, the point before it, and the
 * fraction of the way from that one to it where the value crosses the target (linear).
 */
function firstReaching<T>(pts: readonly T[], value: (p: T) => number, target: number): { before: T | undefined; after: T; f: number } | null {
  for (let i = 0; i < pts.length; i++) {
    const after = pts[i] as T;
    const v1 = value(after);
    if (!(v1 >= target - REACH_TOLERANCE)) continue;
    if (i === 0) return { before: undefined, after, f: 1 };
    const before = pts[i - 1] as T;
    const v0 = value(before);
    const f = v1 > v0 ? Math.min(1, Math.max(0, (target - v0) / (v1 - v0))) : 1;
    return { before, after, f };
  }
  return null;
}

function lerp(a: number, b: number, f: number): number {
  return a + (b - a) * f;
}

function mean<T>(rows: readonly T[], value: (r: T) => number): number {
  let sum = 0;
  for (const r of rows) sum += value(r);
  return sum / rows.length;
}

function checkRows(rows: readonly (PairOutcome & { s?: number })[], needScore: boolean): void {
  if (rows.length === 0) throw new EvalError(EVAL_ERROR_CODES.EVAL_INPUT_INVALID, "no rows to evaluate");
  rows.forEach((r, i) => {
    const fields: [string, number | undefined][] = [
      ["strongScore", r.strongScore],
      ["weakScore", r.weakScore],
      ["strongCost", r.strongCost],
      ["weakCost", r.weakCost],
    ];
    if (needScore) fields.push(["s", r.s]);
    for (const [name, v] of fields) {
      if (typeof v !== "number" || !Number.isFinite(v)) {
        throw new EvalError(EVAL_ERROR_CODES.EVAL_INPUT_INVALID, `row ${i}: ${name} must be a finite number, got ${String(v)}`);
      }
    }
  });
}
