/**
 * What every HTTP provider adapter shares: one POST with a single deadline and the caller's
 * abort signal, network failures mapped to coded, retryable errors, and small parsing helpers.
 * The adapters keep only their wire format: request body, response parsing, error mapping.
 * Streamed bodies are read by `stream.ts` on top of `post`.
 */
import { ERROR_CODES, ProviderError, cachedTokens, estimateTokens, type ChatMessage, type PartialUsage } from "@llm-router/shared";
import type { CompletionResponse } from "./provider.js";
import { parseRetryAfterMs } from "./retry-after.js";

/** Provider messages can be long (or whole HTML pages from a proxy); errors keep this many characters. */
export const MAX_PROVIDER_MESSAGE_CHARS = 300;

/**
 * An error body is read this far and the rest refused (the connection is closed): its message is
 * cut to MAX_PROVIDER_MESSAGE_CHARS anyway, and a proxy's error page can be hundreds of MB.
 */
export const MAX_ERROR_BODY_BYTES = 64 * 1024;

/**
 * The most of an answer that is read: a whole (non-streamed) body, one line of a stream, a
 * stream's output. Real answers are far smaller (128k output tokens are ~0.5 MB of text; 64
 * embeddings of 3,072 dimensions ~3 MB), so past it the server is misbehaving: the call fails
 * with `tooLarge` as soon as the limit is passed, instead of holding the body in memory. Lines
 * and output are counted in UTF-16 characters, never more than the bytes they were decoded from.
 */
export const MAX_REPLY_BYTES = 16 * 1024 * 1024;

/**
 * Node's fetch (its bundled undici) waits at most 300 s for response headers and 300 s between
 * two chunks of a body, whatever `timeoutMs` says; the global fetch has no option to lift that
 * (only the `undici` package's own dispatcher does). So this is the ceiling of `timeoutMs` in
 * effect for a silent server, and reaching it is reported as the timeout it is, not as a server
 * that cannot be reached.
 */
const FETCH_WAIT_LIMIT_S = 300;
const FETCH_TIMEOUT_CODES: ReadonlySet<unknown> = new Set(["UND_ERR_HEADERS_TIMEOUT", "UND_ERR_BODY_TIMEOUT"]);

export interface PostJsonOptions {
  /** The provider key, first word of every error message. */
  key: string;
  url: string;
  headers: Headers;
  /** The JSON request body, already serialised. */
  body: string;
  timeoutMs: number;
  /** The task's signal: an abort rejects with its reason (a shutdown, not a provider failure). */
  signal: AbortSignal;
  /** How errors name the server, e.g. `api.openai.com` or `Ollama at http://127.0.0.1:11434`. */
  target: string;
  /** Added to the timeout message (e.g. "a cold model may still be loading"). */
  timeoutHint?: string;
  /** Added to the connection-failure message (e.g. "is `ollama serve` running?"). */
  unreachableHint?: string;
  /**
   * What the call is billed for when its answer is too large to read (`unreadBilling`): with
   * it, that failure carries it as `partial` and the call is charged; a completion sets it.
   */
  ifUnread?: PartialUsage;
}

/**
 * The most a completion may have been billed when its answer could not be read: the prompt as
 * estimated and the request's whole output-token limit (a provider cannot bill more output).
 */
export function unreadBilling(req: { messages: readonly ChatMessage[]; maxOutputTokens: number }): PartialUsage {
  return { inputTokens: estimatedInputTokens(req.messages), outputTokens: req.maxOutputTokens, outputChars: 0 };
}

/** The messages' tokens as estimated from their text, for a call whose usage is not reported. */
export function estimatedInputTokens(messages: readonly ChatMessage[]): number {
  return messages.reduce((sum, m) => sum + estimateTokens(m.content), 0);
}

export interface HttpReply {
  status: number;
  ok: boolean;
  headers: Headers;
  text: string;
}

/**
 * One POST under one deadline that covers connect, headers and the whole body, however `read`
 * consumes it (a server that stalls mid-body is a timeout too). The caller's abort rejects with
 * its reason; a `ProviderError` thrown by `read` passes through; any other failure is
 * PROVIDER_TIMEOUT once the deadline (or fetch's own 300 s limit) has passed, else CONNECTION_FAILED.
 */
export async function post<T>(o: PostJsonOptions, read: (res: Response, timeout: AbortSignal) => Promise<T>): Promise<T> {
  if (o.signal.aborted) throw o.signal.reason;
  const timeout = AbortSignal.timeout(o.timeoutMs);
  try {
    // Never follow a redirect: fetch drops Authorization across origins but not x-api-key or
    // custom headers, so the key would go to whatever host the redirect names.
    const res = await fetch(o.url, { method: "POST", headers: o.headers, body: o.body, signal: AbortSignal.any([o.signal, timeout]), redirect: "manual" });
    if (res.status >= 300 && res.status < 400) {
      await res.body?.cancel();
      const location = res.headers.get("location");
      const to = location === null ? "" : ` to ${URL.canParse(location, o.url) ? new URL(location, o.url).origin : "an unreadable address"}`;
      throw new ProviderError(
        ERROR_CODES.BAD_REQUEST,
        `${o.key}: ${o.target} redirected (HTTP ${res.status}${to}); redirects are not followed, so the API key never goes elsewhere: set the provider's baseUrl to the final address`,
        { status: res.status },
      );
    }
    return await read(res, timeout);
  } catch (err) {
    // An abort is the caller's reason, unless the reader attached what the call had used by then.
    if (o.signal.aborted) throw err instanceof ProviderError && err.partial !== undefined ? err : o.signal.reason;
    if (err instanceof ProviderError) throw err;
    if (timeout.aborted || isFetchTimeout(err)) throw timeoutError(o, err);
    // fetch rejects with TypeError("fetch failed") and the socket error (ECONNREFUSED, ...) as cause.
    const hint = o.unreachableHint ? `; ${o.unreachableHint}` : "";
    throw new ProviderError(ERROR_CODES.CONNECTION_FAILED, `${o.key}: cannot reach ${o.target} (${networkReason(err)})${hint}`, {
      retryable: true,
      cause: err,
    });
  }
}

export function postJson(o: PostJsonOptions): Promise<HttpReply> {
  return post(o, (res) => readReply(res, o));
}

/**
 * The reply with its body as text: an error body cut to MAX_ERROR_BODY_BYTES, a successful one
 * whole or, past MAX_REPLY_BYTES, refused with `tooLarge`. Either way the rest is never read.
 */
export async function readReply(res: Response, o: Pick<PostJsonOptions, "key" | "target" | "ifUnread">): Promise<HttpReply> {
  const reply = { status: res.status, ok: res.ok, headers: res.headers };
  if (!res.ok) return { ...reply, text: (await readCapped(res.body, MAX_ERROR_BODY_BYTES)).text };
  const { text, complete } = await readCapped(res.body, MAX_REPLY_BYTES);
  if (!complete) throw tooLarge(o, "the response body", o.ifUnread && { ...o.ifUnread, outputChars: text.length });
  return { ...reply, text };
}

/**
 * A body as text, reading at most `maxBytes`: past them the body is cancelled, which closes the
 * connection, and `complete` is false. A multi-byte character cut at the limit becomes U+FFFD.
 */
async function readCapped(body: ReadableStream<Uint8Array> | null, maxBytes: number): Promise<{ text: string; complete: boolean }> {
  if (!body) return { text: "", complete: true };
  const decoder = new TextDecoder();
  const parts: string[] = [];
  let left = maxBytes;
  // Leaving the loop early cancels the body.
  for await (const chunk of body) {
    if (chunk.byteLength > left) {
      parts.push(decoder.decode(chunk.subarray(0, left)));
      return { text: parts.join(""), complete: false };
    }
    left -= chunk.byteLength;
    parts.push(decoder.decode(chunk, { stream: true }));
  }
  parts.push(decoder.decode());
  return { text: parts.join(""), complete: true };
}

/**
 * An answer past MAX_REPLY_BYTES. Not retryable: an answer is bounded by the call's output-token
 * limit, so a body this large is a server (or proxy) that misbehaves, and would again; the next
 * model in the chain is the better use of the task's time and money.
 */
export function tooLarge(o: Pick<PostJsonOptions, "key" | "target">, what: string, partial?: PartialUsage): ProviderError {
  const limit = `${MAX_REPLY_BYTES / (1024 * 1024)} MiB`;
  return new ProviderError(ERROR_CODES.MALFORMED_RESPONSE, `${o.key}: ${what} from ${o.target} is larger than ${limit}; the rest was not read`, { status: 200, ...(partial ? { partial } : {}) });
}

/** Node's fetch gave up on its own (see FETCH_WAIT_LIMIT_S): undici's timeout code is the error's cause. */
export function isFetchTimeout(err: unknown): boolean {
  return err instanceof Error && FETCH_TIMEOUT_CODES.has(field(err.cause, "code"));
}

/**
 * The deadline passed, or fetch's own wait limit; `partial` when it passed mid-stream, after
 * HTTP 200. The timeout hint (a cold model loading) is left out then: the model was already answering.
 */
export function timeoutError(o: PostJsonOptions, cause: unknown, partial?: PartialUsage): ProviderError {
  const hint = o.timeoutHint ? ` (${o.timeoutHint})` : "";
  const within = isFetchTimeout(cause)
    ? `within ${FETCH_WAIT_LIMIT_S} s, the longest Node's fetch waits for a response or its next part whatever timeoutMs (${o.timeoutMs} ms) says (${networkReason(cause)})`
    : `within ${o.timeoutMs} ms`;
  const message = partial
    ? `${o.key}: the stream from ${o.target} stalled after ${partial.outputChars} output chars and did not end ${within}`
    : `${o.key}: no response from ${o.target} ${within}${hint}`;
  return new ProviderError(ERROR_CODES.PROVIDER_TIMEOUT, message, { retryable: true, cause, partial });
}

/**
 * The one mapping from an HTTP error status to a coded error, shared by every adapter. `quota`
 * is the adapter's own reading of its error body: an exhausted balance is checked before the
 * rate limit (OpenAI reports it as 429 `insufficient_quota`) because retrying it only burns the
 * retry budget; 402 is always quota, and a 5xx stays transient whatever its text says.
 */
export function errorForStatus(message: string, status: number, headers: Headers, quota = false): ProviderError {
  const retryAfterMs = parseRetryAfterMs(headers);
  if (status === 402 || (quota && status < 500)) return new ProviderError(ERROR_CODES.QUOTA_EXCEEDED, message, { status });
  if (status === 429) return new ProviderError(ERROR_CODES.RATE_LIMITED, message, { status, retryable: true, retryAfterMs });
  if (status === 401 || status === 403) return new ProviderError(ERROR_CODES.AUTH_FAILED, message, { status });
  if (status === 404) return new ProviderError(ERROR_CODES.MODEL_NOT_FOUND, message, { status });
  if (status === 408 || status === 409 || status >= 500 || status < 400) {
    // 408/409 are a lost race or a slow upload; 5xx includes Anthropic's 529 "overloaded" and
    // Ollama's 500 while a model loads; 1xx/3xx here mean a misbehaving proxy. All transient.
    return new ProviderError(ERROR_CODES.PROVIDER_UNAVAILABLE, message, { status, retryable: true, retryAfterMs });
  }
  // 400, 413, 422 and every other 4xx: the request itself is wrong, another try sends the same bytes.
  return new ProviderError(ERROR_CODES.BAD_REQUEST, message, { status });
}

/**
 * Retryable: a proxy or an overloaded server can truncate a body that the next call gets whole.
 * `partial`: what the provider billed for the unusable answer.
 */
export function malformed(message: string, cause?: unknown, partial?: PartialUsage): ProviderError {
  return new ProviderError(ERROR_CODES.MALFORMED_RESPONSE, message, { retryable: true, status: 200, cause, partial });
}

export function truncate(s: string): string {
  return s.length > MAX_PROVIDER_MESSAGE_CHARS ? `${s.slice(0, MAX_PROVIDER_MESSAGE_CHARS - 1)}…` : s;
}

/** Usage as the server reported it; a count left undefined is estimated from the text. */
export interface ReportedUsage {
  inputTokens?: number | undefined;
  outputTokens?: number | undefined;
  costUsd?: number | undefined;
  /** Of the input tokens, those read from the provider's prompt cache. */
  cacheReadTokens?: number | undefined;
  /** Of the input tokens, those written to the provider's prompt cache. */
  cacheWriteTokens?: number | undefined;
}

/** The response from the output and the usage the server reported; missing counts are estimated from the text. */
export function completionFrom(output: string, usage: ReportedUsage, messages: readonly ChatMessage[]): CompletionResponse {
  return {
    output,
    inputTokens: usage.inputTokens ?? estimatedInputTokens(messages),
    outputTokens: usage.outputTokens ?? estimateTokens(output),
    ...(usage.costUsd === undefined ? {} : { costUsd: usage.costUsd }),
    ...cachedTokens(usage),
    simulated: false,
  };
}

/**
 * What a call that failed after HTTP 200 was billed for: the reported counts, else estimates,
 * with the output received (and discarded). A reported output count may be stale (Anthropic says
 * 1 in message_start and the total only at the end), so the estimate from the text wins when it
 * is larger.
 */
export function partialUsage(output: string, usage: ReportedUsage, messages: readonly ChatMessage[]): PartialUsage {
  const { inputTokens, outputTokens, costUsd } = completionFrom(output, usage, messages);
  const received = Math.max(outputTokens, estimateTokens(output));
  return { inputTokens, outputTokens: received, outputChars: output.length, ...(costUsd === undefined ? {} : { costUsd }), ...cachedTokens(usage) };
}

/**
 * Why a 200 answer without any output stopped, as far as it fails the call: the output-token
 * limit reached before any answer (OpenAI's `finish_reason: "length"`, Anthropic's `stop_reason:
 * "max_tokens"`; a reasoning model that spent it thinking), or the provider withholding the answer
 * (`content_filter`, Anthropic's `refusal`).
 */
export type NoAnswerReason = "output-limit" | "withheld";

/**
 * The failure of an answer without any output that stopped for `reason`, the provider's own
 * words in `said`. Both were billed and the same request ends the same way again, so they are not
 * retryable, and carry what was billed (`partial`; the stream reader sets it for a streamed
 * call). Any other stop (`stop`, `end_turn`) with no output is an answer: a prompt may ask for
 * nothing back, and a retried paid call would not change it.
 */
export function noAnswerError(key: string, reason: NoAnswerReason | undefined, said: string, partial?: PartialUsage): ProviderError | undefined {
  if (reason === "output-limit") {
    const message = `${key}: the output-token limit was reached before any answer (${said}; a reasoning model may have spent it thinking)`;
    return new ProviderError(ERROR_CODES.OUTPUT_TRUNCATED, message, { status: 200, partial });
  }
  if (reason === "withheld") return new ProviderError(ERROR_CODES.CONTENT_FILTERED, `${key}: the provider withheld the answer (${said})`, { status: 200, partial });
  return undefined;
}

/**
 * `noAnswerError` for one provider's vocabulary: `field` names where it says why it stopped
 * (`finish_reason`, `stop_reason`, `done_reason`), `reasons` the values that fail an answer
 * without text; any other value (and a missing one) lets the empty answer stand.
 */
export function noAnswerReader(
  field: string,
  reasons: Readonly<Record<string, NoAnswerReason>>,
): (key: string, said: unknown, partial?: PartialUsage) => ProviderError | undefined {
  return (key, said, partial) => {
    const reason = typeof said === "string" && Object.hasOwn(reasons, said) ? reasons[said] : undefined;
    return noAnswerError(key, reason, `${field} ${JSON.stringify(said)}`, partial);
  };
}

/** A token count as reported: a non-negative integer, else undefined (the caller estimates). */
export function count(value: unknown): number | undefined {
  return typeof value === "number" && Number.isInteger(value) && value >= 0 ? value : undefined;
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** `value[name]` when value is an object, else undefined: for walking untrusted JSON. */
export function field(value: unknown, name: string): unknown {
  return isRecord(value) ? value[name] : undefined;
}

export function networkReason(err: unknown): string {
  const cause = err instanceof Error ? err.cause : undefined;
  const code = field(cause, "code");
  if (typeof code === "string") return code;
  if (cause instanceof Error) return cause.message;
  return err instanceof Error ? err.message : String(err);
}
