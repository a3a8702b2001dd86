/**
 * What every classification strategy returns before the cascade turns it into a Classification:
 * the three tiers it can judge, how sure it is, and human-readable evidence. A strategy that
 * cannot judge a dimension leaves it out; the cascade takes that dimension from the rules.
 */
import type { Complexity, Risk, Task, TaskType } from "@llm-router/shared";

export interface StrategyVerdict {
  complexity?: Complexity;
  risk?: Risk;
  taskType?: TaskType;
  /** 0..1: how sure the strategy is of the dimensions it returned. */
  confidence: number;
  /** Short evidence strings, e.g. `llm:ollama:qwen3:1.7b`, `centroid:code(0.82)`. */
  signals: string[];
}

/** Why an escalation strategy gave no verdict; the cascade records it and falls back. */
export interface StrategyFailure {
  /**
   * A stable code: `timeout`, `unparseable`, `provider-error`, `unavailable` (no verdict to give,
   * or the model's circuit is open), `withheld` (the cascade did not send the request: a
   * local-only task or a secret value in it, and the strategy's model is not local).
   */
  reason: "timeout" | "unparseable" | "provider-error" | "unavailable" | "withheld";
  message: string;
  /** For a `provider-error`, the provider's error code (`ERROR_CODES`), when it gave one. */
  code?: string;
}

export type StrategyOutcome = { ok: true; verdict: StrategyVerdict } | { ok: false; failure: StrategyFailure };

/** A strategy the cascade may escalate to (LLM or embedding centroids). */
export interface EscalationStrategy<N extends "llm" | "embedding" = "llm" | "embedding"> {
  readonly name: N;
  readonly version: string;
  /**
   * Whether its model runs on the operator's own machines (`escalation-guard.ts`). False: the
   * cascade withholds local-only tasks and requests holding a secret value from it. Unset: local.
   */
  readonly local?: boolean;
  /**
   * Never rejects for a provider or output problem: those are `{ ok: false }` outcomes. Rejects
   * with `signal.reason` when the caller aborts (a shutdown is not a classification failure).
   */
  classify(task: Task, signal?: AbortSignal): Promise<StrategyOutcome>;
}
