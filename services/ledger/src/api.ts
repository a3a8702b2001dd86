/**
 * The ledger's `router.*` endpoints, answered from what it is the system of record for:
 * - `router.budget`: every budget scope in its current window — limit, spend recorded in
 *   Postgres, the executors' settled and reserved counters (KV), what remains, the state;
 * - `router.metrics`: tasks, success rate, cost, latency, models and savings from Postgres,
 *   filtered and grouped (the savings report per window, tenant and task type);
 * - `router.feedback`: feedback on a recorded task, published on `task.feedback` through
 *   JetStream (the ledger's own consumer then writes it like any other feedback);
 * - `router.health`: NATS, the database and the KV bucket, unhealthy models, budget states.
 */
import type { Registry } from "prom-client";
import { createHash } from "node:crypto";
import type { JetStreamClient } from "@nats-io/jetstream";
import type { KV } from "@nats-io/kv";
import {
  EMPTY_HEALTH,
  compareStrings,
  ERROR_CODES,
  MAX_HEALTH_BUDGETS,
  HEALTH_KV_KEY,
  HealthSnapshot,
  RouterError,
  ladderState,
  mapInBatches,
  publishMessage,
  readBudgetCounter,
  overridden,
  scopeFor,
  stateApplies,
  sleep,
  startApiServer,
  unhealthyReason,
  windowStart,
  type ApiRequest,
  type ApiResponse,
  type ApiServer,
  type BudgetLine,
  type BudgetRule,
  type HealthReport,
  type Logger,
  type NatsConnection,
  type Topology,
} from "@llm-router/shared";
import { readBudgetStates, type BudgetTracker, type EvaluatedBudget } from "./budget-tracker.js";
import { databaseError, diskRefusal, type LedgerDatabase, type LedgerDb } from "./db.js";
import { METRICS_TIMEOUT_MS, pingDatabase, queryMetrics, taskRecorded } from "./ledger-queries.js";

export interface LedgerApiDeps {
  nc: NatsConnection;
  js: JetStreamClient;
  budgetKv: KV;
  topology: Topology;
  database: LedgerDatabase;
  log: Logger;
  /** `budgetRules(config)`. */
  rules: readonly BudgetRule[];
  /** Present when a budget is configured. */
  budget: BudgetTracker | undefined;
  now: () => Date;
  /** The service's metrics registry: API requests by endpoint and outcome. */
  metricsRegistry?: Registry;
}

/**
 * How long `router.feedback` looks for a task it does not find: a client that sends feedback as
 * soon as it sees `task.completed` must not lose the race with the ledger's commit (tens of ms).
 */
export const FEEDBACK_GRACE_MS = 1000;
/** Budget counters read at once by `router.budget`. */
const COUNTER_READS_AT_ONCE = 64;
/** Longest wait for the database or the KV bucket in `router.health`. */
export const HEALTH_CHECK_TIMEOUT_MS = 2000;

export function startLedgerApi(deps: LedgerApiDeps): Promise<ApiServer> {
  const { db } = deps.database;
  let metricsQueue: Promise<void> = Promise.resolve();
  let metricsWaiting = 0;
  return startApiServer({
    nc: deps.nc,
    service: "ledger",
    version: "0.1.0",
    prefix: deps.topology.subjects.prefix,
    log: deps.log,
    registry: deps.metricsRegistry,
    handlers: {
      "router.budget": async ({ scope }) => {
        const at = deps.now();
        const evaluated = deps.budget ? await unavailableOn("the budget evaluation (database, KV)", deps.budget.evaluate()) : [];
        const selected = [...evaluated.filter((e) => scope === undefined || selects(scope, e.state.scope)), ...unspent(scope, evaluated, deps.rules, at)];
        // Each counter of the state's own window (an evaluation just before midnight is
        // yesterday's), read a batch at a time rather than one after another.
        const counters = await unavailableOn(
          "the budget counters (KV)",
          mapInBatches(selected, COUNTER_READS_AT_ONCE, ({ rule, state }) => readBudgetCounter(deps.budgetKv, state.scope, rule.window, new Date(state.windowStart))),
        );
        const budgets: BudgetLine[] = [];
        for (const [i, { rule, state }] of selected.entries()) {
          const counter = counters[i]!;
          // In nano-dollars: the difference of floats would show a limit as 0.000499999….
          const committed = (Math.max(toNanos(state.spentUsd), toNanos(counter.settledUsd)) + toNanos(counter.reservedUsd));
          budgets.push({
            scope: state.scope,
            rule: rule.scope,
            window: rule.window,
            windowStart: state.windowStart,
            limitUsd: rule.limitUsd,
            softRatio: rule.softRatio,
            spentUsd: state.spentUsd,
            settledUsd: counter.settledUsd,
            reservedUsd: counter.reservedUsd,
            remainingUsd: Math.max(0, toNanos(rule.limitUsd) - committed) / 1e9,
            state: state.state,
          });
        }
        return { at: at.toISOString(), budgets };
      },
      // One report at a time per replica, each within METRICS_TIMEOUT_MS: reports share the pool
      // with the writer, and several full scans at once held up the recording of calls.
      "router.metrics": (request) => {
        // One running and one waiting at most: a longer queue would answer after its clients gave up.
        if (metricsWaiting >= 2) {
          return Promise.reject(new RouterError(ERROR_CODES.SERVICE_UNAVAILABLE, "the ledger is computing other reports: try again shortly", { retryable: true }));
        }
        metricsWaiting++;
        const report = metricsQueue.then(() => metricsOrRefusal(db, request)).finally(() => metricsWaiting--);
        metricsQueue = report.then(
          () => undefined,
          () => undefined,
        );
        return report;
      },
      "router.feedback": async (feedback) => {
        if (!(await unavailableOn("the database", recordedWithin(db, feedback.taskId, FEEDBACK_GRACE_MS)))) {
          throw new RouterError(ERROR_CODES.TASK_NOT_FOUND, `no task ${feedback.taskId} in the ledger: feedback is taken for tasks whose completion is recorded`);
        }
        // Without an id, one derived from the content: a client that retries after a timeout
        // (the request may have been recorded) records it once. Identical feedback on one task
        // counts once unless the client gives each its own id.
        const id = feedback.id ?? `fb-${createHash("sha256").update(JSON.stringify([feedback.taskId, feedback.score ?? null, feedback.success ?? null, feedback.comment ?? null])).digest("hex").slice(0, 24)}`;
        // `<id>:feedback`: the stream drops a retried request with the same id (idempotent).
        const ack = await unavailableOn("JetStream", publishMessage(deps.js, deps.topology.subjects, "task.feedback", { ...feedback, v: 1, id }, `${id}:feedback`));
        return { ok: true as const, id, duplicate: ack.duplicate };
      },
      "router.health": async () => {
        const at = deps.now();
        // The bucket's health is one read (the models' key); the budget states, one key per scope
        // (there may be thousands of runs), are read apart so they cannot make it look down.
        const [database, kv, budgets, rttMs] = await Promise.all([
          settle(pingDatabase(db)),
          settle(readUnhealthyModels(deps.budgetKv, at)),
          settle(readBudgetLines(deps.budgetKv, deps.rules, at)),
          deps.nc.rtt().catch(() => undefined),
        ]);
        const natsOk = !deps.nc.isClosed();
        // The embedded database answers while its disk is too full to write to: the ledger is not.
        const dbError = database.ok ? diskRefusal(deps.database) : database.error;
        const databaseOk = dbError === undefined;
        return {
          ok: natsOk && databaseOk && kv.ok,
          at: at.toISOString(),
          nats: { ok: natsOk, server: deps.nc.getServer(), ...(rttMs === undefined ? {} : { rttMs }) },
          database: { ok: databaseOk, kind: deps.database.kind, ...(databaseOk ? {} : { error: dbError }) },
          kv: kv.ok ? { ok: true } : { ok: false, error: kv.error },
          unhealthyModels: kv.ok ? kv.value : [],
          ...(budgets.ok ? budgets.value : { budgets: [] }),
          ...(budgets.ok ? {} : { budgetsError: budgets.error }),
        };
      },
    },
  });
}

/** What the selectors route by, from KV: the models they route around now. */
async function readUnhealthyModels(kv: KV, at: Date): Promise<HealthReport["unhealthyModels"]> {
  const entry = await kv.get(HEALTH_KV_KEY);
  const health = (entry?.operation === "PUT" ? HealthSnapshot.safeParse(entry.json()).data : undefined) ?? EMPTY_HEALTH;
  return Object.entries(health.models)
    .filter(([spec]) => unhealthyReason(health, spec, at) !== undefined)
    .map(([spec, e]) => ({ spec, ...e }));
}

const STATE_ORDER: Record<string, number> = { exceeded: 0, soft: 1, ok: 2 };
const SCOPE_ORDER = (scope: string): number => (scope === "global" ? 0 : scope.startsWith("tenant:") ? 1 : 2);

/**
 * The budget states in KV that still apply, as the selectors read them: the tightest first, at
 * most MAX_HEALTH_BUDGETS of them (an answer listing every run's would pass max_payload).
 */
async function readBudgetLines(kv: KV, rules: readonly BudgetRule[], at: Date): Promise<Pick<HealthReport, "budgets" | "budgetsOmitted">> {
  const lines = [...(await readBudgetStates(kv)).values()]
    .filter((s) => stateApplies(rules, s, at))
    .map(({ scope, window, state, spentUsd, limitUsd }) => ({ scope, window, state, spentUsd, limitUsd }))
    .sort((a, b) => STATE_ORDER[a.state]! - STATE_ORDER[b.state]! || SCOPE_ORDER(a.scope) - SCOPE_ORDER(b.scope) || compareStrings(a.scope, b.scope) || compareStrings(a.window, b.window));
  const omitted = lines.length - MAX_HEALTH_BUDGETS;
  return { budgets: lines.slice(0, MAX_HEALTH_BUDGETS), ...(omitted > 0 ? { budgetsOmitted: omitted } : {}) };
}

const toNanos = (usd: number): number => Math.round(usd * 1e9);

/** Whether `scope` (a filter: `global`, `tenant`, `run`, `tenant:<t>`, `run:<id>`) selects a line's scope. */
function selects(filter: string, scope: string): boolean {
  return filter === "tenant" || filter === "run" ? scope.startsWith(`${filter}:`) : scope === filter;
}

/**
 * The lines of a named scope that has not spent in its windows (the tracker reports only scopes
 * with spend, or a state to restore): zero spend under each budget that would charge it.
 */
function unspent(filter: string | undefined, evaluated: readonly EvaluatedBudget[], rules: readonly BudgetRule[], at: Date): EvaluatedBudget[] {
  if (filter === undefined || filter === "tenant" || filter === "run") return [];
  const probe = filter.startsWith("run:") ? { tenant: "", runId: filter.slice(4) } : { tenant: filter.startsWith("tenant:") ? filter.slice(7) : "" };
  return rules
    .filter((rule) => scopeFor(rule, probe) === filter && !overridden(rule, filter, rules) && !evaluated.some((e) => e.rule === rule && e.state.scope === filter))
    .map((rule) => ({
      rule,
      state: { v: 1, scope: filter, window: rule.window, windowStart: windowStart(rule.window, at).toISOString(), state: ladderState(0, rule), limitUsd: rule.limitUsd, spentUsd: 0, at: at.toISOString() },
    }));
}

/** True once the task is recorded; looks again for `graceMs` before saying no. */
async function recordedWithin(db: LedgerDatabase["db"], taskId: string, graceMs: number): Promise<boolean> {
  const deadline = Date.now() + graceMs;
  for (;;) {
    if (await taskRecorded(db, taskId)) return true;
    if (Date.now() >= deadline) return false;
    await sleep(100);
  }
}

/** A dependency's failure as SERVICE_UNAVAILABLE (retryable), naming the dependency. */
/** A metrics report, or a refusal: a statement past its timeout says to ask for less, not to retry. */
async function metricsOrRefusal(db: LedgerDb, request: ApiRequest<"router.metrics">): Promise<ApiResponse<"router.metrics">> {
  try {
    return await queryMetrics(db, request);
  } catch (err) {
    if (databaseError(err)?.code === "57014") {
      throw new RouterError(ERROR_CODES.REQUEST_INVALID, `the report took longer than ${METRICS_TIMEOUT_MS / 1000} s to compute: ask for a shorter range (--since/--until) or one tenant or task type`, { cause: err });
    }
    throw new RouterError(ERROR_CODES.SERVICE_UNAVAILABLE, `the database did not answer: ${err instanceof Error ? err.message : String(err)}`, { cause: err, retryable: true });
  }
}

async function unavailableOn<T>(what: string, p: Promise<T>): Promise<T> {
  try {
    return await p;
  } catch (err) {
    throw new RouterError(ERROR_CODES.SERVICE_UNAVAILABLE, `${what} did not answer: ${err instanceof Error ? err.message : String(err)}`, { cause: err, retryable: true });
  }
}

/** The value, or why there is none: a failure or no answer within HEALTH_CHECK_TIMEOUT_MS. */
async function settle<T>(p: Promise<T>): Promise<{ ok: true; value: T } | { ok: false; error: string }> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${HEALTH_CHECK_TIMEOUT_MS} ms`)), HEALTH_CHECK_TIMEOUT_MS);
  });
  try {
    return { ok: true, value: await Promise.race([p, timeout]) };
  } catch (err) {
    return { ok: false, error: err instanceof Error ? err.message : String(err) };
  } finally {
    clearTimeout(timer);
  }
}
