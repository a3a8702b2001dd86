/** The selector service: `task.classified` → choose a model → `task.routed`. */
import type { JetStreamClient } from "@nats-io/jetstream";
import type { KV } from "@nats-io/kv";
import { Counter, Gauge, type Registry } from "prom-client";
import {
  ERROR_CODES,
  EMPTY_HEALTH,
  EMPTY_STATS,
  HEALTH_KV_KEY,
  HealthSnapshot,
  METRIC_PREFIX,
  RouterError,
  STATS_KV_KEY,
  StatsSnapshotSchema,
  TaskClassified,
  budgetRules,
  watchKvKey,
  createStageMetrics,
  decodeJson,
  publishMessage,
  startStageWorker,
  type BudgetSnapshot,
  type StatsSnapshot,
  type Task,
  type Logger,
  type NatsConnection,
  type RouterConfig,
  type TaskRouted,
  type Topology,
} from "@llm-router/shared";
import { startSelectorApi } from "./api.js";
import { createBudgetView, type BudgetView } from "./budget-view.js";
import { createModelRegistry, policyVersion } from "./registry.js";
import { selectModel, strategyCallCounts } from "./select-model.js";

export interface SelectorServiceDeps {
  config: RouterConfig;
  js: JetStreamClient;
  budgetKv: KV;
  topology: Topology;
  log: Logger;
  registry: Registry;
  now?: () => Date;
  /** Serves `router.route` and `router.models(.get)` on this connection once consuming; without one they are not served. */
  nc?: NatsConnection;
  /** Where each model's price came from (`LoadedConfig.priceSources`), reported by `router.models`. */
  priceSources?: Readonly<Record<string, string>>;
}

export interface SelectorService {
  readonly ready: boolean;
  /** The budget state this replica routes a task of this tenant and run by; without one, the tightest of all. */
  budget(task?: Pick<Task, "tenant" | "runId">): BudgetSnapshot;
  /** The outcome statistics it routes with (from KV). */
  stats(): StatsSnapshot;
  /** The model health it routes with (from KV): open circuits and unavailable models. */
  health(): HealthSnapshot;
  stop(): Promise<void>;
}

export async function startSelector(deps: SelectorServiceDeps): Promise<SelectorService> {
  const now = deps.now ?? (() => new Date());
  const registers = [deps.registry];
  const decisions = new Counter({
    name: `${METRIC_PREFIX}decisions_total`,
    help: "Routing decisions by chosen model (`none` when no model was eligible), reason (cheapest, best_value, best_effort, no_eligible_model), whether the budget forced a local model, and the budget state.",
    labelNames: ["model", "reason", "forced_local", "budget_state"],
    registers,
  });
  // Read at each scrape: a state stops applying when its window ends, without a KV change.
  let view: BudgetView | undefined;
  new Gauge({
    name: `${METRIC_PREFIX}selector_budget_exceeded`,
    help: "1 while this selector sees any budget exceeded (global, a tenant's or a run's: the tasks it covers route local only), else 0.",
    registers,
    collect() {
      this.set(view?.snapshot().state === "exceeded" ? 1 : 0);
    },
  });
  const models = createModelRegistry(deps.config.models);
  const { strategies, budgetLadder } = deps.config;
  const strategyByTier = strategies.byTier;
  const strategyCalls = strategyCallCounts(strategies);
  const ctx = {
    registry: models,
    policy: deps.config.policy,
    policyVersion: policyVersion(deps.config.policy, { strategyByTier, strategyCalls, budgetLadder }),
    strategyByTier,
    strategyCalls,
    budgetLadder,
  };
  const budget = (view = await createBudgetView(deps.budgetKv, deps.log, budgetRules(deps.config), now));
  // Snapshots other services publish to KV: an invalid value is logged and the last good one kept.
  const watchSnapshot = <T>(key: string, what: string, schema: { safeParse(v: unknown): { data?: T } }, empty: T, onChange?: (v: T) => void) =>
    watchKvKey<T>({ kv: deps.budgetKv, key, log: deps.log, what, empty: () => empty, parse: (value) => schema.safeParse(value).data, onChange });
  const stats = await watchSnapshot<StatsSnapshot>(STATS_KV_KEY, "outcome statistics", StatsSnapshotSchema, EMPTY_STATS);
  const health = await watchSnapshot<HealthSnapshot>(HEALTH_KV_KEY, "model health", HealthSnapshot, EMPTY_HEALTH, (h) =>
    deps.log.info({ unhealthy: Object.keys(h.models) }, "model health"),
  );

  // What the worker publishes for a classified task, and what router.route answers.
  const decide = (task: Task, classification: TaskClassified["classification"]) =>
    selectModel({ task, classification, budget: budget.snapshot(task) }, { ...ctx, now: now(), stats: stats.current(), health: health.current() });
  const worker = await startStageWorker<TaskClassified>({
    stage: "selector",
    durable: "selector",
    js: deps.js,
    topology: deps.topology,
    log: deps.log,
    metrics: createStageMetrics(deps.registry),
    concurrency: 64,
    decode: (msg) => decodeJson(TaskClassified, msg.data),
    handle: async (input, mctx) => {
      const decision = decide(input.task, input.classification);
      // Refused only while open circuits cool down: redelivered when the first closes, but on
      // its last delivery the task completes as refused rather than dying unanswered.
      if (!decision.ok && decision.error.retryable === true && !mctx.lastDelivery) {
        throw new RouterError(ERROR_CODES.CIRCUIT_OPEN, `${decision.error.message} — waiting for a circuit to close`, { retryable: true, retryAfterMs: decision.error.retryAfterMs });
      }
      const out: TaskRouted = { v: 1, task: input.task, classification: input.classification, decision };
      await publishMessage(deps.js, deps.topology.subjects, "task.routed", out, `${input.task.id}:routed`);
      decisions.inc({
        model: decision.ok ? decision.model : "none",
        reason: decision.reasonCode ?? "unknown",
        forced_local: decision.ok && decision.forcedLocal ? "true" : "false",
        budget_state: decision.budget.state,
      });
      mctx.log.debug({ taskId: input.task.id, model: decision.ok ? decision.model : null, reason: decision.reason }, "routed");
    },
  });
  const api = deps.nc && (await startSelectorApi({ nc: deps.nc, config: deps.config, log: deps.log, prefix: deps.topology.subjects.prefix, registry: models, policyVersion: ctx.policyVersion, decide, stats: () => stats.current(), health: () => health.current(), now, metricsRegistry: deps.registry, ...(deps.priceSources ? { priceSources: deps.priceSources } : {}) }));
  deps.log.info({ registryVersion: models.version, policyVersion: ctx.policyVersion, budget: budget.snapshot() }, "selector started");
  return {
    get ready() {
      return worker.running;
    },
    budget: (task) => budget.snapshot(task),
    stats: () => stats.current(),
    health: () => health.current(),
    async stop() {
      await api?.stop();
      await worker.stop();
      await budget.stop();
      await stats.stop();
      await health.stop();
    },
  };
}
