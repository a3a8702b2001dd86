import { describe, expect, it } from "vitest";
import { createRandom } from "./hash.js";
import { predict, sigmoid } from "./logistic.js";
import { featurize, RULE_FEATURE_KEYS, RULE_SLOTS } from "./featurize.js";
import { fitCalibration, predictPFail, predictPFailText, type PFailModel } from "./pfail-model.js";

const vector = (entries: [number, number][]) => ({ indices: Uint32Array.from(entries, ([i]) => i), values: Float32Array.from(entries, ([, v]) => v) });

describe("predictPFail", () => {
  // weak: bias 0, weight 2 on index 0; strong: bias 1, weight 1 on index 1.
  const model: PFailModel = {
    dims: 4,
    weak: { dims: 4, bias: 0, weights: Float64Array.from([2, 0, 0, 0]) },
    strong: { dims: 4, bias: 1, weights: Float64Array.from([0, 1, 0, 0]) },
    calibration: { scale: 3, offset: -2 },
  };

  it("computes each head, their difference and the calibrated pFail", () => {
    const p = predictPFail(model, vector([[0, 0.5], [1, 0.5]]));
    expect(p.pWeak).toBeCloseTo(sigmoid(1), 12);
    expect(p.pStrong).toBeCloseTo(sigmoid(1.5), 12);
    expect(p.gain).toBeCloseTo(sigmoid(1.5) - sigmoid(1), 12);
    expect(p.pFail).toBeCloseTo(sigmoid(3 * (sigmoid(1.5) - sigmoid(1)) - 2), 12);
  });

  it("ranks by the gain: a prompt both models fail scores below one only the strong model solves", () => {
    // Index 2 pulls both heads down (both fail); index 3 only the weak one (the strong call pays).
    const m: PFailModel = {
      ...model,
      weak: { dims: 4, bias: 0, weights: Float64Array.from([0, 0, -3, -3]) },
      strong: { dims: 4, bias: 0, weights: Float64Array.from([0, 0, -3, 3]) },
    };
    const bothFail = predictPFail(m, vector([[2, 1]]));
    const gap = predictPFail(m, vector([[3, 1]]));
    expect(bothFail.pWeak).toBeCloseTo(gap.pWeak, 12);
    expect(gap.pFail).toBeGreaterThan(0.5);
    expect(bothFail.pFail).toBeLessThan(gap.pFail);
  });

  it("gives exactly what predict gives on each head", () => {
    const random = createRandom(3);
    const dims = 512;
    const head = () => ({ dims, bias: random() - 0.5, weights: Float64Array.from({ length: dims }, () => random() * 2 - 1) });
    const m: PFailModel = { dims, weak: head(), strong: head(), calibration: { scale: 5, offset: -2 } };
    for (let n = 0; n < 20; n++) {
      const indices = [...new Set(Array.from({ length: 40 }, () => Math.floor(random() * dims)))].sort((a, b) => a - b);
      const x = { indices: Uint32Array.from(indices), values: Float32Array.from(indices, () => random()) };
      const p = predictPFail(m, x);
      expect(p.pWeak).toBe(predict(m.weak, x));
      expect(p.pStrong).toBe(predict(m.strong, x));
    }
  });

  it("clips each rule feature to the largest value training saw, by either scoring path alike", () => {
    // A weight of -8 on the non-ASCII share's slot, learned where it never passed log1p(0.16).
    const dims = 1024;
    const slot = RULE_FEATURE_KEYS.indexOf("nonAsciiShare");
    const weak = new Float64Array(dims);
    weak[slot] = -8;
    const plain: PFailModel = { dims, weak: { dims, bias: 1, weights: weak }, strong: { dims, bias: 1, weights: new Float64Array(dims) }, calibration: { scale: 4, offset: -1 } };
    const ruleMax = new Float64Array(RULE_SLOTS).fill(100);
    ruleMax[slot] = Math.log1p(0.16);
    const clipped: PFailModel = { ...plain, ruleMax };
    const text = "你好，今天怎么样？";
    const x = featurize(text, dims);
    const share = x.values[[...x.indices].indexOf(slot)] ?? 0;
    expect(share).toBeGreaterThan(Math.log1p(0.5));
    // Unclipped, the share drives the weak head to near 0: pWeak = σ(1 − 8·share).
    expect(predictPFail(plain, x).pWeak).toBeCloseTo(sigmoid(1 - 8 * share), 6);
    expect(predictPFail(clipped, x).pWeak).toBeCloseTo(sigmoid(1 - 8 * Math.log1p(0.16)), 6);
    expect(predictPFailText(clipped, text).pWeak).toBeCloseTo(predictPFail(clipped, x).pWeak, 5);
    // A value within what training saw is not touched.
    const latin = featurize("hello there", dims);
    expect(predictPFail(clipped, latin)).toEqual(predictPFail(plain, latin));
  });

  it("refuses a feature beyond the model's dims", () => {
    expect(() => predictPFail(model, vector([[4, 1]]))).toThrow(/out of range/);
  });
});

describe("fitCalibration", () => {
  it("recovers the scale and offset of labels drawn from a known logistic curve", () => {
    const random = createRandom(7);
    const scores: number[] = [];
    const labels: (0 | 1)[] = [];
    for (let i = 0; i < 20_000; i++) {
      const x = random() * 2 - 1;
      scores.push(x);
      labels.push(random() < sigmoid(4 * x - 1) ? 1 : 0);
    }
    const { scale, offset } = fitCalibration(scores, labels);
    expect(scale).toBeGreaterThan(3.7);
    expect(scale).toBeLessThan(4.3);
    expect(offset).toBeGreaterThan(-1.1);
    expect(offset).toBeLessThan(-0.9);
  });

  it("gives the base rate's log-odds when the scores carry no information", () => {
    const { scale, offset } = fitCalibration([0.2, 0.2, 0.2, 0.2], [1, 0, 0, 0]);
    expect(Math.abs(scale)).toBeLessThan(1e-4);
    expect(sigmoid(scale * 0.2 + offset)).toBeCloseTo(0.25, 9);
  });

  it("is flat at the clipped base rate when only one class is present", () => {
    const all0 = fitCalibration([0.1, 0.5, 0.9], [0, 0, 0]);
    expect(all0.scale).toBe(0);
    expect(sigmoid(all0.offset)).toBeCloseTo(1e-6, 9);
    expect(sigmoid(fitCalibration([0.1, 0.5], [1, 1]).offset)).toBeCloseTo(1 - 1e-6, 9);
  });

  it("stays finite on separable data (the ridge and the step limit bound it)", () => {
    const { scale, offset } = fitCalibration([-1, -0.5, 0.5, 1], [0, 0, 1, 1]);
    expect(Number.isFinite(scale) && Number.isFinite(offset)).toBe(true);
    expect(sigmoid(scale * 1 + offset)).toBeGreaterThan(0.99);
  });

  it("rejects mismatched or empty input", () => {
    expect(() => fitCalibration([0.1], [])).toThrow(RangeError);
    expect(() => fitCalibration([], [])).toThrow(RangeError);
  });
});

describe("predictPFailText", () => {
  // Random weights over a small space, so every slot the texts hit carries a distinct weight.
  const dims = 1024;
  const random = createRandom(7);
  const head = () => ({ dims, bias: random() - 0.5, weights: Float64Array.from({ length: dims }, () => 4 * (random() - 0.5)) });
  const model: PFailModel = { dims, weak: head(), strong: head(), calibration: { scale: 2.5, offset: -1 } };
  const texts = [
    "",
    "   \n\t ",
    "Prove that the square root of 2 is irrational, step by step.",
    "Hello   world, hello WORLD again and again and again.",
    "日本語で答えてください。İstanbul, café, naïve — 😀 emoji 😀 and a lone \ud800 surrogate",
    "```ts\nconst x: number = 1;\n```\nWhy does this fail? 1 + 2 = 3",
    "word ".repeat(5000),
    "Summarise this: " + "The quick brown fox jumps over the lazy dog. ".repeat(400),
  ];

  it("gives what predictPFail gives on the featurized text, without building the vector", () => {
    for (const text of texts) {
      const expected = predictPFail(model, featurize(text, dims));
      const got = predictPFailText(model, text);
      // featurize rounds each value to float32; the fused path keeps float64.
      for (const key of ["pWeak", "pStrong", "gain", "pFail"] as const) expect(Math.abs(got[key] - expected[key]), `${key} of ${JSON.stringify(text.slice(0, 30))}`).toBeLessThan(1e-6);
    }
  });

  it("uses the rule features it is given, as featurize does", () => {
    const rules = { words: 500, chars: 3000, "typeScore.code": 4 };
    const expected = predictPFail(model, featurize("hi", dims, rules));
    expect(Math.abs(predictPFailText(model, "hi", rules).pFail - expected.pFail)).toBeLessThan(1e-6);
    expect(Math.abs(predictPFailText(model, "hi").pFail - expected.pFail)).toBeGreaterThan(1e-6);
  });
});
