/**
 * A real HTTP server speaking the Anthropic Messages wire format, for adapter tests. Each
 * request takes the next scripted response (status, headers, JSON or raw body, delay, "hang",
 * or an SSE stream) and is recorded, so tests assert on what actually crossed the wire. Like
 * the real API it answers a request without `x-api-key` or `anthropic-version` with
 * Anthropic's own error.
 */
import { sseEvent, sseStream, startScriptedServer, useScriptedServer, type ScriptedServer, type ScriptedStream } from "./scripted-server.js";

export type { RecordedRequest, ScriptedResponse, ScriptedStream } from "./scripted-server.js";
export { delayed, sseEvent, sseStream } from "./scripted-server.js";

/** Speaks the Anthropic Messages API; `baseUrl` is the server root. An empty queue answers `messageBody("ok")`. */
export type AnthropicWireServer = ScriptedServer;

export interface MessageOptions {
  inputTokens?: number;
  outputTokens?: number;
  /** `usage.cache_creation_input_tokens`; absent when unset. */
  cacheCreationInputTokens?: number;
  /** `usage.cache_read_input_tokens`; absent when unset. */
  cacheReadInputTokens?: number;
  model?: string;
  /** `stop_reason`; default `end_turn`. */
  stopReason?: string;
}

/** A content block; `text` blocks carry the answer, others (`thinking`, `tool_use`) do not. */
export type ContentBlock = { type: "text"; text: string } | { type: string; [field: string]: unknown };

/** A Messages API success body; a string becomes one text block. */
export function messageBody(content: string | ContentBlock[], opts: MessageOptions = {}): Record<string, unknown> {
  return {
    id: "msg_test",
    type: "message",
    role: "assistant",
    model: opts.model ?? "claude-test",
    content: typeof content === "string" ? [{ type: "text", text: content }] : content,
    stop_reason: opts.stopReason ?? "end_turn",
    stop_sequence: null,
    usage: usage(opts, opts.outputTokens ?? 5),
  };
}

function usage(opts: MessageOptions, outputTokens: number): Record<string, unknown> {
  return {
    input_tokens: opts.inputTokens ?? 10,
    output_tokens: outputTokens,
    ...(opts.cacheCreationInputTokens === undefined ? {} : { cache_creation_input_tokens: opts.cacheCreationInputTokens }),
    ...(opts.cacheReadInputTokens === undefined ? {} : { cache_read_input_tokens: opts.cacheReadInputTokens }),
  };
}

/** An event as the Messages stream sends it: the SSE event name repeats the data's `type`. */
export function streamEvent(type: string, fields: Record<string, unknown> = {}): string {
  return sseEvent({ type, ...fields }, type);
}

/** `message_start`: the message without content, with the input usage and `output_tokens: 1` as the API reports at first. */
export function messageStartEvent(opts: MessageOptions = {}): string {
  const message = { ...messageBody([], opts), stop_reason: null, usage: usage(opts, 1) };
  return streamEvent("message_start", { message });
}

/** A `content_block_delta` of block `index`: a `text_delta` for a string, else the given delta (`thinking_delta`, ...). */
export function deltaEvent(delta: string | Record<string, unknown>, index = 0): string {
  return streamEvent("content_block_delta", { index, delta: typeof delta === "string" ? { type: "text_delta", text: delta } : delta });
}

/** `message_delta`: the stop reason and the output tokens so far (cumulative, as the API counts them). */
export function messageDeltaEvent(outputTokens: number, stopReason = "end_turn"): string {
  return streamEvent("message_delta", { delta: { stop_reason: stopReason, stop_sequence: null }, usage: { output_tokens: outputTokens } });
}

export const PING_EVENT = streamEvent("ping");
export const MESSAGE_STOP_EVENT = streamEvent("message_stop");

/** An `error` event, e.g. `errorEvent("overloaded_error", "Overloaded")`. */
export function errorEvent(type: string, message: string): string {
  return sseEvent(errorBody(type, message), "error");
}

/**
 * A whole streamed answer as the API sends it: message_start, one text block (start, a ping,
 * one delta a piece, stop), one message_delta with `outputTokens` (default 5), message_stop.
 */
export function messageStream(pieces: readonly string[], opts: MessageOptions = {}): ScriptedStream {
  return sseStream([
    messageStartEvent(opts),
    streamEvent("content_block_start", { index: 0, content_block: { type: "text", text: "" } }),
    PING_EVENT,
    ...pieces.map((piece) => deltaEvent(piece)),
    streamEvent("content_block_stop", { index: 0 }),
    messageDeltaEvent(opts.outputTokens ?? 5),
    MESSAGE_STOP_EVENT,
  ]);
}

/** An Anthropic error body, e.g. `errorBody("overloaded_error", "Overloaded")`. */
export function errorBody(type: string, message: string): Record<string, unknown> {
  return { type: "error", error: { type, message } };
}

export function startAnthropicWireServer(): Promise<AnthropicWireServer> {
  return startScriptedServer({
    basePath: "",
    route: "/v1/messages",
    notFound: { status: 404, body: errorBody("not_found_error", "Not found") },
    fallback: () => ({ body: messageBody("ok") }),
    // Like the real API: no key is a 401, no version header a 400.
    precheck: (req) =>
      !req.headers["x-api-key"]
        ? { status: 401, body: errorBody("authentication_error", "x-api-key header is required") }
        : !req.headers["anthropic-version"]
          ? { status: 400, body: errorBody("invalid_request_error", "anthropic-version: header is required") }
          : undefined,
  });
}

/** Start one for the enclosing test file (closed after it, requests cleared before each test). */
export function useAnthropicWireServer(): () => AnthropicWireServer {
  return useScriptedServer(startAnthropicWireServer);
}

export { closedPort } from "./scripted-server.js";
