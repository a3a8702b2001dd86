import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { mkdtemp, readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { foldOf, splitRows } from "@llm-router/classifier";
import { EVAL_ERROR_CODES, devDataFile, parseRoutingEvalJsonl, type RoutingEvalRow } from "@llm-router/eval";
import { evaluateRouting, holdOut, knobSettings, knobsAtSwitches } from "./eval-routing.js";

// The development data (../shared/data, or ROUTER_DATA_DIR); a missing file fails saying where it looked.
const GSM8K = () => devDataFile("gsm8k.dev.jsonl");
const MMLU = () => devDataFile("mmlu.dev.jsonl");
const ROUTERBENCH = () => devDataFile("routerbench.dev.jsonl");
const ROOT = new URL("../../../", import.meta.url);

/**
 * Synthetic rows the router can only route well by reading the prompt: prompts about "proofs"
 * are failed by the weak model and solved by the strong one, prompts about "greetings" are solved
 * by both. Words vary per row so the learned model must generalise across them.
 */
function synthetic(n: number, seed: string): RoutingEvalRow[] {
  const topics = ["algebra", "geometry", "number theory", "topology", "combinatorics", "analysis"];
  return Array.from({ length: n }, (_, i) => {
    const hard = i % 3 === 0;
    const topic = topics[i % topics.length]!;
    const prompt = hard ? `Give a rigorous formal proof of lemma ${i} in ${topic}, step by step.` : `Say hello to friend number ${i} who likes ${topic}.`;
    return {
      id: `${seed}-${i}`,
      source: "synthetic",
      category: hard ? "proof" : "greeting",
      prompt,
      outcomes: {
        strong: { score: 1, cost_usd: 0.01 },
        weak: { score: hard ? 0 : 1, cost_usd: 0.0005 },
      },
    };
  });
}

/**
 * Three models and two kinds of prompt: code prompts are solved by "mid" and "top" but not "low";
 * chat prompts by all three. The efficient router sends code to mid and chat to low; "top" is
 * never worth its price. Always-top quality is 1 at 0.02; the efficient mix is 1 at 0.0045.
 */
function threeModels(n: number, seed: string): RoutingEvalRow[] {
  return Array.from({ length: n }, (_, i) => {
    const code = i % 2 === 0;
    const prompt = code ? `Write a Python function \`f${i}(xs)\` that returns the sorted list of unique items.\n\`\`\`python\ndef f${i}(xs):\n    pass\n\`\`\`` : `Hello! How are you doing today, friend ${i}?`;
    return {
      id: `${seed}-${i}`,
      source: "synthetic",
      category: code ? "code" : "chat",
      prompt,
      outcomes: {
        low: { score: code ? 0 : 1, cost_usd: 0.001 },
        mid: { score: 1, cost_usd: 0.008 },
        top: { score: 1, cost_usd: 0.02 },
      },
    };
  });
}

describe("evaluateRouting", () => {
  it("learns from the training rows and routes held-out prompts through classify and select", () => {
    const r = evaluateRouting({ train: synthetic(300, "train"), test: synthetic(90, "test"), knobs: 41 });
    if (r.mode !== "pair") throw new Error("expected pair mode");
    expect([r.strong, r.weak]).toEqual(["strong", "weak"]);
    // A third of the prompts need the strong model: a good router sends about that share.
    expect(r.strong_share_at_95).not.toBeNull();
    expect(r.strong_share_at_95!).toBeLessThan(0.45);
    expect(r.apgr).toBeGreaterThan(0.8);
    expect(r.savings_at_95!).toBeGreaterThan(0.5);
    expect(r.baselines.random.apgr).toBeCloseTo(0.5, 9);
    expect(r.curve[0]!.strong_share).toBeLessThanOrEqual(r.curve[r.curve.length - 1]!.strong_share);
    // pFail against what happened: every test row has both outcomes; the lowest-pFail bin holds
    // greetings (the weak model never fails them), the highest proofs (it always does).
    const cal = r.pfail_calibration!;
    expect(cal.rows).toBe(90);
    expect(cal.bins.reduce((n, b) => n + b.rows, 0)).toBe(90);
    expect(cal.bins[0]!.observed).toBe(0);
    expect(cal.bins[cal.bins.length - 1]!.observed).toBe(1);
    expect(cal.bins[cal.bins.length - 1]!.meanP).toBeGreaterThan(cal.bins[0]!.meanP);
    expect(cal.ece).toBeCloseTo(cal.bins.reduce((sum, b) => sum + b.rows * Math.abs(b.meanP - b.observed), 0) / 90, 12);
    expect(r.bootstrap).toBeNull();
  });

  it("puts bootstrap intervals around the headline figures, reproducibly for a seed", () => {
    const options = { train: synthetic(300, "train"), test: synthetic(90, "test"), knobs: 41, bootstrap: 100 };
    const r = evaluateRouting(options);
    if (r.mode !== "pair") throw new Error("expected pair mode");
    expect(r.bootstrap).toMatchObject({ samples: 100, level: 0.95 });
    const share = r.bootstrap!.intervals.strong_share_at_95!;
    // The interval holds the figure measured on all the rows, and the test sample's noise widens it:
    // which and how many proofs a redraw holds moves the share of prompts that need the strong model.
    expect(share.low).toBeLessThanOrEqual(r.strong_share_at_95!);
    expect(share.high).toBeGreaterThanOrEqual(r.strong_share_at_95!);
    expect(share.high - share.low).toBeGreaterThan(0.05);
    expect(r.bootstrap!.intervals.apgr!.low).toBeLessThanOrEqual(r.apgr);
    expect(r.bootstrap!.intervals.savings_at_95!.high).toBeGreaterThanOrEqual(r.savings_at_95!);
    expect(evaluateRouting(options).bootstrap).toEqual(r.bootstrap);

    const multi = evaluateRouting({ train: threeModels(200, "train"), test: threeModels(60, "test"), knobs: 31, pFailThreshold: 1e9, bootstrap: 50 });
    const saved = multi.bootstrap!.intervals.savings_at_95!;
    expect(saved.low).toBeLessThanOrEqual(multi.savings_at_95!);
    expect(saved.high).toBeGreaterThanOrEqual(multi.savings_at_95!);
  });

  it("gives no bootstrap interval to a figure the test rows leave undefined (APGR when both models score alike)", () => {
    // The weak model fails the proofs (every third row) and the strong one the first greetings,
    // as many rows: the two have one mean quality, and PGR is undefined. Redraws differ by chance
    // and used to give APGR an interval such as -25 to 48.
    const alike = (rows: RoutingEvalRow[]) => {
      let strongFails = rows.filter((r) => r.category === "proof").length;
      return rows.map((r) => (r.category === "greeting" && strongFails-- > 0 ? { ...r, outcomes: { ...r.outcomes, strong: { score: 0, cost_usd: 0.01 } } } : r));
    };
    const r = evaluateRouting({ train: synthetic(120, "a"), test: alike(synthetic(60, "b")), knobs: 11, bootstrap: 50 });
    expect(JSON.parse(JSON.stringify(r))).toMatchObject({ apgr: null, bootstrap: { intervals: { apgr: null } } });
    expect(r.bootstrap!.intervals).toHaveProperty("strong_share_at_95");
  });

  it("counts the training rows pFail learns from and the outcomes the statistics get, not the rows given", () => {
    // Half the training rows have no weak outcome: they teach pFail nothing.
    const train = synthetic(60, "a").map((r, i) => (i % 2 === 0 ? { ...r, outcomes: { strong: r.outcomes.strong! } } : r));
    const progress: string[] = [];
    const test = synthetic(18, "b").map((r) => ({ ...r, prompt: `${r.prompt} Now.` })); // no prompt of the training rows
    evaluateRouting({ train, test, knobs: 5, bootstrap: 0, progress: (line) => progress.push(line) });
    expect(progress).toContain("training pFail on 30 rows (strong vs weak); 30 training rows lack an outcome for one of them…");
    expect(progress.find((line) => line.startsWith("fed "))).toMatch(/^fed 90 outcomes of 2 models on 60 rows to the statistics/);
  });

  it("names a missing model with the models there are", () => {
    expect(() => evaluateRouting({ train: synthetic(30, "a"), test: synthetic(9, "b"), models: ["strong", "gpt-9"] })).toThrow(
      expect.objectContaining({ code: EVAL_ERROR_CODES.EVAL_MODEL_MISSING, message: expect.stringContaining("models: strong, weak") }),
    );
  });

  it("trains pFail on the pair given, and refuses a strong model that costs no more than the weak one", () => {
    const r = evaluateRouting({ train: synthetic(60, "a"), test: synthetic(18, "b"), strong: "strong", weak: "weak" });
    expect(r.pfailPair).toEqual({ strong: "strong", weak: "weak" });
    expect(() => evaluateRouting({ train: synthetic(60, "a"), test: synthetic(18, "b"), strong: "weak", weak: "strong" })).toThrow(
      expect.objectContaining({ code: EVAL_ERROR_CODES.EVAL_INPUT_INVALID, message: expect.stringContaining("swap --strong and --weak") }),
    );
  });

  it("names the first test row without a routed model's outcome before training anything", () => {
    const test = synthetic(18, "b").map((r, i) => (i === 3 || i === 7 ? { ...r, outcomes: { strong: r.outcomes.strong! } } : r));
    const progress: string[] = [];
    expect(() => evaluateRouting({ train: synthetic(60, "a"), test, progress: (line) => progress.push(line) })).toThrow(
      expect.objectContaining({ code: EVAL_ERROR_CODES.EVAL_MODEL_MISSING, message: expect.stringContaining('test row "b-3" has no outcome for "weak" (and 1 more test rows)') }),
    );
    expect(progress.filter((line) => line.includes("training pFail"))).toEqual([]);
  });

  it("says what is missing when the rows have too few models' outcomes to score or to train on", () => {
    const noOutcomes = synthetic(9, "b").map((r) => ({ ...r, outcomes: {} }));
    expect(() => evaluateRouting({ train: synthetic(30, "a"), test: noOutcomes })).toThrow(
      expect.objectContaining({ code: EVAL_ERROR_CODES.EVAL_INPUT_INVALID, message: expect.stringContaining("the test rows have no model outcomes") }),
    );
    const strongOnly = synthetic(9, "b").map((r) => ({ ...r, outcomes: { strong: r.outcomes.strong! } }));
    expect(() => evaluateRouting({ train: synthetic(30, "a"), test: strongOnly })).toThrow(/outcomes for one model only \(strong\)/);
    const otherPair = synthetic(30, "a").map((r) => ({ ...r, outcomes: { strong: r.outcomes.strong!, tiny: r.outcomes.weak! } }));
    expect(() => evaluateRouting({ train: otherPair, test: synthetic(9, "b") })).toThrow(
      expect.objectContaining({ code: EVAL_ERROR_CODES.EVAL_MODEL_MISSING, message: expect.stringContaining("outcomes for only strong of the routed models (strong, weak)") }),
    );
  });

  it("routes many models by answer value: each kind of task to its cheapest model that solves it", () => {
    // pFail kept from raising the bar, so the answer value alone decides.
    const r = evaluateRouting({ train: threeModels(200, "train"), test: threeModels(60, "test"), knobs: 61, pFailThreshold: 1e9 });
    if (r.mode !== "multi") throw new Error("expected multi mode");
    expect(r.pFailThreshold).toBe(1e9);
    // mid and top both score 1: the best single model is the cheaper, mid, at 0.008.
    expect(r.best_single).toMatchObject({ model: "mid", quality: 1 });
    // At a value of 0 everything goes to low (quality 0.5); once a right answer is worth more
    // than low's shortfall on code, code goes to mid and chat stays on low: quality 1 at 0.0045.
    expect(r.curve[0]).toMatchObject({ knob: 0, quality: 0.5 });
    const efficient = r.curve.find((p) => p.quality === 1)!;
    expect(efficient.cost).toBeCloseTo(0.0045, 9);
    // 95% of mid's quality lies 90% of the way from the first point to that one (interpolated):
    // 0.001 + 0.9 × 0.0035 = 0.00415, 48.1% less than mid.
    expect(r.curve).toHaveLength(2);
    expect(r.savings_at_95!).toBeCloseTo(1 - 0.00415 / 0.008, 9);
    // No setting pays for top: it is never better than mid.
    expect(r.curve.every((p) => p.cost <= 0.0045 + 1e-12)).toBe(true);
  });

  it("puts the oracle and the random router beside the single models in many-model mode", () => {
    const r = evaluateRouting({ train: threeModels(60, "a"), test: threeModels(20, "b"), bootstrap: 0 });
    if (r.mode !== "multi") throw new Error("expected many-model mode");
    // Code to mid ($0.008), chat to low ($0.001): every prompt solved at $0.0045 on average.
    expect(r.baselines.oracle.quality).toBe(1);
    expect(r.baselines.oracle.cost).toBeCloseTo(0.0045, 12);
    expect(r.baselines.random.quality).toBeCloseTo(2.5 / 3, 12);
    expect(r.baselines.random.cost).toBeCloseTo(0.029 / 3, 12);
    expect(r.baselines.best_single).toEqual(r.best_single);
    expect(r.baselines.cheapest_single.model).toBe("low");
  });

  it("lets pFail raise the bar in many-model mode by default", () => {
    const r = evaluateRouting({ train: threeModels(200, "train"), test: threeModels(60, "test"), knobs: 11 });
    if (r.mode !== "multi") throw new Error("expected multi mode");
    expect(r.pFailThreshold).toBe(1);
    // The code prompts' pFail alone sends them past low, even at a value of 0.
    expect(r.curve[0]!.quality).toBeGreaterThan(0.9);
  });

  it("puts a knob setting in every gap between the rows' switch points when they are fewer than the settings, and keeps both ends", () => {
    // 0 escalates everything (or picks the cheapest models); twice the largest switch point is past them all.
    expect(knobsAtSwitches([0.5, 0.25, 1, 0.5], 5)).toEqual([0, 0.375, 0.75, 2]);
    expect(knobsAtSwitches([], 101)).toEqual([0, 1]);
  });

  it("spaces the knob settings so that each step passes an equal share of the switch points, except where many tie", () => {
    // 1000 distinct switch points, crowded towards 0: 11 settings, each step passes 100 of them.
    const crowded = Array.from({ length: 1000 }, (_, i) => ((i + 1) / 1000) ** 3);
    const knobs = knobsAtSwitches(crowded, 11);
    expect(knobs).toHaveLength(11);
    expect(knobs[0]).toBe(0);
    expect(knobs[10]).toBe(2);
    const passed = (points: number[], k: number) => points.filter((p) => p > knobs[k - 1]! && p < knobs[k]!).length;
    for (let k = 1; k < knobs.length; k++) expect(passed(crowded, k)).toBe(100);
    // No setting sits on a switch point, where the selector's float arithmetic could go either way.
    expect(knobs.filter((k) => crowded.includes(k))).toEqual([]);
    // 400 rows switching at one value move together: that step passes them all, the others stay small.
    const tied = [...Array.from({ length: 600 }, (_, i) => (i + 1) / 600), ...Array<number>(400).fill(0.5)];
    const tiedKnobs = knobsAtSwitches(tied, 11);
    const steps = tiedKnobs.slice(1).map((_, k) => tied.filter((p) => p > tiedKnobs[k]! && p < tiedKnobs[k + 1]!).length);
    expect(Math.max(...steps)).toBeGreaterThanOrEqual(400);
    expect(steps.filter((n) => n > 101)).toHaveLength(1);
  });

  it("sweeps the knob from everything escalated to nothing escalated", () => {
    expect(knobSettings([0.2, 0.4, 0.4, 0.9], 5)).toEqual([0, 0.2, 0.4, 0.9, 1.01]);
  });

  describe("holdOut", () => {
    // Rows of four uneven outcome patterns for the pair big/small (and a third, dearer model "top"
    // that agrees with neither): i % 10 in 0-4 both right, 5-6 only big, 7 only small, 8-9 neither.
    const patterned = (n: number, prefix: string): RoutingEvalRow[] =>
      Array.from({ length: n }, (_, i) => {
        const k = i % 10;
        const big = k <= 6 ? 1 : 0;
        const small = k <= 4 || k === 7 ? 1 : 0;
        return {
          id: `${prefix}-${i}`,
          source: "synthetic",
          category: "synthetic",
          prompt: `Question ${prefix} ${i}`,
          outcomes: { big: { score: big, cost_usd: 0.01 }, small: { score: small, cost_usd: 0.001 }, top: { score: i % 2, cost_usd: 0.05 } },
        };
      });
    const pattern = (r: RoutingEvalRow, a = "big", b = "small") => `${r.outcomes[a]!.score}${r.outcomes[b]!.score}`;
    const counts = (rows: readonly RoutingEvalRow[], a?: string, b?: string) => {
      const c = new Map<string, number>();
      for (const r of rows) c.set(pattern(r, a, b), (c.get(pattern(r, a, b)) ?? 0) + 1);
      return c;
    };
    const keepsMix = (held: readonly RoutingEvalRow[], all: readonly RoutingEvalRow[], share: number, a?: string, b?: string) => {
      const heldCounts = counts(held, a, b);
      for (const [key, n] of counts(all, a, b)) expect([Math.floor(share * n), Math.ceil(share * n)], key).toContain(heldCounts.get(key) ?? 0);
    };
    const pair = { strong: "big", weak: "small" };

    it("holds out each of the test rows' outcome patterns in proportion, whatever else is trained on", () => {
      const test = patterned(530, "t");
      const other = patterned(900, "o");
      for (const seed of [1, 2, 3]) {
        const alone = holdOut(test, test, { ...pair, split: 0.2, seed });
        const withOther = holdOut([...test, ...other], test, { ...pair, split: 0.2, seed });
        expect(alone.description).toContain("stratified by the pair's outcomes");
        keepsMix(alone.folds[0]!.test, test, 0.2);
        // Another --train file moves no test row, and its own rows are held out in proportion too.
        expect(withOther.folds[0]!.test).toEqual(alone.folds[0]!.test);
        keepsMix(other.filter((r) => !withOther.folds[0]!.train.includes(r)), other, 0.2);
      }
    });

    it("deals a test file of its own into folds that each keep its mix", () => {
      const train = patterned(900, "train");
      const test = patterned(151, "test");
      const { folds } = holdOut(train, test, { ...pair, folds: 5, seed: 1 });
      for (const fold of folds) keepsMix(fold.test, test, 0.2);
      expect(folds.flatMap((f) => f.test)).toHaveLength(151);
    });

    it("stratifies by the pair evaluateRouting routes, also when one model of it is left to the data", () => {
      // Three models and --strong named alone: the weak one is the cheapest, "small", not the
      // alphabetically first other model ("mid").
      const rows = patterned(530, "r").map(({ outcomes: { top, ...rest }, ...r }) => ({ ...r, outcomes: { ...rest, mid: top! } }));
      const held = holdOut(rows, rows, { strong: "big", split: 0.2, seed: 1 });
      expect(evaluateRouting({ folds: held.folds, strong: "big", knobs: 11, bootstrap: 0 })).toMatchObject({ strong: "big", weak: "small" });
      keepsMix(held.folds[0]!.test, rows, 0.2, "big", "small");
      expect(() => holdOut(rows, rows, { strong: "nope", weak: "small", split: 0.2, seed: 1 })).toThrow(/strong model "nope" has no outcomes/);
      // Many models: by id hash, and stratifying refused.
      expect(holdOut(rows, rows, { split: 0.2, seed: 1 })).toMatchObject({ stratified: false });
      expect(() => holdOut(rows, rows, { models: ["big", "small"], stratify: "outcomes", split: 0.2, seed: 1 })).toThrow(/for a strong\/weak pair/);
    });
  });

  it("meets the GSM8K target on a held-out split: 95% of GPT-4 quality with at most 65% GPT-4 calls", () => {
    const rows = parseRoutingEvalJsonl(readFileSync(GSM8K(), "utf8"), "gsm8k.dev.jsonl");
    // The rows `--split 0.2` holds out (seed 1): stratified by the pair's outcomes.
    const r = evaluateRouting({ folds: holdOut(rows, rows, { split: 0.2, seed: 1 }).folds });
    if (r.mode !== "pair") throw new Error("expected pair mode");
    expect(r.strong).toBe("gpt-4-1106-preview");
    expect(r.strong_share_at_95!).toBeLessThanOrEqual(0.65);
    expect(r.apgr).toBeGreaterThan(0.6);
  }, 60_000);

  it("traces a pair's curve where the selector switches rows: adjacent GSM8K settings at most 2 points of strong calls apart", () => {
    // The selector sends a row up once pFail / threshold passes its bucket's weak ÷ strong quality,
    // not at threshold = pFail: settings at quantiles of pFail left 101 settings with 27 distinct
    // shares on this split and a jump from 19% to 50% strong calls, drawn as a straight line.
    const rows = parseRoutingEvalJsonl(readFileSync(GSM8K(), "utf8"), "gsm8k.dev.jsonl");
    const { train, test } = splitRows(rows, { testFraction: 0.2, seed: 1 });
    const largestGap = (shares: number[]) => Math.max(...shares.slice(1).map((s, i) => s - shares[i]!));
    for (const knobs of [101, 21]) {
      const r = evaluateRouting({ train, test, knobs });
      if (r.mode !== "pair") throw new Error("expected pair mode");
      // One step of 1/(knobs − 1) of the rows, rounded up to whole rows, plus a row for rounding.
      const bound = (Math.ceil(r.testRows / (knobs - 1)) + 1) / r.testRows;
      expect(largestGap(r.curve.map((p) => p.strong_share))).toBeLessThanOrEqual(knobs === 101 ? 0.02 : bound);
      expect(r.sweep).toMatchObject({ knob: "policy.pFailThreshold", settings: knobs });
      expect(r.sweep.largest_step).toBeLessThanOrEqual(bound);
      // Both ends: the highest setting escalates no row, a threshold of 0 every row the weak model is expected to do worse on.
      expect(r.curve[0]).toMatchObject({ strong_share: 0 });
      expect(r.curve[r.curve.length - 1]!.threshold).toBe(0);
    }
  }, 60_000);

  it("meets the GSM8K target in 5-fold cross-validation too", () => {
    const rows = parseRoutingEvalJsonl(readFileSync(GSM8K(), "utf8"), "gsm8k.dev.jsonl");
    const r = evaluateRouting(holdOut(rows, rows, { folds: 5, seed: 1 }));
    if (r.mode !== "pair") throw new Error("expected pair mode");
    expect(r.testRows).toBe(rows.length);
    // 61.4% with the folds `--folds 5` makes (stratified by the pair's outcomes, seed 1) and APGR
    // 0.643 (featurizer 7; stratified fold seeds 1-10 55.0%-64.9%, mean 60.0%; by id hash alone,
    // 58.5% and seeds 1-10 57.0%-67.8%). Featurizer 4, without the quantity features, measured
    // 64.9% and 0.609 on the unstratified folds, close to the target: from 62% to 66% strong calls
    // its curve ran within 0.3 points of the 95% level. The tighter bounds below hold what the
    // quantity features bought.
    expect(r.strong_share_at_95!).toBeLessThanOrEqual(0.62);
    expect(r.apgr).toBeGreaterThan(0.62);
  }, 120_000);

  it("meets the MMLU target in 5-fold cross-validation: 95% of GPT-4 quality with at most 45% GPT-4 calls", () => {
    const rows = parseRoutingEvalJsonl(readFileSync(MMLU(), "utf8"), "mmlu.dev.jsonl");
    const r = evaluateRouting({ ...holdOut(rows, rows, { folds: 5, seed: 1 }), knobs: 51 });
    if (r.mode !== "pair") throw new Error("expected pair mode");
    expect(r.folds).toBe(5);
    expect(r.testRows).toBe(rows.length);
    expect(r.strong_share_at_95!).toBeLessThanOrEqual(0.45);
    expect(r.apgr).toBeGreaterThan(0.65);
  }, 300_000);

  it("cross-validates: every fold's rows are routed by a router trained without them, and scored together", () => {
    const rows = synthetic(240, "cv");
    const fold = (r: RoutingEvalRow) => foldOf(r.id, 3, 1, "eval-fold");
    const folds = [0, 1, 2].map((k) => ({ train: rows.filter((r) => fold(r) !== k), test: rows.filter((r) => fold(r) === k) }));
    const r = evaluateRouting({ folds, knobs: 21 });
    if (r.mode !== "pair") throw new Error("expected pair mode");
    expect(r.folds).toBe(3);
    expect(r.testRows).toBe(240);
    expect(r.trainRows).toBe(160);
    expect(r.statsId.split("+")).toHaveLength(3);
    // The synthetic prompts are learnable: the pooled curve is far above random.
    expect(r.apgr).toBeGreaterThan(0.8);
    expect(() => evaluateRouting({ folds: [{ train: rows, test: [] }] })).toThrow(/no test rows/);
    expect(() => evaluateRouting({ folds: [] })).toThrow(/no folds/);
  }, 60_000);

  it("scores every routing of the RouterBench test rows that a ten times denser answer-value sweep reaches", () => {
    // Many models switch where two models' values cross, mostly a whole bucket of rows at once: 101
    // geometric steps reached 17 of the 25 routings on this split, 1001 steps all 25.
    const rows = parseRoutingEvalJsonl(readFileSync(ROUTERBENCH(), "utf8"), "routerbench.dev.jsonl");
    const { train, test } = splitRows(rows, { testFraction: 0.2, seed: 1 });
    const routings = (knobs: number) => {
      const r = evaluateRouting({ train, test, knobs });
      if (r.mode !== "multi") throw new Error("expected multi mode");
      return new Set(r.points.map((p) => `${p.cost} ${p.quality}`));
    };
    const sweep = routings(101);
    expect(sweep.size).toBeGreaterThan(20);
    expect(sweep).toEqual(routings(1001));
  }, 120_000);

  it("meets the MMLU target on the held-out 20% split (seed 1), held out stratified by the pair's outcomes", () => {
    // By id hash alone (--stratify none) this seed's test rows are harder for Mixtral than the
    // file's (always-weak 0.662 against 0.682) and need 50.6% GPT-4 calls; docs/routing-eval.md
    // compares the two over 24 seeds.
    const rows = parseRoutingEvalJsonl(readFileSync(MMLU(), "utf8"), "mmlu.dev.jsonl");
    const held = holdOut(rows, rows, { split: 0.2, seed: 1 });
    expect(held.description).toContain("stratified by the pair's outcomes");
    const r = evaluateRouting({ folds: held.folds });
    if (r.mode !== "pair") throw new Error("expected pair mode");
    expect(r.strong_share_at_95!).toBeLessThanOrEqual(0.45);
    expect(r.apgr).toBeGreaterThan(0.63);
  }, 120_000);

  it("meets the RouterBench target on a held-out split: at least 60% saved at 95% of the best single model", () => {
    const rows = parseRoutingEvalJsonl(readFileSync(ROUTERBENCH(), "utf8"), "routerbench.dev.jsonl");
    const held = holdOut(rows, rows, { split: 0.2, seed: 1 });
    expect(held.description).toMatch(/^split 0\.2 by id \(seed 1\)/);
    const r = evaluateRouting({ folds: held.folds });
    if (r.mode !== "multi") throw new Error("expected multi mode");
    expect(r.models).toHaveLength(11);
    expect(r.best_single.model).toBe("gpt-4-1106-preview");
    expect(r.savings_at_95!).toBeGreaterThanOrEqual(0.6);
  }, 60_000);
});

describe("npm run eval:routing", () => {
  const run = (args: string[]) =>
    promisify(execFile)(process.execPath, ["--conditions=source", "--import", "tsx", "packages/cli/src/eval-routing-main.ts", ...args], { cwd: ROOT });

  it("prints one JSON object as the last line of stdout with --json", async () => {
    const dir = await mkdtemp(join(tmpdir(), "eval-routing-"));
    const write = async (name: string, rows: RoutingEvalRow[]) => {
      const file = join(dir, name);
      await writeFile(file, rows.map((r) => JSON.stringify(r)).join("\n"));
      return file;
    };
    // synthetic() words a row's prompt by its index: test rows 0-44 ask what training rows 0-44 ask.
    const { stdout, stderr } = await run(["--train", await write("train.jsonl", synthetic(150, "train")), "--test", await write("test.jsonl", synthetic(45, "test")), "--json"]);
    expect(stderr).toContain("dropped 45 training rows whose id or prompt is also a test row's");
    const last = JSON.parse(stdout.trim().split("\n").pop()!) as Record<string, unknown>;
    for (const field of ["apgr", "cpt50", "cpt80", "strong_share_at_95", "savings_at_95", "curve", "baselines"]) expect(last).toHaveProperty(field);
    expect(stdout.trim().split("\n")).toHaveLength(1);
    // Known answers, by hand, for the test file: a third of its 45 rows (the proofs) need the
    // strong model ($0.01) and the rest are solved by the weak one ($0.0005). The prompts tell
    // the two apart, so the router ranks every proof first, as the oracle does. Its settings
    // start at that point (share 1/3, quality 1, the oracle's cost (15 × 0.01 + 30 × 0.0005) / 45);
    // every figure completes the curve with the always-weak point (0, quality 2/3, $0.0005) alike:
    // - the PGR curve rises linearly to 1 at a strong share of 1/3: APGR = 1 − (1/3)/2 = 5/6,
    //   CPT(50%) = 0.5 × 1/3, CPT(80%) = 0.8 × 1/3;
    // - 95% of always-strong quality (1) is 0.95, PGR 0.85 (weak 2/3 + 0.85 × 1/3): the same
    //   curve reaches it at 0.85 × 1/3 = 17/60 strong calls, costing 0.0005 + 0.85 × (0.165 −
    //   0.0225) / 45 = 0.0031917, saving 1 − 0.31917 = 817/1200;
    // - random: the curve is the diagonal (APGR 1/2), and 0.85 strong calls at 95%.
    const close = (expected: number) => expect.closeTo(expected, 9) as unknown;
    expect(last).toMatchObject({ apgr: close(5 / 6), cpt50: close(1 / 6), cpt80: close(4 / 15), strong_share_at_95: close(17 / 60), savings_at_95: close(817 / 1200) });
    expect(last.baselines).toMatchObject({
      always_strong: { strong_share: 1, quality: 1, cost: close(0.01) },
      always_weak: { strong_share: 0, quality: close(2 / 3), cost: close(0.0005) },
      oracle: { strong_share: close(1 / 3), quality: 1, cost: close((15 * 0.01 + 30 * 0.0005) / 45) },
      random: { apgr: close(0.5), cpt50: close(0.5), cpt80: close(0.8), strong_share_at_95: close(0.85), savings_at_95: close(1 - (0.85 * 0.01 + 0.15 * 0.0005) / 0.01) },
    });
  }, 60_000);

  it("prints a table and writes an SVG plot without --json; splits one file by id", async () => {
    const dir = await mkdtemp(join(tmpdir(), "eval-routing-"));
    const file = join(dir, "all.jsonl");
    await writeFile(file, synthetic(200, "row").map((r) => JSON.stringify(r)).join("\n"));
    const plot = join(dir, "plot.svg");
    const { stdout } = await run(["--train", file, "--test", file, "--split", "0.25", "--plot", plot]);
    // A pair's split keeps the rows' outcome mix: 67 proofs (only the strong model right) and 133
    // greetings (both right) hold out 17 and 33, or 16 and 34, or 17 and 34 — never 45 or 55.
    const held = /split 0\.25 by id, stratified by the pair's outcomes \(seed 1\): (\d+) training rows, (\d+) test rows/.exec(stdout);
    expect(held).not.toBeNull();
    expect(Number(held![1]) + Number(held![2])).toBe(200);
    expect([49, 50, 51]).toContain(Number(held![2]));
    expect(stdout).toMatch(/APGR \d\.\d{3}/);
    expect(stdout).toContain("always strong");
    expect(await readFile(plot, "utf8")).toMatch(/^<svg/);
  }, 60_000);

  it("cross-validates with --folds: every row of the file is a test row once", async () => {
    const dir = await mkdtemp(join(tmpdir(), "eval-routing-"));
    const file = join(dir, "all.jsonl");
    await writeFile(file, synthetic(150, "row").map((r) => JSON.stringify(r)).join("\n"));
    const { stdout } = await run(["--train", file, "--test", file, "--folds", "3", "--json"]);
    const last = JSON.parse(stdout.trim().split("\n").pop()!) as { folds: number; testRows: number };
    expect(last).toMatchObject({ folds: 3, testRows: 150 });
    await expect(run(["--train", file, "--test", file, "--folds", "3", "--split", "0.2"])).rejects.toMatchObject({
      code: 2,
      stderr: expect.stringContaining("--split and --folds are alternatives"),
    });
    await expect(run(["--train", file, "--test", file, "--folds", "1"])).rejects.toMatchObject({ code: 2, stderr: expect.stringContaining("--folds: expected at least 2") });
  }, 60_000);

  it("holds rows out by id hash alone with --stratify none, and for many models; refuses --stratify where it means nothing", async () => {
    const dir = await mkdtemp(join(tmpdir(), "eval-routing-"));
    const pairFile = join(dir, "pair.jsonl");
    const pairRows = synthetic(200, "row");
    await writeFile(pairFile, pairRows.map((r) => JSON.stringify(r)).join("\n"));
    const plain = splitRows(pairRows, { testFraction: 0.25, seed: 1 });
    const { stdout, stderr } = await run(["--train", pairFile, "--test", pairFile, "--split", "0.25", "--stratify", "none", "--json"]);
    expect(stderr).toContain(`split 0.25 by id (seed 1): ${plain.train.length} training rows, ${plain.test.length} test rows`);
    expect(JSON.parse(stdout.trim().split("\n").pop()!)).toMatchObject({ testRows: plain.test.length, held_out: { split: 0.25, folds: null, seed: 1, stratify: "none" } });
    const stratified = await run(["--train", pairFile, "--test", pairFile, "--folds", "4", "--seed", "2", "--json", "--bootstrap", "0"]);
    expect(JSON.parse(stratified.stdout.trim().split("\n").pop()!)).toMatchObject({ held_out: { split: null, folds: 4, seed: 2, stratify: "outcomes" } });
    const manyFile = join(dir, "many.jsonl");
    await writeFile(manyFile, threeModels(120, "row").map((r) => JSON.stringify(r)).join("\n"));
    const many = await run(["--train", manyFile, "--test", manyFile, "--folds", "3"]);
    expect(many.stdout).toMatch(/3 folds by id \(seed 1\): \d+ \/ \d+ \/ \d+ test rows/);
    const refused: [string[], string][] = [
      [["--train", manyFile, "--test", manyFile, "--folds", "3", "--stratify", "outcomes"], "--stratify outcomes is for a strong/weak pair"],
      [["--train", pairFile, "--test", pairFile, "--split", "0.2", "--stratify", "classes"], '--stratify: expected outcomes or none, got "classes"'],
      [["--train", pairFile, "--test", pairFile, "--stratify", "none"], "--stratify is for --split or --folds"],
    ];
    for (const [args, message] of refused) await expect(run(args), args.join(" ")).rejects.toMatchObject({ code: 2, stderr: expect.stringContaining(message) });
  }, 60_000);

  it("refuses a test set that is its training set under other ids, and a sweep too short to be a curve", async () => {
    const dir = await mkdtemp(join(tmpdir(), "eval-routing-"));
    const train = join(dir, "train.jsonl");
    const test = join(dir, "test.jsonl");
    await writeFile(train, synthetic(45, "train").map((r) => JSON.stringify(r)).join("\n"));
    await writeFile(test, synthetic(45, "renamed").map((r) => JSON.stringify(r)).join("\n"));
    await expect(run(["--train", train, "--test", test])).rejects.toMatchObject({ code: 1, stderr: expect.stringContaining("every training row is also a test row (the same id or prompt)") });
    await expect(run(["--train", train, "--test", train, "--split", "0.2", "--knobs", "2"])).rejects.toMatchObject({
      code: 2,
      stderr: expect.stringContaining("--knobs: expected at least 3 settings"),
    });
  }, 60_000);

  it("refuses numeric options that are not plain finite decimals, naming the option and the value", async () => {
    // Checked before any file is read. Number() would read "" as 0 (--bootstrap "" turning the
    // bootstrap off, --seed "" seeding with 0) and 0x10 as 16; Infinity failed later in the config schema.
    const cases: [string[], string][] = [
      [["--pfail-threshold", "Infinity"], "--pfail-threshold: expected a number ≥ 0, got Infinity"],
      [["--seed", ""], '--seed: expected a non-negative integer, got ""'],
      [["--bootstrap", ""], '--bootstrap: expected a whole number from 0 (off) to 100000, got ""'],
      [["--knobs", "0x10"], "--knobs: expected at least 3 settings (the two ends and one between), a whole number, got 0x10"],
      [["--split", "0x0"], "--split: expected a share in (0, 1), got 0x0"],
    ];
    for (const [args, message] of cases) {
      await expect(run(["--train", "x.jsonl", "--test", "x.jsonl", ...args]), args.join(" ")).rejects.toMatchObject({ code: 2, stderr: expect.stringContaining(message) });
    }
  }, 60_000);

  it("gives no APGR or CPT on a pair whose models have the same mean quality", async () => {
    const dir = await mkdtemp(join(tmpdir(), "eval-routing-"));
    // The strong model solves the proofs, the weak one the riddles, both the greetings: on the 45
    // test rows (15 of each) both mean exactly 2/3.
    const tied = (n: number, seed: string): RoutingEvalRow[] =>
      synthetic(n, seed).map((r, i) =>
        i % 3 === 1 ? { ...r, category: "riddle", prompt: `Solve riddle number ${i} about a farmer and a river crossing.`, outcomes: { strong: { score: 0, cost_usd: 0.01 }, weak: { score: 1, cost_usd: 0.0005 } } } : r,
      );
    const write = async (name: string, rows: RoutingEvalRow[]) => {
      const file = join(dir, name);
      await writeFile(file, rows.map((r) => JSON.stringify(r)).join("\n"));
      return file;
    };
    const { stdout } = await run(["--train", await write("train.jsonl", tied(150, "train")), "--test", await write("test.jsonl", tied(45, "test")), "--bootstrap", "0", "--json"]);
    const last = JSON.parse(stdout.trim().split("\n").pop()!) as Record<string, unknown>;
    expect(last).toMatchObject({ apgr: null, cpt50: null, cpt80: null });
    expect(last.baselines).toMatchObject({ always_strong: { pgr: null }, always_weak: { pgr: null }, random: { apgr: null, cpt50: null, cpt80: null } });
  }, 60_000);

  it("exits 2 with the usage hint for missing arguments", async () => {
    await expect(run(["--test", "x.jsonl"])).rejects.toMatchObject({ code: 2, stderr: expect.stringContaining("--train and --test are required") });
    await expect(run(["--train", "x.jsonl", "--test", "x.jsonl", "--pfail-threshold=-1"])).rejects.toMatchObject({
      code: 2,
      stderr: expect.stringContaining("--pfail-threshold: expected a number ≥ 0, got -1"),
    });
  }, 60_000);
});
