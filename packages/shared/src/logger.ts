import { pino, type Logger, type LoggerOptions } from "pino";
import { ConfigError } from "./errors.js";

export type { Logger };

/**
 * Keys whose values no log line shows, at any depth and in any case: credentials (API keys,
 * authorization headers and cookies, passwords, tokens, secrets, database URLs) and — because
 * prompts and outputs are not logged by default — what users wrote and models answered. A task,
 * a config or a request logged whole still hides them.
 */
export const REDACTED_KEYS =
  /^(?:api[-_]?key|x-api-key|authorization|proxy-authorization|cookie|set-cookie|pass(?:word)?|token|access[-_]?token|secret|client[-_]?secret|database[-_]?url|prompt|system|content|output)$/i;

/** How deep the censor looks; deeper values are left out whole. */
const CENSOR_DEPTH = 8;
const CENSORED = "[redacted]";

/**
 * A copy of `value` with the value of every REDACTED_KEYS key replaced, through plain objects and
 * arrays (an Error keeps its own shape: pino's serializer writes its message and stack).
 */
export function censor(value: unknown, depth = 0): unknown {
  if (typeof value !== "object" || value === null) return value;
  if (depth >= CENSOR_DEPTH) return "[too deep]";
  if (Array.isArray(value)) return value.map((v) => censor(v, depth + 1));
  const proto = Object.getPrototypeOf(value) as unknown;
  if (proto !== Object.prototype && proto !== null) return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) out[k] = REDACTED_KEYS.test(k) ? CENSORED : censor(v, depth + 1);
  return out;
}

export const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const;

/** `LOG_LEVEL` as set, `fallback` when unset or empty; anything else throws naming the variable. */
export function logLevelFromEnv(value: string | undefined, fallback: string): string {
  if (!value) return fallback;
  if (!(LOG_LEVELS as readonly string[]).includes(value)) throw new ConfigError(`LOG_LEVEL: "${value}" is not one of ${LOG_LEVELS.join(", ")}`);
  return value;
}

export interface LoggerSettings {
  /** Service name, on every line. */
  service: string;
  /** pino level. Default `info`. */
  level?: string;
  /** Destination stream (tests pass one to read lines back). Default stdout. */
  destination?: NodeJS.WritableStream;
}

export function createLogger(settings: LoggerSettings): Logger {
  const options: LoggerOptions = {
    level: settings.level ?? "info",
    base: { service: settings.service },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }), log: (object) => censor(object) as Record<string, unknown> },
  };
  return settings.destination ? pino(options, settings.destination) : pino(options);
}
