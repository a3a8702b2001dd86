/**
 * The classifier's `router.*` endpoint: `router.classify` runs the service's configured
 * classifier (the same strategies, weights and escalation as the pipeline) on a submission.
 * Nothing is published: the answer is the classification alone.
 */
import type { Registry } from "prom-client";
import { randomUUID } from "node:crypto";
import type { NatsConnection } from "@llm-router/shared";
import { startApiServer, toTask, type ApiServer, type Logger } from "@llm-router/shared";
import type { Classifier } from "./classify.js";

export interface ClassifierApiDeps {
  nc: NatsConnection;
  prefix: string;
  log: Logger;
  classifier: Classifier;
  now: () => Date;
  /** The service's metrics registry: API requests by endpoint and outcome. */
  metricsRegistry?: Registry;
}

export function startClassifierApi(deps: ClassifierApiDeps): Promise<ApiServer> {
  return startApiServer({
    nc: deps.nc,
    service: "classifier",
    version: "0.1.0",
    prefix: deps.prefix,
    log: deps.log,
    registry: deps.metricsRegistry,
    handlers: {
      "router.classify": (submission) => deps.classifier.classify(toTask(submission, submission.id ?? `api-${randomUUID()}`, deps.now())),
    },
  });
}
