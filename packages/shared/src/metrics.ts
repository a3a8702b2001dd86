/**
 * prom-client plumbing: a Registry per service (never the global one), the pipeline metrics
 * every stage shares, and the HTTP server for `/metrics`, `/healthz` and `/readyz`.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";

export const METRIC_PREFIX = "router_";

/** Pipeline overhead buckets, from 100 µs to 10 s (seconds). */
export const STAGE_SECONDS_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export function createRegistry(service: string, version: string): Registry {
  const registry = new Registry();
  registry.setDefaultLabels({ service });
  collectDefaultMetrics({ register: registry, prefix: METRIC_PREFIX });
  new Gauge({
    name: `${METRIC_PREFIX}build_info`,
    help: "Always 1; labels carry the service version and Node.js version.",
    labelNames: ["version", "node"],
    registers: [registry],
  }).set({ version, node: process.version }, 1);
  return registry;
}

/** Metrics every stage worker records. Labels are bounded: stage, outcome, code. */
export interface StageMetrics {
  messages: Counter<"stage" | "outcome">;
  seconds: Histogram<"stage">;
  deadLetters: Counter<"stage" | "code">;
  redeliveries: Counter<"stage">;
  inFlight: Gauge<"stage">;
  pending: Gauge<"durable">;
  ackPending: Gauge<"durable">;
}

export function createStageMetrics(registry: Registry): StageMetrics {
  return {
    messages: new Counter({
      name: `${METRIC_PREFIX}stage_messages_total`,
      help: "Messages a stage finished, by outcome: ok (acked), retry (nak'd for redelivery), handoff (published again for another replica as this one stopped), dead (terminated and dead-lettered).",
      labelNames: ["stage", "outcome"],
      registers: [registry],
    }),
    seconds: new Histogram({
      name: `${METRIC_PREFIX}stage_handler_seconds`,
      help: "Time from receiving a message to acking it, per stage.",
      labelNames: ["stage"],
      buckets: STAGE_SECONDS_BUCKETS,
      registers: [registry],
    }),
    deadLetters: new Counter({
      name: `${METRIC_PREFIX}dead_letters_total`,
      help: "Messages terminated and published to task.dead, by stage and error code.",
      labelNames: ["stage", "code"],
      registers: [registry],
    }),
    redeliveries: new Counter({
      name: `${METRIC_PREFIX}redeliveries_total`,
      help: "Messages received with a delivery count above 1 (a previous attempt was not acked).",
      labelNames: ["stage"],
      registers: [registry],
    }),
    inFlight: new Gauge({
      name: `${METRIC_PREFIX}stage_in_flight`,
      help: "Messages being processed by a stage right now.",
      labelNames: ["stage"],
      registers: [registry],
    }),
    pending: new Gauge({
      name: `${METRIC_PREFIX}consumer_pending_messages`,
      help: "Messages in the stream not yet delivered to a durable consumer (its backlog), polled from JetStream.",
      labelNames: ["durable"],
      registers: [registry],
    }),
    ackPending: new Gauge({
      name: `${METRIC_PREFIX}consumer_ack_pending_messages`,
      help: "Messages delivered to a durable consumer and not yet acknowledged (buffered or being processed), polled from JetStream.",
      labelNames: ["durable"],
      registers: [registry],
    }),
  };
}

export type ReadinessCheck = () => boolean;

export interface OpsServer {
  readonly port: number;
  close(): Promise<void>;
}

/**
 * Serve `/metrics` (Prometheus text), `/healthz` (the process is up) and `/readyz` (every
 * readiness check passes: NATS connected, consumers running, database migrated).
 */
export async function startOpsServer(options: {
  registry: Registry;
  port: number;
  host?: string;
  ready: ReadinessCheck;
}): Promise<OpsServer> {
  const server: Server = createServer((req, res) => {
    const url = req.url ?? "/";
    if (url.startsWith("/metrics")) {
      options.registry
        .metrics()
        .then((body) => {
          res.writeHead(200, { "content-type": options.registry.contentType });
          res.end(body);
        })
        .catch((err: unknown) => {
          res.writeHead(500, { "content-type": "text/plain" });
          res.end(`metrics collection failed: ${(err as Error).message}\n`);
        });
      return;
    }
    if (url.startsWith("/healthz")) {
      res.writeHead(200, { "content-type": "text/plain" });
      res.end("ok\n");
      return;
    }
    if (url.startsWith("/readyz")) {
      const ready = options.ready();
      res.writeHead(ready ? 200 : 503, { "content-type": "text/plain" });
      res.end(ready ? "ready\n" : "not ready\n");
      return;
    }
    res.writeHead(404, { "content-type": "text/plain" });
    res.end("not found: try /metrics, /healthz, /readyz\n");
  });
  await new Promise<void>((resolvePromise, reject) => {
    server.once("error", reject);
    server.listen(options.port, options.host ?? "0.0.0.0", () => resolvePromise());
  });
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    close: () =>
      new Promise<void>((resolvePromise) => {
        server.close(() => resolvePromise());
        server.closeAllConnections();
      }),
  };
}
