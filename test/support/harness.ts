/**
 * Integration test harness. Each test file gets its own subject prefix, streams, KV bucket and
 * Postgres database on the shared servers, so files run in parallel without seeing each other.
 * Services run in-process through the same start functions their `main.ts` uses.
 */
import { randomBytes } from "node:crypto";
import { inject } from "vitest";
import pg from "pg";
import { Registry } from "prom-client";
import type { NatsConnection, Msg } from "@nats-io/transport-node";
import { headers as natsHeaders } from "@nats-io/transport-node";
import {
  connectNats,
  createLogger,
  ensureTopology,
  parseConfig,
  topologyFromConfig,
  DEFAULT_CONFIG_INPUT,
  type Logger,
  type Provisioned,
  type RouterConfig,
  type Topology,
} from "@llm-router/shared";
import { buildClassifier, startClassifier } from "@llm-router/classifier";
import { startSelector, type SelectorService } from "@llm-router/selector";
import { startExecutor, type ExecutorServiceDeps } from "@llm-router/executor";
import { openLedgerDatabase, startLedger, type LedgerDatabase, type LedgerServiceDeps, type OpenLedgerDatabaseOptions } from "@llm-router/ledger";

export interface Stoppable {
  stop(): Promise<void>;
}

export interface Harness extends Provisioned {
  id: string;
  config: RouterConfig;
  topology: Topology;
  nc: NatsConnection;
  log: Logger;
  natsUrl: string;
  /** A database of this file's own, migrated by the ledger when it starts. */
  databaseUrl: string;
  pg: pg.Pool;
  startClassifier(): Promise<Stoppable>;
  startSelector(overrides?: { config?: RouterConfig; now?: () => Date }): Promise<SelectorService>;
  startExecutor(overrides?: Partial<ExecutorServiceDeps>): Promise<Stoppable>;
  /** Starts the ledger on this file's Postgres database, or on embedded PGlite under `pgliteDir`. */
  startLedger(overrides?: Partial<LedgerServiceDeps> & { pgliteDir?: string; pglite?: Pick<OpenLedgerDatabaseOptions, "minFreeBytes" | "freeBytesOf"> }): Promise<Stoppable & { database: LedgerDatabase }>;
  /** The four services, in pipeline order from the end; resolves with the selector. */
  startAll(ledger?: Partial<LedgerServiceDeps>): Promise<SelectorService>;
  /** Plain core-NATS publish of raw bytes, as any client in any language would. */
  publishRaw(subject: string, body: string | Uint8Array, msgId?: string): void;
  /** Subscribe (core) and collect messages on a subject. */
  collect(subject: string): { messages: Msg[]; json<T>(): T[]; stop(): void };
  query<T extends pg.QueryResultRow = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<T[]>;
  /** Cut this file's database off (new connections refused, open ones terminated) or restore it. */
  setDatabaseAvailable(available: boolean): Promise<void>;
  close(): Promise<void>;
}

export async function waitFor<T>(probe: () => Promise<T | undefined | false> | T | undefined | false, options: { timeoutMs?: number; what?: string } = {}): Promise<T> {
  const deadline = Date.now() + (options.timeoutMs ?? 20_000);
  let last: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined && v !== false) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${options.what ?? "condition"}${last instanceof Error ? `: ${last.message}` : ""}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Config input for tests: the simulator registry plus isolation and fast redelivery. */
export function testConfigInput(id: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    ...DEFAULT_CONFIG_INPUT,
    ...extra,
    nats: {
      subjectPrefix: `t${id}.`,
      stream: `TASKS_${id}`,
      budgetStream: `BUDGET_${id}`,
      budgetBucket: `budget_${id}`,
      journalBucket: `journal_${id}`,
      ackWaitMs: 2000,
      ...(extra.nats as object | undefined),
    },
    ledger: { batchSize: 50, flushMs: 20, ...(extra.ledger as object | undefined) },
  };
}

export async function createHarness(options: { config?: Record<string, unknown> } = {}): Promise<Harness> {
  const id = randomBytes(4).toString("hex");
  const natsUrl = inject("natsUrl");
  const adminUrl = inject("databaseUrl");
  const { config, priceSources } = parseConfig(testConfigInput(id, options.config), { NATS_URL: natsUrl }, "test");
  const log = createLogger({ service: "test", level: process.env.TEST_LOG_LEVEL ?? "error" });
  const { nc, statusDone } = await connectNats({ url: natsUrl, name: `test-${id}`, log });
  const topology = topologyFromConfig(config);
  const provisioned = await ensureTopology(nc, topology);

  const dbName = `router_test_${id}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${dbName}`);
  await admin.end();
  const u = new URL(adminUrl);
  u.pathname = `/${dbName}`;
  const databaseUrl = u.toString();
  const pool = new pg.Pool({ connectionString: databaseUrl, max: 2 });
  // Idle clients die when a test cuts the database off; the pool replaces them.
  pool.on("error", () => undefined);

  const running: Stoppable[] = [];
  const track = <S extends Stoppable>(s: S): S => {
    running.push(s);
    return s;
  };
  // With the connection, the classifier, selector and ledger also serve their router.* endpoints (under this file's prefix).
  const base = { nc, js: provisioned.js, budgetKv: provisioned.budgetKv, journalKv: provisioned.journalKv, topology, log, config };

  const h: Harness = {
    ...provisioned,
    id,
    config,
    topology,
    nc,
    log,
    natsUrl,
    databaseUrl,
    pg: pool,
    // The classifier the service's main builds from the config: by default rules + the bundled learned model.
    startClassifier: async () => track(await startClassifier({ ...base, registry: new Registry(), classifier: await buildClassifier(config, {}, log) })),
    startSelector: async (o = {}) => track(await startSelector({ ...base, registry: new Registry(), priceSources, ...(o.config ? { config: o.config } : {}), ...(o.now ? { now: o.now } : {}) })),
    startExecutor: async (o = {}) => track(await startExecutor({ ...base, env: {}, registry: new Registry(), ...o })),
    startLedger: async ({ pgliteDir, pglite, ...o } = {}) => {
      const database = await openLedgerDatabase(pgliteDir ? { dataDir: pgliteDir, log, ...pglite } : { databaseUrl, dataDir: "", log });
      const ledger = await startLedger({ ...base, database, registry: new Registry(), ...o });
      return track({
        database,
        stop: async () => {
          await ledger.stop();
          await database.close();
        },
      });
    },
    async startAll(ledger = {}) {
      await h.startLedger(ledger);
      await h.startExecutor();
      const selector = await h.startSelector();
      await h.startClassifier();
      return selector;
    },
    publishRaw(subject, body, msgId) {
      if (msgId === undefined) {
        nc.publish(subject, body);
        return;
      }
      const hdrs = natsHeaders();
      hdrs.set("Nats-Msg-Id", msgId);
      nc.publish(subject, body, { headers: hdrs });
    },
    collect(subject) {
      const messages: Msg[] = [];
      const sub = nc.subscribe(subject, { callback: (_err, m) => void messages.push(m) });
      return { messages, json: <T>() => messages.map((m) => m.json<T>()), stop: () => sub.unsubscribe() };
    },
    async query<T extends pg.QueryResultRow>(sql: string, params: unknown[] = []) {
      return (await pool.query<T>(sql, params)).rows;
    },
    async setDatabaseAvailable(available) {
      const a = new pg.Client({ connectionString: adminUrl });
      await a.connect();
      await a.query(`ALTER DATABASE ${dbName} ALLOW_CONNECTIONS ${available ? "true" : "false"}`);
      if (!available) await a.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1", [dbName]);
      await a.end();
    },
    async close() {
      await h.setDatabaseAvailable(true);
      for (const s of running.reverse()) await s.stop().catch(() => undefined);
      await pool.end();
      await provisioned.jsm.streams.delete(topology.stream).catch(() => undefined);
      await provisioned.jsm.streams.delete(topology.budgetStream).catch(() => undefined);
      await provisioned.budgetKv.destroy().catch(() => undefined);
      await provisioned.journalKv.destroy().catch(() => undefined);
      await nc.drain();
      await statusDone;
      const a = new pg.Client({ connectionString: adminUrl });
      await a.connect();
      await a.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`);
      await a.end();
    },
  };
  return h;
}
