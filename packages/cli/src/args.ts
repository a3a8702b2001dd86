/** Argument helpers shared by the CLI's commands and the `npm run` tools (eval:routing, train:classifier). */
import { constants } from "node:fs";
import { access, stat } from "node:fs/promises";
import { dirname, resolve } from "node:path";
import { EvalError } from "@llm-router/eval";
import { MAX_TIMEOUT_MS } from "@llm-router/shared";

/** A command line that cannot work: printed with the usage, exit code 2. */
export class UsageError extends Error {
  override readonly name = "UsageError";
}

export { MAX_TIMEOUT_MS };

/** An ISO 8601 date or timestamp: the date part, then an optional `T` and time. */
const ISO_DATE = /^(\d{4})-(\d{2})-(\d{2})(?:T.+)?$/;

/** A timestamp that names its zone: `Z` or an offset. */
const HAS_ZONE = /(?:Z|[+-]\d{2}(?::?\d{2})?)$/i;

/**
 * An ISO 8601 date or timestamp (`2026-03-01`, `2026-03-01T12:00:00Z`), or a duration back from
 * `now` like 30m, 6h, 7d. `new Date()` alone would read "5" as the year 2001 and roll 2026-02-30
 * over to March. A time without a zone is UTC, as a bare date is and as everything the router
 * reports is: `new Date()` would read it in the machine's own time zone.
 */
export function parseSince(raw: string, now: Date): Date {
  const duration = /^(\d+)([mhd])$/.exec(raw);
  if (duration) {
    const unit = { m: 60_000, h: 3_600_000, d: 86_400_000 }[duration[2] as "m" | "h" | "d"];
    return new Date(now.getTime() - Number(duration[1]) * unit);
  }
  const date = ISO_DATE.exec(raw);
  const at = new Date(raw.includes("T") && !HAS_ZONE.test(raw) ? `${raw}Z` : raw);
  if (!date || Number.isNaN(at.getTime()) || !isCalendarDate(Number(date[1]), Number(date[2]), Number(date[3]))) {
    throw new UsageError(`not a time or a duration: ${shown(raw)} (use ISO 8601 like 2026-03-01 or 2026-03-01T12:00:00Z, or 30m, 6h, 7d)`);
  }
  return at;
}

/** `--since` and `--until`, each optional; a window that ends before it starts is a UsageError. */
export function parseWindow(raw: { since?: string | undefined; until?: string | undefined }, now: Date): { since?: Date; until?: Date } {
  const since = raw.since === undefined ? undefined : parseSince(raw.since, now);
  const until = raw.until === undefined ? undefined : parseSince(raw.until, now);
  if (since && until && since > until) {
    throw new UsageError(`--since ${raw.since} (${since.toISOString()}) is after --until ${raw.until} (${until.toISOString()}): swap them`);
  }
  return { since, until };
}

function isCalendarDate(year: number, month: number, day: number): boolean {
  const d = new Date(Date.UTC(year, month - 1, day));
  return d.getUTCMonth() === month - 1 && d.getUTCDate() === day;
}

/**
 * A decimal number as written on a command line (`0.3`, `1e-3`, `.5`), or NaN for anything else:
 * `Number()` would read "" as 0 and "0x1" as 1.
 */
export function decimal(raw: string): number {
  return /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/.test(raw.trim()) ? Number(raw) : Number.NaN;
}

/**
 * The number option `--name` as a finite decimal that `accept`s; otherwise a UsageError naming the
 * option, what it takes (`expected`, e.g. "a number from 0 to 1") and what it got.
 */
export function numberOption(name: string, raw: string, expected: string, accept: (n: number) => boolean): number {
  const n = decimal(raw);
  if (!(Number.isFinite(n) && accept(n))) throw new UsageError(`--${name}: expected ${expected}, got ${shown(raw)}`);
  return n;
}

/** numberOption for an option that may be left out: `fallback` when it is. */
export function optionalNumber(name: string, raw: string | undefined, fallback: number, expected: string, accept: (n: number) => boolean): number {
  return raw === undefined ? fallback : numberOption(name, raw, expected, accept);
}

/** The integer option `--name`, at least `min` (`expected` says so in words); `fallback` when not given. */
export function integerOption(name: string, raw: string | undefined, fallback: number, min: number, expected: string): number {
  return optionalNumber(name, raw, fallback, expected, (n) => Number.isInteger(n) && n >= min);
}

/** `--timeout MS`: a whole number of milliseconds, 1 to MAX_TIMEOUT_MS; `fallbackMs` when not given. */
export function timeoutOption(raw: string | undefined, fallbackMs: number): number {
  if (raw === undefined) return fallbackMs;
  return numberOption("timeout", raw, `milliseconds, a whole number from 1 to ${MAX_TIMEOUT_MS}`, (n) => Number.isInteger(n) && n >= 1 && n <= MAX_TIMEOUT_MS);
}

/** A value as an error message shows it: an empty or blank one quoted, so it is seen. */
function shown(raw: string): string {
  return raw.trim() === "" ? JSON.stringify(raw) : raw;
}

/**
 * Refuses, before the slow part of a command, an output file it could not write: an empty path, a
 * directory, a path under a file, or no write permission on the file or its directory — with
 * `createDirs`, the nearest directory that exists, since the missing ones will be made; with
 * `viaRename` the directory too when the file exists, since a temporary file is written beside it
 * and renamed over it. `what` names it in the message (`--out weights.json`).
 */
export async function requireWritableFile(what: string, file: string, options: { createDirs?: boolean; viaRename?: boolean } = {}): Promise<void> {
  if (file.trim() === "") throw new UsageError(`${what.trim()}: give a file path`);
  const existing = await stat(file).catch(() => undefined);
  if (existing?.isDirectory()) throw new UsageError(`${what} is a directory: give the file's path`);
  let dir = dirname(resolve(file));
  let found = await stat(dir).catch(() => undefined);
  while (!found && options.createDirs && dirname(dir) !== dir) {
    dir = dirname(dir);
    found = await stat(dir).catch(() => undefined);
  }
  // No file can be made under a file (ENOTDIR, after the slow part).
  if (found && !found.isDirectory()) throw new UsageError(`${what}: ${dir} is a file, not a directory`);
  const targets = existing ? (options.viaRename ? [file, dir] : [file]) : [dir];
  for (const target of targets) {
    try {
      await access(target, constants.W_OK);
    } catch (err) {
      throw new UsageError(`${what}: cannot write ${target} (${(err as NodeJS.ErrnoException).code ?? String(err)})`, { cause: err });
    }
  }
}

/** True for the error `util.parseArgs` throws on an unknown or malformed option. */
export function isParseArgsError(err: unknown): err is TypeError {
  return err instanceof TypeError && "code" in err && String(err.code).startsWith("ERR_PARSE_ARGS");
}

/**
 * Runs a command's `main` and exits with its code: a UsageError or a malformed option prints the
 * message and the usage (exit 2), any other error its message (exit 1).
 */
export function runCommand(name: string, usage: string, main: (argv: string[]) => Promise<number>): void {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err: unknown) => {
      if (err instanceof UsageError || isParseArgsError(err)) {
        console.error(`${name}: ${err.message}\n\n${usage}`);
        process.exit(2);
      }
      console.error(`${name}: ${err instanceof Error ? err.message : String(err)}`);
      process.exit(1);
    },
  );
}

/**
 * Runs an `npm run` tool's `main` and sets `process.exitCode` (not `exit()`: output still buffered
 * is written). A UsageError or a malformed option prints `name: message` and a hint to run with
 * --help (exit 2); an EvalError `name [CODE]: message`; any other error its message (exit 1).
 */
export function runScript(name: string, main: (argv: string[]) => Promise<number>): void {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      const usage = err instanceof UsageError || isParseArgsError(err);
      const code = err instanceof EvalError ? ` [${err.code}]` : "";
      console.error(`${name}${code}: ${err instanceof Error ? err.message : String(err)}`);
      if (usage) console.error("run with --help for usage");
      process.exitCode = usage ? 2 : 1;
    },
  );
}
