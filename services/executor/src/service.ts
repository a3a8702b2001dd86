/** The executor service: `task.routed` → call the model(s) → `task.completed`. */
import { setMaxListeners } from "node:events";
import { hostname } from "node:os";
import type { JetStreamClient } from "@nats-io/jetstream";
import type { KV } from "@nats-io/kv";
import type { Registry } from "prom-client";
import {
  decimalToNanos,
  usdToDecimal,
  ERROR_CODES,
  TaskRouted,
  budgetRules,
  budgetsFor,
  createStageMetrics,
  pruneSpendCounters,
  reserveBudget,
  settleBudget,
  decodeJson,
  providerKey,
  publishMessage,
  capableReferenceModel,
  referenceModelOf,
  sleep,
  startStageWorker,
  HandOff,
  updateHealth,
  type BudgetRule,
  type Logger,
  type ModelCall,
  type ModelConfig,
  type RouterConfig,
  type RouterEnv,
  type Topology,
} from "@llm-router/shared";
import type { BreakerTransition } from "./breaker.js";
import { createCallGate } from "./call-gate.js";
import { createApprover } from "./approval.js";
import { executeTask, type BudgetGuard } from "./execute-task.js";
import { createKvJournal, type JournalEvent } from "./journal.js";
import { createExecutorMetrics, type ExecutorMetrics } from "./metrics.js";
import { createProviders, unavailableModels } from "./providers/registry.js";
import type { ModelProvider } from "./providers/provider.js";

export interface ExecutorServiceDeps {
  config: RouterConfig;
  env: RouterEnv;
  js: JetStreamClient;
  /** The router's state bucket: model health (open circuits, unavailable models) is written here. */
  budgetKv: KV;
  /** The call journal bucket (`nats.journalBucket`); unused when `executor.journal` is false. */
  journalKv: KV;
  topology: Topology;
  log: Logger;
  registry: Registry;
  /** Override the providers built from config (tests inject wire-format servers this way too). */
  providers?: ReadonlyMap<string, ModelProvider>;
  now?: () => Date;
  random?: () => number;
  /** Names this replica in the health it writes. Default `<hostname>:<pid>`. */
  replicaId?: string;
  /** How long `stop` lets calls in flight finish before cutting them off. Default SHUTDOWN_GRACE_MS. */
  shutdownGraceMs?: number;
  /** How often this replica writes its unavailable models again where no entry stands. Default 30 s. */
  unavailableRefreshMs?: number;
}

/** The codes a model call can fail with (its `outcome` label besides `ok`). */
const CALL_ERROR_CODES = [
  ERROR_CODES.UNKNOWN_MODEL,
  ERROR_CODES.PROVIDER_NOT_CONFIGURED,
  ERROR_CODES.RATE_LIMITED,
  ERROR_CODES.PROVIDER_UNAVAILABLE,
  ERROR_CODES.PROVIDER_TIMEOUT,
  ERROR_CODES.CONNECTION_FAILED,
  ERROR_CODES.BAD_REQUEST,
  ERROR_CODES.AUTH_FAILED,
  ERROR_CODES.MODEL_NOT_FOUND,
  ERROR_CODES.QUOTA_EXCEEDED,
  ERROR_CODES.MALFORMED_RESPONSE,
  ERROR_CODES.OUTPUT_TRUNCATED,
  ERROR_CODES.CONTENT_FILTERED,
  ERROR_CODES.DEADLINE_EXCEEDED,
  ERROR_CODES.CALL_INTERRUPTED,
  ERROR_CODES.INTERNAL,
];

/** Calls in flight at shutdown may finish within this; the service's whole shutdown is bounded at 20 s. */
export const SHUTDOWN_GRACE_MS = 10_000;

export interface ExecutorService {
  readonly ready: boolean;
  stop(): Promise<void>;
}

export async function startExecutor(deps: ExecutorServiceDeps): Promise<ExecutorService> {
  const now = deps.now ?? (() => new Date());
  const metrics = createExecutorMetrics(deps.registry);
  const models = new Map(deps.config.models.map((m) => [m.spec, m]));
  const providers = deps.providers ?? createProviders(deps.config, { env: deps.env, models: deps.config.models, sleep });
  const reference = referenceModelOf(deps.config.models, deps.config.referenceModel);
  // Savings per task against the most expensive model that could have served it.
  const referenceFor = (routed: TaskRouted): ModelConfig => {
    const { task, classification, decision } = routed;
    const capabilities = [...(task.constraints.requiredCapabilities ?? []), ...(deps.config.policy.requiredCapabilities[classification.taskType] ?? [])];
    const contextTokens = decision.ok ? decision.estimatedInputTokens + decision.maxOutputTokens : 0;
    return capableReferenceModel(deps.config.models, { capabilities, contextTokens }, deps.config.referenceModel);
  };
  const shutdown = new AbortController();
  const replica = deps.replicaId ?? `${hostname()}:${process.pid}`;
  const log = deps.log.child({ component: "executor" });

  // Health writes run one at a time, in order; a failed write is logged (the next transition
  // writes the full entry again), never thrown into a task.
  let healthWrites: Promise<unknown> = Promise.resolve();
  const writeHealth = (what: string, change: Parameters<typeof updateHealth>[1]): Promise<unknown> =>
    (healthWrites = healthWrites.then(() => updateHealth(deps.budgetKv, change)).catch((err: unknown) => log.error({ err }, `could not publish model health (${what})`)));

  // Every model's series exists from the start (closed, no transitions), so dashboards and
  // alerts see a value before the first failure, not an absent series.
  // Every series a task can move starts at 0, not at its first increment (which increase() and
  // rate() never see: a dashboard would miss each model's first failure of a kind, or first cost).
  for (const status of ["succeeded", "failed"]) metrics.tasks.inc({ status }, 0);
  for (const model of deps.config.models) {
    const labels = { model: model.spec, provider: providerKey(model.spec) };
    for (const outcome of ["ok", ...CALL_ERROR_CODES]) metrics.calls.inc({ ...labels, outcome }, 0);
    metrics.costUsd.inc(labels, 0);
    metrics.retries.inc({ model: model.spec }, 0);
    for (const direction of ["input", "output"]) metrics.tokens.inc({ ...labels, direction }, 0);
    metrics.breakerState.set({ model: model.spec }, 0);
    for (const state of ["open", "half_open", "closed"]) metrics.breakerTransitions.inc({ model: model.spec, state }, 0);
    // A cloud model's cache hit share reads 0, not "no data", until its provider reports a hit.
    if (!model.local) for (const kind of ["read", "write"]) metrics.cachedTokens.inc({ model: model.spec, provider: providerKey(model.spec), kind }, 0);
  }
  const unavailable = unavailableModels(deps.config, deps.env);
  for (const model of deps.config.models) metrics.unavailable.set({ model: model.spec }, unavailable.has(model.spec) ? 1 : 0);
  for (const [spec, reason] of unavailable) log.warn({ model: spec, reason }, "model unavailable: the selector will not route to it");
  const since = now().toISOString();
  await writeHealth("unavailable models", (health) => {
    for (const model of deps.config.models) {
      const reason = unavailable.get(model.spec);
      if (reason !== undefined) health[model.spec] = { state: "unavailable", reason, since, by: replica };
      else if (health[model.spec]?.state === "unavailable") delete health[model.spec];
    }
  });
  // An entry names one replica, and goes with it when it stops (below): the others that lack the
  // same credentials write theirs again where none stands, so the model stays out of routing as
  // long as one of them runs.
  const reassert = (): void =>
    void writeHealth("unavailable models", (health) => {
      for (const [spec, reason] of unavailable) if (health[spec] === undefined) health[spec] = { state: "unavailable", reason, since, by: replica };
    });
  const reassertTimer = unavailable.size > 0 ? setInterval(reassert, deps.unavailableRefreshMs ?? 30_000) : undefined;
  reassertTimer?.unref();

  const BREAKER_GAUGE = { closed: 0, half_open: 1, open: 2 } as const;
  const onTransition = (spec: string, t: BreakerTransition): void => {
    metrics.breakerState.set({ model: spec }, BREAKER_GAUGE[t.to]);
    metrics.breakerTransitions.inc({ model: spec, state: t.to });
    (t.to === "open" ? log.warn.bind(log) : log.info.bind(log))({ model: spec, state: t.to, reason: t.reason }, "circuit breaker");
    if (t.to === "open") {
      const entry = { state: "open" as const, reason: t.reason, since: new Date(t.at).toISOString(), until: new Date(t.until ?? t.at).toISOString(), by: replica };
      void writeHealth(`${spec} open`, (health) => {
        health[spec] = entry;
      });
    } else if (t.to === "closed") {
      void writeHealth(`${spec} closed`, (health) => {
        if (health[spec]?.state === "open") delete health[spec];
      });
    }
  };
  // Breaker time is wall-clock milliseconds: `until` is published for other processes to read.
  const gate = createCallGate({ config: deps.config, now: () => now().getTime(), onTransition });
  const approve = createApprover({ js: deps.js, topology: deps.topology, log, now, inboxPrefix: deps.env.NATS_INBOX_PREFIX || undefined });
  // One abort listener per task in flight (linkSignal): more than Node's default warning threshold of 10.
  setMaxListeners(0, shutdown.signal);

  const journal = deps.config.executor.journal ? createKvJournal(deps.journalKv) : undefined;
  const budget = createBudgetGuard(deps.budgetKv, budgetRules(deps.config), now, log, metrics);
  // The counters of ended windows go, hourly: kept, they would grow the bucket by one key per
  // scope and window for ever (every replica sweeps; purging twice is harmless).
  const pruneCounters = (): void =>
    void pruneSpendCounters(deps.budgetKv, now())
      .then((n) => n > 0 && log.info({ purged: n }, "reservation counters of ended budget windows purged"))
      .catch((err: unknown) => log.warn({ err }, "purging ended reservation counters failed; next hour again"));
  if (budget) pruneCounters();
  const pruneTimer = budget ? setInterval(pruneCounters, 3_600_000) : undefined;
  pruneTimer?.unref();
  const onJournal = (taskId: string, event: JournalEvent): void => {
    if (event.kind === "replayed") {
      metrics.journalReplays.inc();
      log.info({ taskId, step: event.step }, "step replayed from the call journal");
      return;
    }
    metrics.journalFailures.inc();
    log.warn({ err: event.err, taskId, op: event.op }, "call journal unavailable; the task goes on without it");
  };

  const onCall = (call: ModelCall): void => {
    const labels = { model: call.model, provider: providerKey(call.model) };
    metrics.calls.inc({ ...labels, outcome: call.ok ? "ok" : call.error.code });
    // An interrupted call's latency is unknown (recorded as 0): it would skew the histogram.
    if (call.ok || call.error.code !== ERROR_CODES.CALL_INTERRUPTED) metrics.callSeconds.observe(labels, call.latencyMs / 1000);
    metrics.tokens.inc({ ...labels, direction: "input" }, call.inputTokens);
    metrics.tokens.inc({ ...labels, direction: "output" }, call.outputTokens);
    if (call.cacheReadTokens) metrics.cachedTokens.inc({ ...labels, kind: "read" }, call.cacheReadTokens);
    if (call.cacheWriteTokens) metrics.cachedTokens.inc({ ...labels, kind: "write" }, call.cacheWriteTokens);
    if (call.costUsd > 0) metrics.costUsd.inc(labels, call.costUsd);
    if (call.ok && call.ttftMs !== undefined) metrics.ttftSeconds.observe(labels, call.ttftMs / 1000);
  };

  const worker = await startStageWorker<TaskRouted>({
      stage: "executor",
      durable: "executor",
      js: deps.js,
      topology: deps.topology,
      log: deps.log,
      metrics: createStageMetrics(deps.registry),
      concurrency: deps.config.executor.concurrency,
      decode: (msg) => decodeJson(TaskRouted, msg.data),
      // The journal goes only once the ack is confirmed: a crash after the publish but before the
      // ack redelivers the task, which must find its journal and replay its finished calls rather
      // than pay for them again (its completion is then dropped as a duplicate).
      ...(journal ? { afterAck: (routed: TaskRouted) => journal.remove(routed.task.id).catch((err: unknown) => onJournal(routed.task.id, { kind: "failed", op: "remove", err })) } : {}),
      handle: async (routed, ctx) => {
        /** This replica stopped while the task waited for a human: not the task's failure. */
        let stoppedInApproval = false;
        const completed = await executeTask(routed, {
          providers,
          models,
          referenceModel: reference,
          referenceFor,
          retries: deps.config.executor.retries,
          backoffMs: deps.config.executor.backoffMs,
          maxBackoffMs: deps.config.executor.maxBackoffMs,
          now,
          sleep,
          random: deps.random ?? Math.random,
          signal: shutdown.signal,
          onCall,
          gate,
          budget,
          maxCostPerTaskUsd: deps.config.policy.maxCostPerTaskUsd,
          strategies: deps.config.strategies,
          // A human's decision may take minutes: the wait gives this task's slot to the next one.
          approve: async (request, signal) => {
            ctx.releaseSlot();
            try {
              return await approve(request, signal);
            } catch (err) {
              stoppedInApproval = shutdown.signal.aborted;
              throw err;
            }
          },
          journal,
          redelivered: ctx.redelivered,
          onJournal: (event) => onJournal(routed.task.id, event),
          onFallback: () => metrics.fallbacks.inc(),
        }).catch((err: unknown) => {
          // Another replica takes the wait over without using up one of the task's deliveries.
          if (stoppedInApproval) throw new HandOff(`task ${routed.task.id}: this executor stopped while the task waited for approval`, { cause: err });
          throw err;
        });
        await publishMessage(deps.js, deps.topology.subjects, "task.completed", completed, `${routed.task.id}:completed`);
        metrics.tasks.inc({ status: completed.result.status });
        metrics.referenceUsd.inc(completed.referenceCostUsd);
        for (const [model, n] of retriesByModel(completed.calls)) metrics.retries.inc({ model }, n);
        if (completed.result.status === "succeeded") {
          metrics.savedUsd.inc(Math.max(0, completed.referenceCostUsd - completed.costUsd));
        }
        ctx.log.info(
          {
            taskId: routed.task.id,
            status: completed.result.status,
            model: completed.result.status === "succeeded" ? completed.result.model : null,
            calls: completed.calls.length,
            costUsd: completed.costUsd,
          },
          "task completed",
        );
      },
  });

  return {
    get ready() {
      return worker.running;
    },
    async stop() {
      // Calls in flight get a grace period to finish; then they are cut off (their tasks are
      // redelivered and the call journal records what was interrupted), so shutdown ends within
      // the service's 20 s bound however long a model call would have taken.
      clearInterval(pruneTimer);
      clearInterval(reassertTimer);
      const drained = worker.stop();
      let timer: NodeJS.Timeout | undefined;
      const graceOver = new Promise<void>((resolve) => {
        timer = setTimeout(resolve, deps.shutdownGraceMs ?? SHUTDOWN_GRACE_MS);
      });
      await Promise.race([drained, graceOver]);
      clearTimeout(timer);
      shutdown.abort();
      await drained;
      // The models this replica found unavailable (no credentials here) are its own finding,
      // not the fleet's: gone with it, or one misconfigured replica would take them out of
      // routing until another happened to restart.
      void writeHealth("unavailable models", (health) => {
        for (const [spec, entry] of Object.entries(health)) if (entry.state === "unavailable" && entry.by === replica) delete health[spec];
      });
      await healthWrites;
    },
  };
}

/**
 * A task's retries per model: the calls that repeat a failed call of the same strategy step on
 * the same model. A model's other steps (a chain's plan and execute, parallel specialists and
 * synthesis) are not retries, nor is a later step that returns to a model after it failed over:
 * counted as such, they would inflate retry-rate alerts. `calls` are in call order.
 */
export function retriesByModel(calls: readonly ModelCall[]): Map<string, number> {
  /** Whether the last call of each step on each model succeeded. */
  const lastOk = new Map<string, boolean>();
  const retries = new Map<string, number>();
  for (const call of calls) {
    const key = JSON.stringify([call.step ?? null, call.model]);
    if (lastOk.get(key) === false) retries.set(call.model, (retries.get(call.model) ?? 0) + 1);
    lastOk.set(key, call.ok);
  }
  return retries;
}

/**
 * Reservations on the task's budgets (global, its tenant, its run) before each paid call, by
 * compare-and-set on the KV counters every executor replica shares. If the counters cannot be
 * reached the call goes ahead unreserved (logged and counted): NATS being down stops the
 * pipeline anyway, and failing every paid call on a blip would be worse.
 */
function createBudgetGuard(kv: KV, rules: readonly BudgetRule[], now: () => Date, log: Logger, metrics: ExecutorMetrics): BudgetGuard | undefined {
  if (rules.length === 0) return undefined;
  // Held per scope label in integer nano-dollars: float increments and decrements would leave the
  // gauge a hair off zero (1.7e-18) with every call settled.
  const held = new Map<string, bigint>();
  const track = (scopes: readonly string[], nanos: bigint): void => {
    for (const scope of scopes) {
      const total = (held.get(scope) ?? 0n) + nanos;
      held.set(scope, total);
      metrics.budgetReservedUsd.set({ scope }, Number(total) / 1e9);
    }
  };
  for (const rule of rules) {
    metrics.budgetReservedUsd.set({ scope: rule.scope }, 0);
    metrics.budgetRefusals.inc({ scope: rule.scope }, 0);
  }
  return {
    async reserve(task, estimateUsd) {
      const applied = budgetsFor(rules, task);
      if (applied.length === 0) return { ok: true, hold: undefined };
      const scopes = [...new Set(applied.map((b) => b.rule.scope))];
      let outcome: Awaited<ReturnType<typeof reserveBudget>>;
      try {
        outcome = await reserveBudget(kv, applied, estimateUsd, now());
      } catch (err) {
        metrics.budgetReservationErrors.inc();
        log.warn({ err, taskId: task.id }, "budget counters unreachable: calling without a reservation");
        return { ok: true, hold: undefined };
      }
      if (!outcome.ok) {
        const rule = applied.find((b) => b.scope === outcome.scope)?.rule.scope ?? outcome.scope;
        metrics.budgetRefusals.inc({ scope: rule });
        const left = Math.max(0, outcome.limitUsd - outcome.committedUsd);
        return { ok: false, message: `the ${outcome.scope} budget has $${left.toFixed(6)} of $${outcome.limitUsd} left in this window (spent or reserved: $${outcome.committedUsd.toFixed(6)}), the call may cost $${estimateUsd.toFixed(6)}` };
      }
      const nanos = decimalToNanos(usdToDecimal(estimateUsd));
      track(scopes, nanos);
      const { reservation } = outcome;
      return {
        ok: true,
        hold: {
          async settle(actualUsd) {
            track(scopes, -nanos);
            try {
              await settleBudget(kv, reservation, actualUsd);
            } catch (err) {
              metrics.budgetReservationErrors.inc();
              log.warn({ err, taskId: task.id }, "settling a budget reservation failed: it stays reserved until the window ends");
            }
          },
        },
      };
    },
  };
}
