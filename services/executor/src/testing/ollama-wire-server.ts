/**
 * A real HTTP server speaking Ollama's native chat API (`POST /api/chat`), for adapter tests.
 * Each request takes the next scripted response (status, headers, JSON or raw body, delay,
 * "hang", or an NDJSON stream) and is recorded, so tests assert on what actually crossed the
 * wire. The script and record shapes are the OpenAI wire server's, so tests read the same.
 */
import { startScriptedServer, useScriptedServer, type ScriptedServer, type ScriptedStream, type StreamChunk } from "./scripted-server.js";

export type { RecordedRequest, ScriptedResponse, ScriptedStream } from "./scripted-server.js";
export { delayed } from "./scripted-server.js";

/** Speaks Ollama's native /api/chat; `baseUrl` is the server root. An empty queue answers `ollamaChat("ok")`. */
export type OllamaWireServer = ScriptedServer;

export interface OllamaChatOptions {
  /** `prompt_eval_count`; `null` leaves it out, as Ollama does when the prompt was cached. Default 10. */
  promptEvalCount?: number | null;
  /** `eval_count`; `null` leaves it out. Default 5. */
  evalCount?: number | null;
  /** Default `stop`; `length` when `num_predict` cut the output. */
  doneReason?: string;
  model?: string;
}

/** A non-streaming `/api/chat` success body. Durations are nanoseconds, as Ollama reports them. */
export function ollamaChat(content: string, opts: OllamaChatOptions = {}): Record<string, unknown> {
  const promptEvalCount = opts.promptEvalCount === undefined ? 10 : opts.promptEvalCount;
  const evalCount = opts.evalCount === undefined ? 5 : opts.evalCount;
  return {
    model: opts.model ?? "llama3.2:3b",
    created_at: "2025-06-01T12:00:00.000000Z",
    message: { role: "assistant", content },
    done: true,
    done_reason: opts.doneReason ?? "stop",
    total_duration: 912_000_000,
    load_duration: 21_000_000,
    ...(promptEvalCount === null ? {} : { prompt_eval_count: promptEvalCount }),
    prompt_eval_duration: 143_000_000,
    ...(evalCount === null ? {} : { eval_count: evalCount }),
    eval_duration: 741_000_000,
  };
}

/** One NDJSON line: `value` as JSON. */
export function ndjsonLine(value: unknown): string {
  return `${JSON.stringify(value)}\n`;
}

/** A streamed line that is not the last: one piece of the answer, `done: false`. */
export function chunkLine(content: string, model = "llama3.2:3b"): string {
  return ndjsonLine({ model, created_at: "2025-06-01T12:00:00.000000Z", message: { role: "assistant", content }, done: false });
}

/** The last streamed line: no content, `done: true`, the counts and durations (as `ollamaChat`). */
export function doneLine(opts: OllamaChatOptions = {}): string {
  return ndjsonLine(ollamaChat("", opts));
}

/** An NDJSON response of these chunks. */
export function ndjsonStream(chunks: readonly StreamChunk[], ending?: ScriptedStream["ending"]): ScriptedStream {
  return { headers: { "content-type": "application/x-ndjson" }, chunks, ...(ending ? { ending } : {}) };
}

/** A whole streamed answer as Ollama sends it: one line a piece, then the done line. */
export function chatStream(pieces: readonly string[], opts: OllamaChatOptions = {}): ScriptedStream {
  return ndjsonStream([...pieces.map((piece) => chunkLine(piece, opts.model)), doneLine(opts)]);
}

/** Ollama's error body: a bare string under `error`. */
export function ollamaError(message: string): Record<string, unknown> {
  return { error: message };
}

export function startOllamaWireServer(): Promise<OllamaWireServer> {
  return startScriptedServer({
    basePath: "",
    route: "/api/chat",
    // Ollama's router (Go) answers unknown routes with plain text, not its JSON error body.
    notFound: { status: 404, headers: { "content-type": "text/plain" }, raw: "404 page not found" },
    fallback: () => ({ body: ollamaChat("ok") }),
  });
}

/** Start one for the enclosing test file (closed after it, requests cleared before each test). */
export function useOllamaWireServer(): () => OllamaWireServer {
  return useScriptedServer(startOllamaWireServer);
}

export { closedPort } from "./scripted-server.js";
