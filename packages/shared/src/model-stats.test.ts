import { describe, expect, it } from "vitest";
import { bucketKey, EMPTY_STATS, expectedQuality, latencyPercentileMs, ModelStats, StatsSnapshotSchema, type OutcomeSample } from "./model-stats.js";

const key = { taskType: "code", complexity: "simple", model: "sim:a" } as const;

describe("ModelStats", () => {
  it("sums quality, success, cost and latency per (task type, complexity, model)", () => {
    const stats = new ModelStats();
    stats.observe({ ...key, kind: "call", ok: true, costUsd: 0.01, latencyMs: 80 });
    stats.observe({ ...key, kind: "call", ok: false, modelsFault: true, latencyMs: 700 });
    stats.observe({ ...key, kind: "call", ok: false, modelsFault: false });
    stats.observe({ ...key, kind: "feedback", score: 1, costUsd: 0.03 });
    stats.observe({ ...key, kind: "feedback", score: 0 });
    stats.observe({ ...key, model: "sim:b", kind: "feedback", score: 0.5 });
    const snap = stats.snapshot();
    const b = snap.buckets[bucketKey("code", "simple", "sim:a")]!;
    expect(b).toMatchObject({ n: 3, successes: 1, failures: 1, scored: 2, scoreSum: 1, costed: 2 });
    expect(b.costSum).toBeCloseTo(0.04, 12);
    expect(latencyPercentileMs(b, 0.5)).toBe(100);
    expect(latencyPercentileMs(b, 0.99)).toBe(1000);
    expect(Object.keys(snap.buckets)).toHaveLength(2);
    expect(StatsSnapshotSchema.parse(snap)).toEqual(snap);
  });

  it("names a snapshot by its content, independent of the order its buckets were filled in", () => {
    const a = new ModelStats();
    const b = new ModelStats();
    const samples: OutcomeSample[] = [
      { ...key, kind: "feedback", score: 1 },
      { ...key, model: "sim:b", kind: "call", ok: false, modelsFault: true },
    ];
    samples.forEach((s) => a.observe(s));
    [...samples].reverse().forEach((s) => b.observe(s));
    expect(a.snapshot().id).toBe(b.snapshot().id);
    a.observe({ ...key, kind: "feedback", score: 1 });
    expect(a.snapshot().id).not.toBe(b.snapshot().id);
    expect(new ModelStats().snapshot()).toBe(EMPTY_STATS);
  });

  it("adds another snapshot's counts and sums: two halves absorbed equal the whole", () => {
    const samples: OutcomeSample[] = [
      { kind: "call", ok: true, taskType: "code", complexity: "simple", model: "m:a", costUsd: 0.01, latencyMs: 300 },
      { kind: "call", ok: false, modelsFault: true, taskType: "code", complexity: "simple", model: "m:a", costUsd: 0, latencyMs: 9000 },
      { kind: "feedback", score: 0.5, taskType: "code", complexity: "simple", model: "m:a" },
      { kind: "feedback", score: 1, taskType: "chat", complexity: "simple", model: "m:b" },
    ];
    const whole = new ModelStats();
    const [left, right] = [new ModelStats(), new ModelStats()];
    samples.forEach((s, i) => {
      whole.observe(s);
      (i % 2 === 0 ? left : right).observe(s);
    });
    left.absorb(right.snapshot());
    expect(left.snapshot()).toEqual(whole.snapshot());
  });

  it("resumes from a snapshot", () => {
    const a = new ModelStats();
    a.observe({ ...key, kind: "feedback", score: 1 });
    a.observe({ ...key, kind: "call", ok: false, modelsFault: true });
    const resumed = new ModelStats(a.snapshot());
    resumed.observe({ ...key, kind: "feedback", score: 0 });
    resumed.observe({ ...key, kind: "call", ok: true });
    expect(resumed.snapshot().buckets[bucketKey("code", "simple", "sim:a")]).toMatchObject({ n: 2, successes: 1, failures: 1, scored: 2, scoreSum: 1 });
    expect(a.snapshot().buckets[bucketKey("code", "simple", "sim:a")]).toMatchObject({ n: 1, scored: 1 });
  });

  it("rejects a score outside [0, 1]", () => {
    expect(() => new ModelStats().observe({ ...key, kind: "feedback", score: 1.5 })).toThrow(/score must be in \[0, 1\]/);
  });
});

describe("expectedQuality", () => {
  it("is the prior without feedback and moves to the data as samples accumulate", () => {
    const stats = new ModelStats();
    expect(expectedQuality(stats.snapshot(), key, 0.8, 20)).toMatchObject({ quality: 0.8, samples: 0 });
    for (let i = 0; i < 20; i++) stats.observe({ ...key, kind: "feedback", score: 0.2 });
    expect(expectedQuality(stats.snapshot(), key, 0.8, 20).quality).toBeCloseTo(0.5, 12);
    for (let i = 0; i < 1980; i++) stats.observe({ ...key, kind: "feedback", score: 0.2 });
    expect(expectedQuality(stats.snapshot(), key, 0.8, 20).quality).toBeCloseTo(0.206, 3);
  });

  it("takes no quality from calls that answered: a completed call says nothing about the answer", () => {
    const stats = new ModelStats();
    for (let i = 0; i < 100; i++) stats.observe({ ...key, kind: "call", ok: true });
    expect(expectedQuality(stats.snapshot(), key, 0.6, 20)).toMatchObject({ quality: 0.6, samples: 0, reliability: 1 });
  });

  it("scales the quality by the model's reliability: a few failures among many answered calls cost little", () => {
    const stats = new ModelStats();
    for (let i = 0; i < 1000; i++) stats.observe({ ...key, kind: "call", ok: true });
    for (let i = 0; i < 25; i++) stats.observe({ ...key, kind: "call", ok: false, modelsFault: true });
    const estimate = expectedQuality(stats.snapshot(), key, 0.9, 20);
    // (20 + 1000) / (20 + 1000 + 25): the prior counts as 20 answered calls.
    expect(estimate.reliability).toBeCloseTo(1020 / 1045, 12);
    expect(estimate.quality).toBeCloseTo(0.9 * (1020 / 1045), 12);
    // Exploration needs feedback scores, and failures are not scores.
    expect(estimate.samples).toBe(0);
  });

  it("brings a model that keeps failing down, and ignores failures that are not the model's fault", () => {
    const failing = new ModelStats();
    for (let i = 0; i < 60; i++) failing.observe({ ...key, kind: "call", ok: false, modelsFault: true });
    expect(expectedQuality(failing.snapshot(), key, 0.8, 20).quality).toBeCloseTo(0.8 * (20 / 80), 12);
    const excused = new ModelStats();
    for (let i = 0; i < 60; i++) excused.observe({ ...key, kind: "call", ok: false, modelsFault: false });
    expect(expectedQuality(excused.snapshot(), key, 0.8, 20)).toMatchObject({ quality: 0.8, reliability: 1 });
    // Excused failures do not dilute the model's own: 100 deadlines beside 100 failures of its own.
    for (let i = 0; i < 100; i++) excused.observe({ ...key, kind: "call", ok: false, modelsFault: true });
    expect(expectedQuality(excused.snapshot(), key, 0.8, 20).reliability).toBeCloseTo(20 / 120, 12);
  });

  it("reads a snapshot kept before failures were counted apart: no failures", () => {
    const old = { id: "0123456789ab", buckets: { [bucketKey("code", "simple", "sim:a")]: { n: 3, successes: 2, scored: 1, scoreSum: 1, costed: 0, costSum: 0, latencyCounts: [] } } };
    const parsed = StatsSnapshotSchema.parse(old);
    expect(parsed.buckets[bucketKey("code", "simple", "sim:a")]!.failures).toBe(0);
    expect(expectedQuality(parsed, key, 0.5, 0).reliability).toBe(1);
  });

  it("gives the Beta posterior whose mean it is: the prior as pseudo-counts plus scores as fractional successes", () => {
    const stats = new ModelStats();
    const none = expectedQuality(stats.snapshot(), key, 0.6, 20);
    expect(none.alpha).toBeCloseTo(12, 12);
    expect(none.beta).toBeCloseTo(8, 12);
    for (const score of [1, 0.5, 0]) stats.observe({ ...key, kind: "feedback", score });
    const some = expectedQuality(stats.snapshot(), key, 0.6, 20);
    expect(some.alpha).toBeCloseTo(12 + 1.5, 12);
    expect(some.beta).toBeCloseTo(8 + 1.5, 12);
    expect(some.quality).toBeCloseTo(some.alpha / (some.alpha + some.beta), 12);
    expect(some.samples).toBe(3);
  });
});
