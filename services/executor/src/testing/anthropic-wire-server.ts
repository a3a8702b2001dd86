/**
 * A real HTTP server speaking the Anthropic Messages wire format, for adapter tests. Each
 * request takes the next scripted response (status, headers, JSON or raw body, delay, or
 * "hang") and is recorded, so tests assert on what actually crossed the wire. Like the real API
 * it answers a request without `x-api-key` or `anthropic-version` with Anthropic's own error.
 */
import { startScriptedServer, useScriptedServer, type ScriptedServer } from "./scripted-server.js";

export type { RecordedRequest, ScriptedResponse } from "./scripted-server.js";

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
    stop_reason: "end_turn",
    stop_sequence: null,
    usage: {
      input_tokens: opts.inputTokens ?? 10,
      output_tokens: opts.outputTokens ?? 5,
      ...(opts.cacheCreationInputTokens === undefined ? {} : { cache_creation_input_tokens: opts.cacheCreationInputTokens }),
      ...(opts.cacheReadInputTokens === undefined ? {} : { cache_read_input_tokens: opts.cacheReadInputTokens }),
    },
  };
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
