/**
 * The selector's `router.*` endpoints:
 * - `router.route`, a dry run: the submission is classified by `router.classify` (the classifier
 *   service, so a cascade that escalates to an LLM or embeddings answers exactly as it would in
 *   the pipeline) and routed by this replica's `decide` — the registry, policy, budget state,
 *   statistics and model health it routes the pipeline's tasks with. Nothing is published,
 *   executed or recorded. A submission with an `id` gets that task's seed, so its decision is
 *   the one the pipeline would make now.
 * - `router.models` / `router.models.get`: the registry with each model's health and outcome
 *   statistics as this replica sees them (KV).
 */
import type { Registry } from "prom-client";
import { randomUUID } from "node:crypto";
import {
  addBucket,
  API_TIMEOUT_MS,
  ERROR_CODES,
  RouterError,
  expectedQuality,
  latencyPercentileMs,
  providerKey,
  requestApi,
  startApiServer,
  toTask,
  unhealthyReason,
  type ApiServer,
  type BucketStats,
  type Classification,
  type HealthSnapshot,
  type Logger,
  type ModelConfig,
  type ModelHealthStatus,
  type ModelInfo,
  type ModelOutcomeStats,
  type NatsConnection,
  type RouterConfig,
  type RoutingDecision,
  type StatsSnapshot,
  type Task,
  type TaskType,
  type Complexity,
} from "@llm-router/shared";
import type { ModelRegistry } from "./registry.js";

export interface SelectorApiDeps {
  nc: NatsConnection;
  prefix: string;
  log: Logger;
  config: RouterConfig;
  registry: ModelRegistry;
  policyVersion: string;
  /** The decision the replica would publish for this classified task now. */
  decide(task: Task, classification: Classification): RoutingDecision;
  stats(): StatsSnapshot;
  health(): HealthSnapshot;
  now(): Date;
  /** The service's metrics registry: API requests by endpoint and outcome. */
  metricsRegistry?: Registry;
  /** Where each model's price came from; each model's `priceSource`. */
  priceSources?: Readonly<Record<string, string>>;
}

/** How long `router.route` waits for the classifier beyond its escalation deadline. */
const CLASSIFY_MARGIN_MS = 5000;
/**
 * At most this long in all: a second under the clients' default timeout, so a slow classifier is
 * named in the answer instead of the client giving up on the selector.
 */
const CLASSIFY_MAX_MS = API_TIMEOUT_MS - 1000;

export function startSelectorApi(deps: SelectorApiDeps): Promise<ApiServer> {
  const { llm, embedding } = deps.config.classifier;
  const classifyTimeoutMs = Math.min(CLASSIFY_MAX_MS, CLASSIFY_MARGIN_MS + (llm?.timeoutMs ?? embedding?.timeoutMs ?? 0));
  const info = (model: ModelConfig): ModelInfo => ({
    ...model,
    provider: providerKey(model.spec),
    ...(deps.priceSources?.[model.spec] === undefined ? {} : { priceSource: deps.priceSources[model.spec] }),
    health: healthOf(deps.health(), model.spec, deps.now()),
    stats: statsOf(deps.stats(), model, deps.config.policy.statsPriorSamples),
  });
  return startApiServer({
    nc: deps.nc,
    service: "selector",
    version: "0.1.0",
    prefix: deps.prefix,
    log: deps.log,
    registry: deps.metricsRegistry,
    handlers: {
      "router.route": async (submission) => {
        const id = submission.id ?? `dryrun-${randomUUID()}`;
        const classification = await requestApi(deps.nc, "router.classify", { ...submission, id }, { prefix: deps.prefix, timeoutMs: classifyTimeoutMs });
        const task = toTask(submission, id, deps.now());
        return { v: 1, task, classification, decision: deps.decide(task, classification) };
      },
      "router.models": () => ({
        registryVersion: deps.registry.version,
        policyVersion: deps.policyVersion,
        statsId: deps.stats().id,
        models: deps.registry.models.map(info),
      }),
      "router.models.get": ({ spec }) => {
        const model = deps.registry.bySpec.get(spec);
        if (!model) throw new RouterError(ERROR_CODES.MODEL_NOT_FOUND, `no model ${spec} in the registry (models: ${deps.registry.models.map((m) => m.spec).join(", ")})`);
        return info(model);
      },
    },
  });
}

function healthOf(health: HealthSnapshot, spec: string, now: Date): ModelHealthStatus {
  const entry = Object.hasOwn(health.models, spec) ? health.models[spec] : undefined;
  if (!entry) return { state: "healthy" };
  const open = unhealthyReason(health, spec, now) !== undefined;
  const state = entry.state === "unavailable" ? "unavailable" : open ? "open" : "half_open";
  return { state, reason: entry.reason, since: entry.since, ...(entry.until === undefined ? {} : { until: entry.until }) };
}

const ratio = (part: number, whole: number): number | null => (whole > 0 ? part / whole : null);
const finite = (ms: number | null): number | null => (ms !== null && Number.isFinite(ms) ? ms : null);

/** A model's buckets (`taskType|complexity|model` keys of the snapshot), each and summed. */
function statsOf(stats: StatsSnapshot, model: ModelConfig, priorSamples: number): ModelOutcomeStats {
  const total: BucketStats = { n: 0, successes: 0, failures: 0, scored: 0, scoreSum: 0, costed: 0, costSum: 0, latencyCounts: [] };
  const buckets: ModelOutcomeStats["buckets"] = [];
  for (const [key, b] of Object.entries(stats.buckets)) {
    const [taskType = "", complexity = "", ...spec] = key.split("|");
    if (spec.join("|") !== model.spec) continue;
    addBucket(total, b);
    const estimate = expectedQuality(stats, { taskType, complexity, model: model.spec }, model.quality, priorSamples);
    buckets.push({
      taskType: taskType as TaskType,
      complexity: complexity as Complexity,
      samples: b.n,
      successRate: ratio(b.successes, b.n),
      scored: b.scored,
      meanScore: ratio(b.scoreSum, b.scored),
      expectedQuality: estimate.quality,
    });
  }
  return {
    samples: total.n,
    successRate: ratio(total.successes, total.n),
    scored: total.scored,
    meanScore: ratio(total.scoreSum, total.scored),
    meanCostUsd: ratio(total.costSum, total.costed),
    latencyP50Ms: finite(latencyPercentileMs(total, 0.5)),
    latencyP95Ms: finite(latencyPercentileMs(total, 0.95)),
    buckets,
  };
}
