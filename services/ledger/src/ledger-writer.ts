/**
 * Batched, idempotent ledger writes. Entries queue up and are written in one transaction per
 * batch, flushed when `batchSize` entries wait or `flushMs` after the first one — single-row
 * awaited inserts would cap the pipeline at a few thousand tasks/s. Each `record()` resolves
 * only after its batch committed, so the caller acks the NATS message after the data is durable.
 */
import { performance } from "node:perf_hooks";
import { sql } from "drizzle-orm";
import {
  decimalToNanos,
  providerKey,
  usdToDecimal,
  type BudgetWindow,
  type Logger,
  type TaskCompleted,
  type TaskDead,
  type TaskFeedback,
} from "@llm-router/shared";
import type { LedgerDb } from "./db.js";
import { budgetSpend, deadLetters, decisions, feedback, modelCalls, tasks } from "./schema.js";
import { windowStart } from "./windows.js";

export type LedgerEntry =
  | { kind: "completed"; value: TaskCompleted }
  | { kind: "feedback"; value: TaskFeedback & { id: string; receivedAt: string } }
  | { kind: "dead"; value: TaskDead };

export interface BatchStats {
  entries: number;
  newTasks: number;
  newCalls: number;
  /** Cloud spend added by this batch, nano-USD (calls already recorded add nothing). */
  addedSpendNanos: bigint;
  seconds: number;
  /** Seconds from each new task's completion to this commit. */
  lagsSeconds: number[];
}

export interface LedgerWriterOptions {
  db: LedgerDb;
  log: Logger;
  batchSize: number;
  flushMs: number;
  /** Window that spend is accumulated in (the global budget's). */
  spendWindow: BudgetWindow;
  now?: () => Date;
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

export const GLOBAL_SCOPE = "global";

export function createLedgerWriter(o: LedgerWriterOptions): LedgerWriter {
  const now = o.now ?? (() => new Date());
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
      const stats = await o.db.transaction((tx) => insertBatch(tx as unknown as LedgerDb, batch.map((p) => p.entry)));
      stats.seconds = (performance.now() - started) / 1000;
      const committedAt = now().getTime();
      stats.lagsSeconds = batch
        .filter((p) => p.entry.kind === "completed")
        .map((p) => (committedAt - Date.parse((p.entry.value as TaskCompleted).completedAt)) / 1000);
      for (const p of batch) p.resolve();
      o.onCommitted?.(stats);
    } catch (err) {
      o.log.error({ err, entries: batch.length }, "ledger batch failed; its messages will be redelivered");
      for (const p of batch) p.reject(err);
    }
  }

  async function insertBatch(tx: LedgerDb, entries: LedgerEntry[]): Promise<BatchStats> {
    const completed = entries.filter((e): e is Extract<LedgerEntry, { kind: "completed" }> => e.kind === "completed").map((e) => e.value);
    const fb = entries.filter((e): e is Extract<LedgerEntry, { kind: "feedback" }> => e.kind === "feedback").map((e) => e.value);
    const dead = entries.filter((e): e is Extract<LedgerEntry, { kind: "dead" }> => e.kind === "dead").map((e) => e.value);
    const stats: BatchStats = { entries: entries.length, newTasks: 0, newCalls: 0, addedSpendNanos: 0n, seconds: 0, lagsSeconds: [] };

    if (completed.length > 0) {
      const inserted = await tx.insert(tasks).values(completed.map(taskRow)).onConflictDoNothing().returning({ taskId: tasks.taskId });
      stats.newTasks = inserted.length;
      await tx.insert(decisions).values(completed.map(decisionRow)).onConflictDoNothing();
      const calls = completed.flatMap(callRows);
      if (calls.length > 0) {
        const newCalls = await tx
          .insert(modelCalls)
          .values(calls)
          .onConflictDoNothing()
          .returning({ costUsd: modelCalls.costUsd, startedAt: modelCalls.startedAt });
        stats.newCalls = newCalls.length;
        // Spend counts only calls this batch inserted: a redelivered completion adds nothing.
        const perWindow = new Map<string, bigint>();
        for (const c of newCalls) {
          const nanos = decimalToNanos(c.costUsd);
          if (nanos === 0n) continue;
          const start = windowStart(o.spendWindow, new Date(c.startedAt)).toISOString();
          perWindow.set(start, (perWindow.get(start) ?? 0n) + nanos);
          stats.addedSpendNanos += nanos;
        }
        for (const [start, nanos] of perWindow) {
          const amount = nanosToDecimal(nanos);
          await tx
            .insert(budgetSpend)
            .values({ scope: GLOBAL_SCOPE, window: o.spendWindow, windowStart: start, spentUsd: amount })
            .onConflictDoUpdate({
              target: [budgetSpend.scope, budgetSpend.window, budgetSpend.windowStart],
              set: { spentUsd: sql`${budgetSpend.spentUsd} + ${amount}`, updatedAt: sql`now()` },
            });
        }
      }
    }
    if (fb.length > 0) {
      await tx
        .insert(feedback)
        .values(
          fb.map((f) => ({
            feedbackId: f.id,
            taskId: f.taskId,
            score: f.score ?? null,
            success: f.success ?? null,
            comment: f.comment ?? null,
            receivedAt: f.receivedAt,
          })),
        )
        .onConflictDoNothing();
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
            // Postgres text cannot hold NUL bytes; the raw message stays in the stream.
            payload: d.payload.replaceAll("\u0000", "\uFFFD"),
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

function nanosToDecimal(nanos: bigint): string {
  const whole = nanos / 1_000_000_000n;
  const frac = (nanos % 1_000_000_000n).toString().padStart(9, "0");
  return `${whole}.${frac}`;
}

function taskRow(c: TaskCompleted): typeof tasks.$inferInsert {
  return {
    taskId: c.task.id,
    tenant: c.task.tenant,
    status: c.result.status,
    complexity: c.classification.complexity,
    risk: c.classification.risk,
    taskType: c.classification.taskType,
    confidence: c.classification.confidence,
    classifierStrategy: c.classification.strategy,
    model: c.result.status === "succeeded" ? c.result.model : null,
    inputTokens: c.inputTokens,
    outputTokens: c.outputTokens,
    costUsd: usdToDecimal(c.costUsd),
    referenceModel: c.referenceModel,
    referenceCostUsd: usdToDecimal(c.referenceCostUsd),
    errorCode: c.result.status === "failed" ? c.result.error.code : null,
    simulated: c.result.status === "succeeded" ? c.result.simulated : false,
    submittedAt: c.task.submittedAt,
    completedAt: c.completedAt,
    latencyMs: Math.max(0, Date.parse(c.completedAt) - Date.parse(c.task.submittedAt)),
    metadata: c.task.metadata ?? null,
  };
}

function decisionRow(c: TaskCompleted): typeof decisions.$inferInsert {
  const d = c.decision;
  return {
    taskId: c.task.id,
    ok: d.ok,
    model: d.ok ? d.model : null,
    fallbacks: d.ok ? d.fallbacks : [],
    reason: d.reason,
    forcedLocal: d.ok ? d.forcedLocal : false,
    budgetState: d.budget.state,
    estimatedCostUsd: d.ok ? usdToDecimal(d.estimatedCostUsd) : null,
    errorCode: d.ok ? null : d.error.code,
    policyVersion: d.policyVersion,
    registryVersion: d.registryVersion,
    seed: d.ok ? d.seed : null,
    decidedAt: d.decidedAt,
    inputs: { classification: c.classification, decision: d, constraints: c.task.constraints },
  };
}

function callRows(c: TaskCompleted): (typeof modelCalls.$inferInsert)[] {
  return c.calls.map((call) => ({
    callId: call.callId,
    taskId: c.task.id,
    attempt: call.attempt,
    model: call.model,
    provider: providerKey(call.model),
    ok: call.ok,
    errorCode: call.ok ? null : call.error.code,
    errorMessage: call.ok ? null : call.error.message.slice(0, 1000),
    inputTokens: call.inputTokens,
    outputTokens: call.outputTokens,
    costUsd: usdToDecimal(call.costUsd),
    latencyMs: call.latencyMs,
    simulated: call.simulated,
    tenant: c.task.tenant,
    startedAt: call.startedAt,
  }));
}
