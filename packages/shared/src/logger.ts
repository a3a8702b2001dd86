import { pino, type Logger, type LoggerOptions } from "pino";

export type { Logger };

/**
 * Paths pino censors in every log line: credentials and, because prompts are not logged by
 * default, message contents. A task logged whole still hides what the user wrote.
 */
export const REDACT_PATHS = [
  "apiKey",
  "*.apiKey",
  "password",
  "*.password",
  "token",
  "*.token",
  "authorization",
  "*.authorization",
  "*.headers.authorization",
  "*.headers.Authorization",
  "*.headers[\"x-api-key\"]",
  "databaseUrl",
  "*.databaseUrl",
  "prompt",
  "*.prompt",
  "*.messages[*].content",
  "*.*.messages[*].content",
  "output",
  "*.output",
];

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
    redact: { paths: REDACT_PATHS, censor: "[redacted]" },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
  };
  return settings.destination ? pino(options, settings.destination) : pino(options);
}
