import { describe, expect, it } from "vitest";
import type { EvalError } from "./eval-errors.js";
import {
  alwaysStrong,
  alwaysWeak,
  apgr,
  cpt,
  type CurvePoint,
  oracle,
  type OperatingPoint,
  pairBaselines,
  pairReport,
  pairReportFromPoints,
  type PairRow,
  pgr,
  requireStrongDearer,
  savingsAt95,
  strongShareAtQuality,
  sweepThresholds,
  toPairOutcomes,
} from "./pair-metrics.js";

/** A prompt where strong scores `strong`, weak scores `weak`, the router says `s`; strong costs 10, weak 1. */
const row = (strong: number, weak: number, s: number, strongCost = 10, weakCost = 1): PairRow => ({
  strongScore: strong,
  weakScore: weak,
  strongCost,
  weakCost,
  s,
});

const shares = (curve: readonly OperatingPoint[]): number[] => curve.map((p) => p.strong_share);
const pgrs = (curve: readonly OperatingPoint[]): number[] => curve.map((p) => p.pgr);

/** A hand-made curve point; quality and cost do not matter to PGR-based metrics. */
const at = (share: number, pgrValue: number): CurvePoint => ({ threshold: null, strong_share: share, quality: 0, cost: 0, pgr: pgrValue });

/** Small deterministic PRNG (mulberry32): randomness is injected, never Math.random. */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// Four prompts: A and B need the strong model (strong 1, weak 0), C both solve, D neither.
// Always-strong quality 3/4, always-weak 1/4, gap 1/2; a fraction f = 1/2 needs the strong model.
const PERFECT = [row(1, 0, 0.9), row(1, 0, 0.8), row(1, 1, 0.3), row(0, 0, 0.2)];

// Five prompts, strong costs 10 and weak 1 on each. Always-strong quality 4/5, always-weak 2/5.
// Sweep (share: quality, mean cost):
//   0: 0.4, 1   0.2: 0.6, 2.8   0.4: 0.8, 4.6   0.6: 0.8, 6.4   0.8: 0.8, 8.2   1: 0.8, 10
const FIVE = [row(1, 0, 0.9), row(1, 0, 0.7), row(1, 1, 0.5), row(1, 1, 0.3), row(0, 0, 0.1)];

describe("pgr", () => {
  it("is 0 at weak quality, 1 at strong quality and above 1 beyond it", () => {
    expect(pgr(0.6, 0.6, 0.8)).toBe(0);
    expect(pgr(0.8, 0.6, 0.8)).toBe(1);
    expect(pgr(0.7, 0.6, 0.8)).toBeCloseTo(0.5, 12);
    expect(pgr(0.9, 0.6, 0.8)).toBeCloseTo(1.5, 12);
  });

  it("is undefined (NaN) when both models have the same quality", () => {
    expect(pgr(0.5, 0.5, 0.5)).toBeNaN();
  });
});

describe("sweepThresholds", () => {
  it("gives one point per distinct router score plus the all-weak endpoint", () => {
    const curve = sweepThresholds(PERFECT);
    expect(curve.map((p) => p.threshold)).toEqual([null, 0.9, 0.8, 0.3, 0.2]);
    expect(shares(curve)).toEqual([0, 0.25, 0.5, 0.75, 1]);
    // Quality: 1/4, then A to strong 2/4, then B 3/4, then C and D change nothing.
    expect(curve.map((p) => p.quality)).toEqual([0.25, 0.5, 0.75, 0.75, 0.75]);
    // Cost: weak everywhere = 1; each prompt moved to strong adds 9/4.
    expect(curve.map((p) => p.cost)).toEqual([1, 3.25, 5.5, 7.75, 10]);
  });

  it("moves rows with tied router scores together", () => {
    const curve = sweepThresholds([row(1, 0, 0.9), row(1, 0, 0.5), row(0, 0, 0.5), row(1, 1, 0.1)]);
    // The two rows at 0.5 go to strong at once: there is no point at share 0.5.
    expect(shares(curve)).toEqual([0, 0.25, 0.75, 1]);
    expect(curve.map((p) => p.threshold)).toEqual([null, 0.9, 0.5, 0.1]);
  });

  it("rejects an empty set and a non-finite router score with EVAL_INPUT_INVALID", () => {
    expect(() => sweepThresholds([])).toThrow(expect.objectContaining({ code: "EVAL_INPUT_INVALID" }));
    expect(() => sweepThresholds([row(1, 0, Number.NaN)])).toThrow(expect.objectContaining({ code: "EVAL_INPUT_INVALID" }));
  });
});

describe("apgr", () => {
  it("scores a perfect router 1 − f/2", () => {
    const curve = sweepThresholds(PERFECT);
    expect(pgrs(curve)).toEqual([0, 0.5, 1, 1, 1]);
    // Trapezoids of width 1/4: (0+.5)/2 + (.5+1)/2 + 1 + 1, times 1/4 = 0.0625 + 0.1875 + 0.25 + 0.25 = 0.75.
    expect(apgr(curve)).toBeCloseTo(0.75, 12);
  });

  it("scores a reversed router f/2", () => {
    const reversed = PERFECT.map((r) => ({ ...r, s: 1 - r.s }));
    const curve = sweepThresholds(reversed);
    // D and C first (no gain), then B, then A.
    expect(pgrs(curve)).toEqual([0, 0, 0, 0.5, 1]);
    // (0 + 0 + (0+.5)/2 + (.5+1)/2) / 4 = (0.25 + 0.75) / 4 = 0.25.
    expect(apgr(curve)).toBeCloseTo(0.25, 12);
  });

  it("scores a router that cannot tell prompts apart exactly 0.5", () => {
    const tied = PERFECT.map((r) => ({ ...r, s: 0.5 }));
    // One band of ties: the curve is the straight line from (0, 0) to (1, 1).
    expect(shares(sweepThresholds(tied))).toEqual([0, 1]);
    expect(apgr(sweepThresholds(tied))).toBe(0.5);
  });

  it("scores a router whose scores ignore the outcomes close to 0.5", () => {
    const rand = seeded(42);
    const rows: PairRow[] = Array.from({ length: 2000 }, () => {
      const u = rand();
      // 30% need strong, 10% only weak solves, 40% both, 20% neither.
      const [strong, weak] = u < 0.3 ? [1, 0] : u < 0.4 ? [0, 1] : u < 0.8 ? [1, 1] : [0, 0];
      return row(strong, weak, rand());
    });
    // The expected PGR at every share equals the share, so the expected APGR is exactly 0.5;
    // with 2,000 rows the spread is about 0.01.
    expect(Math.abs(apgr(sweepThresholds(rows)) - 0.5)).toBeLessThan(0.04);
  });

  it("extends a curve that does not span [0, 1] with the (0, 0) and (1, 1) endpoints", () => {
    // (0,0)–(0.5,0.9): 0.5 × 0.45 = 0.225; (0.5,0.9)–(1,1): 0.5 × 0.95 = 0.475; total 0.7.
    expect(apgr([at(0.5, 0.9)])).toBeCloseTo(0.7, 12);
  });
});

describe("cpt", () => {
  // PGR: 0 at share 0, 0.4 at 0.2, 0.9 at 0.5, 1 at 1.
  const curve = [at(0, 0), at(0.2, 0.4), at(0.5, 0.9), at(1, 1)];

  it("interpolates the share linearly between the sweep points around the target", () => {
    // 50% lies 0.1/0.5 = 1/5 of the way from (0.2, 0.4) to (0.5, 0.9): 0.2 + 0.3/5 = 0.26.
    expect(cpt(curve, 50)).toBeCloseTo(0.26, 12);
    // 80%: 0.4/0.5 of the way: 0.2 + 0.24 = 0.44.
    expect(cpt(curve, 80)).toBeCloseTo(0.44, 12);
  });

  it("returns a sweep point's own share when the point reaches the target exactly", () => {
    expect(cpt(curve, 40)).toBeCloseTo(0.2, 12);
    expect(cpt(curve, 0)).toBe(0);
    expect(cpt(curve, 100)).toBe(1);
  });

  it("returns null for a target no point reaches", () => {
    expect(cpt(curve, 120)).toBeNull();
  });

  it("interpolates from the implied (0, 0) endpoint when the curve starts later", () => {
    // (0, 0) to (0.5, 0.9): 45% is halfway, share 0.25.
    expect(cpt([at(0.5, 0.9), at(1, 1)], 45)).toBeCloseTo(0.25, 12);
  });
});

describe("strong share and savings at 95% of always-strong quality", () => {
  it("interpolates share and cost between the sweep points around the target", () => {
    const curve = sweepThresholds(FIVE);
    // Target 0.95 × 0.8 = 0.76, between (0.2, 0.6) and (0.4, 0.8): 0.16/0.2 = 4/5 of the way,
    // share 0.2 + 0.8 × 0.2 = 0.36 and cost 2.8 + 0.8 × 1.8 = 4.24, so 1 − 4.24/10 = 57.6% saved.
    expect(strongShareAtQuality(curve, 0.76)).toBeCloseTo(0.36, 12);
    expect(savingsAt95(curve)).toBeCloseTo(0.576, 12);
  });

  it("returns null when the quality target is never reached", () => {
    expect(strongShareAtQuality(sweepThresholds(FIVE), 0.81)).toBeNull();
  });

  it("refuses a curve without its always-strong point", () => {
    try {
      savingsAt95([at(0, 0)]);
      expect.unreachable();
    } catch (err) {
      expect((err as EvalError).code).toBe("EVAL_INPUT_INVALID");
    }
  });
});

describe("baselines", () => {
  it("match hand computations on five prompts", () => {
    const b = pairBaselines(FIVE);
    expect(b.always_strong).toEqual({ strong_share: 1, quality: 0.8, cost: 10, pgr: 1 });
    expect(b.always_weak).toEqual({ strong_share: 0, quality: 0.4, cost: 1, pgr: 0 });
    // Oracle: strong only on the first two prompts; quality (1+1+1+1+0)/5, cost (10+10+1+1+1)/5.
    expect(b.oracle.strong_share).toBeCloseTo(0.4, 12);
    expect(b.oracle.quality).toBeCloseTo(0.8, 12);
    expect(b.oracle.cost).toBeCloseTo(4.6, 12);
    // Random: the line from (0, 0.4, $1) to (1, 0.8, $10). 0.76 is reached at share 0.36/0.4 = 0.9,
    // costing 1 + 0.9 × 9 = 9.1, so 9% saved.
    expect(b.random.apgr).toBeCloseTo(0.5, 12);
    expect(b.random.cpt50).toBeCloseTo(0.5, 12);
    expect(b.random.cpt80).toBeCloseTo(0.8, 12);
    expect(b.random.strong_share_at_95).toBeCloseTo(0.9, 12);
    expect(b.random.savings_at_95).toBeCloseTo(0.09, 12);
  });

  it("the oracle reaches 100% PGR at the share of prompts only the strong model solves", () => {
    const o = oracle(FIVE);
    expect(o.pgr).toBeCloseTo(1, 12);
    // Two of five prompts are solved only by the strong model.
    expect(o.strong_share).toBeCloseTo(2 / 5, 12);
    // A router scoring exactly those prompts high reaches 100% PGR at that share, not before.
    const oracleRouter = FIVE.map((r) => ({ ...r, s: r.strongScore > r.weakScore ? 1 : 0 }));
    expect(cpt(sweepThresholds(oracleRouter), 100)).toBeCloseTo(0.4, 12);
  });

  it("the oracle exceeds 100% PGR when the weak model sometimes wins", () => {
    // Strong 3/5, weak 2/5; the oracle gets 4/5 (everything but the last): PGR (0.8 − 0.4)/0.2 = 2.
    const rows = [row(1, 0, 0), row(1, 0, 0), row(0, 1, 0), row(1, 1, 0), row(0, 0, 0)];
    expect(oracle(rows).pgr).toBeCloseTo(2, 12);
    expect(oracle(rows).strong_share).toBeCloseTo(0.4, 12);
    // Always-strong and always-weak match their means.
    expect(alwaysStrong(rows).quality).toBeCloseTo(0.6, 12);
    expect(alwaysWeak(rows).quality).toBeCloseTo(0.4, 12);
  });
});

describe("pairReport", () => {
  it("reports APGR, CPT, the 95% share and savings under the CLI's keys", () => {
    const report = pairReport(FIVE);
    expect(Object.keys(report).sort()).toEqual(["apgr", "baselines", "cpt50", "cpt80", "curve", "savings_at_95", "strong_share_at_95"]);
    // PGR along the sweep: 0, 0.5, 1, 1, 1, 1 at shares 0, 0.2, …, 1.
    // APGR = 0.2 × (0.25 + 0.75) + 0.6 × 1 = 0.8 (= 1 − f/2 with f = 0.4).
    expect(report.apgr).toBeCloseTo(0.8, 12);
    expect(report.cpt50).toBeCloseTo(0.2, 12);
    // 80%: 0.3/0.5 of the way from share 0.2 to 0.4 = 0.32.
    expect(report.cpt80).toBeCloseTo(0.32, 12);
    expect(report.strong_share_at_95).toBeCloseTo(0.36, 12);
    expect(report.savings_at_95).toBeCloseTo(0.576, 12);
    expect(report.curve).toHaveLength(6);
    expect(report.baselines.oracle.strong_share).toBeCloseTo(0.4, 12);
  });
});

describe("pairReportFromPoints (what eval:routing scores)", () => {
  // FIVE's outcomes (always strong 0.8 at cost 10, always weak 0.4 at cost 1) and a router measured
  // at six settings: one scores below a setting with a smaller share (0.4: 0.5 after 0.2: 0.6),
  // and two share 0.2. PGR (quality − 0.4) / 0.4 along the curve: 0, 0.5, 0.25, 1, 1.
  const points = [
    { knob: 1.01, strong_share: 0, quality: 0.4, cost: 1 },
    { knob: 0.8, strong_share: 0.2, quality: 0.6, cost: 2.8 },
    { knob: 0.75, strong_share: 0.2, quality: 0.55, cost: 2.8 },
    { knob: 0.6, strong_share: 0.4, quality: 0.5, cost: 4.6 },
    { knob: 0.4, strong_share: 0.6, quality: 0.8, cost: 6.4 },
    { knob: 0, strong_share: 1, quality: 0.8, cost: 10 },
  ];
  const report = pairReportFromPoints([...points].reverse(), FIVE);

  it("keeps every share once, the dip included, in ascending share", () => {
    expect(report.curve.map((p) => [p.strong_share, p.quality])).toEqual([[0, 0.4], [0.2, 0.6], [0.4, 0.5], [0.6, 0.8], [1, 0.8]]);
    expect(pgrs(report.curve).map((x) => Number(x.toFixed(12)))).toEqual([0, 0.5, 0.25, 1, 1]);
  });

  it("scores the curve it kept: APGR, CPT and the 95% point by hand", () => {
    // Trapezoids: 0.2 × 0.25 + 0.2 × 0.375 + 0.2 × 0.625 + 0.4 × 1 = 0.65 (0.75 had the dip been dropped).
    expect(report.apgr).toBeCloseTo(0.65, 12);
    expect(report.cpt50).toBeCloseTo(0.2, 12);
    // 80%: from (0.4, 0.25) to (0.6, 1), 0.55 / 0.75 of the way: 0.4 + 0.2 × 11/15.
    expect(report.cpt80).toBeCloseTo(0.4 + (0.2 * 11) / 15, 12);
    // Quality 0.95 × 0.8 = 0.76: from (0.4, 0.5) to (0.6, 0.8), 0.26 / 0.3 of the way: share
    // 0.4 + 0.2 × 13/15, cost 4.6 + 1.8 × 13/15 = 6.16, saved 1 − 6.16 / 10 = 38.4%.
    expect(report.strong_share_at_95).toBeCloseTo(0.4 + (0.2 * 13) / 15, 12);
    expect(report.savings_at_95).toBeCloseTo(0.384, 12);
    expect(report.baselines.always_strong).toMatchObject({ quality: 0.8, cost: 10 });
  });

  it("gives the same report whatever order the settings come in, and refuses an empty sweep", () => {
    expect(pairReportFromPoints(points, FIVE)).toEqual(report);
    expect(() => pairReportFromPoints([], FIVE)).toThrow(expect.objectContaining({ code: "EVAL_INPUT_INVALID" }));
  });
});

describe("when PGR is undefined (both models have the same mean quality)", () => {
  // Strong solves the first prompt only, weak the second only: both mean 1/2, no gap to recover.
  const TIED = [row(1, 0, 0.9), row(0, 1, 0.1)];

  it("gives no APGR and no CPT, for the router and the random baseline alike", () => {
    const report = pairReport(TIED);
    expect(report.apgr).toBeNaN();
    expect(report.cpt50).toBeNull();
    expect(report.cpt80).toBeNull();
    expect(report.baselines.always_strong.pgr).toBeNaN();
    expect(report.baselines.always_weak.pgr).toBeNaN();
    expect(report.baselines.random.apgr).toBeNaN();
    expect(report.baselines.random.cpt50).toBeNull();
    // The quality target still means something: always-weak already reaches 95% of always-strong.
    expect(report.strong_share_at_95).toBe(0);
  });

  it("does not read 100% off an always-strong end the router's settings never reach", () => {
    const points = [
      { knob: 1, strong_share: 0, quality: 0.5, cost: 1 },
      { knob: 0.5, strong_share: 0.5, quality: 0.5, cost: 5.5 },
    ];
    const report = pairReportFromPoints(points, TIED);
    expect(report.cpt50).toBeNull();
    expect(report.cpt80).toBeNull();
    expect(report.apgr).toBeNaN();
    expect(cpt([at(0.5, Number.NaN)], 50)).toBeNull();
  });
});

describe("a curve whose settings stop short of share 0 or 1", () => {
  // FIVE's outcomes: always weak (0, 0.4, $1), always strong (1, 0.8, $10). The router's settings
  // reach neither end: (0.2, 0.6, $2.8) and (0.6, 0.7, $6.4), PGR 0.5 and 0.75.
  const report = pairReportFromPoints(
    [
      { knob: 0.8, strong_share: 0.2, quality: 0.6, cost: 2.8 },
      { knob: 0.4, strong_share: 0.6, quality: 0.7, cost: 6.4 },
    ],
    FIVE,
  );

  it("is completed with the always-weak and always-strong points for APGR, CPT and the 95% point alike", () => {
    // Trapezoids over (0, 0), (0.2, 0.5), (0.6, 0.75), (1, 1): 0.05 + 0.25 + 0.35 = 0.65.
    expect(report.apgr).toBeCloseTo(0.65, 12);
    // 80%: from (0.6, 0.75) to (1, 1), 0.05 / 0.25 of the way: 0.68.
    expect(report.cpt80).toBeCloseTo(0.68, 12);
    // 95% of 0.8 is 0.76, PGR 0.9: from (0.6, 0.7, $6.4) to always strong (1, 0.8, $10), 0.6 of
    // the way: share 0.84, cost 8.56, 14.4% saved. The same share CPT(90%) reads off the curve.
    expect(report.strong_share_at_95).toBeCloseTo(0.84, 12);
    expect(report.savings_at_95).toBeCloseTo(0.144, 12);
    expect(cpt(report.curve, 90)).toBeCloseTo(report.strong_share_at_95!, 12);
    // The curve reported is the router's own settings.
    expect(shares(report.curve)).toEqual([0.2, 0.6]);
  });

  it("reaches the 95% point from the always-weak end when the first setting is already above it", () => {
    // (0.5, 0.8, $5.5) alone: 0.76 lies 0.9 of the way from always weak (0, 0.4, $1), as does PGR 0.9.
    const high = pairReportFromPoints([{ knob: 0.5, strong_share: 0.5, quality: 0.8, cost: 5.5 }], FIVE);
    expect(high.strong_share_at_95).toBeCloseTo(0.45, 12);
    expect(high.savings_at_95).toBeCloseTo(1 - 5.05 / 10, 12);
    expect(cpt(high.curve, 90)).toBeCloseTo(0.45, 12);
  });

  it("is refused by the 95% point without the ends to complete it", () => {
    expect(() => strongShareAtQuality([at(0.5, 0.9), at(1, 1)], 0.5)).toThrow(expect.objectContaining({ code: "EVAL_INPUT_INVALID" }));
  });
});

describe("toPairOutcomes", () => {
  it("fails with EVAL_MODEL_MISSING naming the row that lacks a model", () => {
    const evalRow = { id: "q-1", source: "t", category: "c", prompt: "p", outcomes: { big: { score: 1, cost_usd: 0.01 } } };
    expect(() => toPairOutcomes([evalRow], { strong: "big", weak: "small" })).toThrow(
      expect.objectContaining({ code: "EVAL_MODEL_MISSING", message: expect.stringContaining("q-1") }),
    );
    const both = { ...evalRow, outcomes: { ...evalRow.outcomes, small: { score: 0, cost_usd: 0.001 } } };
    expect(toPairOutcomes([both], { strong: "big", weak: "small" })).toEqual([{ strongScore: 1, weakScore: 0, strongCost: 0.01, weakCost: 0.001 }]);
  });
});

describe("requireStrongDearer", () => {
  it("says to swap a pair whose strong model is the cheaper, and that two models of one price save nothing", () => {
    expect(() => requireStrongDearer({ model: "a", meanCostUsd: 1 }, { model: "b", meanCostUsd: 0.5 }, "the rows")).not.toThrow();
    expect(() => requireStrongDearer({ model: "a", meanCostUsd: 0.5 }, { model: "b", meanCostUsd: 1 }, "the rows")).toThrow(/swap --strong and --weak/);
    const same = (): void => requireStrongDearer({ model: "a", meanCostUsd: 0 }, { model: "b", meanCostUsd: 0 }, "the rows");
    expect(same).toThrow(/cost the same on the rows .*saves nothing/);
    expect(same).not.toThrow(/swap/);
  });
});
