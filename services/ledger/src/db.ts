/**
 * Opens the ledger database — a Postgres server when `databaseUrl` is given, else embedded
 * PGlite under `dataDir` — and applies the committed drizzle-kit migrations to it. The same
 * migration files run on both.
 */
import { mkdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { PGlite } from "@electric-sql/pglite";
import { drizzle as drizzlePglite } from "drizzle-orm/pglite";
import { migrate as migratePglite } from "drizzle-orm/pglite/migrator";
import { drizzle as drizzlePg } from "drizzle-orm/node-postgres";
import { migrate as migratePg } from "drizzle-orm/node-postgres/migrator";
import type { PgDatabase, PgQueryResultHKT } from "drizzle-orm/pg-core";
import pg from "pg";
import type { Logger } from "@llm-router/shared";
import * as schema from "./schema.js";

export type LedgerDb = PgDatabase<PgQueryResultHKT, typeof schema>;

export interface LedgerDatabase {
  db: LedgerDb;
  kind: "postgres" | "pglite";
  /** Where it lives, with credentials removed (safe to log). */
  location: string;
  close(): Promise<void>;
}

/** Migrations sit beside `src/` and `dist/`, so this path holds for both. */
export const MIGRATIONS_FOLDER = fileURLToPath(new URL("../drizzle", import.meta.url));

/** Serialises migrations when several ledger replicas start at once. */
const MIGRATION_LOCK_KEY = 7_301_999_001;

export async function openLedgerDatabase(options: { databaseUrl?: string; dataDir: string; log: Logger; poolSize?: number }): Promise<LedgerDatabase> {
  if (options.databaseUrl) {
    const location = redactUrl(options.databaseUrl);
    const lockClient = new pg.Client({ connectionString: options.databaseUrl });
    try {
      await lockClient.connect();
    } catch (err) {
      throw new Error(`cannot connect to Postgres at ${location}: ${(err as Error).message}`, { cause: err });
    }
    try {
      await lockClient.query("SELECT pg_advisory_lock($1)", [MIGRATION_LOCK_KEY]);
      await migratePg(drizzlePg(lockClient), { migrationsFolder: MIGRATIONS_FOLDER });
      await lockClient.query("SELECT pg_advisory_unlock($1)", [MIGRATION_LOCK_KEY]);
    } finally {
      await lockClient.end();
    }
    // Bounded waits: a lock another session holds, a statement that hangs or a server that does
    // not answer fails the batch (whose messages are redelivered with backoff) instead of
    // stalling every later batch behind it while the heartbeats keep the messages alive.
    const pool = new pg.Pool({
      connectionString: options.databaseUrl,
      max: options.poolSize ?? 4,
      connectionTimeoutMillis: 10_000,
      lock_timeout: 10_000,
      statement_timeout: 30_000,
      idle_in_transaction_session_timeout: 60_000,
    });
    pool.on("error", (err) => options.log.error({ err }, "idle Postgres client failed"));
    options.log.info({ database: location }, "ledger database ready (postgres)");
    return { db: drizzlePg(pool, { schema }) as unknown as LedgerDb, kind: "postgres", location, close: () => pool.end() };
  }
  mkdirSync(options.dataDir, { recursive: true });
  const client = new PGlite(options.dataDir);
  const db = drizzlePglite(client, { schema });
  await migratePglite(db, { migrationsFolder: MIGRATIONS_FOLDER });
  options.log.info({ dataDir: options.dataDir }, "ledger database ready (embedded PGlite; set DATABASE_URL to use a Postgres server)");
  return { db: db as unknown as LedgerDb, kind: "pglite", location: `pglite:${options.dataDir}`, close: () => client.close() };
}

export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = "***";
    return u.toString();
  } catch {
    return "(unparseable url)";
  }
}

/** The driver's error behind `err` (drizzle wraps it as `cause`), with its SQLSTATE. */
export function databaseError(err: unknown): { code: string; message: string } | undefined {
  let e: unknown = err;
  for (let depth = 0; depth < 5 && e instanceof Error; depth++, e = e.cause) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === "string" && /^[0-9A-Z]{5}$/.test(code) && /^[0-9]{2}/.test(code)) return { code, message: e.message };
  }
  return undefined;
}
