import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { ERROR_CODES, type ProviderError } from "@llm-router/shared";
import { afterEach, describe, expect, it, vi } from "vitest";
import { chatRequest, providerFailure } from "../testing/fixtures.js";
import { MAX_REPLY_BYTES } from "./http.js";
import { openAICompatibleProvider } from "./openai-compatible.js";
import type { ModelProvider } from "./provider.js";

const MiB = 1024 * 1024;

/** How a bulk response ended: the body bytes written, and whether all of them were (else the client closed the connection first). */
interface BulkOutcome {
  sentBytes: number;
  whole: boolean;
}

interface BulkResponse {
  status: number;
  contentType: string;
  /** Written before the bulk. */
  head: string;
  /** Written `bulkBytes` long, 64 KiB at a time, waiting for the client to take each (no buffering ahead of it). */
  piece: string;
  bulkBytes: number;
  /** Written after the bulk, when the client read that far. */
  tail: string;
}

/** A chat-completions server whose one answer is too large to hold: what the provider reads of it shows in `ended`. */
async function startBulkServer(response: BulkResponse): Promise<{ baseUrl: string; ended: Promise<BulkOutcome>; server: Server }> {
  let resolveEnded!: (outcome: BulkOutcome) => void;
  const ended = new Promise<BulkOutcome>((resolve) => (resolveEnded = resolve));
  const server = createServer((req, res) => {
    req.resume();
    res.writeHead(response.status, { "content-type": response.contentType });
    const chunk = Buffer.from(response.piece.repeat(Math.ceil((64 * 1024) / response.piece.length)));
    let sentBytes = 0;
    let finished = false;
    res.on("close", () => resolveEnded({ sentBytes, whole: finished }));
    const pump = (): void => {
      while (sentBytes < response.bulkBytes) {
        if (res.destroyed) return;
        sentBytes += chunk.length;
        if (!res.write(chunk)) {
          res.once("drain", pump);
          return;
        }
      }
      res.end(response.tail, () => (finished = true));
    };
    res.write(response.head);
    pump();
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return { baseUrl: `http://127.0.0.1:${port}/v1`, ended, server };
}

function provider(baseUrl: string, stream: boolean, timeoutMs = 20_000): ModelProvider {
  return openAICompatibleProvider.create("openai", { type: "openai-compatible", baseUrl, timeoutMs, headers: {}, stream }, { env: {}, models: [], sleep: () => Promise.resolve() });
}

const request = () => chatRequest("openai:gpt-4o-mini");

describe("HTTP bodies past their limits", () => {
  const servers: Server[] = [];
  afterEach(async () => {
    for (const server of servers.splice(0)) {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });

  async function bulk(response: BulkResponse): Promise<{ baseUrl: string; ended: Promise<BulkOutcome> }> {
    const started = await startBulkServer(response);
    servers.push(started.server);
    return started;
  }

  it("maps a 32 MiB error page by its status from its first 64 KiB, closing the connection on the rest", async () => {
    const { baseUrl, ended } = await bulk({ status: 502, contentType: "text/html", head: "<html>Bad gateway", piece: " ", bulkBytes: 32 * MiB, tail: "</html>" });

    const err = await providerFailure(provider(baseUrl, false), request());

    expect(err).toMatchObject({ code: ERROR_CODES.PROVIDER_UNAVAILABLE, retryable: true, status: 502 });
    expect(err.message).toContain("Bad gateway");
    const outcome = await ended;
    expect(outcome.whole).toBe(false);
    expect(outcome.sentBytes).toBeLessThan(32 * MiB);
  });

  it("refuses a non-streamed answer past 16 MiB as a non-retryable MALFORMED_RESPONSE without reading the rest", async () => {
    const head = '{"choices":[{"index":0,"message":{"role":"assistant","content":"';
    const { baseUrl, ended } = await bulk({ status: 200, contentType: "application/json", head, piece: "x", bulkBytes: 2 * MAX_REPLY_BYTES, tail: '"},"finish_reason":"stop"}]}' });

    const err = await providerFailure(provider(baseUrl, false), request());

    expect(err).toMatchObject({ code: ERROR_CODES.MALFORMED_RESPONSE, retryable: false });
    expect(err.message).toContain("16 MiB");
    // Billed all the same, at most: the prompt as estimated (7 tokens) and the whole output limit.
    expect(err.partial).toEqual({ inputTokens: 7, outputTokens: 64, outputChars: MAX_REPLY_BYTES });
    expect((await ended).whole).toBe(false);
  });

  it("refuses a stream line past 16 MiB as a non-retryable MALFORMED_RESPONSE without reading the rest", async () => {
    const head = 'data: {"choices":[{"index":0,"delta":{"content":"';
    const { baseUrl, ended } = await bulk({ status: 200, contentType: "text/event-stream", head, piece: "x", bulkBytes: 2 * MAX_REPLY_BYTES, tail: '"}}]}\n\ndata: [DONE]\n\n' });

    const err = await providerFailure(provider(baseUrl, true), request());

    expect(err).toMatchObject({ code: ERROR_CODES.MALFORMED_RESPONSE, retryable: false });
    expect(err.partial).toMatchObject({ outputChars: 0 });
    expect((await ended).whole).toBe(false);
  });

  it("refuses a stream whose output passes 16 MiB in many small events, carrying what it received", async () => {
    const event = `data: ${JSON.stringify({ choices: [{ index: 0, delta: { content: "y".repeat(4000) } }] })}\n\n`;
    const { baseUrl, ended } = await bulk({ status: 200, contentType: "text/event-stream", head: "", piece: event, bulkBytes: 2 * MAX_REPLY_BYTES, tail: "data: [DONE]\n\n" });

    const err = await providerFailure(provider(baseUrl, true), request());

    expect(err).toMatchObject({ code: ERROR_CODES.MALFORMED_RESPONSE, retryable: false });
    expect(err.partial?.outputChars).toBeGreaterThan(MAX_REPLY_BYTES);
    expect((await ended).whole).toBe(false);
  });
});

describe("Node's fetch giving up on its own after 300 s", () => {
  afterEach(() => {
    vi.unstubAllGlobals();
  });

  /** What undici rejects with when its own timer fires: a TypeError whose cause carries the code. */
  function undiciTimeout(code: string, message: string): TypeError {
    return new TypeError(code === "UND_ERR_HEADERS_TIMEOUT" ? "fetch failed" : "terminated", { cause: Object.assign(new Error(message), { code }) });
  }

  it("reports a headers timeout under a larger timeoutMs as a retryable PROVIDER_TIMEOUT naming the 300 s limit, not CONNECTION_FAILED", async () => {
    vi.stubGlobal("fetch", () => Promise.reject(undiciTimeout("UND_ERR_HEADERS_TIMEOUT", "Headers Timeout Error")));

    const err: ProviderError = await providerFailure(provider("http://127.0.0.1:9/v1", false, 600_000), request());

    expect(err).toMatchObject({ code: ERROR_CODES.PROVIDER_TIMEOUT, retryable: true });
    expect(err.message).toContain("300 s");
    expect(err.message).toContain("UND_ERR_HEADERS_TIMEOUT");
  });

  it("reports a body timeout mid-stream as a retryable PROVIDER_TIMEOUT carrying the partial usage", async () => {
    const encoder = new TextEncoder();
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(encoder.encode('data: {"choices":[{"index":0,"delta":{"content":"NATS is "}}]}\n\n'));
      },
      pull(controller) {
        controller.error(undiciTimeout("UND_ERR_BODY_TIMEOUT", "Body Timeout Error"));
      },
    });
    vi.stubGlobal("fetch", () => Promise.resolve(new Response(body, { headers: { "content-type": "text/event-stream" } })));

    const err = await providerFailure(provider("http://127.0.0.1:9/v1", true, 600_000), request());

    expect(err).toMatchObject({ code: ERROR_CODES.PROVIDER_TIMEOUT, retryable: true });
    expect(err.partial).toMatchObject({ outputChars: 8 });
    expect(err.message).toContain("300 s");
  });
});
