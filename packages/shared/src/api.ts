/**
 * The router's request/reply API: `router.*` endpoints served with @nats-io/services by the
 * service that owns the data (classify: classifier; route, models: selector; budget, metrics,
 * feedback, health: ledger), discoverable with `$SRV.PING`, `$SRV.INFO` and `$SRV.STATS`.
 *
 * One catalog maps each endpoint to the zod schema of its request and of its response: servers
 * validate every request with it and clients every response. A request body may be empty for
 * endpoints whose fields are all optional. A failure is a service error: the headers
 * `Nats-Service-Error-Code` (an HTTP-like status: 400, 404, 500, 503) and `Nats-Service-Error`
 * (`<CODE>: <message>`), and the body `{"ok": false, "error": {"code", "message", "retryable"}}`
 * with a stable code from `ERROR_CODES`.
 *
 * Core request/reply is at-most-once: these endpoints are for synchronous questions, never for
 * the pipeline's hand-offs. Like every subject they carry the deployment's prefix
 * (`nats.subjectPrefix`): `<prefix>router.classify`.
 */
import { z } from "zod";
import { ModelConfig } from "./config.js";
import { Classification, Complexity, TaskFeedback, TaskRouted, TaskSubmission, TaskType } from "./contracts.js";
import { ModelHealthEntry } from "./model-health.js";
import { BUDGET_STATES, BUDGET_WINDOWS } from "./vocab.js";

/** What a model's health is for routing now (from the executors' KV key `health`). */
export const ModelHealthStatus = z.object({
  /** `half_open`: its cooldown ended, the next call is a probe; routable again. */
  state: z.enum(["healthy", "open", "half_open", "unavailable"]),
  reason: z.string().optional(),
  since: z.iso.datetime().optional(),
  until: z.iso.datetime().optional(),
});
export type ModelHealthStatus = z.infer<typeof ModelHealthStatus>;

const Rate = z.number().min(0).max(1).nullable();

/** Outcome statistics of one task type × complexity bucket of a model. */
export const ModelBucketStats = z.object({
  taskType: TaskType,
  complexity: Complexity,
  /** Model calls recorded, and the share that answered. */
  samples: z.number().int().nonnegative(),
  successRate: Rate,
  /** Feedback scores and their mean. */
  scored: z.number().int().nonnegative(),
  meanScore: Rate,
  /** What routing uses: the mean score shrunk towards the registry quality (`policy.statsPriorSamples`), times the share of calls that did not fail by the model's fault. */
  expectedQuality: z.number().min(0).max(1),
});
export type ModelBucketStats = z.infer<typeof ModelBucketStats>;

/** A model's outcome statistics over every bucket, as the selector routes with them. */
export const ModelOutcomeStats = z.object({
  samples: z.number().int().nonnegative(),
  successRate: Rate,
  scored: z.number().int().nonnegative(),
  meanScore: Rate,
  meanCostUsd: z.number().nonnegative().nullable(),
  /** Upper bound of the latency histogram bin holding the percentile; null without latencies or above the last bound. */
  latencyP50Ms: z.number().nonnegative().nullable(),
  latencyP95Ms: z.number().nonnegative().nullable(),
  buckets: z.array(ModelBucketStats),
});
export type ModelOutcomeStats = z.infer<typeof ModelOutcomeStats>;

/** One registry model with its health and statistics. */
export const ModelInfo = z.object({
  ...ModelConfig.shape,
  provider: z.string().min(1),
  /**
   * Where the price came from (`LoadedConfig.priceSources`): `config`, `local`, the listed price
   * it took (`@pydantic/genai-prices anthropic/claude-…`), or `none`, a cloud model counted at $0.
   * Absent when the selector was started without it.
   */
  priceSource: z.string().min(1).optional(),
  health: ModelHealthStatus,
  stats: ModelOutcomeStats,
});
export type ModelInfo = z.infer<typeof ModelInfo>;

export const ModelsReport = z.object({
  registryVersion: z.string(),
  policyVersion: z.string(),
  /** The outcome-statistics snapshot the numbers come from ("empty" before any). */
  statsId: z.string(),
  models: z.array(ModelInfo),
});
export type ModelsReport = z.infer<typeof ModelsReport>;

/** `global`, a rule kind (`tenant`, `run`: all its scopes) or one scope (`tenant:acme`, `run:agent-7`). */
export const BudgetScopeFilter = z.string().regex(/^(global|tenant|run|tenant:.+|run:.+)$/, "scope must be global, tenant, run, tenant:<name> or run:<id>");

export const BudgetLine = z.object({
  /** The scope charged: `global`, `tenant:<name>`, `run:<id>`. */
  scope: z.string(),
  /** The configured budget it comes from (`global`, `tenant`, `tenant:acme`, `run`). */
  rule: z.string(),
  window: z.enum(BUDGET_WINDOWS),
  windowStart: z.iso.datetime(),
  limitUsd: z.number().nonnegative(),
  softRatio: z.number(),
  /** What the ledger recorded in this window (Postgres `budget_spend`). */
  spentUsd: z.number().nonnegative(),
  /** The executors' counters (KV): settled calls, and estimates held by paid calls in flight. */
  settledUsd: z.number().nonnegative(),
  reservedUsd: z.number().nonnegative(),
  /** `limit − max(spent, settled) − reserved`, at least 0: the ledger lags the executors by a batch. */
  remainingUsd: z.number().nonnegative(),
  state: z.enum(BUDGET_STATES),
});
export type BudgetLine = z.infer<typeof BudgetLine>;

export const BudgetReport = z.object({ at: z.iso.datetime(), budgets: z.array(BudgetLine) });
export type BudgetReport = z.infer<typeof BudgetReport>;

export const METRICS_GROUPS = ["hour", "day", "month", "tenant", "task_type"] as const;
export type MetricsGroup = (typeof METRICS_GROUPS)[number];

export const MetricsRequest = z.strictObject({
  /** Tasks completed at or after this instant (ISO 8601). */
  since: z.iso.datetime({ offset: true }).optional(),
  /** Tasks completed before this instant. */
  until: z.iso.datetime({ offset: true }).optional(),
  tenant: z.string().min(1).max(64).optional(),
  taskType: TaskType.optional(),
  /** Windows are UTC calendar hours, days and months. */
  groupBy: z.enum(METRICS_GROUPS).optional(),
});
export type MetricsRequest = z.infer<typeof MetricsRequest>;

export const MetricsSummary = z.object({
  tasks: z.number().int().nonnegative(),
  succeeded: z.number().int().nonnegative(),
  failed: z.number().int().nonnegative(),
  successRate: Rate,
  costUsd: z.number().nonnegative(),
  /** What the same tasks would have cost on the reference model. */
  referenceCostUsd: z.number().nonnegative(),
  /** `referenceCostUsd − costUsd` (negative when routing cost more) and its share of the reference cost. */
  savedUsd: z.number(),
  savedPercent: z.number().nullable(),
  /** End to end (accepted by the classifier → completed by the executor). */
  latencyMeanMs: z.number().nonnegative().nullable(),
  latencyP95Ms: z.number().nonnegative().nullable(),
  /** Tasks per answering model (`(failed)` for tasks no model answered), most first. */
  models: z.array(z.object({ model: z.string(), tasks: z.number().int().nonnegative(), share: z.number().min(0).max(1), costUsd: z.number().nonnegative() })),
});
export type MetricsSummary = z.infer<typeof MetricsSummary>;

export const MetricsReport = z.object({
  filter: MetricsRequest,
  totals: MetricsSummary,
  /** With `groupBy`: one summary per window start (ISO), tenant or task type, in order. */
  groups: z.array(z.object({ key: z.string(), ...MetricsSummary.shape })).optional(),
});
export type MetricsReport = z.infer<typeof MetricsReport>;

export const FeedbackAccepted = z.object({
  ok: z.literal(true),
  /** The feedback's id: the request's, else one assigned. */
  id: z.string(),
  /** True when the stream had it already (the same id within the duplicate window). */
  duplicate: z.boolean(),
});
export type FeedbackAccepted = z.infer<typeof FeedbackAccepted>;

const Check = z.object({ ok: z.boolean(), error: z.string().optional() });

/** The most budget states `router.health` lists. */
export const MAX_HEALTH_BUDGETS = 100;

export const HealthReport = z.object({
  /** NATS, the database and the KV bucket all answer. Unhealthy models and spent budgets do not make it false. */
  ok: z.boolean(),
  at: z.iso.datetime(),
  nats: Check.extend({ server: z.string(), rttMs: z.number().nonnegative().optional() }),
  database: Check.extend({ kind: z.string() }),
  kv: Check,
  /** Models the selectors route around now: open circuits and unavailable providers. */
  unhealthyModels: z.array(ModelHealthEntry.extend({ spec: z.string() })),
  /**
   * The budget states as the selectors read them (KV): exceeded first, then soft, then ok, the
   * global scope first among equals; at most `MAX_HEALTH_BUDGETS` (a per-run budget writes one
   * state for every run that spent: thousands). `router.budget` with a scope lists any of them.
   */
  budgets: z.array(z.object({ scope: z.string(), window: z.enum(BUDGET_WINDOWS), state: z.enum(BUDGET_STATES), spentUsd: z.number(), limitUsd: z.number() })),
  /** How many states past `MAX_HEALTH_BUDGETS` were left out; absent when none was. */
  budgetsOmitted: z.number().int().positive().optional(),
  /** Set when the budget states could not be read: `budgets` is then empty for want of them, not because none applies. */
  budgetsError: z.string().optional(),
});
export type HealthReport = z.infer<typeof HealthReport>;

const Empty = z.strictObject({});

/** Every endpoint: who serves it, its request and response schemas, what it is for. */
export const API_ENDPOINTS = {
  "router.classify": { service: "classifier", request: TaskSubmission, response: Classification, description: "classify a task submission with the configured classifier" },
  "router.route": { service: "selector", request: TaskSubmission, response: TaskRouted, description: "dry run: classify and route a task submission; nothing is executed or recorded" },
  "router.models": { service: "selector", request: Empty, response: ModelsReport, description: "the model registry with each model's health and outcome statistics" },
  "router.models.get": { service: "selector", request: z.strictObject({ spec: z.string().min(1) }), response: ModelInfo, description: "one model by spec" },
  "router.budget": { service: "ledger", request: z.strictObject({ scope: BudgetScopeFilter.optional() }), response: BudgetReport, description: "every budget scope's limit, spend, reservations, remainder and state" },
  "router.metrics": { service: "ledger", request: MetricsRequest, response: MetricsReport, description: "tasks, success rate, cost, latency, models and savings, filtered and grouped" },
  "router.feedback": { service: "ledger", request: TaskFeedback, response: FeedbackAccepted, description: "record feedback on a completed task" },
  "router.health": { service: "ledger", request: Empty, response: HealthReport, description: "the ledger's view: NATS, database, KV, unhealthy models, budget states" },
} as const;

export type ApiEndpointName = keyof typeof API_ENDPOINTS;
/** The service that hosts an endpoint. */
export type ApiHost = (typeof API_ENDPOINTS)[ApiEndpointName]["service"];
/** What a client sends (defaults not yet applied). */
export type ApiRequestInput<E extends ApiEndpointName> = z.input<(typeof API_ENDPOINTS)[E]["request"]>;
/** What a handler receives: the request after validation. */
export type ApiRequest<E extends ApiEndpointName> = z.infer<(typeof API_ENDPOINTS)[E]["request"]>;
export type ApiResponse<E extends ApiEndpointName> = z.infer<(typeof API_ENDPOINTS)[E]["response"]>;

/** The subject an endpoint listens on in a deployment with this subject prefix. */
export function apiSubject(prefix: string, endpoint: ApiEndpointName): string {
  return `${prefix}${endpoint}`;
}

/** The `$SRV` name of the service hosting a stage's endpoints: `router-classifier`, `router-selector`, `router-ledger`. */
export function apiServiceName(service: ApiHost): string {
  return `router-${service}`;
}
