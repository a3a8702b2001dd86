/**
 * Training labels for pFail, the probability that a weak model fails a task, and a train/test
 * split that never moves a row between runs.
 */
import { ConfigError } from "@llm-router/shared";
import { fmix32, fnv1a32 } from "./hash.js";
import type { RoutingEvalRow } from "@llm-router/eval";

/** A score at or above this counts as success (1/0 correctness, or a judge rating of 5/10 or more). */
export const SUCCESS_THRESHOLD = 0.5;

export interface ModelPair {
  readonly strong: string;
  readonly weak: string;
}

export const EXCLUSION_REASONS = {
  /** Neither model succeeds: routing to the strong model would not help. */
  BOTH_FAIL: "both-fail",
  /** The row has no outcome for the strong or the weak model. */
  MISSING_OUTCOME: "missing-outcome",
} as const;
export type ExclusionReason = (typeof EXCLUSION_REASONS)[keyof typeof EXCLUSION_REASONS];

export type LabelResult =
  | { readonly labelled: true; readonly label: 0 | 1 }
  | { readonly labelled: false; readonly reason: ExclusionReason };

export interface LabelOptions {
  /**
   * Label rows where both models fail as 0 instead of excluding them. Default false: such a row
   * says nothing about whether the strong model is worth its price, and counting it as "the weak
   * model is fine" would teach the model that hard prompts are easy.
   */
  includeBothFail?: boolean;
}

/**
 * 1 when the weak model fails and the strong model succeeds (routing up pays), 0 when the weak
 * model succeeds; rows where both fail are excluded unless `includeBothFail`.
 */
export function labelRow(row: Pick<RoutingEvalRow, "outcomes">, pair: ModelPair, options: LabelOptions = {}): LabelResult {
  const strong = row.outcomes[pair.strong];
  const weak = row.outcomes[pair.weak];
  if (strong === undefined || weak === undefined) return { labelled: false, reason: EXCLUSION_REASONS.MISSING_OUTCOME };
  if (weak.score >= SUCCESS_THRESHOLD) return { labelled: true, label: 0 };
  if (strong.score >= SUCCESS_THRESHOLD) return { labelled: true, label: 1 };
  return options.includeBothFail === true ? { labelled: true, label: 0 } : { labelled: false, reason: EXCLUSION_REASONS.BOTH_FAIL };
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
  if (!Number.isInteger(seed)) throw new RangeError(`seed must be an integer, got ${seed}`);
  const basis = fnv1a32(`split:${seed}:`);
  const train: T[] = [];
  const test: T[] = [];
  for (const row of rows) (fmix32(fnv1a32(row.id, basis)) / 2 ** 32 < testFraction ? test : train).push(row);
  return { train, test };
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
  const byCost = [...totals].map(([model, t]) => ({ model, meanCostUsd: t.cost / t.rows })).sort((a, b) => a.meanCostUsd - b.meanCostUsd || a.model.localeCompare(b.model));
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
