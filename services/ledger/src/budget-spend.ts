/**
 * Which budget scopes a task's spend is charged to, and the reconciliation that makes a budget
 * rule count its whole window from the ledger's own record of calls.
 *
 * The ledger keeps spend per scope and window in `budget_spend`, incremented in the transaction
 * that inserts the calls — but only for the rules configured at the time. A rule added in the
 * middle of a window (a new tenant limit at 3 pm, a per-run limit) would otherwise start that
 * window at $0 and let the window's earlier spend go uncounted. At start the ledger adds up each
 * rule's current window from `model_calls` (the run id from the decision's inputs) and raises any
 * scope's counted spend that falls short of it. Both figures only ever undercount the truth (the
 * calls recorded), so the greater one is kept: a reconciliation never counts a call twice.
 */
import { sql } from "drizzle-orm";
import { budgetsFor, decimalToNanos, windowEnd, windowStart, type BudgetRule, type BudgetWindow } from "@llm-router/shared";
import type { LedgerDb } from "./db.js";
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

interface SpendRow {
  tenant: string;
  run_id: string | null;
  spent: string;
}

/**
 * Raise every scope's counted spend in each rule's current window (the window containing `at`) to
 * the cost of the calls `model_calls` records in it, charged by the same rules the writer
 * charges by. Runs in one transaction holding `budget_spend` against writers (SHARE ROW EXCLUSIVE
 * conflicts with their upserts): a batch that committed is in both figures, one that has not
 * adds its calls after — so no call is missed or counted twice, with other replicas writing.
 */
export async function reconcileBudgetSpend(db: LedgerDb, budgets: readonly BudgetRule[], at: Date): Promise<ReconcileResult> {
  const rules = spendRules(budgets);
  const windows = [...new Set(rules.map((r) => r.window))];
  const result: ReconcileResult = { raised: [], scopes: 0 };
  await db.transaction(async (txn) => {
    const tx = txn as unknown as LedgerDb;
    // A month of calls on a busy ledger is a long scan: longer than a batch is allowed.
    await tx.execute(sql`SET LOCAL statement_timeout = '300s'`);
    await tx.execute(sql`LOCK TABLE budget_spend IN SHARE ROW EXCLUSIVE MODE`);
    for (const window of windows) {
      const start = windowStart(window, at);
      const end = windowEnd(window, start);
      // The run id is read only when some rule of this window charges runs (a join per call).
      const byRun = rules.some((r) => r.window === window && r.scope === "run");
      const rows = await queryRows<SpendRow>(
        tx,
        byRun
          ? sql`SELECT c.tenant, d.inputs->'task'->>'runId' AS run_id, sum(c.cost_usd)::text AS spent
                FROM model_calls c LEFT JOIN decisions d ON d.task_id = c.task_id
                WHERE c.started_at >= ${start.toISOString()} AND c.started_at < ${end.toISOString()} AND c.cost_usd > 0
                GROUP BY 1, 2`
          : sql`SELECT tenant, NULL AS run_id, sum(cost_usd)::text AS spent FROM model_calls
                WHERE started_at >= ${start.toISOString()} AND started_at < ${end.toISOString()} AND cost_usd > 0
                GROUP BY 1`,
      );
      const totals = new Map<string, bigint>();
      for (const row of rows) {
        const task = { tenant: row.tenant, ...(row.run_id === null ? {} : { runId: row.run_id }) };
        for (const charged of chargedScopes(rules, task)) {
          if (charged.window === window) totals.set(charged.scope, (totals.get(charged.scope) ?? 0n) + decimalToNanos(row.spent));
        }
      }
      result.scopes += totals.size;
      if (totals.size === 0) continue;
      const scopes = [...totals.keys()];
      const raised = await queryRows<{ scope: string; before: string | null; after: string }>(
        tx,
        sql`WITH counted AS (
              SELECT s.scope, s.spent_usd AS before FROM budget_spend s
              WHERE s."window" = ${window} AND s.window_start = ${start.toISOString()} AND s.scope = ANY(${sql.param(scopes)}::text[])
            )
            INSERT INTO budget_spend (scope, "window", window_start, spent_usd)
            SELECT u.scope, ${window}, ${start.toISOString()}, u.spent
            FROM unnest(${sql.param(scopes)}::text[], ${sql.param(scopes.map((s) => nanosToDecimal(totals.get(s) ?? 0n)))}::numeric[]) AS u(scope, spent)
            ON CONFLICT (scope, "window", window_start) DO UPDATE SET spent_usd = EXCLUDED.spent_usd, updated_at = now()
              WHERE budget_spend.spent_usd < EXCLUDED.spent_usd
            RETURNING scope, spent_usd::text AS after, (SELECT before::text FROM counted WHERE counted.scope = budget_spend.scope) AS before`,
      );
      for (const r of raised) result.raised.push({ scope: r.scope, window, windowStart: start.toISOString(), fromUsd: r.before ?? "0.000000000", toUsd: r.after });
    }
  });
  return result;
}
