import { describe, expect, it } from "vitest";
import { derivedStream, splitmix32, sampleBeta, sampleGamma, sampleNormal } from "./bandit.js";
import type { Uniform } from "./bandit.js";

const DRAWS = 40_000;

/** Sample mean and variance of `n` draws. */
function moments(n: number, draw: () => number): { mean: number; variance: number } {
  let sum = 0;
  let sumSq = 0;
  for (let i = 0; i < n; i++) {
    const x = draw();
    sum += x;
    sumSq += x * x;
  }
  const mean = sum / n;
  return { mean, variance: sumSq / n - mean * mean };
}

/**
 * The sample mean lies within 5 standard errors of the true mean, and the sample variance within
 * 5% of the true variance (≈ 5 standard errors of it at this many draws for these shapes).
 */
function expectMoments(draw: () => number, mean: number, variance: number): void {
  const m = moments(DRAWS, draw);
  expect(Math.abs(m.mean - mean)).toBeLessThan(5 * Math.sqrt(variance / DRAWS));
  expect(Math.abs(m.variance - variance) / variance).toBeLessThan(0.05);
}

const take = (uniform: Uniform, n: number): number[] => Array.from({ length: n }, () => uniform());

describe("splitmix32", () => {
  it("replays the same sequence from the same seed and another from another seed", () => {
    expect(take(splitmix32(42), 5)).toEqual(take(splitmix32(42), 5));
    expect(take(splitmix32(42), 5)).not.toEqual(take(splitmix32(43), 5));
    // Seeds are 32-bit: the same seed modulo 2^32 is the same stream.
    expect(take(splitmix32(2 ** 32 + 7), 3)).toEqual(take(splitmix32(7), 3));
  });

  it("draws uniformly from the open interval (0, 1)", () => {
    const uniform = splitmix32(1);
    const draws = take(uniform, DRAWS);
    expect(draws.every((u) => u > 0 && u < 1)).toBe(true);
    let i = 0;
    expectMoments(() => draws[i++]!, 0.5, 1 / 12);
    // Ten equal bins each hold a tenth, within 5 standard errors.
    const bins = new Array<number>(10).fill(0);
    for (const u of draws) bins[Math.floor(u * 10)]!++;
    const se = Math.sqrt(DRAWS * 0.1 * 0.9);
    for (const count of bins) expect(Math.abs(count - DRAWS / 10)).toBeLessThan(5 * se);
  });
});

describe("derivedStream", () => {
  it("gives each label its own stream, the same for the same seed and label", () => {
    expect(take(derivedStream(7, "sim:a"), 3)).toEqual(take(derivedStream(7, "sim:a"), 3));
    expect(take(derivedStream(7, "sim:a"), 3)).not.toEqual(take(derivedStream(7, "sim:b"), 3));
    expect(take(derivedStream(7, "sim:a"), 3)).not.toEqual(take(derivedStream(8, "sim:a"), 3));
  });

  it("spreads consecutive seeds evenly: the first draws of 0..n−1 are uniform", () => {
    let seed = 0;
    expectMoments(() => derivedStream(seed++, "explore")(), 0.5, 1 / 12);
  });
});

describe("sampleNormal", () => {
  it("has mean 0 and variance 1", () => {
    const uniform = splitmix32(2);
    expectMoments(() => sampleNormal(uniform), 0, 1);
  });
});

describe("sampleGamma", () => {
  it.each([0.3, 1, 3.7, 50])("has mean and variance equal to the shape %s", (shape) => {
    const uniform = splitmix32(3);
    expectMoments(() => sampleGamma(uniform, shape), shape, shape);
  });

  it("is 0 at shape 0 and rejects a negative or non-finite shape", () => {
    expect(sampleGamma(splitmix32(1), 0)).toBe(0);
    expect(() => sampleGamma(splitmix32(1), -1)).toThrow(RangeError);
    expect(() => sampleGamma(splitmix32(1), Number.NaN)).toThrow(RangeError);
    expect(() => sampleGamma(splitmix32(1), Number.POSITIVE_INFINITY)).toThrow(RangeError);
  });
});

describe("sampleBeta", () => {
  it.each([
    [2, 5],
    [13, 7],
    [0.5, 0.5],
    [120, 40],
  ])("matches the mean and variance of Beta(%s, %s)", (alpha, beta) => {
    const uniform = splitmix32(4);
    const total = alpha + beta;
    expectMoments(() => sampleBeta(uniform, alpha, beta), alpha / total, (alpha * beta) / (total * total * (total + 1)));
  });

  it("stays within [0, 1] and replays from the seed", () => {
    const a = splitmix32(5);
    const draws = Array.from({ length: 1000 }, () => sampleBeta(a, 0.2, 0.3));
    expect(draws.every((x) => x >= 0 && x <= 1)).toBe(true);
    const b = splitmix32(5);
    expect(Array.from({ length: 1000 }, () => sampleBeta(b, 0.2, 0.3))).toEqual(draws);
  });

  it("is a point mass when one parameter is 0, and undefined when both are", () => {
    expect(sampleBeta(splitmix32(6), 0, 3)).toBe(0);
    expect(sampleBeta(splitmix32(6), 3, 0)).toBe(1);
    expect(() => sampleBeta(splitmix32(6), 0, 0)).toThrow(RangeError);
  });
});
