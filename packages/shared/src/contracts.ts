/**
 * The message contract: one versioned zod schema per subject. A schema and its inferred type
 * share one name. Every message carries `v`; a consumer rejects versions it does not know.
 */
import { z } from "zod";
import { ErrorData } from "./errors.js";
import {
  BUDGET_STATES,
  BUDGET_WINDOWS,
  CAPABILITIES,
  COMPLEXITIES,
  DECISION_REASONS,
  EXECUTION_STRATEGIES,
  RISKS,
  STAGES,
  TASK_TYPES,
} from "./vocab.js";

export const CONTRACT_VERSION = 1;
const V = z.literal(CONTRACT_VERSION);

/** Task ids travel in `Nats-Msg-Id` headers and ledger keys: no whitespace, bounded length. */
export const TaskId = z
  .string()
  .min(1)
  .max(128)
  .regex(/^[A-Za-z0-9._:@\-]+$/, "task id may contain only letters, digits and . _ : @ -");
export type TaskId = z.infer<typeof TaskId>;

export const Complexity = z.enum(COMPLEXITIES);
export type Complexity = z.infer<typeof Complexity>;
export const Risk = z.enum(RISKS);
export type Risk = z.infer<typeof Risk>;
export const TaskType = z.enum(TASK_TYPES);
export type TaskType = z.infer<typeof TaskType>;
export const Capability = z.enum(CAPABILITIES);
export type Capability = z.infer<typeof Capability>;
export const Stage = z.enum(STAGES);
export type Stage = z.infer<typeof Stage>;

export const ChatMessage = z.object({
  role: z.enum(["system", "user", "assistant"]),
  content: z.string(),
});
export type ChatMessage = z.infer<typeof ChatMessage>;

/** Per-task limits and preferences a client may set. All optional. */
export const TaskConstraints = z.object({
  maxCostUsd: z.number().nonnegative().optional(),
  maxLatencyMs: z.number().int().positive().optional(),
  /**
   * Tokens the task may use, input plus output, over all its calls: the selector caps the output
   * by it, and each further call of a strategy gets only what is left.
   */
  maxTokens: z.number().int().positive().optional(),
  minQuality: z.number().min(0).max(1).optional(),
  /** Only models of this provider key (for example `openai`, `ollama`). */
  provider: z.string().min(1).optional(),
  requiredCapabilities: z.array(Capability).optional(),
  localOnly: z.boolean().optional(),
});
export type TaskConstraints = z.infer<typeof TaskConstraints>;

/** How deep a task's `metadata` may nest: deeper JSON overflows the stack when it is published on. */
export const METADATA_MAX_DEPTH = 32;

/** Whether a JSON value nests deeper than `limit` objects and arrays (iterative: any depth is safe to check). */
export function nestsDeeperThan(value: unknown, limit: number): boolean {
  const stack: [unknown, number][] = [[value, 0]];
  while (stack.length > 0) {
    const [v, depth] = stack.pop()!;
    if (typeof v !== "object" || v === null) continue;
    if (depth >= limit) return true;
    for (const child of Array.isArray(v) ? v : Object.values(v)) stack.push([child, depth + 1]);
  }
  return false;
}

/** Free-form client data carried with the task and recorded by the ledger. */
export const TaskMetadata = z
  .record(z.string(), z.unknown())
  .refine((m) => !nestsDeeperThan(m, METADATA_MAX_DEPTH), { message: `nests deeper than ${METADATA_MAX_DEPTH} levels` });

const hasText = (s: string): boolean => /\S/.test(s);

/**
 * A tenant names budget scopes, KV entries and ledger rows: no control characters, and no lone
 * UTF-16 surrogate (encoded as UTF-8 it becomes U+FFFD, so two such tenants would share a key).
 */
export const Tenant = z
  .string()
  .min(1)
  .max(64)
  .regex(/^[^\u0000-\u001f\u007f]+$/, "tenant may not contain control characters")
  .regex(/^(?:[^\ud800-\udfff]|[\ud800-\udbff][\udc00-\udfff])*$/, "tenant must be well-formed Unicode (it holds a lone surrogate)");

/**
 * What a client publishes on `task.submitted`. The smallest valid body is `{"prompt": "..."}`
 * or `{"messages": [...]}`; everything else is optional. `v` may be omitted by clients.
 */
export const TaskSubmission = z
  .object({
    v: V.optional(),
    id: TaskId.optional(),
    prompt: z.string().refine(hasText, { message: "is empty or only whitespace" }).optional(),
    messages: z.array(ChatMessage).min(1).optional(),
    system: z.string().optional(),
    tenant: Tenant.optional(),
    constraints: TaskConstraints.optional(),
    maxOutputTokens: z.number().int().positive().max(1_000_000).optional(),
    /** Groups the tasks of one agent run for a per-run budget (`budgets[].scope: run`). */
    runId: TaskId.optional(),
    metadata: TaskMetadata.optional(),
  })
  .refine((t) => (t.prompt === undefined) !== (t.messages === undefined), {
    message: "exactly one of `prompt` or `messages` is required",
    path: ["prompt"],
  })
  .refine((t) => t.messages === undefined || t.messages.some((m) => m.role === "user"), {
    message: "`messages` needs at least one user message",
    path: ["messages"],
  })
  .refine((t) => t.messages === undefined || hasText(t.messages.findLast((m) => m.role === "user")?.content ?? "x"), {
    message: "the last user message is empty or only whitespace: there is nothing to answer",
    path: ["messages"],
  });
export type TaskSubmission = z.infer<typeof TaskSubmission>;

/** A task as the pipeline carries it: id assigned, prompt normalised to messages. */
export const Task = z.object({
  v: V,
  id: TaskId,
  tenant: z.string().min(1).max(64),
  /** The conversation, system prompt first when one was given. */
  messages: z.array(ChatMessage).min(1),
  constraints: TaskConstraints,
  maxOutputTokens: z.number().int().positive().optional(),
  runId: TaskId.optional(),
  metadata: z.record(z.string(), z.unknown()).optional(),
  /** When the classifier first accepted the task (ISO 8601). */
  submittedAt: z.iso.datetime(),
});
export type Task = z.infer<typeof Task>;

export const Classification = z.object({
  complexity: Complexity,
  risk: Risk,
  taskType: TaskType,
  /** How sure the deciding strategy is, 0..1. */
  confidence: z.number().min(0).max(1),
  /**
   * Estimated probability that a cheap (weak) model fails this task where a strong one would
   * succeed: the learned model's output. Absent when no learned model is loaded (strategy
   * `rules`); the selector then routes by the tiers' quality floors alone.
   */
  pFail: z.number().min(0).max(1).optional(),
  /**
   * The learned model's category for the task, one of the labels its training data carried
   * (`train:classifier --categories`); absent when the loaded weights have no category head.
   */
  category: z.string().min(1).optional(),
  /** Which strategy decided (`rules`, later `learned`, `llm`, ...). */
  strategy: z.string().min(1),
  strategyVersion: z.string().min(1),
  /** Numeric features the decision was made from (for replay and for the learned model). */
  features: z.record(z.string(), z.number()),
  /** Human-readable evidence: which rules matched. */
  signals: z.array(z.string()),
});
export type Classification = z.infer<typeof Classification>;

export const BudgetSnapshot = z.object({
  /** The tightest state among the budgets that apply to the task. */
  state: z.enum(BUDGET_STATES),
  /** The scope that state comes from (`global`, `tenant:<t>`, `run:<id>`), when not ok. */
  scope: z.string().optional(),
  /** The KV revision the selector had seen, 0 when no state was ever written. */
  revision: z.number().int().nonnegative(),
});
export type BudgetSnapshot = z.infer<typeof BudgetSnapshot>;

const DecisionCommon = {
  reason: z.string(),
  /** The reason as a bounded label, for metrics and queries; absent in decisions made before it existed. */
  reasonCode: z.enum(DECISION_REASONS).optional(),
  policyVersion: z.string(),
  registryVersion: z.string(),
  /** Id of the outcome-statistics snapshot the selector used ("empty" when it had none). */
  statsId: z.string().min(1),
  budget: BudgetSnapshot,
  decidedAt: z.iso.datetime(),
  /** Models excluded for their health (open circuit, unavailable) when this was decided, for replay. */
  unhealthy: z.array(z.string()).optional(),
};

/** The selector's decision: a model and fallbacks, or why no model can take the task. */
export const RoutingDecision = z.discriminatedUnion("ok", [
  z.object({
    ok: z.literal(true),
    /** `provider:model` spec of the first model to call. */
    model: z.string().min(1),
    fallbacks: z.array(z.string().min(1)),
    strategy: z.enum(EXECUTION_STRATEGIES),
    /** True when the budget state forced a local model that the policy would not otherwise pick. */
    forcedLocal: z.boolean(),
    estimatedInputTokens: z.number().int().nonnegative(),
    maxOutputTokens: z.number().int().positive(),
    /** The task's estimated cost: every call of its strategy, each at the chosen model's price. */
    estimatedCostUsd: z.number().nonnegative(),
    /** Seed for any randomised choice, so the decision can be replayed. */
    seed: z.number().int().nonnegative(),
    ...DecisionCommon,
  }),
  z.object({
    ok: z.literal(false),
    error: ErrorData,
    /** The prompt's estimated input tokens (for replay). */
    estimatedInputTokens: z.number().int().nonnegative().optional(),
    ...DecisionCommon,
  }),
]);
export type RoutingDecision = z.infer<typeof RoutingDecision>;

const ModelCallCommon = {
  callId: z.string().min(1),
  model: z.string().min(1),
  attempt: z.number().int().positive(),
  startedAt: z.iso.datetime(),
  latencyMs: z.number().nonnegative(),
  inputTokens: z.number().int().nonnegative(),
  outputTokens: z.number().int().nonnegative(),
  /** Of `inputTokens`, those the provider read from its prompt cache; absent when none (or not reported). */
  cacheReadTokens: z.number().int().positive().optional(),
  /** Of `inputTokens`, those the provider wrote to its prompt cache; absent when none. */
  cacheWriteTokens: z.number().int().positive().optional(),
  costUsd: z.number().nonnegative(),
  simulated: z.boolean(),
  /**
   * The strategy step this call served (`answer`, `plan`, `execute`, `specialist:<name>`,
   * `synthesis`, `member`, `critic`); absent before strategies existed.
   */
  step: z.string().min(1).optional(),
};

/**
 * One attempt at one model: the unit the ledger bills. A streamed call records its time to first
 * token; a stream that failed part-way records the tokens (and cost) billed for it and how much
 * output was discarded.
 */
export const ModelCall = z.discriminatedUnion("ok", [
  z.object({ ok: z.literal(true), ...ModelCallCommon, ttftMs: z.number().nonnegative().optional() }),
  z.object({ ok: z.literal(false), ...ModelCallCommon, error: ErrorData, discardedOutputChars: z.number().int().nonnegative().optional() }),
]);
export type ModelCall = z.infer<typeof ModelCall>;

export const TaskResult = z.discriminatedUnion("status", [
  z.object({
    status: z.literal("succeeded"),
    model: z.string().min(1),
    output: z.string(),
    /** True when the answer came from the simulator, not a real model. */
    simulated: z.boolean(),
  }),
  z.object({
    status: z.literal("failed"),
    error: ErrorData,
  }),
]);
export type TaskResult = z.infer<typeof TaskResult>;

export const TaskClassified = z.object({ v: V, task: Task, classification: Classification });
export type TaskClassified = z.infer<typeof TaskClassified>;

export const TaskRouted = z.object({ v: V, task: Task, classification: Classification, decision: RoutingDecision });
export type TaskRouted = z.infer<typeof TaskRouted>;

export const TaskCompleted = z.object({
  v: V,
  task: Task,
  classification: Classification,
  decision: RoutingDecision,
  result: TaskResult,
  /** Every model call made for this task, in order, failed ones included. */
  calls: z.array(ModelCall),
  costUsd: z.number().nonnegative(),
  inputTokens: z.number().int().nonnegative(),
  outputTokens: z.number().int().nonnegative(),
  /** What the same tokens would have cost on the reference model (for savings). */
  referenceModel: z.string().min(1),
  referenceCostUsd: z.number().nonnegative(),
  completedAt: z.iso.datetime(),
});
export type TaskCompleted = z.infer<typeof TaskCompleted>;

export const TaskFeedback = z
  .object({
    v: V.optional(),
    /** Idempotency key; derived from the stream sequence when absent. */
    id: TaskId.optional(),
    taskId: TaskId,
    score: z.number().min(0).max(1).optional(),
    success: z.boolean().optional(),
    comment: z.string().max(4000).optional(),
  })
  .refine((f) => f.score !== undefined || f.success !== undefined, {
    message: "feedback needs `score` (0..1) or `success`",
    path: ["score"],
  });
export type TaskFeedback = z.infer<typeof TaskFeedback>;

/** A message a stage could not process, recorded instead of retried forever. */
export const TaskDead = z.object({
  v: V,
  stage: Stage,
  code: z.string().min(1),
  reason: z.string(),
  subject: z.string(),
  /** Where the original message is: stream name and sequence. */
  stream: z.string(),
  streamSeq: z.number().int().nonnegative(),
  deliveryCount: z.number().int().nonnegative(),
  /** The raw payload as UTF-8 (lossy for binary), truncated to `DEAD_PAYLOAD_MAX_BYTES`. */
  payload: z.string(),
  payloadBytes: z.number().int().nonnegative(),
  taskId: z.string().optional(),
  at: z.iso.datetime(),
});
export type TaskDead = z.infer<typeof TaskDead>;

export const DEAD_PAYLOAD_MAX_BYTES = 64 * 1024;

/**
 * Published by the executor when a task's strategy requires human approval (critical risk,
 * ensemble): the answer it would complete the task with, and until when it waits.
 */
export const TaskApprovalRequested = z.object({
  v: V,
  taskId: TaskId,
  tenant: z.string(),
  model: z.string().min(1),
  output: z.string(),
  costUsd: z.number().nonnegative(),
  requestedAt: z.iso.datetime(),
  expiresAt: z.iso.datetime(),
});
export type TaskApprovalRequested = z.infer<typeof TaskApprovalRequested>;

/** What an approver publishes on `task.approval.granted` or `task.approval.denied`. */
export const TaskApprovalDecision = z.object({
  v: V.optional(),
  taskId: TaskId,
  /** Who decided (a name or id), for the record. */
  by: z.string().max(200).optional(),
  reason: z.string().max(4000).optional(),
});
export type TaskApprovalDecision = z.infer<typeof TaskApprovalDecision>;

/** The budget state per scope, as written to the KV bucket and carried by budget events. */
export const BudgetState = z.object({
  v: V,
  scope: z.string().min(1),
  window: z.enum(BUDGET_WINDOWS),
  windowStart: z.iso.datetime(),
  state: z.enum(BUDGET_STATES),
  limitUsd: z.number().nonnegative(),
  spentUsd: z.number().nonnegative(),
  at: z.iso.datetime(),
});
export type BudgetState = z.infer<typeof BudgetState>;
