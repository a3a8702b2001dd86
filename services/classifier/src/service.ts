/** The classifier service: `task.submitted` → classify → `task.classified`. */
import type { JetStreamClient } from "@nats-io/jetstream";
import { Counter, Histogram, type Registry } from "prom-client";
import {
  METRIC_PREFIX,
  createStageMetrics,
  publishMessage,
  startStageWorker,
  type Logger,
  type NatsConnection,
  type StageWorker,
  type TaskClassified,
  type Topology,
} from "@llm-router/shared";
import { decodeSubmission } from "./accept-task.js";
import { startClassifierApi } from "./api.js";
import { createClassifier, type Classifier } from "./classify.js";

export interface ClassifierServiceDeps {
  js: JetStreamClient;
  topology: Topology;
  log: Logger;
  registry: Registry;
  /** Messages classified at once. Default 64. */
  concurrency?: number;
  /** The configured strategies (`buildClassifier`). Default: the rules alone. */
  classifier?: Classifier;
  /** Serves `router.classify` on this connection once consuming; without one the endpoint is not served. */
  nc?: NatsConnection;
}

export interface ClassifierService {
  readonly ready: boolean;
  stop(): Promise<void>;
}

export async function startClassifier(deps: ClassifierServiceDeps): Promise<ClassifierService> {
  const classifications = new Counter({
    name: `${METRIC_PREFIX}classifications_total`,
    help: "Tasks classified, by deciding strategy, complexity, risk and task type.",
    labelNames: ["strategy", "complexity", "risk", "task_type"],
    registers: [deps.registry],
  });
  const pFail = new Histogram({
    name: `${METRIC_PREFIX}classification_pfail`,
    help: "The learned model's pFail per classified task (probability a weak model fails it), by task type.",
    labelNames: ["task_type"],
    buckets: [0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9],
    registers: [deps.registry],
  });
  const escalations = new Counter({
    name: `${METRIC_PREFIX}classification_escalations_total`,
    help: "Questions put to the escalation strategy (LLM or embedding), for pipeline tasks and router.classify requests alike, by strategy and outcome: answered (its answer decided), ignored (less sure than the rules), or the reason the in-process result stood (timeout, unparseable, provider-error, unavailable, withheld).",
    labelNames: ["strategy", "outcome"],
    registers: [deps.registry],
  });
  const escalationSeconds = new Histogram({
    name: `${METRIC_PREFIX}classification_escalation_seconds`,
    help: "How long the escalation strategy took to answer or fail, by strategy.",
    labelNames: ["strategy"],
    buckets: [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10],
    registers: [deps.registry],
  });
  const classifier = deps.classifier ?? createClassifier({ config: { strategy: "rules", escalateBelow: 0 } });
  classifier.onEscalation(({ strategy, outcome, seconds }) => {
    escalations.inc({ strategy, outcome });
    escalationSeconds.observe({ strategy }, seconds);
  });
  const worker: StageWorker = await startStageWorker({
    stage: "classifier",
    durable: "classifier",
    js: deps.js,
    topology: deps.topology,
    log: deps.log,
    metrics: createStageMetrics(deps.registry),
    concurrency: deps.concurrency ?? 64,
    decode: (msg) => decodeSubmission(msg, deps.topology.stream),
    handle: async (task, ctx) => {
      const classification = await classifier.classify(task);
      const out: TaskClassified = { v: 1, task, classification };
      // Publish before the worker acks the input: a crash in between redelivers, never loses.
      await publishMessage(deps.js, deps.topology.subjects, "task.classified", out, `${task.id}:classified`);
      classifications.inc({
        strategy: classification.strategy,
        complexity: classification.complexity,
        risk: classification.risk,
        task_type: classification.taskType,
      });
      if (classification.pFail !== undefined) pFail.observe({ task_type: classification.taskType }, classification.pFail);
      ctx.log.debug({ taskId: task.id, complexity: classification.complexity, taskType: classification.taskType }, "classified");
    },
  });
  const api = deps.nc && (await startClassifierApi({ nc: deps.nc, prefix: deps.topology.subjects.prefix, log: deps.log, classifier, now: () => new Date(), metricsRegistry: deps.registry }));
  return {
    get ready() {
      return worker.running;
    },
    async stop() {
      await api?.stop();
      await worker.stop();
      classifier.close();
    },
  };
}
