/**
 * Streamed completions, shared by the HTTP adapters: one `post` whose body is read event by
 * event under the call's single deadline, keeping the output and usage received so far, so a
 * stream that fails part-way reports what the provider will bill (`ProviderError.partial`).
 * The adapters keep only their wire format: a `StreamFormat` saying how the body is framed and
 * what each event means.
 */
import { ERROR_CODES, ProviderError, RouterError, estimateTokens, isRetryable, toErrorData, type ChatMessage, type PartialUsage } from "@llm-router/shared";
import { completionFrom, malformed, networkReason, post, readReply, timeoutError, type HttpReply, type PostJsonOptions, type ReportedUsage } from "./http.js";
import type { CompletionResponse } from "./provider.js";

/** One event of a stream: an SSE event, or one NDJSON line. */
export interface StreamEvent {
  /** The SSE `event:` field; undefined for NDJSON and for SSE events without one. */
  type: string | undefined;
  /** The SSE `data:` lines joined by "\n", or the NDJSON line. */
  data: string;
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

  /** Appends a piece of output; anything but a non-empty string (a role-only delta, a null content) is no output. */
  appendOutput(piece: unknown): void {
    if (typeof piece !== "string" || piece === "") return;
    this.firstOutputAt ??= performance.now();
    this.output += piece;
  }

  /** Records the counts the stream reported; a later report replaces an earlier one, an undefined count changes nothing. */
  report(usage: ReportedUsage): void {
    for (const name of ["inputTokens", "outputTokens", "costUsd"] as const) {
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
 * All of these are retryable unless the error event itself says otherwise.
 */
export function postStream(o: PostStreamOptions): Promise<CompletionResponse> {
  const sentAt = performance.now();
  return post(o, async (res, timeout) => {
    if (!res.ok) throw o.errorFromReply(await readReply(res));
    if (/^application\/json\b/i.test(res.headers.get("content-type") ?? "")) return o.whole((await readReply(res)).text);
    const progress = new StreamProgress();
    try {
      for await (const event of readEvents(res.body, o.format.framing)) {
        if (o.format.read(event, progress)) {
          const response = completionFrom(progress.output, progress.usage, o.messages);
          return progress.firstOutputAt === undefined ? response : { ...response, timeToFirstTokenMs: progress.firstOutputAt - sentAt };
        }
      }
      throw malformed(`${o.key}: the stream from ${o.target} ended before ${o.format.end}`);
    } catch (err) {
      const partial = partialFrom(progress, o.messages);
      // The caller stopped the call (the task's deadline, a shutdown) after the 200: the prompt
      // and whatever streamed were still billed, so the abort carries them (`post` passes it on).
      if (o.signal.aborted) throw withPartial(abortError(o.signal.reason), partial);
      // Anything else failed after the 200, and bills what was received too.
      if (err instanceof ProviderError) throw withPartial(err, partial);
      if (timeout.aborted) throw timeoutError(o, err, partial);
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

function partialFrom(progress: StreamProgress, messages: readonly ChatMessage[]): PartialUsage {
  const { output, inputTokens, outputTokens, costUsd } = completionFrom(progress.output, progress.usage, messages);
  // Mid-stream a reported output count is stale (Anthropic says 1 in message_start and the
  // total only at the end), so the estimate from the text received wins when it is larger.
  const received = Math.max(outputTokens, estimateTokens(output));
  return { inputTokens, outputTokens: received, outputChars: output.length, ...(costUsd === undefined ? {} : { costUsd }) };
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

/** The events of a response body; a null body (no content at all) has none. */
export async function* readEvents(body: ReadableStream<Uint8Array> | null, framing: StreamFormat["framing"]): AsyncGenerator<StreamEvent> {
  if (!body) return;
  const lines = readLines(body);
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
 */
async function* readLines(body: ReadableStream<Uint8Array>): AsyncGenerator<string> {
  let rest = "";
  // The decoder stream keeps a multi-byte character that spans two chunks whole.
  for await (const text of body.pipeThrough(new TextDecoderStream())) {
    const lines = (rest + text).split("\n");
    rest = lines.pop() ?? "";
    for (const line of lines) yield line.endsWith("\r") ? line.slice(0, -1) : line;
  }
  if (rest !== "") yield rest;
}

/** Server-sent events as the WHATWG spec frames them; `id` and `retry` are for reconnecting, which a POST never does. */
async function* sseEvents(lines: AsyncIterable<string>): AsyncGenerator<StreamEvent> {
  let type: string | undefined;
  let data: string[] = [];
  for await (const line of lines) {
    if (line === "") {
      if (data.length > 0) yield { type, data: data.join("\n") };
      type = undefined;
      data = [];
      continue;
    }
    // A comment: OpenRouter sends `: OPENROUTER PROCESSING` to keep the connection open.
    if (line.startsWith(":")) continue;
    const colon = line.indexOf(":");
    const name = colon === -1 ? line : line.slice(0, colon);
    const value = colon === -1 ? "" : line.slice(colon + (line[colon + 1] === " " ? 2 : 1));
    if (name === "data") data.push(value);
    else if (name === "event") type = value;
  }
}
