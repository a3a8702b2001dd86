import { describe, expect, it } from "vitest";
import { auc, expectedCalibrationError, logLoss, reliability, type Scored } from "./evaluate.js";

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

describe("reliability and expectedCalibrationError", () => {
  it("deals rows by predicted probability into equal-count bins and compares each bin's mean with its rate", () => {
    // Bin 1: p 0.1 ×4, one positive (observed 0.25); bin 2: p 0.7 ×4, three positives (0.75).
    const scored = [
      ...[1, 0, 0, 0].map((label) => ({ p: 0.1, label: label as 0 | 1 })),
      ...[1, 1, 1, 0].map((label) => ({ p: 0.7, label: label as 0 | 1 })),
    ];
    const table = reliability(scored, 2);
    expect(table).toEqual([
      { rows: 4, meanP: 0.1, observed: 0.25 },
      { rows: 4, meanP: 0.7, observed: 0.75 },
    ]);
    // |0.1 − 0.25| = 0.15 and |0.7 − 0.75| = 0.05, four rows each: 0.1.
    expect(expectedCalibrationError(table)).toBeCloseTo(0.1, 12);
  });

  it("keeps tied probabilities in one bin, and is 0 for a perfectly calibrated prediction", () => {
    const scored: Scored[] = [0.2, 0.2, 0.2, 0.2, 0.2, 0.6, 0.6, 0.6, 0.6, 0.6].map((p, i) => ({ p, label: i === 0 || i >= 7 ? 1 : 0 }));
    // Ten rows in 4 bins would cut at 2, 5, 8; the ties move the cuts to 5 and 10.
    const table = reliability(scored, 4);
    expect(table.map((b) => b.rows)).toEqual([5, 5]);
    expect(table[0]).toMatchObject({ meanP: 0.2, observed: 0.2 });
    expect(table[1]!.meanP).toBeCloseTo(0.6, 12);
    expect(table[1]!.observed).toBeCloseTo(0.6, 12);
    expect(expectedCalibrationError(table)).toBeCloseTo(0, 12);
  });

  it("is NaN for no rows and refuses a bin count that is not a positive integer", () => {
    expect(reliability([], 10)).toEqual([]);
    expect(expectedCalibrationError([])).toBeNaN();
    expect(() => reliability([{ p: 0.5, label: 1 }], 0)).toThrow(RangeError);
  });
});
