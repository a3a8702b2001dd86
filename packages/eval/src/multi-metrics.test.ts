import { describe, expect, it } from "vitest";
import {
  bestSingleModel,
  costAtQuality,
  costQualityCurve,
  multiBaselines,
  type MultiRow,
  multiReport,
  routerPoints,
  savingsAtQuality95,
  singleModelPoints,
} from "./multi-metrics.js";

// Three models on four prompts. A costs 10, B 3, C 1 on every prompt.
//   prompt 1: A, B, C all solve   prompt 2: A, B solve   prompt 3: only A   prompt 4: none
// Singles: C ($1, 0.25), B ($3, 0.5), A ($10, 0.75). Best: A; 95% of it is 0.7125.
// Router at four knob settings (choice per prompt):
//   knob 0: C C C C → ($1, 0.25)     knob 1: C B B C → ($2, 0.5)
//   knob 2: C B A C → ($3.75, 0.75)  knob 3: A A A A → ($10, 0.75), dominated by knob 2.
const out = (a: number, b: number, c: number): MultiRow["outcomes"] => ({
  A: { score: a, cost: 10 },
  B: { score: b, cost: 3 },
  C: { score: c, cost: 1 },
});
const ROWS: MultiRow[] = [
  { outcomes: out(1, 1, 1), choices: ["C", "C", "C", "A"] },
  { outcomes: out(1, 1, 0), choices: ["C", "B", "B", "A"] },
  { outcomes: out(1, 0, 0), choices: ["C", "B", "A", "A"] },
  { outcomes: out(0, 0, 0), choices: ["C", "C", "C", "A"] },
];
const KNOBS = [0, 1, 2, 3];

describe("multi-model metrics", () => {
  it("measures the router's mean cost and quality at each knob setting", () => {
    expect(routerPoints(ROWS, KNOBS)).toEqual([
      { knob: 0, cost: 1, quality: 0.25 },
      { knob: 1, cost: 2, quality: 0.5 },
      { knob: 2, cost: 3.75, quality: 0.75 },
      { knob: 3, cost: 10, quality: 0.75 },
    ]);
  });

  it("drops dominated settings from the cost–quality curve", () => {
    const curve = costQualityCurve(routerPoints(ROWS, KNOBS));
    expect(curve.map((p) => p.knob)).toEqual([0, 1, 2]);
  });

  it("measures each single model and picks the best by quality", () => {
    const singles = singleModelPoints(ROWS);
    expect(singles).toEqual([
      { model: "C", cost: 1, quality: 0.25 },
      { model: "B", cost: 3, quality: 0.5 },
      { model: "A", cost: 10, quality: 0.75 },
    ]);
    expect(bestSingleModel(singles).model).toBe("A");
  });

  it("saves 65.125% of the best model's cost at 95% of its quality on the toy example", () => {
    const curve = costQualityCurve(routerPoints(ROWS, KNOBS));
    // 0.7125 lies between ($2, 0.5) and ($3.75, 0.75): 0.2125/0.25 = 0.85 of the way,
    // cost 2 + 0.85 × 1.75 = 3.4875, so 1 − 3.4875/10 = 0.65125 saved.
    expect(costAtQuality(curve, 0.7125)).toBeCloseTo(3.4875, 12);
    expect(savingsAtQuality95(curve, singleModelPoints(ROWS))).toBeCloseTo(0.65125, 12);
    const report = multiReport(ROWS, KNOBS);
    expect(report.best_single.model).toBe("A");
    expect(report.savings_at_95).toBeCloseTo(0.65125, 12);
  });

  it("returns a point's own cost when it reaches the target exactly, and null when nothing does", () => {
    const curve = costQualityCurve(routerPoints(ROWS, KNOBS));
    expect(costAtQuality(curve, 0.5)).toBe(2);
    expect(costAtQuality(curve, 0.8)).toBeNull();
    // A router stuck at its cheapest setting never reaches 95% of A.
    expect(savingsAtQuality95([{ knob: 0, cost: 1, quality: 0.25 }], singleModelPoints(ROWS))).toBeNull();
  });

  it("fails with EVAL_MODEL_MISSING when the router picks a model the row has no outcome for", () => {
    const rows: MultiRow[] = [{ outcomes: out(1, 1, 1), choices: ["D"] }];
    expect(() => routerPoints(rows, [0])).toThrow(expect.objectContaining({ code: "EVAL_MODEL_MISSING" }));
  });

  it("puts the oracle, random, cheapest and best single models beside the router", () => {
    // Oracle: prompt 1 to C ($1, 1), 2 to B ($3, 1), 3 to A ($10, 1), 4 to C (none solves it: the
    // cheapest) → ($3.75, 0.75). Random: the singles' mean → ($14/3, 0.5).
    const b = multiBaselines(ROWS);
    expect(b.oracle.cost).toBeCloseTo(3.75, 12);
    expect(b.oracle.quality).toBeCloseTo(0.75, 12);
    expect(b.random.cost).toBeCloseTo(14 / 3, 12);
    expect(b.random.quality).toBeCloseTo(0.5, 12);
    expect(b.cheapest_single.model).toBe("C");
    expect(b.best_single.model).toBe("A");
    expect(multiReport(ROWS, KNOBS).baselines).toEqual(b);
  });

  it("names a row by its id when it has one", () => {
    const rows: MultiRow[] = [{ id: "rb-17", outcomes: out(1, 1, 1), choices: ["D"] }];
    expect(() => routerPoints(rows, [0])).toThrow(expect.objectContaining({ code: "EVAL_MODEL_MISSING", message: 'row "rb-17" has no outcome for model "D"' }));
  });
});
