/** The executor service: `task.routed` → call the model(s) → `task.completed`. */
import type { JetStreamClient } from "@nats-io/jetstream";
import type { Registry } from "prom-client";
import {
  TaskRouted,
  createStageMetrics,
  decodeJson,
  providerKey,
  publishMessage,
  referenceModelOf,
  sleep,
  startStageWorker,
  type Logger,
  type ModelCall,
  type RouterConfig,
  type RouterEnv,
  type Topology,
} from "@llm-router/shared";
import { executeTask } from "./execute-task.js";
import { createExecutorMetrics } from "./metrics.js";
import { createProviders } from "./providers/registry.js";
import type { ModelProvider } from "./providers/provider.js";

export interface ExecutorServiceDeps {
  config: RouterConfig;
  env: RouterEnv;
  js: JetStreamClient;
  topology: Topology;
  log: Logger;
  registry: Registry;
  /** Override the providers built from config (tests inject wire-format servers this way too). */
  providers?: ReadonlyMap<string, ModelProvider>;
  now?: () => Date;
  random?: () => number;
}

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
  const shutdown = new AbortController();

  const onCall = (call: ModelCall): void => {
    const labels = { model: call.model, provider: providerKey(call.model) };
    metrics.calls.inc({ ...labels, outcome: call.ok ? "ok" : call.error.code });
    metrics.callSeconds.observe(labels, call.latencyMs / 1000);
    metrics.tokens.inc({ ...labels, direction: "input" }, call.inputTokens);
    metrics.tokens.inc({ ...labels, direction: "output" }, call.outputTokens);
    if (call.costUsd > 0) metrics.costUsd.inc(labels, call.costUsd);
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
      handle: async (routed, ctx) => {
        const completed = await executeTask(routed, {
          providers,
          models,
          referenceModel: reference,
          retries: deps.config.executor.retries,
          backoffMs: deps.config.executor.backoffMs,
          maxBackoffMs: deps.config.executor.maxBackoffMs,
          now,
          sleep,
          random: deps.random ?? Math.random,
          signal: shutdown.signal,
          onCall,
        });
        await publishMessage(deps.js, deps.topology.subjects, "task.completed", completed, `${routed.task.id}:completed`);
        metrics.tasks.inc({ status: completed.result.status });
        const retried = new Set<string>();
        for (const call of completed.calls) {
          if (retried.has(call.model)) metrics.retries.inc({ model: call.model });
          retried.add(call.model);
        }
        if (completed.result.status === "succeeded") {
          if (routed.decision.ok && completed.result.model !== routed.decision.model) metrics.fallbacks.inc();
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
      await worker.stop();
      shutdown.abort();
    },
  };
}
