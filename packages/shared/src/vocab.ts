/** Vocabularies shared by every stage. Each is an `as const` tuple with a derived union. */

export const COMPLEXITIES = ["simple", "moderate", "complex", "expert"] as const;

export const RISKS = ["normal", "critical"] as const;

export const TASK_TYPES = [
  "chat",
  "qa",
  "summarization",
  "code",
  "reasoning",
  "creative",
  "extraction",
  "translation",
] as const;

/** What a model can do beyond plain chat; required per task type by the routing policy. */
export const CAPABILITIES = ["chat", "code", "reasoning", "vision", "tools", "json", "long-context"] as const;

/** The pipeline stages, used in metric labels, dead letters and idempotency keys. */
export const STAGES = ["classifier", "selector", "executor", "ledger"] as const;

export const BUDGET_WINDOWS = ["hour", "day", "month"] as const;
export type BudgetWindow = (typeof BUDGET_WINDOWS)[number];

/**
 * The budget ladder: `ok`; `soft` past the soft threshold (cheaper cloud models, a lower quality
 * bar); `exceeded` at the limit (local models only).
 */
export const BUDGET_STATES = ["ok", "soft", "exceeded"] as const;
export type BudgetStateName = (typeof BUDGET_STATES)[number];

/** Execution strategies the executor can run; this release runs `single`. */
export const EXECUTION_STRATEGIES = ["single", "chain", "parallel", "ensemble"] as const;
export type ExecutionStrategy = (typeof EXECUTION_STRATEGIES)[number];

/**
 * Why the selector chose as it did, as a bounded label (the `reason` text says it for people):
 * the cheapest model meeting the quality bar, the best value (`policy.answerValueUsd`), the
 * best model available when none met the bar, or none eligible at all.
 */
export const DECISION_REASONS = ["cheapest", "best_value", "best_effort", "no_eligible_model"] as const;
export type DecisionReason = (typeof DECISION_REASONS)[number];
