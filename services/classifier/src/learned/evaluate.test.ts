import { describe, expect, it } from "vitest";
import { auc, logLoss } from "./evaluate.js";

describe("auc", () => {
  it("is 1 for a perfect ranking, 0 for a reversed one and 0.5 when every score ties", () => {
    const labels = [0, 0, 1, 1] as const;
    expect(auc(labels.map((label, i) => ({ p: i / 4, label })))).toBe(1);
    expect(auc(labels.map((label, i) => ({ p: 1 - i / 4, label })))).toBe(0);
    expect(auc(labels.map((label) => ({ p: 0.3, label })))).toBe(0.5);
  });

  it("counts the share of positive-negative pairs ranked correctly", () => {
    // Pairs (positive, negative): (0.8, 0.1) ✓, (0.8, 0.9) ✗, (0.4, 0.1) ✓, (0.4, 0.9) ✗ → 0.5.
    const scored = [
      { p: 0.8, label: 1 as const },
      { p: 0.4, label: 1 as const },
      { p: 0.1, label: 0 as const },
      { p: 0.9, label: 0 as const },
    ];
    expect(auc(scored)).toBe(0.5);
  });

  it("is NaN when one class is missing", () => {
    expect(auc([{ p: 0.2, label: 1 }])).toBeNaN();
  });
});

describe("logLoss", () => {
  it("is ln 2 for coin-flip predictions and stays finite for confident mistakes", () => {
    expect(logLoss([{ p: 0.5, label: 1 }, { p: 0.5, label: 0 }])).toBeCloseTo(Math.LN2, 12);
    expect(logLoss([{ p: 0, label: 1 }])).toBeCloseTo(-Math.log(1e-15), 6);
  });
});
