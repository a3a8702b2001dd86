/**
 * The ledger's tables. Money is `numeric(20, 9)`: exact to the nano-dollar, summed in
 * Postgres, never a float that drifts. Every insert is keyed so that a redelivered message
 * writes nothing new (`ON CONFLICT DO NOTHING`).
 */
import { sql } from "drizzle-orm";
import { bigint, boolean, doublePrecision, index, integer, jsonb, numeric, pgTable, primaryKey, text, timestamp } from "drizzle-orm/pg-core";

const usd = (name: string) => numeric(name, { precision: 20, scale: 9 });
const ts = (name: string) => timestamp(name, { withTimezone: true, mode: "string" });

export const tasks = pgTable(
  "tasks",
  {
    taskId: text("task_id").primaryKey(),
    tenant: text("tenant").notNull(),
    status: text("status").notNull(), // succeeded | failed
    complexity: text("complexity").notNull(),
    risk: text("risk").notNull(),
    taskType: text("task_type").notNull(),
    confidence: doublePrecision("confidence").notNull(),
    classifierStrategy: text("classifier_strategy").notNull(),
    model: text("model"), // the model that answered; null when the task failed
    inputTokens: integer("input_tokens").notNull(),
    outputTokens: integer("output_tokens").notNull(),
    costUsd: usd("cost_usd").notNull(),
    referenceModel: text("reference_model").notNull(),
    referenceCostUsd: usd("reference_cost_usd").notNull(),
    errorCode: text("error_code"),
    simulated: boolean("simulated").notNull(),
    submittedAt: ts("submitted_at").notNull(),
    completedAt: ts("completed_at").notNull(),
    /** End to end: accepted by the classifier → completed by the executor. */
    latencyMs: doublePrecision("latency_ms").notNull(),
    metadata: jsonb("metadata"),
    recordedAt: ts("recorded_at").notNull().default(sql`now()`),
  },
  (t) => [index("tasks_completed_at_idx").on(t.completedAt), index("tasks_tenant_idx").on(t.tenant, t.completedAt)],
);

export const decisions = pgTable("decisions", {
  taskId: text("task_id").primaryKey(),
  ok: boolean("ok").notNull(),
  model: text("model"),
  fallbacks: jsonb("fallbacks").$type<string[]>().notNull(),
  reason: text("reason").notNull(),
  forcedLocal: boolean("forced_local").notNull(),
  budgetState: text("budget_state").notNull(),
  estimatedCostUsd: usd("estimated_cost_usd"),
  errorCode: text("error_code"),
  policyVersion: text("policy_version").notNull(),
  registryVersion: text("registry_version").notNull(),
  seed: bigint("seed", { mode: "number" }),
  decidedAt: ts("decided_at").notNull(),
  /** The whole decision and classification, so it can be replayed. */
  inputs: jsonb("inputs").notNull(),
});

export const modelCalls = pgTable(
  "model_calls",
  {
    callId: text("call_id").primaryKey(),
    taskId: text("task_id").notNull(),
    attempt: integer("attempt").notNull(),
    model: text("model").notNull(),
    provider: text("provider").notNull(),
    ok: boolean("ok").notNull(),
    errorCode: text("error_code"),
    errorMessage: text("error_message"),
    inputTokens: integer("input_tokens").notNull(),
    outputTokens: integer("output_tokens").notNull(),
    /** Of `input_tokens`, those the provider read from (`cache_read_tokens`) or wrote to its prompt cache; 0 when none or not reported. */
    cacheReadTokens: integer("cache_read_tokens").notNull().default(0),
    cacheWriteTokens: integer("cache_write_tokens").notNull().default(0),
    costUsd: usd("cost_usd").notNull(),
    latencyMs: doublePrecision("latency_ms").notNull(),
    simulated: boolean("simulated").notNull(),
    tenant: text("tenant").notNull(),
    /**
     * The run (`task.runId`) the call served, "" when the task named none. Kept on the call, not
     * only in the decision's inputs: a task id reused by another run keeps the first run's decision
     * row, and its new run's calls would be counted under the first run. Null on calls recorded
     * before this column existed (their run is the decision's); a run id is never empty.
     */
    runId: text("run_id"),
    startedAt: ts("started_at").notNull(),
    /** The strategy step the call served (`answer`, `plan`, `execute`, `specialist:<name>`, `synthesis`, `member`, `critic`). */
    step: text("step"),
  },
  (t) => [index("model_calls_task_idx").on(t.taskId), index("model_calls_started_at_idx").on(t.startedAt)],
);

export const feedback = pgTable(
  "feedback",
  {
    feedbackId: text("feedback_id").primaryKey(),
    taskId: text("task_id").notNull(),
    score: doublePrecision("score"),
    success: boolean("success"),
    comment: text("comment"),
    receivedAt: ts("received_at").notNull(),
  },
  (t) => [index("feedback_task_idx").on(t.taskId)],
);

export const deadLetters = pgTable("dead_letters", {
  /** `<stream>:<sequence>` of the message that could not be processed. */
  id: text("id").primaryKey(),
  stage: text("stage").notNull(),
  code: text("code").notNull(),
  reason: text("reason").notNull(),
  subject: text("subject").notNull(),
  taskId: text("task_id"),
  deliveryCount: integer("delivery_count").notNull(),
  payload: text("payload").notNull(),
  payloadBytes: integer("payload_bytes").notNull(),
  at: ts("at").notNull(),
});

/** Spend per scope and window, incremented in the same transaction as the calls it counts. */
export const budgetSpend = pgTable(
  "budget_spend",
  {
    scope: text("scope").notNull(),
    window: text("window").notNull(),
    windowStart: ts("window_start").notNull(),
    spentUsd: usd("spent_usd").notNull(),
    updatedAt: ts("updated_at").notNull().default(sql`now()`),
  },
  (t) => [
    primaryKey({ columns: [t.scope, t.window, t.windowStart] }),
    // The budget check reads every tenant's or run's spend in one window, once a second: the
    // primary key (scope first) cannot serve it, and the table keeps every window ever spent.
    index("budget_spend_window_idx").on(t.window, t.windowStart, t.scope),
  ],
);

/**
 * Every outcome-statistics snapshot the ledger published to the selectors, by its content id:
 * a decision records the id it routed with, and replay reads the snapshot back. At most one row
 * per publish (once a second while feedback flows); `published_at` lets an operator prune.
 */
export const statsSnapshots = pgTable(
  "stats_snapshots",
  {
    statsId: text("stats_id").primaryKey(),
    snapshot: jsonb("snapshot").notNull(),
    publishedAt: ts("published_at").notNull().default(sql`now()`),
  },
  (t) => [index("stats_snapshots_published_at_idx").on(t.publishedAt)],
);
