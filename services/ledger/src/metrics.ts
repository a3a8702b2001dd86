import { Counter, Gauge, Histogram, type Registry } from "prom-client";
import { METRIC_PREFIX } from "@llm-router/shared";

export type LedgerMetrics = ReturnType<typeof createLedgerMetrics>;

/** `freeBytes`: the embedded database's free disk, read at each scrape (none for a Postgres server). */
export function createLedgerMetrics(registry: Registry, freeBytes?: () => number) {
  const registers = [registry];
  if (freeBytes) {
    new Gauge({
      name: `${METRIC_PREFIX}ledger_disk_free_bytes`,
      help: "Bytes free on the embedded (PGlite) ledger database's disk; below ledger.minFreeDiskMb the ledger writes nothing.",
      registers,
      collect() {
        try {
          this.set(freeBytes());
        } catch {
          // The directory is gone or unreadable: the scrape goes on without a fresh figure.
        }
      },
    });
  }
  return {
    batchSize: new Histogram({
      name: `${METRIC_PREFIX}ledger_batch_size`,
      help: "Entries written per ledger transaction.",
      buckets: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000],
      registers,
    }),
    batchSeconds: new Histogram({
      name: `${METRIC_PREFIX}ledger_batch_seconds`,
      help: "Time to write and commit one ledger batch.",
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers,
    }),
    lagSeconds: new Histogram({
      name: `${METRIC_PREFIX}ledger_lag_seconds`,
      help: "Time from a task's completion (executor) to its ledger commit.",
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
      registers,
    }),
    tasksRecorded: new Counter({
      name: `${METRIC_PREFIX}ledger_tasks_recorded_total`,
      help: "Tasks newly written to the ledger (redeliveries excluded), by final status.",
      labelNames: ["status"],
      registers,
    }),
    reusedTaskIds: new Counter({
      name: `${METRIC_PREFIX}ledger_reused_task_ids_total`,
      help: "Completions whose task id was already recorded from another submission (a client reused an id): their calls and spend are recorded, the task row keeps the first run.",
      registers,
    }),
    costUsd: new Counter({
      name: `${METRIC_PREFIX}ledger_cost_usd_total`,
      help: "Model spend newly recorded by the ledger, USD.",
      registers,
    }),
    budgetSpentUsd: new Gauge({
      name: `${METRIC_PREFIX}budget_spent_usd`,
      help: "Spend in the current budget window, USD.",
      labelNames: ["scope", "window"],
      registers,
    }),
    budgetLimitUsd: new Gauge({
      name: `${METRIC_PREFIX}budget_limit_usd`,
      help: "Budget limit of the current window, USD.",
      labelNames: ["scope", "window"],
      registers,
    }),
    budgetState: new Gauge({
      name: `${METRIC_PREFIX}budget_state`,
      help: "The budget ladder per configured scope and window: 0 ok, 1 soft (cheaper cloud models), 2 exceeded (local only); a per-tenant or per-run budget reports its tightest tenant or run.",
      labelNames: ["scope", "window"],
      registers,
    }),
    budgetExceeded: new Gauge({
      name: `${METRIC_PREFIX}budget_exceeded`,
      help: "1 while the scope's budget is exceeded (selectors route to local models), else 0.",
      labelNames: ["scope"],
      registers,
    }),
  };
}
