import { ERROR_CODES, type ConfigError } from "@llm-router/shared";
import { describe, expect, it } from "vitest";
import { FEATURIZER_VERSION } from "./featurize.js";
import type { LearnedWeights } from "./logistic.js";
import { loadWeights, saveWeights, WEIGHTS_FORMAT } from "./weights.js";

const TRAINED_ON = { files: ["a.jsonl"], rows: 10, label: "weak fails where strong succeeds", strong: "big", weak: "small" };
const CREATED_AT = new Date("2025-01-02T03:04:05.000Z");

function model(dims: number, nonZero: number): LearnedWeights {
  const weights = new Float64Array(dims);
  for (let i = 0; i < nonZero; i++) weights[(i * 7) % dims] = Math.sin(i + 1) / 3;
  return { dims, bias: -1.2345678, weights };
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
      expect(loaded.bias).toBeCloseTo(original.bias, 5);
      original.weights.forEach((w, i) => expect(loaded.weights[i]).toBeCloseTo(w, 6));
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
    expect(sparse.weights[0]).toEqual([0, expect.any(Number)]);
    expect(dense.weights).toHaveLength(1000);
    expect(sparse.format).toBe(WEIGHTS_FORMAT);
  });

  it("derives the version from the weights alone, not from when or on what they were trained", () => {
    const a = JSON.parse(saveWeights(model(100, 50), { trainedOn: TRAINED_ON, createdAt: CREATED_AT }));
    const b = JSON.parse(saveWeights(model(100, 50), { trainedOn: { ...TRAINED_ON, rows: 11 }, createdAt: new Date() }));
    const c = JSON.parse(saveWeights({ ...model(100, 50), bias: 0.5 }, { trainedOn: TRAINED_ON, createdAt: CREATED_AT }));
    expect(a.version).toMatch(/^sha256:[0-9a-f]{16}$/);
    expect(b.version).toBe(a.version);
    expect(c.version).not.toBe(a.version);
  });
});

describe("loadWeights on a bad file", () => {
  const good = (): Record<string, unknown> =>
    JSON.parse(saveWeights(model(100, 80), { trainedOn: TRAINED_ON, createdAt: CREATED_AT })) as Record<string, unknown>;

  it("names a missing or mistyped field", () => {
    const noDims = good();
    delete noDims.dims;
    const err = thrown(() => loadWeights(noDims));
    expect(err.code).toBe(ERROR_CODES.CONFIG_INVALID);
    expect(err.message).toMatch(/^invalid weights file: dims: /);
    expect(thrown(() => loadWeights({ ...good(), bias: "0.1" })).message).toMatch(/bias/);
    expect(thrown(() => loadWeights("not an object")).message).toMatch(/\(root\)/);
  });

  it("names another format", () => {
    expect(thrown(() => loadWeights({ ...good(), format: "router-learned-v0" })).message).toMatch(/format: .*router-learned-v1/);
  });

  it("refuses weights whose count does not match dims", () => {
    const err = thrown(() => loadWeights({ ...good(), dims: 101 }));
    expect(err.code).toBe(ERROR_CODES.CONFIG_INVALID);
    expect(err.message).toMatch(/100 entries but dims is 101/);
  });

  it("refuses weights trained for another featurizer", () => {
    expect(thrown(() => loadWeights({ ...good(), featurizer: "other-0" })).message).toMatch(/featurizer "other-0".*retrain/);
  });

  it("refuses a file whose weights were edited after saving", () => {
    const file = good();
    (file.weights as number[])[3] = 42;
    expect(thrown(() => loadWeights(file)).message).toMatch(/does not match the content/);
  });

  it("refuses out-of-range or unsorted sparse pairs", () => {
    const sparse = JSON.parse(saveWeights(model(1000, 20), { trainedOn: TRAINED_ON, createdAt: CREATED_AT }));
    expect(thrown(() => loadWeights({ ...sparse, weights: [[1000, 0.1]] })).message).toMatch(/index 1000 is out of range/);
    expect(thrown(() => loadWeights({ ...sparse, weights: [[5, 0.1], [2, 0.1]] })).message).toMatch(/strictly increasing/);
  });
});
