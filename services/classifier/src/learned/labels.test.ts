import { ERROR_CODES } from "@llm-router/shared";
import { describe, expect, it } from "vitest";
import { chooseModelPair, EXCLUSION_REASONS, foldOf, labelRow, splitRows } from "./labels.js";

const PAIR = { strong: "big", weak: "small" };
const row = (strong: number | undefined, weak: number | undefined) => ({
  outcomes: {
    ...(strong === undefined ? {} : { big: { score: strong, cost_usd: 0.01 } }),
    ...(weak === undefined ? {} : { small: { score: weak, cost_usd: 0.001 } }),
  },
});

describe("labelRow", () => {
  it("labels 1 when the weak model fails where the strong one succeeds", () => {
    expect(labelRow(row(1, 0), PAIR)).toEqual({ labelled: true, weakOk: 0, strongOk: 1, label: 1 });
    expect(labelRow(row(0.5, 0.4), PAIR)).toEqual({ labelled: true, weakOk: 0, strongOk: 1, label: 1 });
  });

  it("labels 0 when the weak model succeeds, whatever the strong one did", () => {
    expect(labelRow(row(1, 1), PAIR)).toEqual({ labelled: true, weakOk: 1, strongOk: 1, label: 0 });
    expect(labelRow(row(0, 0.5), PAIR)).toEqual({ labelled: true, weakOk: 1, strongOk: 0, label: 0 });
  });

  it("keeps rows where both fail, as 0: routing up would not have helped", () => {
    expect(labelRow(row(0.2, 0), PAIR)).toEqual({ labelled: true, weakOk: 0, strongOk: 0, label: 0 });
  });

  it("excludes rows without an outcome for either model", () => {
    expect(labelRow(row(1, undefined), PAIR)).toEqual({ labelled: false, reason: EXCLUSION_REASONS.MISSING_OUTCOME });
    expect(labelRow(row(undefined, 0), PAIR)).toEqual({ labelled: false, reason: EXCLUSION_REASONS.MISSING_OUTCOME });
  });
});

describe("foldOf", () => {
  const ids = Array.from({ length: 3000 }, (_, i) => `row-${i}`);

  it("spreads rows evenly over the folds, deterministically, and differently per seed and purpose", () => {
    const counts = [0, 0, 0, 0, 0];
    for (const id of ids) counts[foldOf(id, 5, 1)]!++;
    for (const c of counts) expect(c / ids.length).toBeGreaterThan(0.17);
    for (const c of counts) expect(c / ids.length).toBeLessThan(0.23);
    expect(ids.map((id) => foldOf(id, 5, 1))).toEqual(ids.map((id) => foldOf(id, 5, 1)));
    expect(ids.map((id) => foldOf(id, 5, 2))).not.toEqual(ids.map((id) => foldOf(id, 5, 1)));
    expect(ids.map((id) => foldOf(id, 5, 1, "eval-fold"))).not.toEqual(ids.map((id) => foldOf(id, 5, 1)));
  });

  it("rejects fewer than two folds", () => {
    expect(() => foldOf("a", 1, 1)).toThrow(RangeError);
    expect(() => foldOf("a", 2.5, 1)).toThrow(RangeError);
  });
});

describe("splitRows", () => {
  const rows = Array.from({ length: 2000 }, (_, i) => ({ id: `row-${i}` }));

  it("puts every row on exactly one side", () => {
    const { train, test } = splitRows(rows, { testFraction: 0.2, seed: 1 });
    const testIds = new Set(test.map((r) => r.id));
    expect(train.some((r) => testIds.has(r.id))).toBe(false);
    expect(train.length + test.length).toBe(rows.length);
    expect(test.length / rows.length).toBeGreaterThan(0.17);
    expect(test.length / rows.length).toBeLessThan(0.23);
  });

  it("is deterministic, ignores row order, and changes with the seed", () => {
    const ids = (seed: number, input = rows) => splitRows(input, { testFraction: 0.2, seed }).test.map((r) => r.id).sort();
    expect(ids(1)).toEqual(ids(1));
    expect(ids(1, [...rows].reverse())).toEqual(ids(1));
    expect(ids(2)).not.toEqual(ids(1));
  });

  it("keeps a row's side when other rows are added", () => {
    const before = new Set(splitRows(rows.slice(0, 1000), { testFraction: 0.2, seed: 1 }).test.map((r) => r.id));
    const after = splitRows(rows, { testFraction: 0.2, seed: 1 }).test.filter((r) => Number(r.id.slice(4)) < 1000);
    expect(new Set(after.map((r) => r.id))).toEqual(before);
  });

  it("rejects a test fraction outside [0, 1)", () => {
    expect(() => splitRows(rows, { testFraction: 1, seed: 1 })).toThrow(RangeError);
    expect(() => splitRows(rows, { testFraction: -0.1, seed: 1 })).toThrow(RangeError);
  });
});

describe("chooseModelPair", () => {
  const rows = [
    { outcomes: { mid: { score: 1, cost_usd: 0.005 }, big: { score: 1, cost_usd: 0.02 }, small: { score: 0, cost_usd: 0.001 } } },
    { outcomes: { mid: { score: 1, cost_usd: 0.007 }, big: { score: 1, cost_usd: 0.04 }, small: { score: 1, cost_usd: 0.003 } } },
  ];

  it("picks the most expensive model as strong and the cheapest as weak when neither is given", () => {
    const { strong, weak } = chooseModelPair(rows);
    expect(strong).toEqual({ model: "big", meanCostUsd: 0.03, picked: true });
    expect(weak).toEqual({ model: "small", meanCostUsd: 0.002, picked: true });
  });

  it("keeps a given model and picks only the other side", () => {
    const { strong, weak } = chooseModelPair(rows, { weak: "mid" });
    expect(weak).toMatchObject({ model: "mid", picked: false });
    expect(strong).toMatchObject({ model: "big", picked: true });
    expect(chooseModelPair(rows, { strong: "small" }).weak.model).toBe("mid");
  });

  it("rejects a given model that has no outcomes in the data", () => {
    expect(() => chooseModelPair(rows, { strong: "gpt-5" })).toThrow(expect.objectContaining({ code: ERROR_CODES.CONFIG_INVALID }));
  });
});
