/**
 * A real HTTP server speaking the OpenAI chat-completions wire format, for adapter and
 * executor tests. Each request takes the next scripted response (status, headers, JSON or raw
 * body, delay, "hang", or an SSE stream) and is recorded, so tests assert on what actually
 * crossed the wire.
 */
import { sseEvent, sseStream, startScriptedServer, useScriptedServer, type ScriptedServer, type ScriptedStream } from "./scripted-server.js";

export type { RecordedRequest, ScriptedResponse, ScriptedStream } from "./scripted-server.js";
export { delayed, sseEvent, sseStream } from "./scripted-server.js";

/** Speaks OpenAI chat completions; `baseUrl` includes `/v1`. An empty queue answers `completion("ok")`. */
export type WireServer = ScriptedServer;

export interface CompletionOptions {
  promptTokens?: number;
  completionTokens?: number;
  /** OpenRouter's provider-reported cost, `usage.cost`. */
  cost?: number;
  /** `usage.prompt_tokens_details.cached_tokens`: prompt tokens read from the prompt cache (OpenAI). */
  cachedTokens?: number;
  /** `usage.prompt_tokens_details.cache_write_tokens`: prompt tokens written to it (OpenRouter). */
  cacheWriteTokens?: number;
  /** Leave `usage` out entirely, as some local servers do. */
  noUsage?: boolean;
  model?: string;
}

/** A chat-completions success body. */
export function completion(content: string, opts: CompletionOptions = {}): Record<string, unknown> {
  return {
    id: "chatcmpl-test",
    object: "chat.completion",
    created: 1_700_000_000,
    model: opts.model ?? "test-model",
    choices: [{ index: 0, message: { role: "assistant", content }, finish_reason: "stop" }],
    ...(opts.noUsage ? {} : { usage: usage(opts) }),
  };
}

function usage(opts: CompletionOptions): Record<string, unknown> {
  return {
    prompt_tokens: opts.promptTokens ?? 10,
    completion_tokens: opts.completionTokens ?? 5,
    total_tokens: (opts.promptTokens ?? 10) + (opts.completionTokens ?? 5),
    ...(opts.cost === undefined ? {} : { cost: opts.cost }),
    ...(opts.cachedTokens === undefined && opts.cacheWriteTokens === undefined
      ? {}
      : {
          prompt_tokens_details: {
            cached_tokens: opts.cachedTokens ?? 0,
            ...(opts.cacheWriteTokens === undefined ? {} : { cache_write_tokens: opts.cacheWriteTokens }),
            audio_tokens: 0,
          },
        }),
  };
}

/** The event that ends every chat-completions stream. */
export const DONE_EVENT = sseEvent("[DONE]");

/** A `chat.completion.chunk` event: `delta` in choice 0 (`{content}`, `{role}`), or with `fields` replacing parts of the chunk. */
export function chunkEvent(delta: Record<string, unknown>, fields: Record<string, unknown> = {}): string {
  return sseEvent({
    id: "chatcmpl-test",
    object: "chat.completion.chunk",
    created: 1_700_000_000,
    model: "test-model",
    choices: [{ index: 0, delta, finish_reason: null }],
    ...fields,
  });
}

/** The chunk `stream_options.include_usage` adds before [DONE]: no choices, the call's usage. */
export function usageEvent(opts: CompletionOptions = {}): string {
  return chunkEvent({}, { choices: [], usage: usage(opts) });
}

/**
 * A whole streamed answer as OpenAI sends it: a role-only chunk, one chunk a piece, a
 * finish_reason chunk, the usage chunk (unless `noUsage`) and [DONE].
 */
export function completionStream(pieces: readonly string[], opts: CompletionOptions = {}): ScriptedStream {
  return sseStream([
    chunkEvent({ role: "assistant", content: "" }),
    ...pieces.map((content) => chunkEvent({ content })),
    chunkEvent({}, { choices: [{ index: 0, delta: {}, finish_reason: "stop" }] }),
    ...(opts.noUsage ? [] : [usageEvent(opts)]),
    DONE_EVENT,
  ]);
}

/** An OpenAI-style error body. */
export function errorBody(message: string, type = "invalid_request_error", code: string | number | null = null): Record<string, unknown> {
  return { error: { message, type, param: null, code } };
}

export function startWireServer(): Promise<WireServer> {
  return startScriptedServer({
    basePath: "/v1",
    route: "/v1/chat/completions",
    notFound: { status: 404, body: errorBody("Unknown route", "invalid_request_error") },
    fallback: () => ({ body: completion("ok") }),
  });
}

/** Start one for the enclosing test file (closed after it, requests cleared before each test). */
export function useWireServer(): () => WireServer {
  return useScriptedServer(startWireServer);
}

export { closedPort } from "./scripted-server.js";
