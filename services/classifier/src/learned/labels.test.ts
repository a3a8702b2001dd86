import { ERROR_CODES } from "@llm-router/shared";
import { describe, expect, it } from "vitest";
import { fmix32, fnv1a32 } from "./hash.js";
import { chooseModelPair, EXCLUSION_REASONS, foldOf, heldOutPlaces, labelRow, outcomePattern, splitRows } from "./labels.js";

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

describe("heldOutPlaces", () => {
  // Strata of uneven sizes, as a pair's outcome patterns are (MMLU: 58% both right, 12% only the
  // strong model, 5% only the weak one, 25% neither).
  const sizes = { "11": 1160, "10": 240, "01": 97, "00": 503, x: 3 };
  const rows = Object.entries(sizes).flatMap(([key, n]) => Array.from({ length: n }, (_, i) => ({ id: `${key}-${i}`, key })));
  const byKey = (r: { key: string }) => r.key;

  it("without a stratum, places rows by the documented hash, fmix32(fnv1a32(\"<purpose>:<seed>:\" + id)) / 2^32", () => {
    // Written out here rather than through splitRows or foldOf, which draw through heldOutPlaces:
    // the placement every figure before stratification used must not move.
    const documented = (id: string, purpose: string, seed: number) => fmix32(fnv1a32(id, fnv1a32(`${purpose}:${seed}:`))) / 2 ** 32;
    for (const [purpose, seed] of [["split", 1], ["eval-fold", 3], ["fold", 7]] as const) {
      const place = heldOutPlaces(rows, { seed, purpose });
      expect(rows.map((r) => place(r))).toEqual(rows.map((r) => documented(r.id, purpose, seed)));
    }
  });

  it("without a stratum, places rows by the hash splitRows and foldOf use", () => {
    const split = heldOutPlaces(rows, { seed: 3, purpose: "split" });
    expect(rows.filter((r) => split(r) < 0.2).map((r) => r.id)).toEqual(splitRows(rows, { testFraction: 0.2, seed: 3 }).test.map((r) => r.id));
    const fold = heldOutPlaces(rows, { seed: 3, purpose: "eval-fold" });
    expect(rows.map((r) => Math.floor(5 * fold(r)))).toEqual(rows.map((r) => foldOf(r.id, 5, 3, "eval-fold")));
  });

  it("with a stratum, holds out each stratum's share to the row, in a split and in every fold", () => {
    for (const seed of [1, 2, 3]) {
      const place = heldOutPlaces(rows, { seed, purpose: "split", stratum: byKey });
      for (const [key, n] of Object.entries(sizes)) {
        const held = rows.filter((r) => r.key === key && place(r) < 0.2).length;
        expect([Math.floor(0.2 * n), Math.ceil(0.2 * n)]).toContain(held);
      }
      const fold = heldOutPlaces(rows, { seed, purpose: "eval-fold", stratum: byKey });
      for (const [key, n] of Object.entries(sizes)) {
        const counts = [0, 1, 2, 3, 4].map((k) => rows.filter((r) => r.key === key && Math.floor(5 * fold(r)) === k).length);
        expect(counts.reduce((a, b) => a + b)).toBe(n);
        expect(Math.max(...counts) - Math.min(...counts)).toBeLessThanOrEqual(1);
      }
    }
    // By id hash alone a stratum's share wanders: 39 to 51 of the 240-row stratum's rows (48 stratified) over these seeds.
    const plain = [1, 2, 3, 4, 5, 6].map((seed) => splitRows(rows.filter((r) => r.key === "10"), { testFraction: 0.2, seed }).test.length);
    expect(Math.max(...plain) - Math.min(...plain)).toBeGreaterThan(2);
  });

  it("is deterministic, ignores row order, changes with the seed, and gives rows sharing an id one place", () => {
    const held = (seed: number, input = rows) => {
      const place = heldOutPlaces(input, { seed, purpose: "split", stratum: byKey });
      return input.filter((r) => place(r) < 0.2).map((r) => r.id).sort();
    };
    expect(held(1)).toEqual(held(1));
    expect(held(1, [...rows].reverse())).toEqual(held(1));
    expect(held(2)).not.toEqual(held(1));
    const twice = [...rows, { id: "11-0", key: "00" }];
    const place = heldOutPlaces(twice, { seed: 1, purpose: "split", stratum: byKey });
    expect(place(twice[twice.length - 1]!)).toBe(place({ id: "11-0" }));
    // The first row with the id decides its stratum: "11-0" keeps its place among the "11" rows.
    expect(place({ id: "11-0" })).toBe(heldOutPlaces(rows, { seed: 1, purpose: "split", stratum: byKey })({ id: "11-0" }));
    expect(() => place({ id: "never-placed" })).toThrow(/not among the rows placed/);
  });
});

describe("outcomePattern", () => {
  it("says which of the models succeed, and which have no outcome", () => {
    expect(outcomePattern(row(1, 0), ["big", "small"])).toBe("10");
    expect(outcomePattern(row(0.5, 0.4), ["big", "small"])).toBe("10");
    expect(outcomePattern(row(0, 1), ["big", "small"])).toBe("01");
    expect(outcomePattern(row(undefined, 1), ["big", "small"])).toBe("-1");
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
