/**
 * The common life of a service process: load config → logger → metrics registry → connect
 * NATS and provision the topology → start the service → serve /metrics /healthz /readyz →
 * shut down in order on SIGTERM/SIGINT. Each `main.ts` calls this with what is its own.
 */
import type { NatsConnection } from "@nats-io/transport-node";
import type { Registry } from "prom-client";
import { loadConfig, type LoadedConfig, type RouterEnv } from "./config.js";
import { ConfigError } from "./errors.js";
import { installShutdown, parentPidFromEnv, type ShutdownStep } from "./lifecycle.js";
import { createLogger, logLevelFromEnv, type Logger } from "./logger.js";
import { createRegistry, startOpsServer } from "./metrics.js";
import { connectNats, ensureTopology, natsAuthFromEnv, topologyFromConfig, type Provisioned, type Topology } from "./nats.js";

export interface ServiceContext extends Provisioned {
  loaded: LoadedConfig;
  env: RouterEnv;
  log: Logger;
  registry: Registry;
  nc: NatsConnection;
  topology: Topology;
}

export interface StartedService {
  /** Readiness beyond the NATS connection (consumers running, database migrated). */
  ready: () => boolean;
  /** Closed in order at shutdown, before the metrics server and NATS. */
  steps: ShutdownStep[];
}

export interface RunServiceOptions {
  name: string;
  version: string;
  env: RouterEnv;
  /** Port for /metrics, /healthz, /readyz when `METRICS_PORT` is not set. */
  defaultPort: number;
  start: (ctx: ServiceContext) => Promise<StartedService>;
}

/** What is wrong with the environment variables runService reads itself, naming the variable. */
export function envProblem(env: RouterEnv): string | undefined {
  try {
    logLevelFromEnv(env.LOG_LEVEL, "info");
  } catch (err) {
    return (err as Error).message;
  }
  if (env.METRICS_PORT) {
    const port = Number(env.METRICS_PORT);
    if (!/^\d+$/.test(env.METRICS_PORT.trim()) || port > 65535) return `METRICS_PORT: "${env.METRICS_PORT}" is not a port number (0-65535)`;
  }
  try {
    parentPidFromEnv(env);
  } catch (err) {
    return (err as Error).message;
  }
  return undefined;
}

export async function runService(o: RunServiceOptions): Promise<void> {
  // Before anything slow: a launcher that dies while the service starts must still be seen as gone.
  const ppidAtStart = process.ppid;
  const problem = envProblem(o.env);
  const log = createLogger({ service: o.name, level: problem ? "info" : o.env.LOG_LEVEL || "info" });
  try {
    if (problem) throw new ConfigError(problem);
    const loaded = loadConfig({ env: o.env });
    log.info({ config: loaded.source, models: loaded.config.models.map((m) => m.spec) }, "config loaded");
    if (loaded.source === "built-in") {
      // Started from another directory, a service would otherwise run the simulators while its
      // operator believes it reads the deployment's file.
      log.warn({ cwd: process.cwd() }, "no config file: ROUTER_CONFIG is unset and there is no router.config.yaml, .yml or .json in the working directory; running the built-in registry");
    }
    if (loaded.simulatorOnly) {
      log.warn("no real provider is configured: every model is the simulator (outputs are labelled [simulated]); see README › Configuration");
    } else {
      log.info({ prices: loaded.priceSources }, "model prices");
    }
    if (loaded.unpricedCloudModels.length > 0) {
      log.warn(
        { models: loaded.unpricedCloudModels },
        "cloud models without a price (none configured, none listed in the price table): their calls count as $0 in budgets, the ledger and savings; set inputPerMtok and outputPerMtok",
      );
    }
    const registry = createRegistry(o.name, o.version);
    const { nc, statusDone, connected } = await connectNats({
      url: loaded.config.nats.url,
      name: `router-${o.name}`,
      log,
      auth: natsAuthFromEnv(o.env),
      inboxPrefix: o.env.NATS_INBOX_PREFIX || undefined,
    });
    const topology = topologyFromConfig(loaded.config);
    const provisioned = await ensureTopology(nc, topology);
    // Up before the service consumes anything (unready until it has started): a port in use
    // fails the start here, not after messages were taken.
    const port = o.env.METRICS_PORT ? Number(o.env.METRICS_PORT) : o.defaultPort;
    const started: { service?: StartedService } = {};
    const ops = await startOpsServer({ registry, port, ready: () => connected() && started.service !== undefined && started.service.ready() });
    const service = (started.service = await o.start({ ...provisioned, loaded, env: o.env, log, registry, nc, topology }));
    log.info({ port: ops.port }, `${o.name} ready: /metrics /healthz /readyz on port ${ops.port}`);
    installShutdown(
      [
        ...service.steps,
        { name: "metrics server", close: () => ops.close() },
        {
          name: "nats",
          close: async () => {
            await nc.drain();
            await statusDone;
          },
        },
      ],
      log,
      { parentPid: parentPidFromEnv(o.env), ppidAtStart },
    );
  } catch (err) {
    const e = err as Error & { code?: string };
    log.fatal({ err, code: e.code }, `${o.name} failed to start: ${e.message}`);
    // Let pino flush before exiting.
    setTimeout(() => process.exit(1), 100).unref();
    process.exitCode = 1;
  }
}
