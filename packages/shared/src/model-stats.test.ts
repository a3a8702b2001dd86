import { describe, expect, it } from "vitest";
import { bucketKey, EMPTY_STATS, expectedQuality, latencyPercentileMs, ModelStats, StatsSnapshotSchema } from "./model-stats.js";

const key = { taskType: "code", complexity: "simple", model: "sim:a" } as const;

describe("ModelStats", () => {
  it("sums quality, success, cost and latency per (task type, complexity, model)", () => {
    const stats = new ModelStats();
    stats.observe({ ...key, score: 1, success: true, costUsd: 0.01, latencyMs: 80 });
    stats.observe({ ...key, score: 0, success: false, latencyMs: 700 });
    stats.observe({ ...key, success: true, costUsd: 0.03 });
    stats.observe({ ...key, model: "sim:b", score: 0.5, success: true });
    const snap = stats.snapshot();
    const b = snap.buckets[bucketKey("code", "simple", "sim:a")]!;
    expect(b).toMatchObject({ n: 3, successes: 2, scored: 2, scoreSum: 1, costed: 2 });
    expect(b.costSum).toBeCloseTo(0.04, 12);
    expect(latencyPercentileMs(b, 0.5)).toBe(100);
    expect(latencyPercentileMs(b, 0.99)).toBe(1000);
    expect(Object.keys(snap.buckets)).toHaveLength(2);
    expect(StatsSnapshotSchema.parse(snap)).toEqual(snap);
  });

  it("names a snapshot by its content, independent of the order samples arrived in", () => {
    const a = new ModelStats();
    const b = new ModelStats();
    const samples = [
      { ...key, score: 1, success: true },
      { ...key, model: "sim:b", score: 0, success: false },
    ];
    samples.forEach((s) => a.observe(s));
    [...samples].reverse().forEach((s) => b.observe(s));
    expect(a.snapshot().id).toBe(b.snapshot().id);
    a.observe({ ...key, score: 1, success: true });
    expect(a.snapshot().id).not.toBe(b.snapshot().id);
    expect(new ModelStats().snapshot()).toBe(EMPTY_STATS);
  });

  it("resumes from a snapshot", () => {
    const a = new ModelStats();
    a.observe({ ...key, score: 1, success: true });
    const resumed = new ModelStats(a.snapshot());
    resumed.observe({ ...key, score: 0, success: false });
    expect(resumed.snapshot().buckets[bucketKey("code", "simple", "sim:a")]).toMatchObject({ n: 2, scored: 2, scoreSum: 1 });
    expect(a.snapshot().buckets[bucketKey("code", "simple", "sim:a")]).toMatchObject({ n: 1 });
  });

  it("rejects a score outside [0, 1]", () => {
    expect(() => new ModelStats().observe({ ...key, score: 1.5, success: true })).toThrow(/score must be in \[0, 1\]/);
  });
});

describe("expectedQuality", () => {
  it("is the prior without feedback and moves to the data as samples accumulate", () => {
    const stats = new ModelStats();
    expect(expectedQuality(stats.snapshot(), key, 0.8, 20)).toMatchObject({ quality: 0.8, samples: 0 });
    for (let i = 0; i < 20; i++) stats.observe({ ...key, score: 0.2, success: false });
    expect(expectedQuality(stats.snapshot(), key, 0.8, 20).quality).toBeCloseTo(0.5, 12);
    for (let i = 0; i < 1980; i++) stats.observe({ ...key, score: 0.2, success: false });
    expect(expectedQuality(stats.snapshot(), key, 0.8, 20).quality).toBeCloseTo(0.206, 3);
  });

  it("ignores success-only samples: a completed call says nothing about the answer's quality", () => {
    const stats = new ModelStats();
    for (let i = 0; i < 100; i++) stats.observe({ ...key, success: true });
    expect(expectedQuality(stats.snapshot(), key, 0.6, 20)).toMatchObject({ quality: 0.6, samples: 0 });
  });

  it("gives the Beta posterior whose mean it is: the prior as pseudo-counts plus scores as fractional successes", () => {
    const stats = new ModelStats();
    const none = expectedQuality(stats.snapshot(), key, 0.6, 20);
    expect(none.alpha).toBeCloseTo(12, 12);
    expect(none.beta).toBeCloseTo(8, 12);
    for (const score of [1, 0.5, 0]) stats.observe({ ...key, score, success: score > 0 });
    const some = expectedQuality(stats.snapshot(), key, 0.6, 20);
    expect(some.alpha).toBeCloseTo(12 + 1.5, 12);
    expect(some.beta).toBeCloseTo(8 + 1.5, 12);
    expect(some.quality).toBeCloseTo(some.alpha / (some.alpha + some.beta), 12);
    expect(some.samples).toBe(3);
  });
});
