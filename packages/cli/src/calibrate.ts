/**
 * Threshold calibration, as RouteLLM's `calibrate_threshold`: which `policy.pFailThreshold` sends
 * what share of a sample of prompts to cloud models under the configured registry and policy.
 * Every prompt is classified in process (rules + the configured learned model, as the cascade does
 * before any escalation) and routed by `selectModel`, the selector's own function, at thresholds
 * placed at the quantiles of the prompts' pFail. Statistics from feedback are left out (registry
 * qualities decide), exploration is off and the budget is ok, so the figures are the policy's own.
 */
import { classifyInProcess, type LearnedModel } from "@llm-router/classifier";
import { quantileSorted } from "@llm-router/eval";
import { createModelRegistry, policyVersion, selectModel, strategyCallCounts } from "@llm-router/selector";
import { compareStrings, countPromptTokens, PolicyConfig, type RouterConfig, type Task } from "@llm-router/shared";
import { knobSettings } from "./eval-routing.js";

/** Where the configured policy sends the sample at one threshold. */
export interface ThresholdRow {
  pFailThreshold: number;
  /** Share of the prompts routed to a cloud (non-local) model first. */
  cloudShare: number;
  /** Share of the prompts per first model chosen; prompts no model could take under `none`. */
  modelShares: Record<string, number>;
  /**
   * Mean estimated cost per prompt, USD: the selector's estimate of one call on the chosen model
   * times the calls its strategy makes (a parallel task's specialists and synthesis, …).
   */
  meanEstimatedCostUsd: number;
}

export interface Calibration {
  prompts: number;
  /** pFail over the sample: quantiles 0.1, 0.5, 0.9. */
  pFail: { p10: number; p50: number; p90: number };
  rows: ThresholdRow[];
  /** The configured threshold's row, routed the same way. */
  configured: ThresholdRow;
  /**
   * With a target cloud share: the lowest threshold (the most quality) whose cloud share is at most
   * the target — the first setting within it, refined by bisection against the one before — or
   * null when even the floors alone send more.
   */
  recommended: ThresholdRow | null;
}

export interface CalibrateOptions {
  config: RouterConfig;
  tasks: readonly Task[];
  /** The learned pFail model; without one pFail is absent and the threshold changes nothing. */
  learned?: LearnedModel;
  /** Thresholds to try at most. Default 21. */
  thresholds?: number;
  /** The cloud share to stay within, in [0, 1]. */
  targetCloudShare?: number;
  /** Called with a line at each step, for progress output. */
  progress?: (line: string) => void;
  /** The decisions' timestamp. Default: now. */
  now?: Date;
}

/** Stands for "pFail no longer raises the bar": the policy's quality floors alone (routed without pFail). */
export const FLOORS_ONLY = 1e9;

export function calibrateThreshold(o: CalibrateOptions): Calibration {
  if (o.tasks.length === 0) throw new RangeError("no prompts to calibrate on");
  const registry = createModelRegistry(o.config.models);
  const local = new Map(o.config.models.map((m) => [m.spec, m.local]));
  const classifications = o.tasks.map((t) => classifyInProcess(t, o.learned));
  // The floors alone: no pFail, so nothing raises the bar above them.
  const floorsOnly = classifications.map(({ pFail: _pFail, ...rest }) => rest);
  const inputTokens = o.tasks.map((t) => countPromptTokens(t.messages));
  const now = o.now ?? new Date();
  const strategyCalls = strategyCallCounts(o.config.strategies);
  const rowAt = (pFailThreshold: number): ThresholdRow => {
    const policy = PolicyConfig.parse({ ...o.config.policy, pFailThreshold, exploration: { ...o.config.policy.exploration, enabled: false } });
    const ctx = { registry, policy, policyVersion: policyVersion(policy), now, strategyByTier: o.config.strategies.byTier, strategyCalls };
    const seen = pFailThreshold === FLOORS_ONLY ? floorsOnly : classifications;
    const counts: Record<string, number> = {};
    let cloud = 0;
    let cost = 0;
    o.tasks.forEach((task, i) => {
      const decision = selectModel({ task, classification: seen[i]!, inputTokens: inputTokens[i]!, budget: { state: "ok", revision: 0 } }, ctx);
      const model = decision.ok ? decision.model : "none";
      counts[model] = (counts[model] ?? 0) + 1;
      if (decision.ok) {
        if (local.get(decision.model) === false) cloud++;
        // The task's estimate: every call of its strategy, each at the chosen model's price.
        cost += decision.estimatedCostUsd;
      }
    });
    const n = o.tasks.length;
    const modelShares = Object.fromEntries(Object.entries(counts).sort(([a], [b]) => compareStrings(a, b)).map(([m, c]) => [m, c / n]));
    return { pFailThreshold, cloudShare: cloud / n, modelShares, meanEstimatedCostUsd: cost / n };
  };
  const pFails = classifications.flatMap((c) => (c.pFail === undefined ? [] : [c.pFail]));
  const sorted = [...pFails].sort((a, b) => a - b);
  // Above 0 (a threshold of 0 is not a valid policy): the smallest pFail's half, then quantiles.
  // Past 1 the bar still rises with pFail, only less; FLOORS_ONLY leaves it at the floor.
  const knobs = knobSettings(pFails, o.thresholds ?? 21).map((k) => (k === 0 ? Math.max(1e-6, (sorted[0] ?? 0) / 2) : k));
  const settings = [...new Set([...knobs, 2, 4, FLOORS_ONLY])];
  o.progress?.(`classified ${o.tasks.length} prompts; routing them at ${settings.length} thresholds…`);
  const rows = settings.map(rowAt);
  const target = o.targetCloudShare;
  let recommended: ThresholdRow | null = null;
  if (target !== undefined) {
    const within = rows.findIndex((r) => r.cloudShare <= target);
    if (within === 0) recommended = rows[0]!;
    else if (within > 0) {
      o.progress?.(`bisecting between thresholds ${rows[within - 1]!.pFailThreshold.toPrecision(4)} and ${rows[within]!.pFailThreshold.toPrecision(4)}…`);
      // Bisect between the last setting over the target and the first within it: the lowest
      // threshold within, to a thousandth of the gap (the cloud share falls as the threshold rises).
      let over = rows[within - 1]!.pFailThreshold;
      recommended = rows[within]!;
      for (let step = 0; step < 10; step++) {
        const mid = (over + recommended.pFailThreshold) / 2;
        const row = rowAt(mid);
        if (row.cloudShare <= target) recommended = row;
        else over = mid;
      }
    }
    // Four significant digits, as a config holds it, rounded up: a higher threshold never sends
    // more to the cloud, a value rounded to nearest could (the row is the value printed).
    if (recommended && recommended.pFailThreshold > 0) recommended = rowAt(roundUp4(recommended.pFailThreshold));
  }
  return {
    prompts: o.tasks.length,
    pFail: { p10: quantileSorted(sorted, 0.1), p50: quantileSorted(sorted, 0.5), p90: quantileSorted(sorted, 0.9) },
    rows,
    configured: rowAt(o.config.policy.pFailThreshold),
    recommended,
  };
}

/** `x` rounded up to four significant digits. */
export function roundUp4(x: number): number {
  const step = 10 ** (Math.floor(Math.log10(x)) - 3);
  return Number((Math.ceil(Number((x / step).toPrecision(12))) * step).toPrecision(4));
}
