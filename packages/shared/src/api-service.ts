/**
 * Serves some of the `router.*` endpoints (`API_ENDPOINTS`) as one @nats-io/services service:
 * discoverable through `$SRV.PING|INFO|STATS`, every request validated against the endpoint's
 * schema, every failure answered as a service error with a stable code. Replicas share each
 * endpoint through the framework's queue group, so one of them answers each request.
 *
 * Endpoints are consumed in the iterator form with bounded concurrency: the framework does not
 * await a callback, so an async handler there would float and could pile up without limit.
 */
import { performance } from "node:perf_hooks";
import { Svcm, type ServiceMsg } from "@nats-io/services";
import { Counter, Histogram, type Registry } from "prom-client";
import type { NatsConnection, QueuedIterator } from "@nats-io/transport-node";
import { API_ENDPOINTS, apiServiceName, apiSubject, type ApiEndpointName, type ApiRequest, type ApiResponse, type ApiHost } from "./api.js";
import { describeZodError } from "./config.js";
import { ERROR_CODES, RouterError, toErrorData, type ErrorCode } from "./errors.js";
import type { Logger } from "./logger.js";
import { METRIC_PREFIX } from "./metrics.js";
import { sleep } from "./util.js";

/** The connection type the services' API deps take, so they need no NATS package of their own. */
export type { NatsConnection };

export type ApiHandler<E extends ApiEndpointName> = (request: ApiRequest<E>) => ApiResponse<E> | Promise<ApiResponse<E>>;
export type ApiHandlers<S extends ApiHost> = { [E in ApiEndpointName as (typeof API_ENDPOINTS)[E]["service"] extends S ? E : never]: ApiHandler<E> };

export interface ApiServerOptions<S extends ApiHost> {
  nc: NatsConnection;
  /** Whose endpoints these are: the service is named `router-<service>` in `$SRV` discovery. */
  service: S;
  version: string;
  /** The deployment's subject prefix (`nats.subjectPrefix`): endpoints listen on `<prefix>router.*`. */
  prefix: string;
  log: Logger;
  handlers: ApiHandlers<S>;
  /** Requests handled at once per endpoint and replica. Default 16. */
  concurrency?: number;
  /** The service's metrics registry: requests by endpoint and outcome, and their handling time. */
  registry?: Registry;
}

/** Handling time buckets: 100 µs (a models listing) to 10 s (a route waiting for the classifier). */
const API_SECONDS_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

interface ApiMetrics {
  requests: Counter<"endpoint" | "outcome">;
  seconds: Histogram<"endpoint">;
}

function apiMetrics(registry: Registry | undefined, endpoints: readonly ApiEndpointName[]): ApiMetrics | undefined {
  if (!registry) return undefined;
  const registers = [registry];
  const metrics: ApiMetrics = {
    requests: new Counter({
      name: `${METRIC_PREFIX}api_requests_total`,
      help: "router.* API requests answered, by endpoint and outcome (ok or the error code).",
      labelNames: ["endpoint", "outcome"],
      registers,
    }),
    seconds: new Histogram({
      name: `${METRIC_PREFIX}api_request_seconds`,
      help: "Time to answer a router.* API request, by endpoint.",
      labelNames: ["endpoint"],
      buckets: API_SECONDS_BUCKETS,
      registers,
    }),
  };
  // Every endpoint's series exists from the start, before its first request.
  for (const endpoint of endpoints) metrics.requests.inc({ endpoint, outcome: "ok" }, 0);
  return metrics;
}

export interface ApiServer {
  /** The service instance id (`$SRV.INFO.<name>.<id>`). */
  readonly id: string;
  /** Unsubscribe, then answer every request already received; resolves when the last is answered. */
  stop(): Promise<void>;
}

/** How often `stop()` looks whether an endpoint's loop has taken its queued requests. */
const STOP_POLL_MS = 5;

/** HTTP-like status in `Nats-Service-Error-Code`, for clients that read only the headers. */
const STATUS: Partial<Record<ErrorCode, number>> = {
  REQUEST_INVALID: 400,
  TASK_NOT_FOUND: 404,
  MODEL_NOT_FOUND: 404,
  SERVICE_UNAVAILABLE: 503,
  MESSAGE_TOO_LARGE: 413,
};

export async function startApiServer<S extends ApiHost>(o: ApiServerOptions<S>): Promise<ApiServer> {
  const log = o.log.child({ component: "api" });
  const service = await new Svcm(o.nc).add({
    name: apiServiceName(o.service),
    version: o.version,
    description: `llm-router ${o.service}: router.* request/reply endpoints`,
    // Tells routers sharing a server apart in `$SRV.INFO` (tests run many at once).
    metadata: { subject_prefix: o.prefix },
  });
  const group = service.addGroup(`${o.prefix}router`);
  const metrics = apiMetrics(o.registry, Object.keys(o.handlers) as ApiEndpointName[]);
  const limit = o.concurrency ?? 16;
  const endpoints = (Object.entries(o.handlers) as [ApiEndpointName, ApiHandler<ApiEndpointName>][]).map(([endpoint, handle]) => {
    const relative = endpoint.slice("router.".length);
    const messages = group.addEndpoint(relative.replaceAll(".", "-"), {
      subject: relative,
      metadata: { description: API_ENDPOINTS[endpoint].description },
    });
    const served = { messages, ended: false, loop: Promise.resolve() };
    served.loop = serve(messages, limit, (msg) => answer(msg, endpoint, handle, log, o.nc.info?.max_payload, metrics))
      .catch((err: unknown) => log.error({ err, endpoint }, "router API endpoint stopped with an error"))
      .finally(() => (served.ended = true));
    return served;
  });
  // A subscription the server refuses (permissions) stops the whole service: say so.
  void service.stopped.then((err) => {
    if (err) log.error({ err }, "router API stopped with an error");
  });
  log.info({ service: apiServiceName(o.service), endpoints: Object.keys(o.handlers).map((e) => apiSubject(o.prefix, e as ApiEndpointName)) }, "router API serving");
  return {
    id: service.info().id,
    async stop() {
      // Unsubscribe (drain): every request received is now queued in its endpoint's iterator.
      await service.stop();
      // An iterator drops what it has not handed out when stopped: let each loop take its queue first.
      for (const e of endpoints) {
        while (!e.ended && e.messages.getPending() > 0) await sleep(STOP_POLL_MS);
        e.messages.stop();
      }
      await Promise.all(endpoints.map((e) => e.loop));
    },
  };
}

/** Up to `limit` requests at once; resolves when the endpoint stopped and the last one was answered. */
async function serve(messages: QueuedIterator<ServiceMsg>, limit: number, handle: (msg: ServiceMsg) => Promise<void>): Promise<void> {
  const inFlight = new Set<Promise<void>>();
  for await (const msg of messages) {
    const done: Promise<void> = handle(msg).finally(() => inFlight.delete(done));
    inFlight.add(done);
    if (inFlight.size >= limit) await Promise.race(inFlight);
  }
  await Promise.all(inFlight);
}

/** Decode, validate, handle and respond; never rejects. */
async function answer(msg: ServiceMsg, endpoint: ApiEndpointName, handle: ApiHandler<ApiEndpointName>, log: Logger, maxPayload: number | undefined, metrics?: ApiMetrics): Promise<void> {
  const started = performance.now();
  const done = (outcome: string): void => {
    metrics?.requests.inc({ endpoint, outcome });
    metrics?.seconds.observe({ endpoint }, (performance.now() - started) / 1000);
  };
  // A plain publish has nobody to answer: doing its work (a ledger scan, an LLM call) would
  // only hold up the requests queued behind it.
  if (!msg.reply) {
    log.debug({ endpoint }, "router API message without a reply subject ignored");
    done("no_reply");
    return;
  }
  try {
    const response = JSON.stringify(await handle(decodeRequest(endpoint, msg.data)));
    const bytes = Buffer.byteLength(response);
    if (maxPayload !== undefined && bytes > maxPayload) {
      throw new RouterError(ERROR_CODES.MESSAGE_TOO_LARGE, `the answer is ${bytes} bytes, more than the server's max_payload of ${maxPayload}: ask for less (a shorter --since, a coarser --group-by, one --scope)`);
    }
    msg.respond(response);
    done("ok");
  } catch (err) {
    const error = toErrorData(err);
    done(error.code);
    if (error.code === ERROR_CODES.INTERNAL) log.error({ err, endpoint }, "router API request failed");
    else if (error.retryable) log.warn({ endpoint, code: error.code, reason: error.message }, "router API request refused: a dependency did not answer");
    else log.debug({ endpoint, code: error.code, reason: error.message }, "router API request refused");
    // Header values are one line.
    const description = `${error.code}: ${error.message}`.replace(/[\r\n]+/g, " ").slice(0, 1024);
    msg.respondError(STATUS[error.code as ErrorCode] ?? (error.retryable ? 503 : 500), description, JSON.stringify({ ok: false, error }));
  }
}

/** The request as its schema reads it; an empty body is `{}`. Throws REQUEST_INVALID. */
function decodeRequest<E extends ApiEndpointName>(endpoint: E, data: Uint8Array): ApiRequest<E> {
  let body: unknown = {};
  if (data.length > 0) {
    try {
      body = JSON.parse(new TextDecoder().decode(data));
    } catch {
      throw new RouterError(ERROR_CODES.REQUEST_INVALID, `${endpoint}: the request body is not JSON`);
    }
  }
  const parsed = API_ENDPOINTS[endpoint].request.safeParse(body);
  if (!parsed.success) throw new RouterError(ERROR_CODES.REQUEST_INVALID, `${endpoint}: ${describeZodError(parsed.error)}`);
  return parsed.data as ApiRequest<E>;
}
