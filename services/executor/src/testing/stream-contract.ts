/**
 * What every streaming adapter must do whatever its wire format, as one set of tests each
 * adapter's test file runs against its own wire server: time to first token, a stream cut,
 * reset, stalled or garbled after the 200 (each failing retryable with the partial usage), an
 * HTTP error before the stream mapped as without streaming, and the caller's abort.
 */
import { ERROR_CODES, ProviderError, type PartialUsage } from "@llm-router/shared";
import { expect, it } from "vitest";
import type { CompletionRequest, ModelProvider } from "../providers/provider.js";
import { providerFailure } from "./fixtures.js";
import { delayed, type ScriptedResponse, type ScriptedServer, type ScriptedStream, type StreamChunk } from "./scripted-server.js";

/** The ttft test's first output comes this long after the request, and the end this long after that. */
const FIRST_OUTPUT_DELAY_MS = 120;
const END_DELAY_MS = 150;
/** The output every failing stream has sent: 8 chars, 2 estimated tokens. */
const PIECE = "NATS is ";

export interface StreamContract {
  /** The adapter with `stream: true` against the test's wire server. */
  provider(config?: { timeoutMs?: number }): ModelProvider;
  request(fields?: Partial<CompletionRequest>): CompletionRequest;
  server(): ScriptedServer;
  /** Frames chunks as the wire format's streamed response (SSE or NDJSON). */
  stream(chunks: readonly StreamChunk[], ending?: ScriptedStream["ending"]): ScriptedStream;
  /** What a stream sends before any output (a role chunk, `message_start`), possibly nothing. */
  opening: readonly string[];
  /** An event carrying one piece of output. */
  piece(text: string): string;
  /** What ends a stream: usage and the terminal marker. */
  closing: readonly [string, ...string[]];
  /** An event whose JSON is cut off. */
  notJson: string;
  /** A 429 with `retry-after: 2`, in the format's error body. */
  rateLimited: ScriptedResponse;
  /** The partial usage's input tokens once `opening` is sent: reported in it, else estimated from the request. */
  openingInputTokens: number;
}

export function streamContract(c: StreamContract): void {
  const started = (): string[] => [...c.opening, c.piece(PIECE)];
  const partial = (): PartialUsage => ({ inputTokens: c.openingInputTokens, outputTokens: 2, outputChars: PIECE.length });
  const [end, ...afterEnd] = c.closing;

  it("measures the time to first token up to the first non-empty output, not the first event or the end", async () => {
    c.server().enqueue(c.stream([...c.opening, delayed(FIRST_OUTPUT_DELAY_MS, c.piece("NATS")), delayed(END_DELAY_MS, end), ...afterEnd]));
    const startedAt = performance.now();

    const res = await c.provider().complete(c.request());

    const elapsedMs = performance.now() - startedAt;
    expect(res.output).toBe("NATS");
    expect(res.timeToFirstTokenMs).toBeGreaterThanOrEqual(FIRST_OUTPUT_DELAY_MS - 5);
    expect(res.timeToFirstTokenMs).toBeLessThan(elapsedMs - END_DELAY_MS + 50);
  });

  it.each([
    ["ends cleanly before its terminal marker", ERROR_CODES.MALFORMED_RESPONSE, "end"],
    ["breaks off (connection reset)", ERROR_CODES.MALFORMED_RESPONSE, "reset"],
    ["stalls past timeoutMs", ERROR_CODES.PROVIDER_TIMEOUT, "stall"],
  ] as const)("reports a stream that %s as a retryable %s with the partial usage", async (_label, code, ending) => {
    c.server().enqueue(c.stream(started(), ending));
    const err = await providerFailure(c.provider({ timeoutMs: 300 }), c.request());
    expect(err).toMatchObject({ code, retryable: true });
    expect(err.partial).toEqual(partial());
  });

  it("reports an event that is not JSON as a retryable MALFORMED_RESPONSE with the partial usage", async () => {
    c.server().enqueue(c.stream([...started(), c.notJson, ...c.closing]));
    const err = await providerFailure(c.provider(), c.request());
    expect(err).toMatchObject({ code: ERROR_CODES.MALFORMED_RESPONSE, retryable: true });
    expect(err.partial).toEqual(partial());
  });

  it("maps a 429 with Retry-After before the stream as without streaming, with no partial usage", async () => {
    c.server().enqueue(c.rateLimited);
    const err = await providerFailure(c.provider(), c.request());
    expect(err).toMatchObject({ code: ERROR_CODES.RATE_LIMITED, retryable: true, status: 429, retryAfterMs: 2000, partial: undefined });
  });

  it("rejects with the caller's abort reason as the cause, carrying what was billed, when the caller aborts mid-stream", async () => {
    // The task's deadline cuts calls this way: the prompt and the streamed output were still paid for.
    c.server().enqueue(c.stream(started(), "stall"));
    const controller = new AbortController();
    const pending = c.provider().complete(c.request({ signal: controller.signal }));
    const reason = new Error("shutting down");
    setTimeout(() => controller.abort(reason), 100);
    const err: unknown = await pending.then(
      () => undefined,
      (e: unknown) => e,
    );
    if (!(err instanceof ProviderError)) throw new Error(`expected a ProviderError, got ${String(err)}`);
    expect(err.cause).toBe(reason);
    expect(err.message).toContain("shutting down");
    expect(err.partial).toEqual(partial());
  });

  it("rejects with the caller's abort reason itself when the caller aborts before any response", async () => {
    c.server().enqueue("hang");
    const controller = new AbortController();
    const pending = c.provider().complete(c.request({ signal: controller.signal }));
    const reason = new Error("shutting down");
    setTimeout(() => controller.abort(reason), 50);
    await expect(pending).rejects.toBe(reason);
  });
}
