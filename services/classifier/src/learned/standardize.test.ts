import { describe, expect, it } from "vitest";
import { createRandom } from "./hash.js";
import type { LearnedWeights } from "./logistic.js";
import type { SparseVector } from "./sparse-vector.js";
import { fitRuleStandardizer, standardizeRules, unstandardize } from "./standardize.js";

const RULES = 4;
const DIMS = 12;

const vector = (entries: readonly (readonly [number, number])[]): SparseVector => ({
  indices: Uint32Array.from(entries, ([slot]) => slot),
  values: Float32Array.from(entries, ([, x]) => x),
});
const dense = (v: SparseVector): number[] => {
  const out = new Array<number>(DIMS).fill(0);
  v.indices.forEach((slot, i) => (out[slot] = v.values[i] ?? 0));
  return out;
};
const score = (w: LearnedWeights, v: SparseVector): number => dense(v).reduce((sum, x, i) => sum + x * (w.weights[i] ?? 0), w.bias);

// Slot 0 is 1 or 3, slot 1 is 0 or 2 (absent when 0), slot 2 is always 5, slot 3 never appears.
const VECTORS = [
  vector([[0, 1], [1, 2], [2, 5], [4, 0.6], [9, 0.8]]),
  vector([[0, 3], [2, 5], [5, 1]]),
  vector([[0, 1], [2, 5], [7, 0.5]]),
  vector([[0, 3], [1, 2], [2, 5]]),
];

describe("fitRuleStandardizer", () => {
  it("gives each rule slot its mean over every vector (absent counts as 0) and blockWeight / sd", () => {
    const s = fitRuleStandardizer(VECTORS, RULES, 0.5);
    expect(Array.from(s.mean)).toEqual([2, 1, 5, 0]);
    // Both slots have sd 1 (population): the factor is the block weight.
    expect(s.factor[0]).toBeCloseTo(0.5, 12);
    expect(s.factor[1]).toBeCloseTo(0.5, 12);
  });

  it("drops a slot that is constant over the rows, or never present", () => {
    const s = fitRuleStandardizer(VECTORS, RULES);
    expect(s.factor[2]).toBe(0);
    expect(s.factor[3]).toBe(0);
  });

  it("rejects a block weight that is not a positive number", () => {
    for (const weight of [0, -1, Number.NaN, Number.POSITIVE_INFINITY]) {
      expect(() => fitRuleStandardizer(VECTORS, RULES, weight)).toThrow(/rule block weight/);
    }
  });

  it("copes with no vectors at all", () => {
    const s = fitRuleStandardizer([], RULES);
    expect(Array.from(s.factor)).toEqual([0, 0, 0, 0]);
  });
});

describe("standardizeRules", () => {
  it("centres and scales every varying rule slot, present or not, and keeps the n-grams as they are", () => {
    const s = fitRuleStandardizer(VECTORS, RULES, 0.5);
    const v = standardizeRules(VECTORS[1] as SparseVector, s);
    expect(Array.from(v.indices)).toEqual([0, 1, 5]);
    expect(Array.from(v.values)).toEqual([0.5, -0.5, 1]);
    const w = standardizeRules(VECTORS[0] as SparseVector, s);
    expect(Array.from(w.indices)).toEqual([0, 1, 4, 9]);
    expect(Array.from(w.values)).toEqual([-0.5, 0.5, Math.fround(0.6), Math.fround(0.8)]);
  });

  it("handles a vector with no rule slots, or no n-grams", () => {
    const s = fitRuleStandardizer(VECTORS, RULES, 0.5);
    expect(Array.from(standardizeRules(vector([[6, 1]]), s).values)).toEqual([-1, -0.5, 1]);
    expect(Array.from(standardizeRules(vector([]), s).indices)).toEqual([0, 1]);
  });
});

describe("unstandardize", () => {
  it("gives raw vectors the score the fitted weights give their standardised form", () => {
    const random = createRandom(7);
    const s = fitRuleStandardizer(VECTORS, RULES, 0.1);
    const fitted: LearnedWeights = { dims: DIMS, bias: 0.3, weights: Float64Array.from({ length: DIMS }, () => random() * 4 - 2) };
    const raw = unstandardize(fitted, s);
    for (let trial = 0; trial < 50; trial++) {
      const entries: [number, number][] = [];
      for (let slot = 0; slot < DIMS; slot++) if (random() < 0.5) entries.push([slot, Math.fround(random() * 3)]);
      const x = vector(entries);
      expect(score(raw, x)).toBeCloseTo(score(fitted, standardizeRules(x, s)), 5);
    }
    // A dropped slot carries no weight, whatever the fit left there.
    expect(raw.weights[2]).toBe(0);
    expect(raw.weights.subarray(RULES)).toEqual(fitted.weights.subarray(RULES));
  });
});
