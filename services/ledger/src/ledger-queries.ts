/**
 * What the ledger answers from Postgres for the `router.*` API: the metrics and savings report,
 * whether a task is recorded, whether the database answers. Sums of money happen in Postgres
 * (`numeric`) and come back as decimal strings, read into exact nano-dollars.
 */
import { lt, sql, type SQL } from "drizzle-orm";
import { decimalToNanos, nanosToUsd, type MetricsGroup, type MetricsReport, type MetricsRequest, type MetricsSummary } from "@llm-router/shared";
import type { LedgerDb } from "./db.js";
import { queryRows } from "./outcome-samples.js";
import { statsSnapshots } from "./schema.js";

/** Window starts as ISO 8601 in UTC, like every other timestamp the router writes. */
const windowKey = (unit: "hour" | "day" | "month"): SQL =>
  sql.raw(`to_char(date_trunc('${unit}', completed_at AT TIME ZONE 'UTC'), 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`);

const GROUP_KEYS: Record<MetricsGroup, SQL> = {
  hour: windowKey("hour"),
  day: windowKey("day"),
  month: windowKey("month"),
  tenant: sql.raw("tenant"),
  task_type: sql.raw("task_type"),
};

interface SummaryRow {
  grp: string | null;
  total: number;
  tasks: number;
  succeeded: number;
  cost: string;
  reference: string;
  latency_mean: number | null;
  latency_p95: number | null;
}

interface ModelRow {
  grp: string | null;
  total: number;
  model: string;
  tasks: number;
  cost: string;
}

/**
 * Longest a metrics report may query for, both statements together; past it the request is
 * refused as too broad. Below the clients' 10 s timeout, so the refusal reaches them.
 */
export const METRICS_TIMEOUT_MS = 8_000;

/**
 * Tasks, success, cost, latency, models and savings over `tasks` (by `completed_at`), filtered,
 * with one summary per group when asked. One pass for the summaries and one for the models,
 * each grouping the filtered rows by group and in total at once (GROUPING SETS).
 */
export async function queryMetrics(db: LedgerDb, request: MetricsRequest): Promise<MetricsReport> {
  const conditions: SQL[] = [sql`true`];
  if (request.since !== undefined) conditions.push(sql`completed_at >= ${request.since}::timestamptz`);
  if (request.until !== undefined) conditions.push(sql`completed_at < ${request.until}::timestamptz`);
  if (request.tenant !== undefined) conditions.push(sql`tenant = ${request.tenant}`);
  if (request.taskType !== undefined) conditions.push(sql`task_type = ${request.taskType}`);
  const key = request.groupBy === undefined ? sql.raw("''") : GROUP_KEYS[request.groupBy];
  const filtered = sql`WITH f AS (SELECT ${key} AS grp, status, model, cost_usd, reference_cost_usd, latency_ms FROM tasks WHERE ${sql.join(conditions, sql` AND `)})`;
  // One connection, within a bound: the writer shares this pool, and a report must never hold
  // up the recording of calls.
  const [summaries, models] = await db.transaction(async (txn) => {
    const tx = txn as unknown as LedgerDb;
    const started = performance.now();
    await tx.execute(sql.raw(`SET LOCAL statement_timeout = '${METRICS_TIMEOUT_MS}ms'`));
    const summaryRows = await queryRows<SummaryRow>(
      tx,
      sql`${filtered}
        SELECT grp, GROUPING(grp)::int AS total, count(*)::int AS tasks, (count(*) FILTER (WHERE status = 'succeeded'))::int AS succeeded,
               coalesce(sum(cost_usd), 0)::text AS cost, coalesce(sum(reference_cost_usd), 0)::text AS reference,
               avg(latency_ms) AS latency_mean, percentile_cont(0.95) WITHIN GROUP (ORDER BY latency_ms) AS latency_p95
        FROM f GROUP BY GROUPING SETS ((grp), ()) ORDER BY grp`,
    );
    // What the first statement left of the report's time (at least 1 ms: 0 would mean none).
    const left = Math.max(1, Math.floor(METRICS_TIMEOUT_MS - (performance.now() - started)));
    await tx.execute(sql.raw(`SET LOCAL statement_timeout = '${left}ms'`));
    const modelRows = await queryRows<ModelRow>(
      tx,
      sql`${filtered}, m AS (SELECT grp, coalesce(model, '(failed)') AS model, cost_usd FROM f)
        SELECT grp, GROUPING(grp)::int AS total, model, count(*)::int AS tasks, coalesce(sum(cost_usd), 0)::text AS cost
        FROM m GROUP BY GROUPING SETS ((grp, model), (model)) ORDER BY tasks DESC, model`,
    );
    return [summaryRows, modelRows] as const;
  });
  const summaryOf = (row: SummaryRow | undefined): MetricsSummary =>
    summarize(
      row,
      models.filter((m) => m.total === row?.total && m.grp === row.grp),
    );
  const totals = summaryOf(summaries.find((r) => r.total === 1));
  const groups = summaries.filter((r) => r.total === 0).map((r) => ({ key: r.grp ?? "", ...summaryOf(r) }));
  return { filter: request, totals, ...(request.groupBy === undefined ? {} : { groups }) };
}

/** One summary; an empty selection (no row) is all zeros. */
function summarize(row: SummaryRow | undefined, models: readonly ModelRow[]): MetricsSummary {
  const tasks = row?.tasks ?? 0;
  const succeeded = row?.succeeded ?? 0;
  const cost = decimalToNanos(row?.cost ?? "0");
  const reference = decimalToNanos(row?.reference ?? "0");
  const saved = reference - cost;
  return {
    tasks,
    succeeded,
    failed: tasks - succeeded,
    successRate: tasks > 0 ? succeeded / tasks : null,
    costUsd: nanosToUsd(cost),
    referenceCostUsd: nanosToUsd(reference),
    savedUsd: nanosToUsd(saved),
    savedPercent: reference > 0n ? (Number(saved) / Number(reference)) * 100 : null,
    latencyMeanMs: row?.latency_mean ?? null,
    latencyP95Ms: row?.latency_p95 ?? null,
    models: models.map((m) => ({ model: m.model, tasks: m.tasks, share: tasks > 0 ? m.tasks / tasks : 0, costUsd: nanosToUsd(decimalToNanos(m.cost)) })),
  };
}

/** True when the ledger recorded the task (its completion committed). */
export async function taskRecorded(db: LedgerDb, taskId: string): Promise<boolean> {
  return (await queryRows(db, sql`SELECT 1 FROM tasks WHERE task_id = ${taskId}`)).length > 0;
}

/** One round trip to the database. */
export async function pingDatabase(db: LedgerDb): Promise<void> {
  await queryRows(db, sql`SELECT 1`);
}

/** Delete the statistics snapshots published before `before`; returns how many. */
export async function pruneStatsSnapshots(db: LedgerDb, before: Date): Promise<number> {
  const deleted = await db.delete(statsSnapshots).where(lt(statsSnapshots.publishedAt, before.toISOString())).returning({ id: statsSnapshots.statsId });
  return deleted.length;
}
