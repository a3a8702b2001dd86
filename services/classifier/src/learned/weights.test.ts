import { ERROR_CODES, type ConfigError } from "@llm-router/shared";
import { describe, expect, it } from "vitest";
import { categoryModel } from "./category-model.js";
import { FEATURIZER_VERSION } from "./featurize.js";
import type { LearnedWeights } from "./logistic.js";
import type { PFailModel } from "./pfail-model.js";
import { loadWeights, saveWeights, WEIGHTS_FORMAT, type WeightsFile } from "./weights.js";

const TRAINED_ON = { files: ["a.jsonl"], rows: 10, label: "weak fails where strong succeeds", strong: "big", weak: "small" };
const CREATED_AT = new Date("2025-01-02T03:04:05.000Z");

function head(dims: number, nonZero: number, phase: number): LearnedWeights {
  const weights = new Float64Array(dims);
  for (let i = 0; i < nonZero; i++) weights[(i * 7) % dims] = Math.sin(i + phase) / 3;
  return { dims, bias: -1.2345678 + phase, weights };
}

function model(dims: number, nonZero: number): PFailModel {
  return { dims, weak: head(dims, nonZero, 1), strong: head(dims, nonZero, 2), calibration: { scale: 4.56789012, offset: -1.5 } };
}

function thrown(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (err) {
    return err as ConfigError;
  }
  throw new Error("expected an error");
}

describe("saveWeights and loadWeights", () => {
  it("round-trip a model: same weights to 6 significant digits, same version, same metadata", () => {
    for (const original of [model(1000, 900), model(1000, 20)]) {
      const json = saveWeights(original, { trainedOn: TRAINED_ON, createdAt: CREATED_AT });
      const loaded = loadWeights(JSON.parse(json));
      expect(loaded.dims).toBe(1000);
      for (const side of ["weak", "strong"] as const) {
        expect(loaded[side].dims).toBe(1000);
        expect(loaded[side].bias).toBeCloseTo(original[side].bias, 5);
        original[side].weights.forEach((w, i) => expect(loaded[side].weights[i]).toBeCloseTo(w, 6));
      }
      expect(loaded.calibration.scale).toBeCloseTo(original.calibration.scale, 5);
      expect(loaded.calibration.offset).toBe(original.calibration.offset);
      expect(loaded.trainedOn).toEqual(TRAINED_ON);
      expect(loaded.createdAt).toBe(CREATED_AT.toISOString());
      expect(loaded.featurizer).toBe(FEATURIZER_VERSION);
      // The saved model is the rounded one: saving it again changes nothing.
      expect(saveWeights(loaded, { trainedOn: TRAINED_ON, createdAt: CREATED_AT })).toBe(json);
    }
  });

  it("stores mostly-zero weights as [index, value] pairs and dense ones as an array", () => {
    const sparse = JSON.parse(saveWeights(model(1000, 20), { trainedOn: TRAINED_ON, createdAt: CREATED_AT }));
    const dense = JSON.parse(saveWeights(model(1000, 900), { trainedOn: TRAINED_ON, createdAt: CREATED_AT }));
    expect(sparse.weak.weights[0]).toEqual([0, expect.any(Number)]);
    expect(sparse.strong.weights[0]).toEqual([0, expect.any(Number)]);
    expect(dense.weak.weights).toHaveLength(1000);
    expect(dense.strong.weights).toHaveLength(1000);
    expect(sparse.format).toBe(WEIGHTS_FORMAT);
  });

  it("derives the version from the weights alone, not from when or on what they were trained", () => {
    const a = JSON.parse(saveWeights(model(100, 50), { trainedOn: TRAINED_ON, createdAt: CREATED_AT }));
    const b = JSON.parse(saveWeights(model(100, 50), { trainedOn: { ...TRAINED_ON, rows: 11 }, createdAt: new Date() }));
    const c = JSON.parse(saveWeights({ ...model(100, 50), strong: { ...head(100, 50, 2), bias: 0.5 } }, { trainedOn: TRAINED_ON, createdAt: CREATED_AT }));
    const d = JSON.parse(saveWeights({ ...model(100, 50), calibration: { scale: 4.5, offset: -1.5 } }, { trainedOn: TRAINED_ON, createdAt: CREATED_AT }));
    // The heads swapped: same numbers, another model.
    const m = model(100, 50);
    const e = JSON.parse(saveWeights({ ...m, weak: m.strong, strong: m.weak }, { trainedOn: TRAINED_ON, createdAt: CREATED_AT }));
    expect(a.version).toMatch(/^sha256:[0-9a-f]{16}$/);
    expect(b.version).toBe(a.version);
    for (const other of [c, d, e]) expect(other.version).not.toBe(a.version);
  });
});

describe("loadWeights on a bad file", () => {
  const good = (): Record<string, unknown> =>
    JSON.parse(saveWeights(model(200, 80), { trainedOn: TRAINED_ON, createdAt: CREATED_AT })) as Record<string, unknown>;

  it("names a missing or mistyped field", () => {
    const noDims = good();
    delete noDims.dims;
    const err = thrown(() => loadWeights(noDims));
    expect(err.code).toBe(ERROR_CODES.CONFIG_INVALID);
    expect(err.message).toMatch(/^invalid weights file: dims: /);
    expect(thrown(() => loadWeights({ ...good(), weak: { ...(good().weak as object), bias: "0.1" } })).message).toMatch(/weak\.bias/);
    expect(thrown(() => loadWeights({ ...good(), calibration: { scale: 1 } })).message).toMatch(/calibration\.offset/);
    expect(thrown(() => loadWeights("not an object")).message).toMatch(/\(root\)/);
  });

  it("names another format", () => {
    expect(thrown(() => loadWeights({ ...good(), format: "router-learned-v0" })).message).toMatch(/format: expected "router-learned-v2", got "router-learned-v0"/);
  });

  it("tells a file from an older build (one head) to retrain", () => {
    expect(thrown(() => loadWeights({ ...good(), format: "router-learned-v1" })).message).toMatch(/one-head model .*retrain with npm run train:classifier/);
  });

  it("refuses weights whose count does not match dims", () => {
    const err = thrown(() => loadWeights({ ...good(), dims: 201 }));
    expect(err.code).toBe(ERROR_CODES.CONFIG_INVALID);
    expect(err.message).toMatch(/weak\.weights has 200 entries but dims is 201/);
  });

  it("refuses a dims beyond the featurizer's largest before allocating anything", () => {
    const started = performance.now();
    const err = thrown(() => loadWeights({ ...good(), dims: 2 ** 31, weak: { bias: 0, weights: [] }, strong: { bias: 0, weights: [] } }));
    expect(err.message).toMatch(/dims: Too big/);
    expect(performance.now() - started).toBeLessThan(1000);
  });

  it("refuses weights trained for another featurizer", () => {
    expect(thrown(() => loadWeights({ ...good(), featurizer: "other-0" })).message).toMatch(/featurizer "other-0".*retrain/);
  });

  it("refuses a file whose weights were edited after saving", () => {
    const file = good();
    ((file.strong as { weights: number[] }).weights)[3] = 42;
    expect(thrown(() => loadWeights(file)).message).toMatch(/does not match the content/);
  });

  it("refuses out-of-range or unsorted sparse pairs", () => {
    const sparse = JSON.parse(saveWeights(model(1000, 20), { trainedOn: TRAINED_ON, createdAt: CREATED_AT }));
    expect(thrown(() => loadWeights({ ...sparse, weak: { bias: 0, weights: [[1000, 0.1]] } })).message).toMatch(/weak\.weights: index 1000 is out of range/);
    expect(thrown(() => loadWeights({ ...sparse, strong: { bias: 0, weights: [[5, 0.1], [2, 0.1]] } })).message).toMatch(/strong\.weights: .*strictly increasing/);
  });
});

describe("a category head in the weights file", () => {
  const dims = 1000;
  const heads = [
    { label: "billing", bias: -1.23456789, weights: [[3, 0.123456789], [70, -2.5]] as [number, number][] },
    { label: "infra", bias: 0.5, weights: [[70, 1.25], [999, 3]] as [number, number][] },
  ];
  const categories = { model: categoryModel(heads, dims), rows: 40, termsPerCategory: 2, maxShare: 0.1, heldOut: { rows: 10, accuracy: 0.9 } };

  it("round-trips, rounded like the heads, and counts in the version", () => {
    const plain = saveWeights(model(dims, 20), { trainedOn: TRAINED_ON, createdAt: CREATED_AT });
    const json = saveWeights(model(dims, 20), { trainedOn: TRAINED_ON, createdAt: CREATED_AT, categories });
    const loaded = loadWeights(JSON.parse(json));
    expect(loaded.categories?.heads).toEqual([
      { label: "billing", bias: -1.23457, weights: [[3, 0.123457], [70, -2.5]] },
      { label: "infra", bias: 0.5, weights: [[70, 1.25], [999, 3]] },
    ]);
    expect(loaded.categoriesHeldOut).toEqual({ rows: 10, accuracy: 0.9 });
    expect(loaded.version).not.toBe(loadWeights(JSON.parse(plain)).version);
    expect(loadWeights(JSON.parse(plain)).categories).toBeUndefined();
    // The pFail part of the file is the same bytes with or without categories, up to the version.
    expect(JSON.parse(json).weak).toEqual(JSON.parse(plain).weak);
  });

  it("refuses a file whose category weights were edited after saving", () => {
    const file = JSON.parse(saveWeights(model(dims, 20), { trainedOn: TRAINED_ON, createdAt: CREATED_AT, categories })) as WeightsFile;
    const head = file.categories?.heads[1];
    if (head?.weights[0] === undefined) throw new Error("expected a saved category head");
    head.weights[0][1] = 9;
    expect(thrown(() => loadWeights(file)).message).toMatch(/does not match the content/);
  });
});

describe("a weights file's bounds", () => {
  const saved = (m: PFailModel) => JSON.parse(saveWeights(m, { trainedOn: TRAINED_ON, createdAt: CREATED_AT })) as Record<string, unknown>;

  it("keeps the rule features' training maxima, rounded up, in the version", () => {
    const ruleMax = new Float64Array(64);
    ruleMax[3] = 0.1234567891;
    ruleMax[5] = 2;
    const file = saved({ ...model(200, 80), ruleMax });
    const loaded = loadWeights(file);
    expect(loaded.ruleMax?.[3]).toBe(0.123457);
    expect(loaded.ruleMax?.[5]).toBe(2);
    expect(file.version).not.toBe(saved(model(200, 80)).version);
    const edited = { ...file, ruleMax: (file.ruleMax as number[]).map((x, i) => (i === 5 ? 3 : x)) };
    expect(() => loadWeights(edited)).toThrow(/does not match the content/);
  });

  it("refuses dims the featurizer cannot score, and weights past float32, at load", () => {
    expect(() => loadWeights({ ...saved(model(200, 80)), dims: 64 })).toThrow(/dims: Too small: expected number to be >=128/);
    const file = saved(model(200, 80));
    const huge = { ...file, weak: { ...(file.weak as object), bias: 1e308 } };
    expect(() => loadWeights(huge)).toThrow(/weak\.bias: Too big/);
  });
});

