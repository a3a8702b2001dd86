/**
 * A real HTTP server for provider tests, speaking whichever wire format its options describe.
 * Each request to the route takes the next scripted response (status, headers, JSON or raw
 * body, delay, "hang", or a stream of chunks) and every request is recorded, so tests assert
 * on what actually crossed the wire. The per-provider files only add their route and body builders.
 */
import { createServer, type IncomingHttpHeaders, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, beforeEach } from "vitest";

export type ScriptedResponse = "hang" | Reply | ScriptedStream;

interface Reply {
  /** Default 200. */
  status?: number;
  headers?: Record<string, string>;
  /** Sent as JSON. Ignored when `raw` is set. */
  body?: unknown;
  /** Sent verbatim, for malformed bodies. */
  raw?: string;
  /** Wait before responding. */
  delayMs?: number;
}

/** A piece of a streamed body: text written at once, or after waiting `delayMs`. */
export type StreamChunk = string | { text: string; delayMs: number };

/** A streamed answer: the status and headers at once, then each chunk in order. */
export interface ScriptedStream {
  /** Default 200. */
  status?: number;
  /** The stream builders set the content type (`text/event-stream`, `application/x-ndjson`). */
  headers?: Record<string, string>;
  chunks: readonly StreamChunk[];
  /**
   * After the last chunk: `end` (default) finishes the body cleanly, so a stream scripted
   * without its terminal marker reads as truncated; `reset` destroys the connection mid-body;
   * `stall` stays open and silent until the client gives up.
   */
  ending?: "end" | "reset" | "stall";
}

export interface RecordedRequest {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  /** The parsed JSON body, or the raw text when it is not JSON. */
  body: unknown;
}

export interface ScriptedServer {
  /** What the provider config takes as `baseUrl`. */
  readonly baseUrl: string;
  readonly port: number;
  readonly requests: RecordedRequest[];
  /** Queue responses for the next requests; once the queue is empty each gets the default. */
  enqueue(...responses: ScriptedResponse[]): void;
  close(): Promise<void>;
}

export interface ScriptedServerOptions {
  /** Appended to the origin for `baseUrl` (`"/v1"` or `""`). */
  basePath: string;
  /** The one route served, as `POST <route>`. */
  route: string;
  /** The answer to any other route. */
  notFound: Reply;
  /** The answer when the queue is empty. */
  fallback: () => Reply;
  /** Checked before the script; a reply here answers the request (a missing auth header, say). */
  precheck?: (req: RecordedRequest) => Reply | undefined;
}

export async function startScriptedServer(o: ScriptedServerOptions): Promise<ScriptedServer> {
  const queue: ScriptedResponse[] = [];
  const requests: RecordedRequest[] = [];
  const timers = new Set<NodeJS.Timeout>();

  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      const recorded = { method: req.method ?? "", path: req.url ?? "", headers: req.headers, body: parseJson(Buffer.concat(chunks).toString("utf8")) };
      requests.push(recorded);
      if (req.method !== "POST" || req.url !== o.route) return send(res, o.notFound);
      const early = o.precheck?.(recorded);
      if (early) return send(res, early);
      const scripted = queue.shift() ?? o.fallback();
      if (scripted === "hang") return; // never answer; close() destroys the socket
      if ("chunks" in scripted) return stream(res, scripted, later);
      if (!scripted.delayMs) return send(res, scripted);
      later(scripted.delayMs, () => send(res, scripted));
    });
  });

  function later(delayMs: number, run: () => void): void {
    const timer = setTimeout(() => {
      timers.delete(timer);
      run();
    }, delayMs);
    timers.add(timer);
  }

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const { port } = server.address() as AddressInfo;

  return {
    baseUrl: `http://127.0.0.1:${port}${o.basePath}`,
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

function send(res: ServerResponse, reply: Reply): void {
  // The client may have given up (timeout) while a delayed response waited.
  if (res.destroyed) return;
  res.writeHead(reply.status ?? 200, { "content-type": "application/json", ...reply.headers });
  res.end(reply.raw ?? JSON.stringify(reply.body ?? {}));
}

function stream(res: ServerResponse, scripted: ScriptedStream, later: (delayMs: number, run: () => void) => void): void {
  res.writeHead(scripted.status ?? 200, scripted.headers);
  // The status line goes out now, not with the first chunk: a delayed first chunk is then a slow
  // first token, not a slow response.
  res.flushHeaders();
  const write = (index: number): void => {
    // The client may have given up (timeout, abort) while a chunk waited.
    if (res.destroyed) return;
    const chunk = scripted.chunks[index];
    if (chunk === undefined) return finish(res, scripted.ending ?? "end");
    if (typeof chunk === "string") {
      res.write(chunk);
      return write(index + 1);
    }
    later(chunk.delayMs, () => {
      if (res.destroyed) return;
      res.write(chunk.text);
      write(index + 1);
    });
  };
  write(0);
}

function finish(res: ServerResponse, ending: NonNullable<ScriptedStream["ending"]>): void {
  if (ending === "end") res.end();
  // Closes the socket once the chunks already written are flushed, without the chunked body's
  // terminator: the client has the data and then a connection that broke off.
  else if (ending === "reset") res.socket?.destroySoon();
  // `stall`: nothing more is written; close() destroys the socket.
}

/** One server-sent event: `data` as JSON (a string is sent as is, e.g. `[DONE]`), under `event` when given. */
export function sseEvent(data: unknown, event?: string): string {
  return `${event === undefined ? "" : `event: ${event}\n`}data: ${typeof data === "string" ? data : JSON.stringify(data)}\n\n`;
}

/** An SSE response of these chunks. */
export function sseStream(chunks: readonly StreamChunk[], ending?: ScriptedStream["ending"]): ScriptedStream {
  return { headers: { "content-type": "text/event-stream", "cache-control": "no-cache" }, chunks, ...(ending ? { ending } : {}) };
}

/** Delays a chunk: written `delayMs` after the one before it. */
export function delayed(delayMs: number, text: string): StreamChunk {
  return { text, delayMs };
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/** Start a server for the enclosing test file: closed after it, its requests cleared before each test. */
export function useScriptedServer(start: () => Promise<ScriptedServer>): () => ScriptedServer {
  let server: ScriptedServer | undefined;
  beforeAll(async () => {
    server = await start();
  });
  afterAll(async () => {
    await server?.close();
  });
  beforeEach(() => {
    if (server) server.requests.length = 0;
  });
  return () => {
    if (!server) throw new Error("the test server starts in beforeAll");
    return server;
  };
}

/** A port that was just listening and no longer is: connecting to it is refused. */
export async function closedPort(): Promise<number> {
  const server = await startScriptedServer({ basePath: "", route: "/", notFound: { status: 404 }, fallback: () => ({}) });
  const { port } = server;
  await server.close();
  return port;
}
