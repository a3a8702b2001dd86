/**
 * Batched, idempotent ledger writes. Entries queue up and are written in one transaction per
 * batch, flushed when `batchSize` entries wait or `flushMs` after the first one — single-row
 * awaited inserts would cap the pipeline at a few thousand tasks/s. Each `record()` resolves
 * only after its batch committed, so the caller acks the NATS message after the data is durable.
 * A batch the database refuses for its data (an entry no retry can write) is written again one
 * entry at a time, so the entry at fault fails alone — permanently, to be dead-lettered — and the
 * others are recorded.
 */
import { performance } from "node:perf_hooks";
import { sql } from "drizzle-orm";
import {
  ERROR_CODES,
  RouterError,
  decimalToNanos,
  providerKey,
  usdToDecimal,
  windowStart,
  type BudgetRule,
  type BudgetWindow,
  type Logger,
  type ModelCall,
  type Task,
  type TaskCompleted,
  type TaskDead,
  type OutcomeSample,
  type TaskFeedback,
} from "@llm-router/shared";
import { callSample, feedbackSample, queryRows, type TaskBucket } from "./outcome-samples.js";
import { databaseError, type LedgerDb } from "./db.js";
import { budgetSpend, deadLetters, feedback } from "./schema.js";
import { chargedScopes, nanosToDecimal, spendRowOrder, spendRules } from "./budget-spend.js";
import { insertUnnest, withoutNul, type UnnestColumn } from "./unnest-insert.js";

export type LedgerEntry = (
  | { kind: "completed"; value: TaskCompleted }
  | { kind: "feedback"; value: TaskFeedback & { id: string; receivedAt: string } }
  | { kind: "dead"; value: TaskDead }
) & {
  /** The size of the message it came in, for the disk the batch will take. */
  bytes?: number;
};

export interface BatchStats {
  entries: number;
  newTasks: number;
  /** The tasks this batch wrote for the first time, by final status (redeliveries add nothing). */
  newTasksByStatus: Record<string, number>;
  newCalls: number;
  /**
   * Task ids this batch found recorded from another submission (a client reused an id after the
   * stream's duplicate window): the task row keeps the first run; the new run's calls and spend
   * are recorded all the same.
   */
  reusedTaskIds: string[];
  /** Cloud spend added by this batch, nano-USD (calls already recorded add nothing). */
  addedSpendNanos: bigint;
  seconds: number;
  /** Seconds from each new task's completion to this commit. */
  lagsSeconds: number[];
  /** What this batch newly taught the outcome statistics (redeliveries add nothing). */
  samples: OutcomeSample[];
}

export interface LedgerWriterOptions {
  db: LedgerDb;
  log: Logger;
  batchSize: number;
  flushMs: number;
  /**
   * The budgets whose spend is accumulated, per scope and window (`budgetRules(config)`). With
   * none, global spend per day is still kept for reporting.
   */
  budgets: readonly BudgetRule[];
  now?: () => Date;
  /**
   * Runs before each batch with the size of its messages; a throw refuses it unwritten (the disk
   * floor): a batch of several entries is then tried in halves, a single entry is redelivered.
   */
  beforeBatch?: (bytes: number, single: boolean) => void;
  onCommitted?: (stats: BatchStats) => void;
}

export interface LedgerWriter {
  record(entry: LedgerEntry): Promise<void>;
  /** Write whatever waits now. */
  flush(): Promise<void>;
  /** Flush and stop accepting entries. */
  close(): Promise<void>;
}

interface Pending {
  entry: LedgerEntry;
  resolve: () => void;
  reject: (err: unknown) => void;
}


export function createLedgerWriter(o: LedgerWriterOptions): LedgerWriter {
  const now = o.now ?? (() => new Date());
  const rules = spendRules(o.budgets);
  const queue: Pending[] = [];
  let timer: NodeJS.Timeout | undefined;
  let chain: Promise<void> = Promise.resolve();
  let closed = false;

  function schedule(): void {
    if (queue.length >= o.batchSize) {
      void flushNow();
    } else if (!timer) {
      timer = setTimeout(() => void flushNow(), o.flushMs);
    }
  }

  /** Batches are written one after another, never concurrently: spend increments stay ordered. */
  function flushNow(): Promise<void> {
    if (timer) {
      clearTimeout(timer);
      timer = undefined;
    }
    if (queue.length === 0) return chain;
    const batch = queue.splice(0, o.batchSize);
    if (queue.length > 0) schedule();
    chain = chain.then(() => writeBatch(batch));
    return chain;
  }

  async function writeBatch(batch: Pending[]): Promise<void> {
    const started = performance.now();
    try {
      // Said once by the check, not once a batch: every message of the batch is redelivered.
      o.beforeBatch?.(
        batch.reduce((n, p) => n + (p.entry.bytes ?? 0), 0),
        batch.length === 1,
      );
    } catch (err) {
      // No room for all of it: halves, down to single entries, so what fits is written.
      if (batch.length > 1) {
        const half = Math.ceil(batch.length / 2);
        await writeBatch(batch.slice(0, half));
        await writeBatch(batch.slice(half));
        return;
      }
      batch[0]!.reject(err);
      return;
    }
    try {
      const stats = await o.db.transaction((tx) => insertBatch(tx as unknown as LedgerDb, batch.map((p) => p.entry)));
      stats.seconds = (performance.now() - started) / 1000;
      const committedAt = now().getTime();
      stats.lagsSeconds = batch
        .filter((p) => p.entry.kind === "completed")
        .map((p) => (committedAt - Date.parse((p.entry.value as TaskCompleted).completedAt)) / 1000);
      for (const p of batch) p.resolve();
      o.onCommitted?.(stats);
    } catch (err) {
      const refused = dataError(err);
      if (refused && batch.length > 1) {
        o.log.warn({ sqlState: refused.code, reason: refused.message, entries: batch.length }, "the database refused a ledger batch's data; writing its entries one at a time");
        for (const p of batch) await writeBatch([p]);
        return;
      }
      if (refused) {
        const message = `the database refused this entry (SQLSTATE ${refused.code}): ${refused.message}`;
        o.log.error({ sqlState: refused.code, reason: refused.message }, "ledger entry refused by the database; it will be dead-lettered");
        batch[0]!.reject(new RouterError(ERROR_CODES.MESSAGE_INVALID, message, { cause: err, retryable: false }));
        return;
      }
      o.log.error({ err, entries: batch.length }, "ledger batch failed; its messages will be redelivered");
      for (const p of batch) p.reject(err);
    }
  }

  async function insertBatch(tx: LedgerDb, entries: LedgerEntry[]): Promise<BatchStats> {
    const completed = entries.filter((e): e is Extract<LedgerEntry, { kind: "completed" }> => e.kind === "completed").map((e) => e.value);
    const fb = entries.filter((e): e is Extract<LedgerEntry, { kind: "feedback" }> => e.kind === "feedback").map((e) => e.value);
    const dead = entries.filter((e): e is Extract<LedgerEntry, { kind: "dead" }> => e.kind === "dead").map((e) => e.value);
    const stats: BatchStats = { entries: entries.length, newTasks: 0, newTasksByStatus: {}, reusedTaskIds: [], newCalls: 0, addedSpendNanos: 0n, seconds: 0, lagsSeconds: [], samples: [] };

    if (completed.length > 0) {
      const newTaskIds = new Set(await insertUnnest(tx, "tasks", TASK_COLUMNS, completed, "task_id"));
      stats.newTasks = newTaskIds.size;
      // Every completion inserted its own task (the usual batch): none can be a reused id's run,
      // and the query is spared.
      const reused = newTaskIds.size === completed.length ? new Set<TaskCompleted>() : await reusedRuns(tx, completed);
      const answered = new Map<string, TaskBucket>();
      for (const c of completed) {
        // A task twice in one batch is inserted once: count it once.
        if (!newTaskIds.delete(c.task.id)) continue;
        stats.newTasksByStatus[c.result.status] = (stats.newTasksByStatus[c.result.status] ?? 0) + 1;
        if (c.result.status === "succeeded") answered.set(c.task.id, { task_type: c.classification.taskType, complexity: c.classification.complexity, model: c.result.model });
      }
      // Feedback recorded before its task (feedback has its own consumer, which can run ahead of
      // completions after a backlog) joins it now, as the replay at start would join it.
      if (answered.size > 0) {
        const early = await queryRows<{ task_id: string; score: number | null; success: boolean | null }>(
          tx,
          sql`SELECT task_id, score, success FROM feedback WHERE task_id = ANY(${sql.param([...answered.keys()])})`,
        );
        for (const f of early) stats.samples.push(feedbackSample(f, answered.get(f.task_id)!));
      }
      await insertUnnest(tx, "decisions", DECISION_COLUMNS, completed);
      // A reused id's run is a new run: its calls are recorded (and charged) under ids of their own.
      const calls = completed.flatMap((c) => {
        const again = reused.has(c) ? `@${Date.parse(c.task.submittedAt)}` : "";
        return c.calls.map((call) => ({ call: again ? { ...call, callId: `${call.callId}${again}` } : call, task: c.task, classification: c.classification }));
      });
      const inserted = new Set(await insertUnnest(tx, "model_calls", CALL_COLUMNS, calls, "call_id"));
      stats.newCalls = inserted.size;
      // Reported once per new run: a redelivery of one inserts no call.
      stats.reusedTaskIds = [...new Set([...reused].filter((c) => c.calls.some((call) => inserted.has(`${call.callId}@${Date.parse(c.task.submittedAt)}`))).map((c) => c.task.id))];
      // Spend counts only calls this batch inserted: a redelivered completion adds nothing.
      const perWindow = new Map<string, { scope: string; window: BudgetWindow; start: string; nanos: bigint }>();
      for (const { call, classification, task } of calls) {
        // Delete as we count: a completion delivered twice in one batch lists its calls twice.
        if (!inserted.delete(call.callId)) continue;
        stats.samples.push(callSample({ ...call, errorCode: call.ok ? null : call.error.code }, classification));
        const nanos = decimalToNanos(usdToDecimal(call.costUsd));
        if (nanos === 0n) continue;
        stats.addedSpendNanos += nanos;
        for (const { scope, window } of chargedScopes(rules, task)) {
          const start = windowStart(window, new Date(call.startedAt)).toISOString();
          const key = `${scope}\u0000${window}\u0000${start}`;
          const entry = perWindow.get(key) ?? { scope, window, start, nanos: 0n };
          entry.nanos += nanos;
          perWindow.set(key, entry);
        }
      }
      for (const { scope, window, start, nanos } of [...perWindow.values()].sort(spendRowOrder)) {
        const amount = nanosToDecimal(nanos);
        await tx
          .insert(budgetSpend)
          .values({ scope, window, windowStart: start, spentUsd: amount })
          .onConflictDoUpdate({
            target: [budgetSpend.scope, budgetSpend.window, budgetSpend.windowStart],
            set: { spentUsd: sql`${budgetSpend.spentUsd} + ${amount}`, updatedAt: sql`now()` },
          });
      }
    }
    if (fb.length > 0) {
      const newFeedback = await tx
        .insert(feedback)
        .values(
          fb.map((f) => ({
            feedbackId: f.id,
            taskId: f.taskId,
            score: f.score ?? null,
            success: f.success ?? null,
            comment: f.comment === undefined ? null : withoutNul(f.comment, "text"),
            receivedAt: f.receivedAt,
          })),
        )
        .onConflictDoNothing()
        .returning({ taskId: feedback.taskId, score: feedback.score, success: feedback.success });
      // Feedback joins the decision by task id: the bucket is the task's classification and the model that answered.
      const ids = [...new Set(newFeedback.map((f) => f.taskId))];
      const buckets = await queryRows<TaskBucket & { task_id: string }>(
        tx,
        sql`SELECT task_id, task_type, complexity, model FROM tasks WHERE task_id = ANY(${sql.param(ids)}) AND model IS NOT NULL`,
      );
      const byTask = new Map(buckets.map((b) => [b.task_id, b]));
      for (const f of newFeedback) {
        const bucket = byTask.get(f.taskId);
        if (bucket) stats.samples.push(feedbackSample(f, bucket));
      }
    }
    if (dead.length > 0) {
      await tx
        .insert(deadLetters)
        .values(
          dead.map((d) => ({
            id: `${d.stream}:${d.streamSeq}`,
            stage: d.stage,
            code: d.code,
            reason: d.reason,
            subject: d.subject,
            taskId: d.taskId ?? null,
            deliveryCount: d.deliveryCount,
            payload: withoutNul(d.payload, "text"),
            payloadBytes: d.payloadBytes,
            at: d.at,
          })),
        )
        .onConflictDoNothing();
    }
    return stats;
  }

  return {
    record(entry) {
      if (closed) return Promise.reject(new Error("ledger writer is closed"));
      return new Promise<void>((resolve, reject) => {
        queue.push({ entry, resolve, reject });
        schedule();
      });
    },
    flush: () => flushNow(),
    async close() {
      closed = true;
      while (queue.length > 0) await flushNow();
      await chain;
    },
  };
}

type Column<R> = UnnestColumn<R>;
const usdText = (usd: number): string => usdToDecimal(usd);

const TASK_COLUMNS: readonly Column<TaskCompleted>[] = [
  { name: "task_id", type: "text", value: (c) => c.task.id },
  { name: "tenant", type: "text", value: (c) => c.task.tenant },
  { name: "status", type: "text", value: (c) => c.result.status },
  { name: "complexity", type: "text", value: (c) => c.classification.complexity },
  { name: "risk", type: "text", value: (c) => c.classification.risk },
  { name: "task_type", type: "text", value: (c) => c.classification.taskType },
  { name: "confidence", type: "double precision", value: (c) => c.classification.confidence },
  { name: "classifier_strategy", type: "text", value: (c) => c.classification.strategy },
  { name: "model", type: "text", value: (c) => (c.result.status === "succeeded" ? c.result.model : null) },
  { name: "input_tokens", type: "integer", value: (c) => c.inputTokens },
  { name: "output_tokens", type: "integer", value: (c) => c.outputTokens },
  { name: "cost_usd", type: "numeric", value: (c) => usdText(c.costUsd) },
  { name: "reference_model", type: "text", value: (c) => c.referenceModel },
  { name: "reference_cost_usd", type: "numeric", value: (c) => usdText(c.referenceCostUsd) },
  { name: "error_code", type: "text", value: (c) => (c.result.status === "failed" ? c.result.error.code : null) },
  { name: "simulated", type: "boolean", value: (c) => (c.result.status === "succeeded" ? c.result.simulated : false) },
  { name: "submitted_at", type: "timestamptz", value: (c) => c.task.submittedAt },
  { name: "completed_at", type: "timestamptz", value: (c) => c.completedAt },
  { name: "latency_ms", type: "double precision", value: (c) => Math.max(0, Date.parse(c.completedAt) - Date.parse(c.task.submittedAt)) },
  { name: "metadata", type: "jsonb", value: (c) => (c.task.metadata ? JSON.stringify(c.task.metadata) : null) },
];

const DECISION_COLUMNS: readonly Column<TaskCompleted>[] = [
  { name: "task_id", type: "text", value: (c) => c.task.id },
  { name: "ok", type: "boolean", value: (c) => c.decision.ok },
  { name: "model", type: "text", value: (c) => (c.decision.ok ? c.decision.model : null) },
  { name: "fallbacks", type: "jsonb", value: (c) => JSON.stringify(c.decision.ok ? c.decision.fallbacks : []) },
  { name: "reason", type: "text", value: (c) => c.decision.reason },
  { name: "forced_local", type: "boolean", value: (c) => c.decision.ok && c.decision.forcedLocal },
  { name: "budget_state", type: "text", value: (c) => c.decision.budget.state },
  { name: "estimated_cost_usd", type: "numeric", value: (c) => (c.decision.ok ? usdText(c.decision.estimatedCostUsd) : null) },
  { name: "error_code", type: "text", value: (c) => (c.decision.ok ? null : c.decision.error.code) },
  { name: "policy_version", type: "text", value: (c) => c.decision.policyVersion },
  { name: "registry_version", type: "text", value: (c) => c.decision.registryVersion },
  { name: "seed", type: "bigint", value: (c) => (c.decision.ok ? c.decision.seed : null) },
  { name: "decided_at", type: "timestamptz", value: (c) => c.decision.decidedAt },
  // The whole decision and classification, so the decision can be replayed.
  {
    name: "inputs",
    type: "jsonb",
    value: (c) =>
      JSON.stringify({
        classification: c.classification,
        decision: c.decision,
        constraints: c.task.constraints,
        // What else the selector read from the task (the prompt itself is not kept).
        task: { tenant: c.task.tenant, runId: c.task.runId, maxOutputTokens: c.task.maxOutputTokens },
      }),
  },
];

const CALL_COLUMNS: readonly Column<{ call: ModelCall; task: Task }>[] = [
  { name: "call_id", type: "text", value: ({ call }) => call.callId },
  { name: "task_id", type: "text", value: ({ task }) => task.id },
  { name: "attempt", type: "integer", value: ({ call }) => call.attempt },
  { name: "model", type: "text", value: ({ call }) => call.model },
  { name: "provider", type: "text", value: ({ call }) => providerKey(call.model) },
  { name: "ok", type: "boolean", value: ({ call }) => call.ok },
  { name: "error_code", type: "text", value: ({ call }) => (call.ok ? null : call.error.code) },
  { name: "error_message", type: "text", value: ({ call }) => (call.ok ? null : call.error.message.slice(0, 1000)) },
  { name: "input_tokens", type: "integer", value: ({ call }) => call.inputTokens },
  { name: "output_tokens", type: "integer", value: ({ call }) => call.outputTokens },
  { name: "cache_read_tokens", type: "integer", value: ({ call }) => call.cacheReadTokens ?? 0 },
  { name: "cache_write_tokens", type: "integer", value: ({ call }) => call.cacheWriteTokens ?? 0 },
  { name: "cost_usd", type: "numeric", value: ({ call }) => usdText(call.costUsd) },
  { name: "latency_ms", type: "double precision", value: ({ call }) => call.latencyMs },
  { name: "simulated", type: "boolean", value: ({ call }) => call.simulated },
  { name: "tenant", type: "text", value: ({ task }) => task.tenant },
  // The call's own run, as it is charged: a reused task id's decision row names the first run.
  // "" for no run, so reconciliation tells it from a call recorded before the column (null).
  { name: "run_id", type: "text", value: ({ task }) => task.runId ?? "" },
  { name: "started_at", type: "timestamptz", value: ({ call }) => call.startedAt },
  { name: "step", type: "text", value: ({ call }) => call.step ?? null },
];

/**
 * The completions whose task row — recorded earlier or by this batch — came from another
 * submission (another `submittedAt`): an id reused after the duplicate window, not a redelivery
 * (which carries the same task, so the same submission time). Compared one completion at a time:
 * a redelivery of the first run beside a new run is not a new run.
 */
async function reusedRuns(tx: LedgerDb, completed: readonly TaskCompleted[]): Promise<Set<TaskCompleted>> {
  const rows = await queryRows<{ i: string }>(
    tx,
    sql`SELECT u.i FROM tasks t JOIN unnest(${sql.param(completed.map((c) => c.task.id))}::text[], ${sql.param(completed.map((c) => c.task.submittedAt))}::timestamptz[]) WITH ORDINALITY AS u(task_id, submitted_at, i) ON t.task_id = u.task_id WHERE t.submitted_at <> u.submitted_at`,
  );
  return new Set(rows.map((r) => completed[Number(r.i) - 1]!));
}

/**
 * The database error behind `err` when it is about the data itself — SQLSTATE class 22 (invalid
 * input, a value out of range) or 23 (a constraint) — so the same rows would fail at every retry.
 * Its message is the driver's, which names the problem without the batch's parameters (drizzle's
 * own message lists them all).
 */
function dataError(err: unknown): { code: string; message: string } | undefined {
  const found = databaseError(err);
  return found && /^2[23]/.test(found.code) ? found : undefined;
}
