/**
 * Streamed completions, shared by the HTTP adapters: one `post` whose body is read event by
 * event under the call's single deadline, keeping the output and usage received so far, so a
 * stream that fails part-way reports what the provider will bill (`ProviderError.partial`).
 * The adapters keep only their wire format: a `StreamFormat` saying how the body is framed and
 * what each event means.
 */
import { ERROR_CODES, ProviderError, RouterError, isRetryable, toErrorData, type ChatMessage, type PartialUsage } from "@llm-router/shared";
import {
  MAX_REPLY_BYTES,
  completionFrom,
  isFetchTimeout,
  malformed,
  networkReason,
  partialUsage,
  post,
  readReply,
  timeoutError,
  tooLarge,
  type HttpReply,
  type PostJsonOptions,
  type ReportedUsage,
} from "./http.js";
import type { CompletionResponse } from "./provider.js";

/** One event of a stream: an SSE event, or one NDJSON line. */
export interface StreamEvent {
  /**
   * The SSE `event:` field; `error` also for an event of `error:` lines (see `sseEvents`);
   * undefined for NDJSON and for SSE events without one.
   */
  type: string | undefined;
  /** The SSE `data:` (or `error:`) lines joined by "\n", or the NDJSON line. */
  data: string;
}

/** The longest line `readEvents` reads, and the error it throws past it. */
export interface LineLimit {
  maxChars: number;
  tooLong: () => ProviderError;
}

export interface StreamFormat {
  /** `sse`: server-sent events (`event:`/`data:` lines, events separated by a blank line). `ndjson`: one JSON document a line. */
  framing: "sse" | "ndjson";
  /** The terminal marker, as error messages name it (`[DONE]`, `message_stop`). */
  end: string;
  /**
   * Records one event into `progress`; returns true at the terminal marker, after which nothing
   * more is read. Throws a `ProviderError` for an error event or an event it cannot read; the
   * reader adds what was received as `partial`.
   */
  read(event: StreamEvent, progress: StreamProgress): boolean;
}

export interface PostStreamOptions extends PostJsonOptions {
  format: StreamFormat;
  /** The request's messages: input tokens are estimated from them when the stream reports none. */
  messages: readonly ChatMessage[];
  /** Maps an HTTP error status, answered before any stream, exactly as the adapter's non-streamed call does. */
  errorFromReply: (reply: HttpReply) => ProviderError;
  /**
   * Reads a whole JSON answer as the adapter's non-streamed call does: some gateways and caches
   * answer a streamed request with one (`application/json`), and it is as good an answer.
   */
  whole: (bodyText: string) => CompletionResponse;
}

/** What a stream has delivered so far. */
export class StreamProgress {
  output = "";
  readonly usage: ReportedUsage = {};
  /** `performance.now()` at the first non-empty output. */
  firstOutputAt: number | undefined;
  /** Why the model stopped, as the stream said it (OpenAI's `finish_reason`); the format reads it at the end. */
  finishReason: string | undefined;

  /** Appends a piece of output; anything but a non-empty string (a role-only delta, a null content) is no output. */
  appendOutput(piece: unknown): void {
    if (typeof piece !== "string" || piece === "") return;
    this.firstOutputAt ??= performance.now();
    this.output += piece;
  }

  /** Records the counts the stream reported; a later report replaces an earlier one, an undefined count changes nothing. */
  report(usage: ReportedUsage): void {
    for (const name of ["inputTokens", "outputTokens", "costUsd", "cacheReadTokens", "cacheWriteTokens"] as const) {
      const value = usage[name];
      if (value !== undefined) this.usage[name] = value;
    }
  }
}

/**
 * One streamed call. An HTTP error status is read and mapped like a non-streamed reply; after a
 * 200 the body is read up to the format's terminal marker. A stream that fails after the 200
 * rejects with `partial` set: an error event with the format's mapping; a body that ends, breaks
 * off or carries an unreadable event with MALFORMED_RESPONSE; the deadline with PROVIDER_TIMEOUT.
 * All of these are retryable unless the error event itself says otherwise; a line or an output
 * past MAX_REPLY_BYTES is a non-retryable MALFORMED_RESPONSE (`tooLarge`).
 */
export function postStream(o: PostStreamOptions): Promise<CompletionResponse> {
  const sentAt = performance.now();
  const limit: LineLimit = { maxChars: MAX_REPLY_BYTES, tooLong: () => tooLarge(o, "a line of the stream") };
  return post(o, async (res, timeout) => {
    if (!res.ok) throw o.errorFromReply(await readReply(res, o));
    if (/^application\/json\b/i.test(res.headers.get("content-type") ?? "")) return o.whole((await readReply(res, o)).text);
    const progress = new StreamProgress();
    try {
      for await (const event of readEvents(res.body, o.format.framing, limit)) {
        if (o.format.read(event, progress)) {
          const response = completionFrom(progress.output, progress.usage, o.messages);
          return progress.firstOutputAt === undefined ? response : { ...response, timeToFirstTokenMs: progress.firstOutputAt - sentAt };
        }
        // A line is bounded by readEvents; a stream of lines that never ends is bounded here.
        if (progress.output.length > MAX_REPLY_BYTES) throw tooLarge(o, "the streamed output");
      }
      throw malformed(`${o.key}: the stream from ${o.target} ended before ${o.format.end}`);
    } catch (err) {
      const partial = partialUsage(progress.output, progress.usage, o.messages);
      // The caller stopped the call (the task's deadline, a shutdown) after the 200: the prompt
      // and whatever streamed were still billed, so the abort carries them (`post` passes it on).
      if (o.signal.aborted) throw withPartial(abortError(o.signal.reason), partial);
      // Anything else failed after the 200, and bills what was received too.
      if (err instanceof ProviderError) throw withPartial(err, partial);
      if (timeout.aborted || isFetchTimeout(err)) throw timeoutError(o, err, partial);
      // The connection dropped mid-body (undici rejects the read with TypeError "terminated").
      throw withPartial(malformed(`${o.key}: the stream from ${o.target} broke off (${networkReason(err)})`, err), partial);
    }
  });
}

/** Parses an event's JSON; an unreadable event is MALFORMED_RESPONSE (retryable: a proxy may have mangled it). */
export function eventJson(key: string, event: StreamEvent): unknown {
  try {
    return JSON.parse(event.data);
  } catch (err) {
    throw malformed(`${key}: stream event is not JSON`, err);
  }
}

/** The caller's abort reason as a ProviderError, so that it can carry the usage. */
function abortError(reason: unknown): ProviderError {
  if (reason instanceof ProviderError) return reason;
  const code = reason instanceof RouterError ? reason.code : ERROR_CODES.INTERNAL;
  return new ProviderError(code, toErrorData(reason).message, { retryable: isRetryable(reason), cause: reason });
}

/** The same error, with what the stream delivered before it. */
function withPartial(err: ProviderError, partial: PartialUsage): ProviderError {
  return new ProviderError(err.code, `${err.message}; mid-stream, after ${partial.outputChars} output chars`, {
    retryable: err.retryable,
    status: err.status,
    retryAfterMs: err.retryAfterMs,
    cause: err.cause,
    partial,
  });
}

/** The events of a response body; a null body (no content at all) has none. A line longer than `limit.maxChars` throws `limit.tooLong()`. */
export async function* readEvents(body: ReadableStream<Uint8Array> | null, framing: StreamFormat["framing"], limit: LineLimit): AsyncGenerator<StreamEvent> {
  if (!body) return;
  const lines = readLines(body, limit);
  if (framing === "sse") {
    yield* sseEvents(lines);
    return;
  }
  for await (const line of lines) {
    if (line.trim() !== "") yield { type: undefined, data: line };
  }
}

/**
 * Lines split on "\n" with a trailing "\r" dropped (bare "\r" line ends are not supported: no
 * provider sends them). The text after the last newline is yielded too: NDJSON may end without
 * one, and SSE drops an event that no blank line completed.
 *
 * Linear in the body: only the new text is scanned for newlines, and the pieces of a line still
 * open are kept apart and joined once it ends (re-splitting the open line with each chunk made
 * one 32 MB line take a minute). Leaving early (a line too long) cancels the body.
 */
async function* readLines(body: ReadableStream<Uint8Array>, limit: LineLimit): AsyncGenerator<string> {
  let open: string[] = [];
  let openChars = 0;
  // The decoder stream keeps a multi-byte character that spans two chunks whole.
  for await (const text of body.pipeThrough(new TextDecoderStream())) {
    let start = 0;
    for (let end = text.indexOf("\n"); end !== -1; end = text.indexOf("\n", start)) {
      if (openChars + end - start > limit.maxChars) throw limit.tooLong();
      open.push(text.slice(start, end));
      const line = open.join("");
      open = [];
      openChars = 0;
      start = end + 1;
      yield line.endsWith("\r") ? line.slice(0, -1) : line;
    }
    if (start < text.length) {
      open.push(text.slice(start));
      openChars += text.length - start;
      if (openChars > limit.maxChars) throw limit.tooLong();
    }
  }
  if (openChars > 0) yield open.join("");
}

/**
 * Server-sent events as the WHATWG spec frames them; `id` and `retry` are for reconnecting, which
 * a POST never does. One field the spec does not have is kept: llama.cpp's server reports a
 * failure mid-stream as `error: {json}` lines (its `server_sent_event(sink, "error", …)`),
 * followed by `data: [DONE]`; dropped as the spec says, the call would end as a success with
 * the output cut short. Such an event is yielded as type `error` with the `error:` lines as data.
 */
async function* sseEvents(lines: AsyncIterable<string>): AsyncGenerator<StreamEvent> {
  let type: string | undefined;
  let data: string[] = [];
  let error: string[] = [];
  for await (const line of lines) {
    if (line === "") {
      if (error.length > 0) yield { type: "error", data: error.join("\n") };
      else if (data.length > 0) yield { type, data: data.join("\n") };
      type = undefined;
      data = [];
      error = [];
      continue;
    }
    // A comment: OpenRouter sends `: OPENROUTER PROCESSING` to keep the connection open.
    if (line.startsWith(":")) continue;
    const colon = line.indexOf(":");
    const name = colon === -1 ? line : line.slice(0, colon);
    const value = colon === -1 ? "" : line.slice(colon + (line[colon + 1] === " " ? 2 : 1));
    if (name === "data") data.push(value);
    else if (name === "event") type = value;
    else if (name === "error") error.push(value);
  }
}
