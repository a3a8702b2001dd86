/**
 * The ledger service: consumes `task.completed`, `task.feedback` and `task.dead`, writes them
 * in batched transactions and acks each message only after its batch committed; keeps the
 * global budget and publishes its state.
 */
import type { JetStreamClient } from "@nats-io/jetstream";
import type { KV } from "@nats-io/kv";
import type { Registry } from "prom-client";
import {
  TaskCompleted,
  TaskDead,
  TaskFeedback,
  ModelStats,
  STATS_KV_KEY,
  StatsSnapshotSchema,
  budgetRules,
  createStageMetrics,
  decodeJson,
  deriveMessageId,
  startStageWorker,
  type Decoded,
  type Logger,
  type NatsConnection,
  type RouterConfig,
  type StageWorker,
  type StatsSnapshot,
  type Topology,
} from "@llm-router/shared";
import { startLedgerApi } from "./api.js";
import { diskRefusal, type LedgerDatabase } from "./db.js";
import { createBudgetTracker, dropAllBudgetStates, type BudgetTracker } from "./budget-tracker.js";
import { createLedgerWriter } from "./ledger-writer.js";
import { reconcileBudgetSpend } from "./budget-spend.js";

const LADDER_GAUGE = { ok: 0, soft: 1, exceeded: 2 } as const;
import { createLedgerMetrics } from "./metrics.js";
import { pruneStatsSnapshots } from "./ledger-queries.js";
import { statsSnapshots } from "./schema.js";
import { loadOutcomeStats } from "./outcome-samples.js";

export interface LedgerServiceDeps {
  config: RouterConfig;
  js: JetStreamClient;
  budgetKv: KV;
  topology: Topology;
  database: LedgerDatabase;
  log: Logger;
  registry: Registry;
  now?: () => Date;
  /** How often the budget is re-evaluated without traffic (window rollover). Default 1000 ms. */
  budgetCheckMs?: number;
  /** Longest delay before new outcome statistics reach KV. Default 1000 ms. */
  statsPublishMs?: number;
  /** Serves `router.budget`, `.metrics`, `.feedback` and `.health` on this connection once consuming; without one they are not served. */
  nc?: NatsConnection;
}

export interface LedgerService {
  readonly ready: boolean;
  /** Present when a budget is configured. */
  readonly budget: BudgetTracker | undefined;
  stop(): Promise<void>;
}

export async function startLedger(deps: LedgerServiceDeps): Promise<LedgerService> {
  const now = deps.now ?? (() => new Date());
  const log = deps.log.child({ component: "ledger" });
  const stageMetrics = createStageMetrics(deps.registry);
  const metrics = createLedgerMetrics(deps.registry, deps.database.freeBytes);
  // At 0 from the start: a series first seen at 1 loses that increment to increase() and rate().
  for (const status of ["succeeded", "failed"]) metrics.tasksRecorded.inc({ status }, 0);
  const rules = budgetRules(deps.config);

  const budget =
    rules.length > 0
      ? createBudgetTracker({
          db: deps.database.db,
          kv: deps.budgetKv,
          js: deps.js,
          subjects: deps.topology.subjects,
          rules,
          log,
          now,
          // Labels are the configured scopes (bounded): a per-tenant or per-run budget reports its
          // tightest tenant or run.
          onEvaluated: (states) => {
            // One scope label may have rules for several windows: exceeded when any of them is.
            const exceeded = new Map<string, boolean>();
            for (const rule of rules) {
              const mine = states.filter((s) => s.rule === rule).map((s) => s.state);
              const labels = { scope: rule.scope, window: rule.window };
              const worst = mine.reduce((w, s) => Math.max(w, LADDER_GAUGE[s.state]), 0);
              metrics.budgetSpentUsd.set(labels, mine.reduce((m, s) => Math.max(m, s.spentUsd), 0));
              metrics.budgetLimitUsd.set(labels, rule.limitUsd);
              metrics.budgetState.set(labels, worst);
              exceeded.set(rule.scope, (exceeded.get(rule.scope) ?? false) || worst === LADDER_GAUGE.exceeded);
            }
            for (const [scope, isExceeded] of exceeded) metrics.budgetExceeded.set({ scope }, isExceeded ? 1 : 0);
          },
        })
      : undefined;
  const evaluateBudget = (): void => {
    budget?.evaluate().catch((err: unknown) => log.error({ err }, "budget evaluation failed"));
  };

  // Outcome statistics. The selectors read one snapshot in KV (`stats`), every replica's samples.
  // Each ledger replica adds what its own batches committed since its last publish (`pending`)
  // to it by compare-and-set, one publish at a time (at most once per statsPublishMs): replicas
  // sharing the consumers each see only their share, and whole snapshots would overwrite each
  // other's. With no snapshot in KV (the first start, a lost bucket, an operator deleting the key
  // to rebuild it), one is built from Postgres, which holds every sample committed.
  let pending = new ModelStats();
  /** Kept before it is published, so a decision that routed with a snapshot can be replayed with it. */
  const keepForReplay = (snapshot: StatsSnapshot): Promise<void> =>
    Promise.resolve()
      .then(() => deps.database.assertFreeSpace?.())
      .then(() => deps.database.db.insert(statsSnapshots).values({ statsId: snapshot.id, snapshot }).onConflictDoNothing())
      .then(
        () => undefined,
        // Routing matters more than replay: a failure here does not hold the publish back.
        (err: unknown) => log.warn({ err, statsId: snapshot.id }, "keeping the statistics snapshot for replay failed"),
      );
  const publishOnce = async (atStart: boolean): Promise<void> => {
    if (!atStart && pending.size === 0) return;
    const delta = pending;
    pending = new ModelStats();
    try {
      for (let attempt = 1; ; attempt++) {
        const entry = await deps.budgetKv.get(STATS_KV_KEY);
        const current = entry?.operation === "PUT" ? StatsSnapshotSchema.safeParse(entry.json()).data : undefined;
        let next: StatsSnapshot;
        if (current) {
          if (atStart) return;
          const merged = new ModelStats(current);
          merged.absorb(delta.snapshot());
          next = merged.snapshot();
        } else {
          // Postgres has every committed sample, this replica's pending ones included.
          const outcome = await loadOutcomeStats(deps.database.db);
          log.info({ calls: outcome.calls, feedback: outcome.feedback, buckets: outcome.stats.size, statsId: outcome.snapshot.id }, "outcome statistics built from Postgres");
          next = outcome.snapshot;
        }
        await keepForReplay(next);
        try {
          if (entry) await deps.budgetKv.update(STATS_KV_KEY, JSON.stringify(next), entry.revision);
          else await deps.budgetKv.create(STATS_KV_KEY, JSON.stringify(next));
          log.debug({ statsId: next.id }, "outcome statistics published");
          return;
        } catch (err) {
          // Another replica wrote first: add to what it wrote.
          if (attempt >= 20) throw err;
        }
      }
    } catch (err) {
      delta.absorb(pending.snapshot());
      pending = delta;
      log.error({ err }, "publishing outcome statistics failed; retrying");
    }
  };
  let publishing: Promise<void> | undefined;
  /** One publish at a time: a tick while one runs joins it (its samples wait for the next). */
  const publishStats = (atStart = false): Promise<void> => (publishing ??= publishOnce(atStart).finally(() => (publishing = undefined)));
  await publishStats(true);
  const statsTimer = setInterval(() => void publishStats(), deps.statsPublishMs ?? 1000);
  statsTimer.unref();
  // Snapshots are kept for replay, not forever.
  const pruneSnapshots = (): void => {
    // A delete writes too (its WAL): not on a disk below the floor.
    if (diskRefusal(deps.database) !== undefined) return;
    void pruneStatsSnapshots(deps.database.db, new Date(now().getTime() - deps.config.ledger.statsRetentionDays * 86_400_000))
      .then((n) => n > 0 && log.info({ deleted: n }, "old statistics snapshots pruned"))
      .catch((err: unknown) => log.warn({ err }, "pruning old statistics snapshots failed"));
  };
  pruneSnapshots();
  const pruneTimer = setInterval(pruneSnapshots, 3_600_000);
  pruneTimer.unref();

  const writer = createLedgerWriter({
    db: deps.database.db,
    log,
    batchSize: deps.config.ledger.batchSize,
    flushMs: deps.config.ledger.flushMs,
    budgets: rules,
    now,
    beforeBatch: deps.database.assertFreeSpace,
    onCommitted: (stats) => {
      metrics.batchSize.observe(stats.entries);
      for (const [status, n] of Object.entries(stats.newTasksByStatus)) metrics.tasksRecorded.inc({ status }, n);
      if (stats.reusedTaskIds.length > 0) {
        metrics.reusedTaskIds.inc(stats.reusedTaskIds.length);
        log.warn({ taskIds: stats.reusedTaskIds.slice(0, 10), count: stats.reusedTaskIds.length }, "task ids reused by a new submission: calls and spend recorded, the task row keeps the first run; give each task its own id");
      }
      metrics.batchSeconds.observe(stats.seconds);
      for (const lag of stats.lagsSeconds) metrics.lagSeconds.observe(Math.max(0, lag));
      for (const sample of stats.samples) pending.observe(sample);
      if (stats.addedSpendNanos > 0n) {
        metrics.costUsd.inc(Number(stats.addedSpendNanos) / 1e9);
        evaluateBudget();
      }
    },
  });

  // A rule added since the last start counts its window's earlier calls too (budget-spend.ts).
  try {
    const reconciled = await reconcileBudgetSpend(deps.database.db, rules, now());
    // Named one by one up to a point: a new per-run rule may raise thousands of scopes at once.
    for (const r of reconciled.raised.slice(0, 20)) log.warn(r, "budget spend raised to the calls recorded in its window (a rule new in this window)");
    log.info({ scopes: reconciled.scopes, raised: reconciled.raised.length }, "budget spend reconciled with the recorded calls");
  } catch (err) {
    // Routing goes on with the spend as counted; the limit may then undercount this window.
    log.error({ err }, "reconciling budget spend with the recorded calls failed; a rule added in this window counts only the spend from now on");
  }
  if (budget) await budget.evaluate();
  else await dropAllBudgetStates(deps.budgetKv, log).catch((err: unknown) => log.warn({ err }, "could not drop the budget states of rules no longer configured"));
  const timer = budget ? setInterval(evaluateBudget, deps.budgetCheckMs ?? 1000) : undefined;
  timer?.unref();

  const { maxRetryDelayMs } = deps.config.ledger;
  // Below the disk floor nothing is pulled: the messages wait in the stream without using up
  // deliveries (the few already held are redelivered with the backoff, refused by the writer).
  const common = {
    js: deps.js,
    topology: deps.topology,
    log,
    metrics: stageMetrics,
    stage: "ledger" as const,
    ...(deps.database.assertFreeSpace ? { paused: () => diskRefusal(deps.database) !== undefined } : {}),
    // 1 s doubling to maxRetryDelayMs: a database outage is waited out, not dead-lettered.
    retryDelayMs: (n: number) => Math.min(maxRetryDelayMs, 1000 * 2 ** Math.max(0, n - 1)),
  };
  // Enough concurrency that a batch can fill: every message waits for its batch's commit.
  const concurrency = deps.config.ledger.batchSize * 2;
  const workers: StageWorker[] = [
    await startStageWorker<TaskCompleted>({
      ...common,
      durable: "ledger-completed",
      concurrency,
      decode: (msg) => decodeJson(TaskCompleted, msg.data),
      handle: async (value, { msg }) => {
        await writer.record({ kind: "completed", value, bytes: msg.data.length });
      },
    }),
    await startStageWorker<TaskFeedback & { id: string; receivedAt: string }>({
      ...common,
      durable: "ledger-feedback",
      concurrency: 64,
      decode: (msg): Decoded<TaskFeedback & { id: string; receivedAt: string }> => {
        const d = decodeJson(TaskFeedback, msg.data);
        if (!d.ok) return d;
        return {
          ok: true,
          value: { ...d.value, id: d.value.id ?? deriveMessageId(msg, deps.topology.stream), receivedAt: new Date(msg.info.timestampNanos / 1e6).toISOString() },
        };
      },
      handle: (value, { msg }) => writer.record({ kind: "feedback", value, bytes: msg.data.length }),
    }),
    await startStageWorker<TaskDead>({
      ...common,
      durable: "ledger-dead",
      concurrency: 64,
      deadLetter: false,
      decode: (msg) => decodeJson(TaskDead, msg.data),
      handle: (value, { msg }) => writer.record({ kind: "dead", value, bytes: msg.data.length }),
    }),
  ];
  const api = deps.nc && (await startLedgerApi({ ...deps, nc: deps.nc, log, rules, budget, now, metricsRegistry: deps.registry }));
  log.info({ budgets: rules, database: deps.database.location }, "ledger started");

  return {
    get ready() {
      return workers.every((w) => w.running);
    },
    budget,
    async stop() {
      await api?.stop();
      if (timer) clearInterval(timer);
      clearInterval(statsTimer);
      clearInterval(pruneTimer);
      await Promise.all(workers.map((w) => w.stop()));
      await writer.close();
      // A publish already running holds only the samples before it: the rest go in one more.
      await publishing;
      await publishStats();
    },
  };
}
