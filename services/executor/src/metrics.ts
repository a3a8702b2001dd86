import { Counter, Gauge, Histogram, type Registry } from "prom-client";
import { METRIC_PREFIX } from "@llm-router/shared";

/** Model call latency buckets: 10 ms to 10 minutes (seconds). */
export const MODEL_CALL_SECONDS_BUCKETS = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300, 600];

export type ExecutorMetrics = ReturnType<typeof createExecutorMetrics>;

export function createExecutorMetrics(registry: Registry) {
  const registers = [registry];
  return {
    calls: new Counter({
      name: `${METRIC_PREFIX}model_calls_total`,
      help: "Model calls by model, provider and outcome (ok or the error code).",
      labelNames: ["model", "provider", "outcome"],
      registers,
    }),
    callSeconds: new Histogram({
      name: `${METRIC_PREFIX}model_call_seconds`,
      help: "Latency of one model call, from request to full response.",
      labelNames: ["model", "provider"],
      buckets: MODEL_CALL_SECONDS_BUCKETS,
      registers,
    }),
    tokens: new Counter({
      name: `${METRIC_PREFIX}model_tokens_total`,
      help: "Tokens processed by models, by direction (input or output).",
      labelNames: ["model", "provider", "direction"],
      registers,
    }),
    cachedTokens: new Counter({
      name: `${METRIC_PREFIX}model_cached_input_tokens_total`,
      help: "Input tokens the provider read from (kind=read) or wrote to (kind=write) its prompt cache; part of the input tokens.",
      labelNames: ["model", "provider", "kind"],
      registers,
    }),
    costUsd: new Counter({
      name: `${METRIC_PREFIX}model_cost_usd_total`,
      help: "Spend on model calls as measured by the executor, USD.",
      labelNames: ["model", "provider"],
      registers,
    }),
    tasks: new Counter({
      name: `${METRIC_PREFIX}tasks_completed_total`,
      help: "Tasks completed by the executor, by final status (succeeded or failed).",
      labelNames: ["status"],
      registers,
    }),
    fallbacks: new Counter({
      name: `${METRIC_PREFIX}fallbacks_total`,
      help: "Tasks answered although a step moved down its fallback chain (its first model failed or was skipped).",
      registers,
    }),
    retries: new Counter({
      name: `${METRIC_PREFIX}retries_total`,
      help: "Calls that were a retry of the same model after a retryable error.",
      labelNames: ["model"],
      registers,
    }),
    ttftSeconds: new Histogram({
      name: `${METRIC_PREFIX}model_ttft_seconds`,
      help: "Time to first token of a streamed model call, from request to the first output.",
      labelNames: ["model", "provider"],
      buckets: MODEL_CALL_SECONDS_BUCKETS,
      registers,
    }),
    breakerState: new Gauge({
      name: `${METRIC_PREFIX}breaker_state`,
      help: "Circuit breaker state per model as this executor sees it: 0 closed, 1 half-open, 2 open.",
      labelNames: ["model"],
      registers,
    }),
    breakerTransitions: new Counter({
      name: `${METRIC_PREFIX}breaker_transitions_total`,
      help: "Circuit breaker state changes per model, by the state entered.",
      labelNames: ["model", "state"],
      registers,
    }),
    unavailable: new Gauge({
      name: `${METRIC_PREFIX}model_unavailable`,
      help: "1 for each model this executor cannot call (provider not configured or its API key unset), else 0.",
      labelNames: ["model"],
      registers,
    }),
    journalReplays: new Counter({
      name: `${METRIC_PREFIX}journal_replayed_steps_total`,
      help: "Strategy steps a redelivered task took from the call journal instead of calling their models again.",
      registers,
    }),
    journalFailures: new Counter({
      name: `${METRIC_PREFIX}journal_failures_total`,
      help: "Call journal reads, writes and deletes that failed (KV unavailable); the tasks went on without them.",
      registers,
    }),
    budgetReservedUsd: new Gauge({
      name: `${METRIC_PREFIX}budget_reserved_usd`,
      help: "Estimated cost this executor holds reserved on budgets for paid calls in flight, USD, per configured scope.",
      labelNames: ["scope"],
      registers,
    }),
    budgetRefusals: new Counter({
      name: `${METRIC_PREFIX}budget_refusals_total`,
      help: "Paid calls not made because their reservation would pass a budget's limit, per configured scope.",
      labelNames: ["scope"],
      registers,
    }),
    budgetReservationErrors: new Counter({
      name: `${METRIC_PREFIX}budget_reservation_errors_total`,
      help: "Budget counters that could not be reached or settled (calls then go ahead unreserved).",
      registers,
    }),
    savedUsd: new Counter({
      name: `${METRIC_PREFIX}cost_saved_usd_total`,
      help: "Reference-model cost minus actual cost of succeeded tasks, each floored at 0, USD (a counter cannot fall: the dashboards' savings are router_reference_cost_usd_total less router_model_cost_usd_total).",
      registers,
    }),
    referenceUsd: new Counter({
      name: `${METRIC_PREFIX}reference_cost_usd_total`,
      help: "What every completed task (any status) would have cost on its reference model, USD: less router_model_cost_usd_total, the savings router.metrics reports.",
      registers,
    }),
  };
}
