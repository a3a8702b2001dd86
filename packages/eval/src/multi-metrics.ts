/**
 * Routing metrics over many models (RouterBench's method): each setting of the router's knob is a
 * (mean cost, mean quality) point; the router's curve is compared with every single model, and the
 * headline is the cost saved at 95% of the best single model's quality.
 *
 * Between two adjacent curve points cost and quality interpolate linearly: a router reaches any
 * mix of two settings by using one setting for each prompt with a fixed probability, and its
 * expected cost and quality are then the same mix of the two points.
 */
import { EVAL_ERROR_CODES, EvalError } from "./eval-errors.js";
import { QUALITY_TARGET_FRACTION, REACH_TOLERANCE } from "./pair-metrics.js";
import type { RoutingEvalRow } from "./routing-eval-file.js";

/** One model's result on one prompt: score in [0, 1], cost in USD. */
export interface MultiOutcome {
  score: number;
  cost: number;
}

/** One prompt: every model's outcome, and the model the router picks at each knob setting. */
export interface MultiRow {
  /** The prompt's id, for error messages (default: its index). */
  id?: string;
  outcomes: Readonly<Record<string, MultiOutcome>>;
  /** The router's chosen model per knob setting, index-aligned with the `knobs` given alongside. */
  choices: readonly string[];
}

/** Mean cost (USD per prompt) and mean quality of one knob setting. */
export interface CostQualityPoint {
  /** The knob value this point was measured at. */
  knob: number;
  cost: number;
  quality: number;
}

/** Mean cost (USD per prompt) and mean quality of always using one model. */
export interface SingleModelPoint {
  model: string;
  cost: number;
  quality: number;
}

/** A routing-eval row's outcomes in the shape {@link MultiRow} uses. */
export function toMultiOutcomes(row: RoutingEvalRow): Record<string, MultiOutcome> {
  const out: Record<string, MultiOutcome> = {};
  for (const [model, o] of Object.entries(row.outcomes)) out[model] = { score: o.score, cost: o.cost_usd };
  return out;
}

/**
 * The router's (mean cost, mean quality) at each knob setting.
 * @param knobs the knob value of each setting; every row's `choices` has one entry per knob.
 * @throws EvalError `EVAL_INPUT_INVALID` for no rows or a row with the wrong number of choices;
 *   `EVAL_MODEL_MISSING` when a chosen model has no outcome on that row.
 */
export function routerPoints(rows: readonly MultiRow[], knobs: readonly number[]): CostQualityPoint[] {
  if (rows.length === 0) throw new EvalError(EVAL_ERROR_CODES.EVAL_INPUT_INVALID, "no rows to evaluate");
  return knobs.map((knob, k) => {
    let cost = 0;
    let quality = 0;
    rows.forEach((row, i) => {
      if (row.choices.length !== knobs.length) {
        throw new EvalError(EVAL_ERROR_CODES.EVAL_INPUT_INVALID, `${row.id === undefined ? `row ${i}` : `row "${row.id}"`}: ${row.choices.length} choices for ${knobs.length} knob settings`);
      }
      const model = row.choices[k] as string;
      const o = outcomeOf(row, model, i);
      cost += o.cost;
      quality += o.score;
    });
    return { knob, cost: cost / rows.length, quality: quality / rows.length };
  });
}

/**
 * The router's cost–quality curve: its non-dominated points in ascending cost. A point is dropped
 * when another costs no more and scores at least as well, so the curve rises strictly in both
 * cost and quality. (It is the Pareto frontier, not the convex hull: mixing non-adjacent settings
 * could do slightly better, but is not credited.)
 */
export function costQualityCurve(points: readonly CostQualityPoint[]): CostQualityPoint[] {
  const sorted = [...points].sort((a, b) => a.cost - b.cost || b.quality - a.quality);
  const curve: CostQualityPoint[] = [];
  for (const p of sorted) {
    const last = curve[curve.length - 1];
    if (!last || p.quality > last.quality) curve.push(p);
  }
  return curve;
}

/**
 * Each model's mean cost and quality when it answers every prompt, in ascending cost.
 * @throws EvalError `EVAL_MODEL_MISSING` when a model present on some row is missing on another.
 */
export function singleModelPoints(rows: readonly Pick<MultiRow, "id" | "outcomes">[]): SingleModelPoint[] {
  if (rows.length === 0) throw new EvalError(EVAL_ERROR_CODES.EVAL_INPUT_INVALID, "no rows to evaluate");
  const models = new Set<string>();
  for (const row of rows) for (const m of Object.keys(row.outcomes)) models.add(m);
  const singles = [...models].map((model) => {
    let cost = 0;
    let quality = 0;
    rows.forEach((row, i) => {
      const o = outcomeOf(row, model, i);
      cost += o.cost;
      quality += o.score;
    });
    return { model, cost: cost / rows.length, quality: quality / rows.length };
  });
  return singles.sort((a, b) => a.cost - b.cost || (a.model < b.model ? -1 : a.model > b.model ? 1 : 0));
}

/** The single model with the highest mean quality; on a tie, the cheaper one. */
export function bestSingleModel(singles: readonly SingleModelPoint[]): SingleModelPoint {
  let best: SingleModelPoint | undefined;
  for (const s of singles) {
    if (!best || s.quality > best.quality || (s.quality === best.quality && s.cost < best.cost)) best = s;
  }
  if (!best) throw new EvalError(EVAL_ERROR_CODES.EVAL_INPUT_INVALID, "no single models to compare with");
  return best;
}

/**
 * The lowest mean cost at which the curve reaches mean quality `target`: the first point (in
 * ascending cost) at or above the target, interpolated linearly with the point before it.
 * @param curve as returned by {@link costQualityCurve}.
 * @returns `null` when no point reaches the target.
 */
export function costAtQuality(curve: readonly CostQualityPoint[], target: number): number | null {
  const pts = [...curve].sort((a, b) => a.cost - b.cost);
  for (let i = 0; i < pts.length; i++) {
    const b = pts[i] as CostQualityPoint;
    if (!(b.quality >= target - REACH_TOLERANCE)) continue;
    const a = pts[i - 1];
    if (!a || !(b.quality > a.quality)) return b.cost;
    const f = Math.min(1, Math.max(0, (target - a.quality) / (b.quality - a.quality)));
    return a.cost + (b.cost - a.cost) * f;
  }
  return null;
}

/**
 * Cost saved, as a fraction of the best single model's cost, by the cheapest point of the curve
 * reaching 95% of that model's quality (linear interpolation, see {@link costAtQuality}).
 * Negative when the router costs more than the best model to get there.
 * @returns `null` when the curve never reaches 95%, or the best model costs nothing.
 */
export function savingsAtQuality95(curve: readonly CostQualityPoint[], singles: readonly SingleModelPoint[]): number | null {
  const best = bestSingleModel(singles);
  const cost = costAtQuality(curve, QUALITY_TARGET_FRACTION * best.quality);
  if (cost === null || best.cost <= 0) return null;
  return 1 - cost / best.cost;
}

/** Mean cost (USD per prompt) and mean quality of a reference router. */
export interface MultiBaseline {
  cost: number;
  quality: number;
}

/** The reference routers a many-model router is compared with. */
export interface MultiBaselines {
  /** The single model with the highest mean quality (the 95% target's reference). */
  best_single: SingleModelPoint;
  cheapest_single: SingleModelPoint;
  /** Each prompt to the cheapest of the models that score best on it: what perfect routing earns. */
  oracle: MultiBaseline;
  /** Each prompt to a model drawn uniformly, in expectation: the mean of the single models. */
  random: MultiBaseline;
}

/** The oracle, random and single-model references over these rows. */
export function multiBaselines(rows: readonly Pick<MultiRow, "id" | "outcomes">[], singles: readonly SingleModelPoint[] = singleModelPoints(rows)): MultiBaselines {
  const models = singles.map((s) => s.model);
  let cost = 0;
  let quality = 0;
  rows.forEach((row, i) => {
    let best: MultiOutcome | undefined;
    for (const model of models) {
      const o = outcomeOf(row, model, i);
      if (!best || o.score > best.score || (o.score === best.score && o.cost < best.cost)) best = o;
    }
    cost += best?.cost ?? 0;
    quality += best?.score ?? 0;
  });
  const meanOf = (value: (s: SingleModelPoint) => number): number => singles.reduce((sum, s) => sum + value(s), 0) / singles.length;
  return {
    best_single: bestSingleModel(singles),
    cheapest_single: singles[0] ?? bestSingleModel(singles),
    oracle: { cost: cost / rows.length, quality: quality / rows.length },
    random: { cost: meanOf((s) => s.cost), quality: meanOf((s) => s.quality) },
  };
}

/** The evaluation of one router over many models, as the CLI prints it. */
export interface MultiReport {
  /** Every knob setting, in the order given. */
  points: CostQualityPoint[];
  /** The non-dominated settings, ascending cost. */
  curve: CostQualityPoint[];
  /** Every model alone, ascending cost. */
  singles: SingleModelPoint[];
  best_single: SingleModelPoint;
  baselines: MultiBaselines;
  savings_at_95: number | null;
}

/** Scores a many-model router from its choices at each knob setting. */
export function multiReport(rows: readonly MultiRow[], knobs: readonly number[]): MultiReport {
  const points = routerPoints(rows, knobs);
  const curve = costQualityCurve(points);
  const singles = singleModelPoints(rows);
  const baselines = multiBaselines(rows, singles);
  return { points, curve, singles, best_single: baselines.best_single, baselines, savings_at_95: savingsAtQuality95(curve, singles) };
}

function outcomeOf(row: Pick<MultiRow, "id" | "outcomes">, model: string, index: number): MultiOutcome {
  // hasOwn: a model named "constructor" must not find Object.prototype's.
  const o = Object.hasOwn(row.outcomes, model) ? row.outcomes[model] : undefined;
  const name = row.id === undefined ? `row ${index}` : `row "${row.id}"`;
  if (!o) throw new EvalError(EVAL_ERROR_CODES.EVAL_MODEL_MISSING, `${name} has no outcome for model "${model}"`);
  if (!Number.isFinite(o.score) || !Number.isFinite(o.cost)) {
    throw new EvalError(EVAL_ERROR_CODES.EVAL_INPUT_INVALID, `${name}: model "${model}" has a non-finite score or cost`);
  }
  return o;
}
