/**
 * Which budget scopes a task's spend is charged to, and the reconciliation that makes a budget
 * rule count its whole window from the ledger's own record of calls.
 *
 * The ledger keeps spend per scope and window in `budget_spend`, incremented in the transaction
 * that inserts the calls — but only for the rules configured at the time. A rule added in the
 * middle of a window (a new tenant limit at 3 pm, a per-run limit) would otherwise start that
 * window at $0 and let the window's earlier spend go uncounted. At start the ledger adds up each
 * rule's current window from `model_calls` (each call's own run id) and raises any
 * scope's counted spend that falls short of it, by the shortfall (see reconcileBudgetSpend): a
 * reconciliation never counts a call twice.
 */
import { sql } from "drizzle-orm";
import { budgetsFor, compareStrings, decimalToNanos, windowEnd, windowStart, type BudgetRule, type BudgetWindow } from "@llm-router/shared";
import { databaseError, type LedgerDb } from "./db.js";
import { queryRows } from "./outcome-samples.js";

/** The rules whose spend is kept: the configured ones or, with none, a global daily total for reporting. */
export function spendRules(budgets: readonly BudgetRule[]): readonly BudgetRule[] {
  return budgets.length > 0 ? budgets : [{ scope: "global", window: "day", limitUsd: 0, softRatio: 1 }];
}

/** Each (scope, window) a task's calls are charged to, once even when several rules share it. */
export function chargedScopes(rules: readonly BudgetRule[], task: { tenant: string; runId?: string | undefined }): { scope: string; window: BudgetWindow }[] {
  const seen = new Map<string, { scope: string; window: BudgetWindow }>();
  for (const { rule, scope } of budgetsFor(rules, task)) seen.set(`${scope}\u0000${rule.window}`, { scope, window: rule.window });
  return [...seen.values()];
}

const WINDOW_RANK: Record<BudgetWindow, number> = { hour: 0, day: 1, month: 2 };

/**
 * The one order every transaction locks `budget_spend` rows in — by window, then scope, then start
 * — so the writers' increments and the reconciliation's never wait on each other in a cycle.
 */
export function spendRowOrder(a: { scope: string; window: BudgetWindow; start: string }, b: { scope: string; window: BudgetWindow; start: string }): number {
  return WINDOW_RANK[a.window] - WINDOW_RANK[b.window] || compareStrings(a.scope, b.scope) || compareStrings(a.start, b.start);
}

export function nanosToDecimal(nanos: bigint): string {
  const whole = nanos / 1_000_000_000n;
  const frac = (nanos % 1_000_000_000n).toString().padStart(9, "0");
  return `${whole}.${frac}`;
}

export interface ReconcileResult {
  /** Scopes whose counted spend was raised to what `model_calls` holds for their window. */
  raised: { scope: string; window: BudgetWindow; windowStart: string; fromUsd: string; toUsd: string }[];
  /** Scopes checked, over every rule's current window. */
  scopes: number;
}

interface WindowRow {
  /** A (tenant, run) group of the window's calls, or a scope's counted spend. */
  kind: "calls" | "counted";
  tenant: string | null;
  run_id: string | null;
  scope: string | null;
  spent: string;
}

/** Serialises reconciliations across replicas (writers never take it). */
const RECONCILE_LOCK_KEY = 7_301_999_002;

/**
 * Raise every scope's counted spend in each rule's current window (the window containing `at`) to
 * the cost of the calls `model_calls` records in it, charged by the same rules the writer
 * charges by. The window's calls and its counted spend are read in one statement — one snapshot
 * — and each scope is then raised by what the calls exceed the count by in that snapshot, as an
 * increment: writers committing meanwhile add their own calls on top, so none is missed or counted
 * twice, and they are never held up by the scan (a month of calls on a busy ledger is long).
 * Replicas starting at once reconcile one after another (an advisory lock): the second sees the
 * first's raise in its snapshot and adds nothing.
 */
export async function reconcileBudgetSpend(db: LedgerDb, budgets: readonly BudgetRule[], at: Date): Promise<ReconcileResult> {
  // A deadlock or serialisation failure (a writer of another version, say) rolls it all back:
  // nothing was added, so it is simply tried again.
  for (let attempt = 1; ; attempt++) {
    try {
      return await reconcileOnce(db, budgets, at);
    } catch (err) {
      const state = databaseError(err)?.code;
      if (attempt >= RECONCILE_ATTEMPTS || (state !== "40P01" && state !== "40001")) throw err;
    }
  }
}

const RECONCILE_ATTEMPTS = 5;

async function reconcileOnce(db: LedgerDb, budgets: readonly BudgetRule[], at: Date): Promise<ReconcileResult> {
  const rules = spendRules(budgets);
  const windows = [...new Set(rules.map((r) => r.window))].sort((a, b) => WINDOW_RANK[a] - WINDOW_RANK[b]);
  const result: ReconcileResult = { raised: [], scopes: 0 };
  await db.transaction(async (txn) => {
    const tx = txn as unknown as LedgerDb;
    await tx.execute(sql`SET LOCAL statement_timeout = '300s'`);
    await tx.execute(sql`SELECT pg_advisory_xact_lock(${RECONCILE_LOCK_KEY})`);
    for (const window of windows) {
      const start = windowStart(window, at);
      const end = windowEnd(window, start);
      // A call's run is its own `run_id`, as the writer charged it — not the decision's: a task id
      // reused by another run keeps the first run's decision row, and its new run's calls would
      // be added to the first run at every start. "" is a call of no run; calls recorded before
      // the column existed have null, and their run is the decision's (a join per call, only
      // when some rule of this window charges runs).
      const byRun = rules.some((r) => r.window === window && r.scope === "run");
      const calls = byRun
        ? sql`SELECT c.tenant, nullif(coalesce(c.run_id, d.inputs->'task'->>'runId'), '') AS run_id, sum(c.cost_usd) AS spent
              FROM model_calls c LEFT JOIN decisions d ON d.task_id = c.task_id
              WHERE c.started_at >= ${start.toISOString()} AND c.started_at < ${end.toISOString()} AND c.cost_usd > 0
              GROUP BY 1, 2`
        : sql`SELECT tenant, NULL AS run_id, sum(cost_usd) AS spent FROM model_calls
              WHERE started_at >= ${start.toISOString()} AND started_at < ${end.toISOString()} AND cost_usd > 0
              GROUP BY 1`;
      const rows = await queryRows<WindowRow>(
        tx,
        sql`WITH calls AS (${calls})
            SELECT 'calls' AS kind, tenant, run_id, NULL AS scope, spent::text AS spent FROM calls
            UNION ALL
            SELECT 'counted', NULL, NULL, scope, spent_usd::text FROM budget_spend WHERE "window" = ${window} AND window_start = ${start.toISOString()}`,
      );
      const totals = new Map<string, bigint>();
      const counted = new Map<string, bigint>();
      for (const row of rows) {
        if (row.kind === "counted") {
          counted.set(row.scope!, decimalToNanos(row.spent));
          continue;
        }
        const task = { tenant: row.tenant!, ...(row.run_id === null ? {} : { runId: row.run_id }) };
        for (const charged of chargedScopes(rules, task)) {
          if (charged.window === window) totals.set(charged.scope, (totals.get(charged.scope) ?? 0n) + decimalToNanos(row.spent));
        }
      }
      result.scopes += totals.size;
      const short = [...totals]
        .flatMap(([scope, total]) => {
          const before = counted.get(scope) ?? 0n;
          return total > before ? [{ scope, window, start: start.toISOString(), before, by: total - before }] : [];
        })
        .sort(spendRowOrder);
      if (short.length === 0) continue;
      const raised = await queryRows<{ scope: string; after: string }>(
        tx,
        sql`INSERT INTO budget_spend (scope, "window", window_start, spent_usd)
            SELECT u.scope, ${window}, ${start.toISOString()}, u.by
            FROM unnest(${sql.param(short.map((s) => s.scope))}::text[], ${sql.param(short.map((s) => nanosToDecimal(s.by)))}::numeric[]) AS u(scope, by)
            ON CONFLICT (scope, "window", window_start) DO UPDATE SET spent_usd = budget_spend.spent_usd + EXCLUDED.spent_usd, updated_at = now()
            RETURNING scope, spent_usd::text AS after`,
      );
      const before = new Map(short.map((s) => [s.scope, s.before]));
      for (const r of raised) result.raised.push({ scope: r.scope, window, windowStart: start.toISOString(), fromUsd: nanosToDecimal(before.get(r.scope) ?? 0n), toUsd: r.after });
    }
  });
  return result;
}
