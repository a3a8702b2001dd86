import { z } from "zod";

/**
 * The project's error classes. Every error has a stable UPPER_SNAKE `code` that tests and
 * clients match on, and says whether retrying the same operation may succeed.
 */

export const ERROR_CODES = {
  CONFIG_INVALID: "CONFIG_INVALID",
  NATS_UNREACHABLE: "NATS_UNREACHABLE",
  MESSAGE_UNDECODABLE: "MESSAGE_UNDECODABLE",
  MESSAGE_INVALID: "MESSAGE_INVALID",
  /** A stage's output is larger than the NATS server's max_payload: it cannot be published, ever. */
  MESSAGE_TOO_LARGE: "MESSAGE_TOO_LARGE",
  MAX_DELIVERIES_EXCEEDED: "MAX_DELIVERIES_EXCEEDED",
  NO_ELIGIBLE_MODEL: "NO_ELIGIBLE_MODEL",
  UNKNOWN_MODEL: "UNKNOWN_MODEL",
  PROVIDER_NOT_CONFIGURED: "PROVIDER_NOT_CONFIGURED",
  RATE_LIMITED: "RATE_LIMITED",
  PROVIDER_UNAVAILABLE: "PROVIDER_UNAVAILABLE",
  PROVIDER_TIMEOUT: "PROVIDER_TIMEOUT",
  CONNECTION_FAILED: "CONNECTION_FAILED",
  BAD_REQUEST: "BAD_REQUEST",
  AUTH_FAILED: "AUTH_FAILED",
  MODEL_NOT_FOUND: "MODEL_NOT_FOUND",
  QUOTA_EXCEEDED: "QUOTA_EXCEEDED",
  MALFORMED_RESPONSE: "MALFORMED_RESPONSE",
  /**
   * The model reached the call's output-token limit before writing any answer (a reasoning model
   * that spent it all thinking): billed, and the same request would end the same way.
   */
  OUTPUT_TRUNCATED: "OUTPUT_TRUNCATED",
  /** The provider's content filter withheld the whole answer: billed, and the same request would be withheld again. */
  CONTENT_FILTERED: "CONTENT_FILTERED",
  ALL_MODELS_FAILED: "ALL_MODELS_FAILED",
  /** The model's circuit breaker is open: it was not called. */
  CIRCUIT_OPEN: "CIRCUIT_OPEN",
  /** The next call would take the task past its cost cap: it was not made. */
  COST_CAP_REACHED: "COST_CAP_REACHED",
  /**
   * Budgets leave nothing that can take the task: exceeded (cloud models out) with no local model
   * for it, or a cloud call whose reservation the budget refused.
   */
  BUDGET_EXHAUSTED: "BUDGET_EXHAUSTED",
  /** The task's token cap (`constraints.maxTokens`) leaves no room for the prompt and an answer. */
  TOKEN_CAP_REACHED: "TOKEN_CAP_REACHED",
  /** The task's latency cap (`constraints.maxLatencyMs`) ran out. */
  DEADLINE_EXCEEDED: "DEADLINE_EXCEEDED",
  /** A human denied the answer of a task that required approval. */
  APPROVAL_DENIED: "APPROVAL_DENIED",
  /** No approval decision arrived in time. */
  APPROVAL_TIMEOUT: "APPROVAL_TIMEOUT",
  /**
   * An executor stopped (crashed, lost its connection) while this call was in flight; a later
   * delivery of the task found it in the call journal. The provider may have billed it: its
   * tokens and cost are unknown, so it is recorded at 0.
   */
  CALL_INTERRUPTED: "CALL_INTERRUPTED",
  /** A `router.*` API request whose body is not JSON or not valid against the endpoint's schema. */
  REQUEST_INVALID: "REQUEST_INVALID",
  /** A `router.*` API request named a task the ledger has not recorded. */
  TASK_NOT_FOUND: "TASK_NOT_FOUND",
  /** What an API endpoint needs (another service, the database) did not answer; retry later. */
  SERVICE_UNAVAILABLE: "SERVICE_UNAVAILABLE",
  INTERNAL: "INTERNAL",
} as const;
export type ErrorCode = (typeof ERROR_CODES)[keyof typeof ERROR_CODES];

/**
 * Failures of a model call that say nothing about the model: a bad request or filtered content is
 * the task's fault, a deadline the task's budget, an answer cut off before it began the task's own
 * output-token limit (`constraints.maxTokens` can lower it to a few tokens: one tenant's tight
 * caps must not open a model's circuit for every tenant), a missing key the configuration's (the model is
 * published as unavailable instead), an interrupted call the executor's shutdown. A model's
 * circuit breaker ignores them, and so does its reliability in the outcome statistics.
 */
export const NOT_THE_MODELS_FAULT: ReadonlySet<string> = new Set<ErrorCode>([
  ERROR_CODES.BAD_REQUEST,
  ERROR_CODES.CONTENT_FILTERED,
  ERROR_CODES.OUTPUT_TRUNCATED,
  ERROR_CODES.DEADLINE_EXCEEDED,
  ERROR_CODES.PROVIDER_NOT_CONFIGURED,
  ERROR_CODES.CALL_INTERRUPTED,
]);

export interface RouterErrorOptions {
  cause?: unknown;
  /** Whether the same operation may succeed when retried. Default false. */
  retryable?: boolean;
  /** For a retryable error: the earliest a retry can succeed, ms from now (a stage worker waits at least this long). */
  retryAfterMs?: number;
}

/** Base class: `code` is stable, `message` is for people. */
export class RouterError extends Error {
  override readonly name: string = "RouterError";
  readonly code: ErrorCode;
  readonly retryable: boolean;
  readonly retryAfterMs: number | undefined;

  constructor(code: ErrorCode, message: string, options: RouterErrorOptions = {}) {
    super(message, { cause: options.cause });
    this.code = code;
    this.retryable = options.retryable ?? false;
    this.retryAfterMs = options.retryAfterMs;
  }
}

/** A configuration file or environment that does not validate. Never retryable. */
export class ConfigError extends RouterError {
  override readonly name = "ConfigError";
  constructor(message: string, options: RouterErrorOptions = {}) {
    super(ERROR_CODES.CONFIG_INVALID, message, { ...options, retryable: false });
  }
}

/** A message that can never be processed: it is dead-lettered, not retried. */
export class PoisonMessageError extends RouterError {
  override readonly name = "PoisonMessageError";
}

/** A failed call to a model provider; `retryAfterMs` carries the provider's Retry-After hint. */
/**
 * What a stream delivered before it failed: providers bill those tokens, so the executor records
 * them (and their cost) on the failed call, and discards the text.
 */
export interface PartialUsage {
  inputTokens: number;
  outputTokens: number;
  /** Characters of output received and discarded. */
  outputChars: number;
  /** Provider-reported cost of the partial call, when it said. */
  costUsd?: number;
  /** Of `inputTokens`, those read from or written to the provider's prompt cache. */
  cacheReadTokens?: number;
  cacheWriteTokens?: number;
}

export class ProviderError extends RouterError {
  override readonly name = "ProviderError";
  readonly status: number | undefined;
  /** Set when a stream failed part-way (after HTTP 200 and some output). */
  readonly partial: PartialUsage | undefined;
  constructor(
    code: ErrorCode,
    message: string,
    options: RouterErrorOptions & { status?: number; partial?: PartialUsage } = {},
  ) {
    super(code, message, options);
    this.status = options.status;
    this.partial = options.partial;
  }
}

/** The wire form of an error: errors cross NATS as data. */
export const ErrorData = z.object({
  code: z.string().min(1),
  message: z.string(),
  retryable: z.boolean().optional(),
  /** For a retryable error: the earliest a retry can succeed, ms after it was raised. */
  retryAfterMs: z.number().int().nonnegative().optional(),
});
export type ErrorData = z.infer<typeof ErrorData>;

export function toErrorData(err: unknown): ErrorData {
  if (err instanceof RouterError) return { code: err.code, message: err.message, retryable: err.retryable };
  const message = err instanceof Error ? err.message : String(err);
  return { code: ERROR_CODES.INTERNAL, message, retryable: false };
}

export function isRetryable(err: unknown): boolean {
  return err instanceof RouterError ? err.retryable : false;
}
