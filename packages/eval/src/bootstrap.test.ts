import { describe, expect, it } from "vitest";
import { bootstrapIntervals, quantileSorted } from "./bootstrap.js";

/** Park–Miller minimal standard generator: reproducible draws for the tests. */
function parkMiller(seed: number): () => number {
  let x = seed;
  return () => (x = (x * 16807) % 2147483647) / 2147483647;
}

const mean = (data: readonly number[], indices: Uint32Array): number => {
  let sum = 0;
  for (const i of indices) sum += data[i] ?? 0;
  return sum / indices.length;
};
const meanOf = (data: readonly number[]) => (indices: Uint32Array) => ({ mean: mean(data, indices) });

describe("quantileSorted", () => {
  it("interpolates between neighbours (type 7)", () => {
    expect(quantileSorted([1, 2, 3, 4, 5], 0.5)).toBe(3);
    expect(quantileSorted([1, 2, 3, 4, 5], 0.25)).toBe(2);
    expect(quantileSorted([0, 10], 0.95)).toBeCloseTo(9.5, 12);
    expect(quantileSorted([4], 0.025)).toBe(4);
    expect(quantileSorted([], 0.5)).toBeNaN();
  });
});

describe("bootstrapIntervals", () => {
  it("is a point for a statistic that cannot move", () => {
    const r = bootstrapIntervals(meanOf(Array(50).fill(7)), { rows: 50, samples: 100, random: parkMiller(1) });
    expect(r).toEqual({ mean: { low: 7, high: 7, undefinedDraws: 0 } });
  });

  it("covers a proportion's sampling error: 400 coin flips, half heads, about ±1.96·√(0.25/400) = ±0.049", () => {
    const data = Array.from({ length: 400 }, (_, i) => i % 2);
    const r = bootstrapIntervals(meanOf(data), { rows: 400, samples: 2000, random: parkMiller(7) }).mean!;
    expect(r.low).toBeGreaterThan(0.43);
    expect(r.low).toBeLessThan(0.47);
    expect(r.high).toBeGreaterThan(0.53);
    expect(r.high).toBeLessThan(0.57);
    // A narrower level gives a narrower interval, from the same draws.
    const r50 = bootstrapIntervals(meanOf(data), { rows: 400, samples: 2000, level: 0.5, random: parkMiller(7) }).mean!;
    expect(r50.low).toBeGreaterThan(r.low);
    expect(r50.high).toBeLessThan(r.high);
  });

  it("is reproducible for a seed, counts undefined draws, and is null when no draw defines the figure", () => {
    const data = Array.from({ length: 30 }, (_, i) => i);
    const a = bootstrapIntervals(meanOf(data), { rows: 30, samples: 50, random: parkMiller(3) });
    expect(bootstrapIntervals(meanOf(data), { rows: 30, samples: 50, random: parkMiller(3) })).toEqual(a);
    // Several figures from the same draws; one undefined on every other draw, one never defined.
    let draw = 0;
    const figures = (indices: Uint32Array) => ({ mean: mean(data, indices), everyOther: draw++ % 2 === 0 ? null : mean(data, indices), never: null });
    const r = bootstrapIntervals(figures, { rows: 30, samples: 50, random: parkMiller(3) });
    expect(r.mean).toEqual(a.mean);
    expect(r.everyOther?.undefinedDraws).toBe(25);
    expect(r.never).toBeNull();
  });

  it("refuses nonsense options", () => {
    const random = parkMiller(1);
    const one = () => ({ x: 1 });
    expect(() => bootstrapIntervals(one, { rows: 0, samples: 10, random })).toThrow(RangeError);
    expect(() => bootstrapIntervals(one, { rows: 5, samples: 0, random })).toThrow(RangeError);
    expect(() => bootstrapIntervals(one, { rows: 5, samples: 10, level: 1, random })).toThrow(RangeError);
  });
});
