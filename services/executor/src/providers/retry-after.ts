/**
 * Reads a provider's "wait before retrying" hint. OpenAI sends `retry-after-ms` (milliseconds)
 * next to the standard `retry-after` (delta-seconds or an HTTP date, RFC 9110 §10.2.3).
 */

/** The hint in milliseconds, or undefined when absent or unparseable. Past dates give 0. */
export function parseRetryAfterMs(headers: Headers, nowMs: number = Date.now()): number | undefined {
  const ms = headers.get("retry-after-ms");
  if (ms !== null) {
    const value = Number(ms.trim());
    if (ms.trim() !== "" && Number.isFinite(value) && value >= 0) return value;
  }
  const after = headers.get("retry-after")?.trim();
  if (after === undefined || after === "") return undefined;
  if (/^\d+(\.\d+)?$/.test(after)) return Number(after) * 1000;
  const date = Date.parse(after);
  return Number.isNaN(date) ? undefined : Math.max(0, date - nowMs);
}
