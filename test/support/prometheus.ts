/**
 * A real Prometheus server for tests: started from the binary (`/usr/bin/prometheus`, or
 * `PROMETHEUS_BIN`) on a free loopback port with a generated scrape config and a temporary
 * storage directory, queried through its HTTP API, and killed by `stop()`.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { z } from "zod";

export const DEFAULT_PROMETHEUS_BIN = "/usr/bin/prometheus";

export interface ScrapeTarget {
  /** `host:port` serving `/metrics`. */
  address: string;
  /** Extra target labels (the compose config labels each target with its component). */
  labels?: Record<string, string>;
}

export interface StartPrometheusOptions {
  /** Path of the binary. Default `PROMETHEUS_BIN` or `/usr/bin/prometheus`. */
  bin?: string;
  /** Job name of the single scrape config. Default `router`. */
  job?: string;
  targets: ScrapeTarget[];
  /** Scrape interval in seconds. Default 1. */
  scrapeIntervalSeconds?: number;
  /** How long to wait for `/-/ready`. Default 20000 ms. */
  readyTimeoutMs?: number;
}

const Sample = z.tuple([z.number(), z.string()]);
export const QueryResult = z.discriminatedUnion("resultType", [
  z.object({ resultType: z.literal("vector"), result: z.array(z.object({ metric: z.record(z.string(), z.string()), value: Sample })) }),
  z.object({ resultType: z.literal("matrix"), result: z.array(z.object({ metric: z.record(z.string(), z.string()), values: z.array(Sample) })) }),
  z.object({ resultType: z.literal("scalar"), result: Sample }),
  z.object({ resultType: z.literal("string"), result: Sample }),
]);
export type QueryResult = z.infer<typeof QueryResult>;

const ApiResponse = z.discriminatedUnion("status", [
  z.object({ status: z.literal("success"), data: z.unknown(), warnings: z.array(z.string()).optional() }),
  z.object({ status: z.literal("error"), errorType: z.string(), error: z.string() }),
]);

/** A query Prometheus rejected (parse error, bad function, …): `message` is its own text. */
export class PrometheusQueryError extends Error {
  override readonly name = "PrometheusQueryError";
  readonly code = "PROMETHEUS_QUERY_FAILED";
  constructor(message: string) {
    super(message);
  }
}

export interface PrometheusServer {
  readonly url: string;
  /** Instant query at the current time. */
  query(expr: string): Promise<QueryResult>;
  /** Values of `label` on series matching `match` (what Grafana's `label_values(match, label)` lists). */
  labelValues(label: string, match: string): Promise<string[]>;
  /** Series matching the selector. */
  series(match: string): Promise<Record<string, string>[]>;
  stop(): Promise<void>;
}

/** A loopback port that was free a moment ago. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const address = srv.address();
      const port = typeof address === "object" && address !== null ? address.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

export function prometheusBin(): string {
  return process.env.PROMETHEUS_BIN ?? DEFAULT_PROMETHEUS_BIN;
}

export async function startPrometheus(o: StartPrometheusOptions): Promise<PrometheusServer> {
  const bin = o.bin ?? prometheusBin();
  if (!existsSync(bin)) {
    throw new Error(`the dashboard tests need Prometheus at ${bin}: apt-get install -y --no-install-recommends prometheus, or set PROMETHEUS_BIN`);
  }
  const dir = await mkdtemp(join(tmpdir(), "router-prometheus-"));
  const interval = `${o.scrapeIntervalSeconds ?? 1}s`;
  // YAML is a superset of JSON: no YAML writer needed.
  const config = {
    global: { scrape_interval: interval, scrape_timeout: interval, evaluation_interval: interval },
    scrape_configs: [
      {
        job_name: o.job ?? "router",
        static_configs: o.targets.map((t) => ({ targets: [t.address], labels: t.labels ?? {} })),
      },
    ],
  };
  const configFile = join(dir, "prometheus.yml");
  await writeFile(configFile, JSON.stringify(config, null, 2));

  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const child: ChildProcess = spawn(
    bin,
    [
      `--config.file=${configFile}`,
      `--storage.tsdb.path=${join(dir, "data")}`,
      `--web.listen-address=127.0.0.1:${port}`,
      "--storage.tsdb.retention.time=1h",
      "--log.level=warn",
    ],
    { stdio: ["ignore", "ignore", "pipe"] },
  );
  let stderr = "";
  child.stderr?.setEncoding("utf8");
  child.stderr?.on("data", (chunk: string) => {
    stderr = (stderr + chunk).slice(-8000);
  });
  let exited: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  const exit = new Promise<void>((resolve) => {
    child.once("exit", (code, signal) => {
      exited = { code, signal };
      resolve();
    });
  });
  // A test worker that dies must not leave a Prometheus behind.
  const killOnExit = (): void => void child.kill("SIGKILL");
  process.once("exit", killOnExit);

  const stop = async (): Promise<void> => {
    process.off("exit", killOnExit);
    if (!exited) {
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 5000);
      await exit;
      clearTimeout(timer);
    }
    await rm(dir, { recursive: true, force: true });
  };

  async function api(path: string, params: [string, string][]): Promise<unknown> {
    const res = await fetch(`${url}${path}?${new URLSearchParams(params).toString()}`);
    const body = ApiResponse.parse(await res.json());
    if (body.status === "error") throw new PrometheusQueryError(`${body.errorType}: ${body.error}`);
    return body.data;
  }

  const deadline = Date.now() + (o.readyTimeoutMs ?? 20_000);
  for (;;) {
    if (exited) {
      await stop();
      throw new Error(`prometheus exited during start-up (code ${exited.code}, signal ${exited.signal}): ${stderr}`);
    }
    const ready = await fetch(`${url}/-/ready`).then(
      (r) => r.ok,
      () => false,
    );
    if (ready) break;
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`prometheus did not become ready on ${url}: ${stderr}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }

  return {
    url,
    query: async (expr) => QueryResult.parse(await api("/api/v1/query", [["query", expr]])),
    labelValues: async (label, match) => z.array(z.string()).parse(await api(`/api/v1/label/${encodeURIComponent(label)}/values`, [["match[]", match]])),
    series: async (match) => z.array(z.record(z.string(), z.string())).parse(await api("/api/v1/series", [["match[]", match]])),
    stop,
  };
}
