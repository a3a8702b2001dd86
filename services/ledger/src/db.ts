/**
 * Opens the ledger database — a Postgres server when `databaseUrl` is given, else embedded
 * PGlite under `dataDir` — and applies the committed drizzle-kit migrations to it. The same
 * migration files run on both.
 */
import { mkdirSync, readFileSync, statfsSync, unlinkSync, writeFileSync, type StatsFs } from "node:fs";
import { join, resolve } from "node:path";
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
  /**
   * Embedded PGlite only: the bytes free to this process on the data directory's filesystem
   * (a Postgres server guards its own disk and fails a write that does not fit).
   */
  freeBytes?: () => number;
  /**
   * Embedded PGlite only: throws a `DiskSpaceLow` while the free space is below the floor plus
   * room for `bytes` more (a batch's messages; `single`: one message, whose refusal holds the
   * pulls until it fits). PGlite does not fail a commit that does not fit:
   * it spins inside its WebAssembly on the event loop (no timer, heartbeat, log line or metric
   * scrape runs again), so writes stop before that.
   */
  assertFreeSpace?: (bytes?: number, single?: boolean) => void;
  close(): Promise<void>;
}

/** The embedded database's disk is below `ledger.minFreeDiskMb`, or its free space cannot be read: nothing is written until there is room. */
export class DiskSpaceLow extends Error {
  override readonly name = "DiskSpaceLow";
}

/** Default floor under the embedded database: room for PGlite's next 16 MB WAL segment and a checkpoint. */
export const DEFAULT_MIN_FREE_BYTES = 64 * 2 ** 20;
/**
 * Disk a batch may take per byte of its messages: the table rows and their indexes, and the WAL
 * that holds them again (whole pages, the first time a page changes after a checkpoint).
 */
const WRITE_AMPLIFICATION = 4;
/** How often a low disk is logged again while it stays low. */
const DISK_LOW_REMINDER_MS = 60_000;

export interface OpenLedgerDatabaseOptions {
  databaseUrl?: string;
  dataDir: string;
  log: Logger;
  poolSize?: number;
  /** Embedded PGlite: write nothing while fewer bytes than this are free under `dataDir` (0: no floor). Default 64 MiB. */
  minFreeBytes?: number;
  /** Bytes free under a directory; the filesystem's own figure (`statfs`) unless a test sets it. */
  freeBytesOf?: (dir: string) => number;
}

/** Migrations sit beside `src/` and `dist/`, so this path holds for both. */
export const MIGRATIONS_FOLDER = fileURLToPath(new URL("../drizzle", import.meta.url));

/** Serialises migrations when several ledger replicas start at once. */
const MIGRATION_LOCK_KEY = 7_301_999_001;

export async function openLedgerDatabase(options: OpenLedgerDatabaseOptions): Promise<LedgerDatabase> {
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
  let unlock: () => void;
  let client: PGlite;
  let db: ReturnType<typeof drizzlePglite<typeof schema>>;
  let space: ReturnType<typeof diskFloor>;
  try {
    mkdirSync(options.dataDir, { recursive: true });
    space = diskFloor(options);
    // Opening writes too (the WAL, the migrations): on a full disk it would hang, not fail.
    space.assertFreeSpace();
    unlock = lockDataDir(options.dataDir);
  } catch (err) {
    throw new Error(`cannot open the embedded ledger database in ${options.dataDir}: ${causes(err)}`, { cause: err });
  }
  try {
    client = new PGlite(options.dataDir);
    db = drizzlePglite(client, { schema });
    await migratePglite(db, { migrationsFolder: MIGRATIONS_FOLDER });
  } catch (err) {
    unlock();
    throw new Error(`cannot open the embedded ledger database in ${options.dataDir} (${causes(err)}): check it is writable and has free space, or set DATABASE_URL`, { cause: err });
  }
  options.log.info({ dataDir: options.dataDir }, "ledger database ready (embedded PGlite; set DATABASE_URL to use a Postgres server)");
  const close = async (): Promise<void> => {
    try {
      await client.close();
    } finally {
      unlock();
    }
  };
  return { db: db as unknown as LedgerDb, kind: "pglite", location: `pglite:${options.dataDir}`, close, freeBytes: space.freeBytes, assertFreeSpace: space.assertFreeSpace };
}

/**
 * The free-space floor under the embedded database, with room for the batch about to be written
 * on top. Measured by a `statfs` call per check (a microsecond or two, once per batch and once a
 * second per paused consumer). A single message refused for its size (the writer splits a refused
 * batch down to single entries) owes its room: until there is that much above the floor, the
 * plain check (pulls, `router.health`) refuses too, so the consumers pause instead of pulling
 * messages that cannot be written. The debt is the smallest refused message's and is cleared
 * when a batch at least that large fits. A low disk is logged when it is first seen, again every
 * minute while it lasts, and when there is room again.
 */
function diskFloor(options: OpenLedgerDatabaseOptions): { freeBytes: () => number; assertFreeSpace: (bytes?: number, single?: boolean) => void } {
  const dir = options.dataDir;
  const floor = options.minFreeBytes ?? DEFAULT_MIN_FREE_BYTES;
  const freeBytesOf = options.freeBytesOf ?? statfsFreeBytes;
  let lowSince: number | undefined;
  let loggedAt = 0;
  /** Room a refused batch needs above the floor (0: none waits). */
  let owed = 0;
  return {
    freeBytes: () => freeBytesOf(dir),
    assertFreeSpace: (bytes = 0, single = false) => {
      if (floor <= 0) return;
      let free: number;
      try {
        free = freeBytesOf(dir);
      } catch (err) {
        refuse(`the free space on the disk under ${dir} cannot be read (${causes(err)}): the ledger writes nothing until it can; its messages wait in the stream`, {});
      }
      const batch = bytes * WRITE_AMPLIFICATION;
      const need = bytes > 0 ? batch : owed;
      if (free >= floor + need) {
        if (bytes > 0 && batch >= owed) owed = 0;
        // Said by the plain check (before each pull), not by a batch's: a refused batch's parts
        // that fit are no recovery, and would defeat the once-a-minute reminder.
        if (bytes === 0 && lowSince !== undefined) {
          options.log.info({ dataDir: dir, freeMb: mb(free), lowForSeconds: Math.round((Date.now() - lowSince) / 1000) }, "the ledger's disk has room again: writing resumes");
          lowSince = undefined;
          loggedAt = 0;
        }
        return;
      }
      // A batch of several refused is tried in parts, which may all fit: owed nothing, and no
      // low disk said (nor its reminder spent) for it.
      if (bytes > 0 && !single) throw new DiskSpaceLow(`${size(free)} free on the disk under ${dir}: not enough above ledger.minFreeDiskMb (${size(floor)}) for a batch of ${size(batch)}; written in parts`);
      if (bytes > 0) owed = owed === 0 ? batch : Math.min(owed, batch);
      const extra = need > 0 ? ` plus ${size(need)} for the messages waiting` : "";
      refuse(
        `${size(free)} free on the disk under ${dir}, below ledger.minFreeDiskMb (${size(floor)})${extra}: the ledger writes nothing until there is room (free space there, or set DATABASE_URL to use a Postgres server); its messages wait in the stream`,
        { freeMb: mb(free), minFreeMb: mb(floor), ...(need > 0 ? { waitingKb: Math.ceil(need / 1024) } : {}) },
      );
    },
  };

  /** Logged when first seen and once a minute while it lasts; thrown each time. */
  function refuse(message: string, figures: Record<string, number>): never {
    const now = Date.now();
    lowSince ??= now;
    if (now - loggedAt >= DISK_LOW_REMINDER_MS) {
      loggedAt = now;
      options.log.error({ dataDir: dir, ...figures }, message);
    }
    throw new DiskSpaceLow(message);
  }
}

/**
 * Bytes free to this process under `dir`. `bavail` counts fragments of `frsize` bytes, which some
 * filesystems (FUSE mounts such as Docker Desktop's) report smaller than `bsize`; Node 20 gives
 * only `bsize`.
 */
function statfsFreeBytes(dir: string): number {
  const s: StatsFs & { frsize?: number } = statfsSync(dir);
  return s.bavail * (s.frsize || s.bsize);
}

const mb = (bytes: number): number => Math.floor(bytes / 2 ** 20);
/** A size for a message: whole MB from 1 MB up (rounded down), else KB (rounded up). */
function size(bytes: number): string {
  return bytes >= 2 ** 20 ? `${mb(bytes)} MB` : `${Math.ceil(bytes / 1024)} KB`;
}

/** Why the embedded database takes no writes now (its disk), or undefined when it does or is a Postgres server. */
export function diskRefusal(database: Pick<LedgerDatabase, "assertFreeSpace">): string | undefined {
  try {
    database.assertFreeSpace?.();
    return undefined;
  } catch (err) {
    return (err as Error).message;
  }
}

/** The lock file that keeps a data directory to one PGlite at a time. */
export const DATA_DIR_LOCK = "ledger.lock";
/** Data directories this process holds (a pid alone cannot tell a second open here from a stale lock). */
const heldHere = new Set<string>();

/**
 * Holds `dataDir` for this process until the returned release is called. PGlite takes no lock of
 * its own: two processes on one directory both start, overwrite each other's pages, and lose
 * acked completions (2,000 acked, 700 kept, the primary-key index corrupted). A lock left by a
 * process that has gone (a crash) is taken over.
 */
function lockDataDir(dataDir: string): () => void {
  const dir = resolve(dataDir);
  const file = join(dir, DATA_DIR_LOCK);
  if (heldHere.has(dir)) throw new Error(`it is already open in this process (${file})`);
  for (let attempt = 0; ; attempt++) {
    try {
      writeFileSync(file, `${process.pid}\n`, { flag: "wx" });
      heldHere.add(dir);
      return () => {
        heldHere.delete(dir);
        try {
          if (readFileSync(file, "utf8").trim() === String(process.pid)) unlinkSync(file);
        } catch {
          // Already gone: nothing to release.
        }
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST" || attempt > 0) throw err;
      const holder = Number(readFileSync(file, "utf8").trim());
      // This pid in a lock this process does not hold is a crashed run's (a container's pid 1, again).
      if (Number.isInteger(holder) && holder > 0 && holder !== process.pid && processRuns(holder)) {
        throw new Error(`it is in use by process ${holder} (another ledger, or npm run replay): stop that one, or set DATABASE_URL to share a Postgres server; if no process ${holder} is a ledger, delete ${file}`);
      }
      unlinkSync(file);
    }
  }
}

function processRuns(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** An error's message and its causes', joined: drizzle's "Failed query: …" hides the driver's reason. */
function causes(err: unknown): string {
  const parts: string[] = [];
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 4; e = e.cause, depth++) parts.push(e.message);
  return parts.join(": ") || String(err);
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
