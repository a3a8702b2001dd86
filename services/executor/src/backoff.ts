/**
 * Retry delays: capped exponential backoff with full jitter (AWS architecture blog, "Exponential
 * Backoff and Jitter"): replicas that failed together do not retry together.
 */

/** No single wait exceeds this, whatever a provider's Retry-After asks: a task must not stall for hours. */
export const MAX_RETRY_DELAY_MS = 60_000;

export interface BackoffOptions {
  /** Delay bound of the first retry; doubles per retry. */
  baseMs: number;
  /** Upper bound of the exponential part. */
  maxMs: number;
  /** The provider's Retry-After hint: the delay is never shorter (up to `MAX_RETRY_DELAY_MS`). */
  retryAfterMs?: number;
  /** Uniform in [0, 1); injected so tests and replays are deterministic. */
  random: () => number;
}

/** Delay before retry number `attempt` (1 = the first retry), in whole milliseconds. */
export function backoffDelayMs(attempt: number, opts: BackoffOptions): number {
  const exponent = Math.max(0, Math.floor(attempt) - 1);
  // min() before multiplying would still overflow 2 ** 1100; Infinity is fine for min().
  const ceiling = Math.min(Math.max(0, opts.maxMs), Math.max(0, opts.baseMs) * 2 ** exponent, MAX_RETRY_DELAY_MS);
  const jittered = Math.floor(clampUnit(opts.random()) * ceiling);
  const floor = opts.retryAfterMs !== undefined && Number.isFinite(opts.retryAfterMs) ? Math.ceil(Math.max(0, opts.retryAfterMs)) : 0;
  return Math.min(Math.max(jittered, floor), MAX_RETRY_DELAY_MS);
}

function clampUnit(x: number): number {
  return Number.isFinite(x) ? Math.min(Math.max(x, 0), 1) : 0;
}
