/**
 * What the ledger teaches the outcome statistics (`ModelStats` in @llm-router/shared, the same
 * aggregation the routing evaluation feeds its training rows through):
 * - every model call the pipeline made: whether it answered, and for a failure whether it counts
 *   against the model's reliability (not a deadline, a bad request, a missing key or a shutdown);
 * - every feedback message, joined to its task by id: its score (or 1/0 from `success`) for the
 *   model that answered, under the task's classification.
 * At start the ledger replays both from Postgres (`loadOutcomeStats`); afterwards each committed
 * batch adds only the rows it inserted, so a redelivered message never counts twice.
 */
import { sql, type SQL } from "drizzle-orm";
import { ModelStats, NOT_THE_MODELS_FAULT, type Classification, type ModelCall, type OutcomeSample, type StatsSnapshot } from "@llm-router/shared";
import type { LedgerDb } from "./db.js";

/** A task's bucket as stored in `tasks`. */
export interface TaskBucket {
  task_type: string;
  complexity: string;
  model: string;
}

export function callSample(
  call: Pick<ModelCall, "model" | "ok" | "costUsd" | "latencyMs"> & { errorCode?: string | null },
  c: Pick<Classification, "taskType" | "complexity">,
): OutcomeSample {
  const common = { taskType: c.taskType, complexity: c.complexity, model: call.model, costUsd: call.costUsd, latencyMs: call.latencyMs };
  return call.ok ? { kind: "call", ok: true, ...common } : { kind: "call", ok: false, modelsFault: !NOT_THE_MODELS_FAULT.has(call.errorCode ?? ""), ...common };
}

export function feedbackSample(f: { score: number | null; success: boolean | null }, bucket: TaskBucket): OutcomeSample {
  const success = f.success ?? (f.score ?? 0) >= 0.5;
  return {
    kind: "feedback",
    taskType: bucket.task_type as OutcomeSample["taskType"],
    complexity: bucket.complexity as OutcomeSample["complexity"],
    model: bucket.model,
    score: f.score ?? (success ? 1 : 0),
  };
}

/** The rows of a raw query (node-postgres and PGlite both return `{ rows }`). */
export async function queryRows<T>(db: LedgerDb, query: SQL): Promise<T[]> {
  return ((await db.execute<Record<string, unknown>>(query)) as { rows: T[] }).rows;
}

/** Rows read per query when replaying: memory stays bounded however long the history is. */
export const REPLAY_PAGE_ROWS = 10_000;

/**
 * Every row of a query in pages by a unique text key, ascending: `page(after, limit)` returns the
 * rows whose key is greater than `after` (all rows for undefined), at most `limit`.
 */
async function forEachPage<T>(key: keyof T & string, pageRows: number, page: (after: string | undefined, limit: number) => Promise<T[]>, each: (row: T) => void): Promise<number> {
  let after: string | undefined;
  let total = 0;
  for (;;) {
    const rows = await page(after, pageRows);
    for (const row of rows) each(row);
    total += rows.length;
    if (rows.length < pageRows) return total;
    after = String(rows[rows.length - 1]![key]);
  }
}

/** Rebuild the statistics from every recorded call and feedback, a page of rows at a time. */
export async function loadOutcomeStats(db: LedgerDb, pageRows = REPLAY_PAGE_ROWS): Promise<{ stats: ModelStats; snapshot: StatsSnapshot; calls: number; feedback: number }> {
  const stats = new ModelStats();
  type CallRow = { call_id: string; model: string; ok: boolean; error_code: string | null; cost_usd: string; latency_ms: number; task_type: string; complexity: string };
  const calls = await forEachPage<CallRow>(
    "call_id",
    pageRows,
    (after, limit) =>
      queryRows<CallRow>(
        db,
        sql`SELECT c.call_id, c.model, c.ok, c.error_code, c.cost_usd, c.latency_ms, t.task_type, t.complexity FROM model_calls c JOIN tasks t USING (task_id) ${after === undefined ? sql`` : sql`WHERE c.call_id > ${after}`} ORDER BY c.call_id LIMIT ${limit}`,
      ),
    (r) =>
      stats.observe(
        callSample({ model: r.model, ok: r.ok, errorCode: r.error_code, costUsd: Number(r.cost_usd), latencyMs: Number(r.latency_ms) }, { taskType: r.task_type as Classification["taskType"], complexity: r.complexity as Classification["complexity"] }),
      ),
  );
  type FeedbackRow = { feedback_id: string; score: number | null; success: boolean | null } & TaskBucket;
  const feedback = await forEachPage<FeedbackRow>(
    "feedback_id",
    pageRows,
    (after, limit) =>
      queryRows<FeedbackRow>(
        db,
        sql`SELECT f.feedback_id, f.score, f.success, t.task_type, t.complexity, t.model FROM feedback f JOIN tasks t USING (task_id) WHERE t.model IS NOT NULL ${after === undefined ? sql`` : sql`AND f.feedback_id > ${after}`} ORDER BY f.feedback_id LIMIT ${limit}`,
      ),
    (r) => stats.observe(feedbackSample(r, r)),
  );
  return { stats, snapshot: stats.snapshot(), calls, feedback };
}
