import { afterAll, beforeAll, beforeEach } from "vitest";
/**
 * A real HTTP server speaking the OpenAI chat-completions wire format, for adapter and
 * executor tests. Each request takes the next scripted response (status, headers, JSON or raw
 * body, delay, or "hang") and is recorded, so tests assert on what actually crossed the wire.
 */
import { createServer, type IncomingHttpHeaders, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

export type ScriptedResponse =
  | "hang"
  | {
      /** Default 200. */
      status?: number;
      headers?: Record<string, string>;
      /** Sent as JSON. Ignored when `raw` is set. */
      body?: unknown;
      /** Sent verbatim, for malformed bodies. */
      raw?: string;
      /** Wait before responding. */
      delayMs?: number;
    };

export interface RecordedRequest {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  /** The parsed JSON body, or the raw text when it is not JSON. */
  body: unknown;
}

export interface WireServer {
  /** Base URL including `/v1`, as an `openai-compatible` provider's `baseUrl`. */
  readonly baseUrl: string;
  readonly port: number;
  readonly requests: RecordedRequest[];
  /** Queue responses for the next requests; once the queue is empty every request gets `completion("ok")`. */
  enqueue(...responses: ScriptedResponse[]): void;
  close(): Promise<void>;
}

export interface CompletionOptions {
  promptTokens?: number;
  completionTokens?: number;
  /** OpenRouter's provider-reported cost, `usage.cost`. */
  cost?: number;
  /** Leave `usage` out entirely, as some local servers do. */
  noUsage?: boolean;
  model?: string;
}

/** A chat-completions success body. */
export function completion(content: string, opts: CompletionOptions = {}): Record<string, unknown> {
  const usage = {
    prompt_tokens: opts.promptTokens ?? 10,
    completion_tokens: opts.completionTokens ?? 5,
    total_tokens: (opts.promptTokens ?? 10) + (opts.completionTokens ?? 5),
    ...(opts.cost === undefined ? {} : { cost: opts.cost }),
  };
  return {
    id: "chatcmpl-test",
    object: "chat.completion",
    created: 1_700_000_000,
    model: opts.model ?? "test-model",
    choices: [{ index: 0, message: { role: "assistant", content }, finish_reason: "stop" }],
    ...(opts.noUsage ? {} : { usage }),
  };
}

/** An OpenAI-style error body. */
export function errorBody(message: string, type = "invalid_request_error", code: string | number | null = null): Record<string, unknown> {
  return { error: { message, type, param: null, code } };
}

export async function startWireServer(): Promise<WireServer> {
  const queue: ScriptedResponse[] = [];
  const requests: RecordedRequest[] = [];
  const timers = new Set<NodeJS.Timeout>();

  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      const text = Buffer.concat(chunks).toString("utf8");
      requests.push({ method: req.method ?? "", path: req.url ?? "", headers: req.headers, body: parseJson(text) });
      if (req.method !== "POST" || req.url !== "/v1/chat/completions") {
        send(res, { status: 404, body: errorBody(`Unknown route ${req.method ?? ""} ${req.url ?? ""}`, "invalid_request_error") });
        return;
      }
      const scripted = queue.shift() ?? { body: completion("ok") };
      if (scripted === "hang") return; // never answer; close() destroys the socket
      if (!scripted.delayMs) {
        send(res, scripted);
        return;
      }
      const timer = setTimeout(() => {
        timers.delete(timer);
        send(res, scripted);
      }, scripted.delayMs);
      timers.add(timer);
    });
  });

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const { port } = server.address() as AddressInfo;

  return {
    baseUrl: `http://127.0.0.1:${port}/v1`,
    port,
    requests,
    enqueue: (...responses) => void queue.push(...responses),
    close: async () => {
      for (const timer of timers) clearTimeout(timer);
      // Hanging and keep-alive sockets would otherwise hold close() open forever.
      server.closeAllConnections();
      await new Promise<void>((resolve, reject) => server.close((err) => (err ? reject(err) : resolve())));
    },
  };
}

/** A port that was just listening and no longer is: connecting to it is refused. */
export async function closedPort(): Promise<number> {
  const server = await startWireServer();
  const { port } = server;
  await server.close();
  return port;
}

function send(res: ServerResponse, scripted: Exclude<ScriptedResponse, "hang">): void {
  // The client may have given up (timeout) while a delayed response waited.
  if (res.destroyed) return;
  const raw = scripted.raw ?? JSON.stringify(scripted.body ?? completion("ok"));
  res.writeHead(scripted.status ?? 200, { "content-type": "application/json", ...scripted.headers });
  res.end(raw);
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/** Start a wire server for the enclosing test file (closed after it, requests cleared before each test). */
export function useWireServer(): () => WireServer {
  let server: WireServer | undefined;
  beforeAll(async () => {
    server = await startWireServer();
  });
  afterAll(async () => {
    await server?.close();
  });
  beforeEach(() => {
    if (server) server.requests.length = 0;
  });
  return () => {
    if (!server) throw new Error("useWireServer: the server starts in beforeAll");
    return server;
  };
}
