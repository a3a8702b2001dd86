/**
 * Training labels for the pFail model (whether each of a strong/weak pair succeeds), and a
 * train/test split and cross-fitting folds that never move a row between runs.
 */
import { ConfigError, compareStrings } from "@llm-router/shared";
import { fmix32, fnv1a32 } from "./hash.js";
import type { RoutingEvalRow } from "@llm-router/eval";

/** A score at or above this counts as success (1/0 correctness, or a judge rating of 5/10 or more). */
export const SUCCESS_THRESHOLD = 0.5;

export interface ModelPair {
  readonly strong: string;
  readonly weak: string;
}

export const EXCLUSION_REASONS = {
  /** The row has no outcome for the strong or the weak model. */
  MISSING_OUTCOME: "missing-outcome",
} as const;
export type ExclusionReason = (typeof EXCLUSION_REASONS)[keyof typeof EXCLUSION_REASONS];

export type LabelResult =
  | {
      readonly labelled: true;
      /** 1 when the weak model succeeds: the weak head's label. */
      readonly weakOk: 0 | 1;
      /** 1 when the strong model succeeds: the strong head's label. */
      readonly strongOk: 0 | 1;
      /** 1 when the weak model fails and the strong one succeeds (routing up pays): what pFail predicts. */
      readonly label: 0 | 1;
    }
  | { readonly labelled: false; readonly reason: ExclusionReason };

/** 1 when an outcome counts as success (score ≥ SUCCESS_THRESHOLD), else 0. */
function succeeded(outcome: { readonly score: number }): 0 | 1 {
  return outcome.score >= SUCCESS_THRESHOLD ? 1 : 0;
}

/**
 * The labels of a row for a pair: whether each model succeeds, and whether routing up pays. A row
 * both models fail is labelled like any other (both heads learn a failure, pFail a 0): it is
 * where a single "weak fails" label would send prompts up for nothing.
 */
export function labelRow(row: Pick<RoutingEvalRow, "outcomes">, pair: ModelPair): LabelResult {
  const strong = row.outcomes[pair.strong];
  const weak = row.outcomes[pair.weak];
  if (strong === undefined || weak === undefined) return { labelled: false, reason: EXCLUSION_REASONS.MISSING_OUTCOME };
  const weakOk = succeeded(weak);
  const strongOk = succeeded(strong);
  return { labelled: true, weakOk, strongOk, label: weakOk === 0 && strongOk === 1 ? 1 : 0 };
}

/**
 * Why rows whose label (the weak model fails where the strong one succeeds) has share `rate` cannot
 * train pFail, or undefined when they can: a label that never (or always) holds makes pFail the
 * same for every prompt, and the router would never (or always) route up.
 */
export function constantLabelProblem(rate: number, pair: ModelPair): string | undefined {
  if (rate > 0 && rate < 1) return undefined;
  const which = rate > 0 ? "every" : "no";
  return `${which} training row has ${pair.weak} failing where ${pair.strong} succeeds: pFail would be the same for every prompt, and the router would never (or always) route up; train on data where the two models differ`;
}

export interface SplitOptions {
  /** Share of rows held out for testing, in [0, 1). */
  testFraction: number;
  /** Picks a different, equally reproducible split. An integer. */
  seed: number;
}

/**
 * Split rows by a hash of their id: `fmix32(fnv1a32("split:<seed>:" + id)) / 2^32 < testFraction`
 * goes to test. A row's side depends only on its id and the seed — not on file order or the other rows —
 * so adding rows never moves an old test row into training, and rows sharing an id stay together.
 * The test share is `testFraction` only on average.
 */
export function splitRows<T extends { readonly id: string }>(rows: readonly T[], options: SplitOptions): { train: T[]; test: T[] } {
  const { testFraction, seed } = options;
  if (!(testFraction >= 0 && testFraction < 1)) throw new RangeError(`testFraction must be in [0, 1), got ${testFraction}`);
  const place = heldOutPlaces(rows, { seed, purpose: "split" });
  const train: T[] = [];
  const test: T[] = [];
  for (const row of rows) (place(row) < testFraction ? test : train).push(row);
  return { train, test };
}

/**
 * `splitRows`, and a prompt held out under one id is not trained on under another (MMLU has 23
 * prompts twice): the held-out figures would otherwise score rows the model has seen. `dropped`
 * counts the training rows left out for it.
 */
export function splitHeldApart<T extends { readonly id: string; readonly prompt: string }>(rows: readonly T[], options: SplitOptions): { train: T[]; test: T[]; dropped: number } {
  const split = splitRows(rows, options);
  const heldOutPrompts = new Set(split.test.map((r) => r.prompt));
  const train = split.train.filter((r) => !heldOutPrompts.has(r.prompt));
  return { train, test: split.test, dropped: split.train.length - train.length };
}

/** A uniform number in [0, 1) from an id and a hash basis. */
function unitHash(id: string, basis: number): number {
  return fmix32(fnv1a32(id, basis)) / 2 ** 32;
}

/**
 * The fold, in [0, folds), of a row: `floor(folds · fmix32(fnv1a32("<purpose>:<seed>:" + id)) / 2^32)`.
 * Like splitRows, it depends only on the id and the seed; each purpose ("fold" for the
 * calibration's cross-fitting, "eval-fold" for the evaluation's cross-validation) draws
 * independently of the others and of the split.
 */
export function foldOf(id: string, folds: number, seed: number, purpose = "fold"): number {
  if (!Number.isInteger(folds) || folds < 2) throw new RangeError(`folds must be an integer of at least 2, got ${folds}`);
  return Math.floor(folds * heldOutPlaces<{ id: string }>([], { seed, purpose })({ id }));
}

export interface ChosenModel {
  readonly model: string;
  /** Mean `cost_usd` over the rows that have an outcome for the model. */
  readonly meanCostUsd: number;
  /** True when picked by cost, false when given. */
  readonly picked: boolean;
}

/**
 * The strong/weak pair: each given model is checked against the data; a missing one is picked by
 * mean cost per prompt, the most expensive as strong and the cheapest as weak (excluding the other
 * side of the pair). Throws ConfigError when a given model has no outcomes or fewer than two
 * models are available.
 */
export function chooseModelPair(rows: readonly Pick<RoutingEvalRow, "outcomes">[], given: Partial<ModelPair> = {}): { strong: ChosenModel; weak: ChosenModel } {
  const totals = new Map<string, { cost: number; rows: number }>();
  for (const row of rows) {
    for (const [model, outcome] of Object.entries(row.outcomes)) {
      const total = totals.get(model) ?? { cost: 0, rows: 0 };
      total.cost += outcome.cost_usd;
      total.rows++;
      totals.set(model, total);
    }
  }
  // Sorted by cost, ties by name, so the pick never depends on row order.
  const byCost = [...totals].map(([model, t]) => ({ model, meanCostUsd: t.cost / t.rows })).sort((a, b) => a.meanCostUsd - b.meanCostUsd || compareStrings(a.model, b.model));
  const known = (model: string, side: keyof ModelPair): ChosenModel => {
    const found = byCost.find((m) => m.model === model);
    if (found === undefined) throw new ConfigError(`${side} model "${model}" has no outcomes in the data; models: ${byCost.map((m) => m.model).join(", ")}`);
    return { ...found, picked: false };
  };
  const strong = given.strong === undefined ? undefined : known(given.strong, "strong");
  const weak = given.weak === undefined ? undefined : known(given.weak, "weak");
  const pick = (candidates: typeof byCost): ChosenModel => {
    const m = candidates[0];
    if (m === undefined) throw new ConfigError(`need two models with outcomes to pick a pair; models: ${byCost.map((c) => c.model).join(", ") || "none"}`);
    return { ...m, picked: true };
  };
  const chosenStrong = strong ?? pick(byCost.filter((m) => m.model !== weak?.model).reverse());
  const chosenWeak = weak ?? pick(byCost.filter((m) => m.model !== chosenStrong.model));
  if (chosenStrong.model === chosenWeak.model) throw new ConfigError(`strong and weak are the same model "${chosenStrong.model}"`);
  return { strong: chosenStrong, weak: chosenWeak };
}

/**
 * Where each row sits in [0, 1) for holding rows out: a split tests the rows below its share F, and
 * fold k of K is the rows in [k/K, (k+1)/K).
 *
 * Without `stratum` a row's place is `fmix32(fnv1a32("<purpose>:<seed>:" + id)) / 2^32`, the hash
 * splitRows ("split") and foldOf draw: it depends on the id and the seed alone.
 *
 * With `stratum`, each stratum's n rows, in the order of that hash, sit evenly at (rank + u) / n,
 * u drawn per stratum from the seed: a held-out share F takes ⌊F·n⌋ or ⌈F·n⌉ of them (F·n on
 * average), and every held-out part keeps the data's mix of strata, as scikit-learn's
 * StratifiedKFold keeps the classes' mix. A row's place then also depends on the other rows of its
 * stratum. Rows that share an id share a place (the first one's stratum decides).
 */
export function heldOutPlaces<T extends { readonly id: string }>(
  rows: readonly T[],
  options: { readonly seed: number; readonly purpose: string; readonly stratum?: (row: T) => string },
): (row: Pick<T, "id">) => number {
  const { seed, purpose, stratum } = options;
  if (!Number.isInteger(seed)) throw new RangeError(`seed must be an integer, got ${seed}`);
  const basis = fnv1a32(`${purpose}:${seed}:`);
  if (stratum === undefined) return (row) => unitHash(row.id, basis);
  const strata = new Map<string, { id: string; hash: number }[]>();
  const seen = new Set<string>();
  for (const row of rows) {
    if (seen.has(row.id)) continue;
    seen.add(row.id);
    const key = stratum(row);
    let members = strata.get(key);
    if (members === undefined) strata.set(key, (members = []));
    members.push({ id: row.id, hash: unitHash(row.id, basis) });
  }
  const offsetBasis = fnv1a32(`${purpose}-stratum:${seed}:`);
  const places = new Map<string, number>();
  for (const [key, members] of strata) {
    members.sort((a, b) => a.hash - b.hash || compareStrings(a.id, b.id));
    const u = unitHash(key, offsetBasis);
    members.forEach((m, rank) => places.set(m.id, (rank + u) / members.length));
  }
  return (row) => {
    const place = places.get(row.id);
    if (place === undefined) throw new RangeError(`row "${row.id}" was not among the rows placed`);
    return place;
  };
}

/**
 * The row's outcome pattern over the given models: one character a model, "1" for success (score ≥
 * SUCCESS_THRESHOLD), "0" for failure, "-" for no outcome — for a strong/weak pair, which of the
 * four outcomes the row is (both succeed, only one, neither).
 */
export function outcomePattern(row: Pick<RoutingEvalRow, "outcomes">, models: readonly string[]): string {
  return models.map((m) => (Object.hasOwn(row.outcomes, m) ? String(succeeded(row.outcomes[m]!)) : "-")).join("");
}
