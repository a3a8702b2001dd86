import { ERROR_CODES, type ProviderError, type RouterEnv } from "@llm-router/shared";
import { describe, expect, it } from "vitest";
import {
  MESSAGE_STOP_EVENT,
  PING_EVENT,
  closedPort,
  deltaEvent,
  errorBody,
  errorEvent,
  messageBody,
  messageDeltaEvent,
  messageStartEvent,
  messageStream,
  sseStream,
  streamEvent,
  useAnthropicWireServer,
} from "../testing/anthropic-wire-server.js";
import { chatRequest, providerFailure } from "../testing/fixtures.js";
import { streamContract } from "../testing/stream-contract.js";
import { anthropicProvider, type AnthropicConfig } from "./anthropic.js";
import type { CompletionRequest, ModelProvider } from "./provider.js";

const SECRET = "sk-ant-test-secret-123";
const wire = useAnthropicWireServer();
/** Another origin, where a redirect would take the key. */
const elsewhere = useAnthropicWireServer();

function provider(config: Partial<AnthropicConfig> = {}, env: RouterEnv = { ANTHROPIC_API_KEY: SECRET }): ModelProvider {
  const full: AnthropicConfig = {
    type: "anthropic",
    baseUrl: wire().baseUrl,
    apiKeyEnv: "ANTHROPIC_API_KEY",
    version: "2023-06-01",
    timeoutMs: 2000,
    headers: {},
    stream: false,
    ...config,
  };
  return anthropicProvider.create("anthropic", full, { env, models: [], sleep: () => Promise.resolve() });
}

function request(fields: Partial<CompletionRequest> = {}): CompletionRequest {
  return chatRequest("anthropic:claude-sonnet-4-5", fields);
}

const failure = (p: ModelProvider, req = request()): Promise<ProviderError> => providerFailure(p, req);

describe("anthropic provider", () => {
  it("posts to /v1/messages with the key, the API version and configured headers, and returns the reported usage", async () => {
    wire().enqueue({ body: messageBody("NATS is a messaging system.", { inputTokens: 21, outputTokens: 7 }) });
    const p = provider({ version: "2024-01-01", headers: { "anthropic-beta": "test-beta" } });

    const res = await p.complete(request());

    expect(res).toEqual({ output: "NATS is a messaging system.", inputTokens: 21, outputTokens: 7, simulated: false });
    const [sent] = wire().requests;
    expect(sent?.method).toBe("POST");
    expect(sent?.path).toBe("/v1/messages");
    expect(sent?.headers["x-api-key"]).toBe(SECRET);
    expect(sent?.headers["anthropic-version"]).toBe("2024-01-01");
    expect(sent?.headers["content-type"]).toBe("application/json");
    expect(sent?.headers["anthropic-beta"]).toBe("test-beta");
    expect(sent?.headers.authorization).toBeUndefined();
    expect(sent?.body).toEqual({
      model: "claude-sonnet-4-5",
      max_tokens: 64,
      system: "Be brief.",
      messages: [{ role: "user", content: "What is NATS?" }],
      stream: false,
    });
  });

  it("hoists every system message into system and merges consecutive same-role turns so roles alternate", async () => {
    await provider().complete(
      request({
        messages: [
          { role: "system", content: "Be brief." },
          { role: "user", content: "First question." },
          { role: "user", content: "Second question." },
          { role: "assistant", content: "An answer." },
          { role: "system", content: "Answer in English." },
          { role: "assistant", content: "More of it." },
          { role: "user", content: "Thanks." },
        ],
      }),
    );

    expect(wire().requests[0]?.body).toMatchObject({
      system: "Be brief.\n\nAnswer in English.",
      messages: [
        { role: "user", content: "First question.\n\nSecond question." },
        { role: "assistant", content: "An answer.\n\nMore of it." },
        { role: "user", content: "Thanks." },
      ],
    });
  });

  it("omits system when the conversation has no system message", async () => {
    await provider().complete(request({ messages: [{ role: "user", content: "Hi" }] }));
    expect(wire().requests[0]?.body).not.toHaveProperty("system");
  });

  it("counts cache-creation and cache-read tokens as input tokens, and reports them as cache writes and reads", async () => {
    wire().enqueue({ body: messageBody("cached", { inputTokens: 5, outputTokens: 3, cacheCreationInputTokens: 100, cacheReadInputTokens: 40 }) });
    const res = await provider().complete(request());
    expect(res).toMatchObject({ inputTokens: 145, outputTokens: 3, cacheWriteTokens: 100, cacheReadTokens: 40 });

    // Caching not in play (the fields absent, or 0): no cache counts.
    wire().enqueue({ body: messageBody("plain", { inputTokens: 5, outputTokens: 3, cacheReadInputTokens: 0 }) });
    const plain = await provider().complete(request());
    expect(plain).toMatchObject({ inputTokens: 5 });
    expect(plain).not.toHaveProperty("cacheReadTokens");
    expect(plain).not.toHaveProperty("cacheWriteTokens");
  });

  it("joins the text blocks in order and ignores blocks of other types", async () => {
    wire().enqueue({
      body: messageBody([
        { type: "thinking", thinking: "let me think", signature: "sig" },
        { type: "text", text: "NATS is " },
        { type: "text", text: "a messaging system." },
        { type: "tool_use", id: "tu_1", name: "lookup", input: {} },
      ]),
    });
    const res = await provider().complete(request());
    expect(res.output).toBe("NATS is a messaging system.");
  });

  it.each([
    ["refusal", ERROR_CODES.CONTENT_FILTERED],
    ["max_tokens", ERROR_CODES.OUTPUT_TRUNCATED],
  ])("fails an answer without text that stopped for %s as a non-retryable %s, carrying what was billed", async (stopReason, code) => {
    wire().enqueue({ body: messageBody([{ type: "thinking", thinking: "hmm" }], { inputTokens: 21, outputTokens: 7, stopReason }) });
    const err = await failure(provider());
    expect(err).toMatchObject({ code, retryable: false, status: 200 });
    expect(err.message).toContain(`stop_reason "${stopReason}"`);
    expect(err.partial).toEqual({ inputTokens: 21, outputTokens: 7, outputChars: 0 });
  });

  it("returns an empty answer that ended its turn, and the text of one cut off at max_tokens", async () => {
    wire().enqueue({ body: messageBody([], { stopReason: "end_turn" }) });
    expect((await provider().complete(request())).output).toBe("");
    wire().enqueue({ body: messageBody("NATS is a", { stopReason: "max_tokens" }) });
    expect((await provider().complete(request())).output).toBe("NATS is a");
  });

  it("maps 429 with Retry-After seconds to a retryable RATE_LIMITED carrying the delay", async () => {
    wire().enqueue({ status: 429, headers: { "retry-after": "3" }, body: errorBody("rate_limit_error", "Number of request tokens has exceeded your per-minute rate limit") });
    const err = await failure(provider());
    expect(err).toMatchObject({ code: ERROR_CODES.RATE_LIMITED, retryable: true, status: 429, retryAfterMs: 3000 });
  });

  it("maps 529 (overloaded) to a retryable PROVIDER_UNAVAILABLE", async () => {
    wire().enqueue({ status: 529, body: errorBody("overloaded_error", "Overloaded") });
    const err = await failure(provider());
    expect(err).toMatchObject({ code: ERROR_CODES.PROVIDER_UNAVAILABLE, retryable: true, status: 529 });
  });

  it.each([500, 502, 503, 504, 408, 409])("maps %i to a retryable PROVIDER_UNAVAILABLE", async (status) => {
    wire().enqueue({ status, body: errorBody("api_error", "Internal server error") });
    const err = await failure(provider());
    expect(err).toMatchObject({ code: ERROR_CODES.PROVIDER_UNAVAILABLE, retryable: true, status });
  });

  it.each([
    [400, "a rejected request", errorBody("invalid_request_error", "max_tokens: Field required"), ERROR_CODES.BAD_REQUEST],
    [
      400,
      "a credit balance too low",
      errorBody("invalid_request_error", "Your credit balance is too low to access the Anthropic API. Please go to Plans & Billing to upgrade or purchase credits."),
      ERROR_CODES.QUOTA_EXCEEDED,
    ],
    [400, "a reached usage limit", errorBody("invalid_request_error", "You have reached your specified API usage limits. You will regain access on 2025-07-01 at 00:00 UTC."), ERROR_CODES.QUOTA_EXCEEDED],
    [402, "a billing error", errorBody("billing_error", "Payment required"), ERROR_CODES.QUOTA_EXCEEDED],
    [401, "a wrong key", errorBody("authentication_error", "invalid x-api-key"), ERROR_CODES.AUTH_FAILED],
    [403, "a forbidden model", errorBody("permission_error", "Your API key does not have permission to use the specified resource."), ERROR_CODES.AUTH_FAILED],
    [404, "an unknown model", errorBody("not_found_error", "model: claude-9"), ERROR_CODES.MODEL_NOT_FOUND],
    [413, "a too-large request", errorBody("request_too_large", "Request exceeds the maximum allowed number of bytes."), ERROR_CODES.BAD_REQUEST],
  ])("maps %i (%s) to non-retryable %s", async (status, _label, body, code) => {
    wire().enqueue({ status, body });
    const err = await failure(provider());
    expect(err).toMatchObject({ code, retryable: false, status });
  });

  it("says a 404 that names no model is a route the API lacks: a baseUrl with a stray /v1", async () => {
    wire().enqueue({ status: 404, body: errorBody("not_found_error", "Not found") });
    const route = await failure(provider());
    expect(route).toMatchObject({ code: ERROR_CODES.MODEL_NOT_FOUND, status: 404 });
    expect(route.message).toMatch(/no such route: is providers\.anthropic\.baseUrl the API root, without \/v1/);
    wire().enqueue({ status: 404, body: errorBody("not_found_error", "model: claude-9") });
    expect((await failure(provider())).message).not.toContain("no such route");
  });

  it("includes the provider's message, truncated, and never the key", async () => {
    wire().enqueue({ status: 400, body: errorBody("invalid_request_error", `bad ${"x".repeat(1000)}`) });
    const err = await failure(provider());
    expect(err.message).toContain("bad xxx");
    expect(err.message.length).toBeLessThan(400);
    expect(err.message).not.toContain(SECRET);
  });

  it.each([301, 302, 307, 308])("never follows a %i redirect, which would carry x-api-key to another host", async (status) => {
    wire().enqueue({ status, headers: { location: `${elsewhere().baseUrl}/v1/messages` } });
    const err = await failure(provider());
    expect(err).toMatchObject({ code: ERROR_CODES.BAD_REQUEST, retryable: false, status });
    expect(err.message).toContain(`redirected (HTTP ${status} to ${new URL(elsewhere().baseUrl).origin})`);
    expect(err.message).toContain("set the provider's baseUrl to the final address");
    expect(elsewhere().requests).toHaveLength(0);
  });

  it("reports PROVIDER_TIMEOUT when the server does not answer within timeoutMs", async () => {
    wire().enqueue("hang");
    const err = await failure(provider({ timeoutMs: 100 }));
    expect(err).toMatchObject({ code: ERROR_CODES.PROVIDER_TIMEOUT, retryable: true });
  });

  it("reports MALFORMED_RESPONSE for a 200 body that is not JSON", async () => {
    wire().enqueue({ raw: "<html>gateway</html>" });
    const err = await failure(provider());
    expect(err).toMatchObject({ code: ERROR_CODES.MALFORMED_RESPONSE, retryable: true });
  });

  it.each([
    ["without content", { id: "msg_x", type: "message", usage: { input_tokens: 1, output_tokens: 1 } }],
    ["without usage", { id: "msg_x", type: "message", content: [{ type: "text", text: "hi" }] }],
  ])("reports MALFORMED_RESPONSE for a 200 JSON body %s", async (_label, body) => {
    wire().enqueue({ body });
    const err = await failure(provider());
    expect(err).toMatchObject({ code: ERROR_CODES.MALFORMED_RESPONSE, retryable: true });
  });

  it("reports CONNECTION_FAILED when nothing listens on the port", async () => {
    const port = await closedPort();
    const err = await failure(provider({ baseUrl: `http://127.0.0.1:${port}` }));
    expect(err).toMatchObject({ code: ERROR_CODES.CONNECTION_FAILED, retryable: true });
  });

  it.each([
    ["unset", {}],
    ["empty", { ANTHROPIC_API_KEY: "" }],
  ])("fails with PROVIDER_NOT_CONFIGURED naming the variable, without calling the server, when the key is %s", async (_label, env: RouterEnv) => {
    const err = await failure(provider({}, env));
    expect(err).toMatchObject({ code: ERROR_CODES.PROVIDER_NOT_CONFIGURED, retryable: false });
    expect(err.message).toContain("ANTHROPIC_API_KEY");
    expect(wire().requests).toHaveLength(0);
  });

  it("rejects with the caller's abort reason, not a provider error, when the caller aborts", async () => {
    wire().enqueue("hang");
    const controller = new AbortController();
    const pending = provider().complete(request({ signal: controller.signal }));
    const reason = new Error("shutting down");
    setTimeout(() => controller.abort(reason), 20);
    await expect(pending).rejects.toBe(reason);
  });
});

describe("anthropic provider, streamed", () => {
  const streamed = (config: Partial<AnthropicConfig> = {}): ModelProvider => provider({ stream: true, ...config });
  /** message_start reports 21 input tokens and 1 output token; "NATS is " is 8 chars (2 estimated tokens). */
  const STARTED = [messageStartEvent({ inputTokens: 21 }), deltaEvent("NATS is ")];

  streamContract({
    provider: streamed,
    request,
    server: wire,
    stream: sseStream,
    opening: [messageStartEvent({ inputTokens: 21 }), PING_EVENT],
    piece: (text) => deltaEvent(text),
    closing: [messageDeltaEvent(5), MESSAGE_STOP_EVENT],
    notJson: 'event: content_block_delta\ndata: {"type": "content_blo\n\n',
    rateLimited: { status: 429, headers: { "retry-after": "2" }, body: errorBody("rate_limit_error", "Number of request tokens has exceeded your per-minute rate limit") },
    openingInputTokens: 21,
  });

  it("asks for a stream, joins the text deltas and counts cache tokens from message_start as input", async () => {
    wire().enqueue(messageStream(["NATS is ", "a messaging ", "system."], { inputTokens: 5, outputTokens: 7, cacheCreationInputTokens: 100, cacheReadInputTokens: 40 }));

    const res = await streamed().complete(request());

    expect(res).toEqual({
      output: "NATS is a messaging system.",
      inputTokens: 145,
      outputTokens: 7,
      cacheWriteTokens: 100,
      cacheReadTokens: 40,
      simulated: false,
      timeToFirstTokenMs: expect.any(Number) as number,
    });
    expect(wire().requests[0]?.body).toMatchObject({ model: "claude-sonnet-4-5", system: "Be brief.", stream: true });
  });

  it.each([
    ["refusal", ERROR_CODES.CONTENT_FILTERED],
    ["max_tokens", ERROR_CODES.OUTPUT_TRUNCATED],
  ])("fails a stream without text that stopped for %s as a non-retryable %s, carrying what was billed", async (stopReason, code) => {
    wire().enqueue(sseStream([messageStartEvent({ inputTokens: 21 }), deltaEvent({ type: "thinking_delta", thinking: "hmm" }), messageDeltaEvent(7, stopReason), MESSAGE_STOP_EVENT]));
    const err = await failure(streamed());
    expect(err).toMatchObject({ code, retryable: false });
    expect(err.partial).toEqual({ inputTokens: 21, outputTokens: 7, outputChars: 0 });
  });

  it("returns a streamed empty answer that ended its turn, and the text of one cut off at max_tokens", async () => {
    wire().enqueue(sseStream([messageStartEvent({ inputTokens: 21 }), messageDeltaEvent(1), MESSAGE_STOP_EVENT]));
    expect((await streamed().complete(request())).output).toBe("");
    wire().enqueue(sseStream([...STARTED, messageDeltaEvent(64, "max_tokens"), MESSAGE_STOP_EVENT]));
    expect((await streamed().complete(request())).output).toBe("NATS is ");
  });

  it("takes the last message_delta output_tokens, which is cumulative, instead of adding them up", async () => {
    wire().enqueue(sseStream([...STARTED, messageDeltaEvent(3), PING_EVENT, deltaEvent("fast."), messageDeltaEvent(9), MESSAGE_STOP_EVENT]));
    const res = await streamed().complete(request());
    expect(res).toMatchObject({ output: "NATS is fast.", inputTokens: 21, outputTokens: 9 });
  });

  it("leaves thinking deltas out of the output", async () => {
    wire().enqueue(sseStream([messageStartEvent(), deltaEvent({ type: "thinking_delta", thinking: "hmm" }), deltaEvent("NATS.", 1), messageDeltaEvent(4), MESSAGE_STOP_EVENT]));
    const res = await streamed().complete(request());
    expect(res.output).toBe("NATS.");
  });

  it.each([
    ["overloaded_error", ERROR_CODES.PROVIDER_UNAVAILABLE, 529],
    ["api_error", ERROR_CODES.PROVIDER_UNAVAILABLE, 500],
    ["rate_limit_error", ERROR_CODES.RATE_LIMITED, 429],
    ["invalid_request_error", ERROR_CODES.PROVIDER_UNAVAILABLE, 500],
  ])("maps an error event of type %s after the 200 to a retryable %s carrying the partial usage", async (type, code, status) => {
    wire().enqueue(sseStream([...STARTED, errorEvent(type, "Overloaded")]));

    const err = await failure(streamed());

    expect(err).toMatchObject({ code, retryable: true, status });
    // The estimate from the 8 chars received beats message_start's stale output count of 1.
    expect(err.partial).toEqual({ inputTokens: 21, outputTokens: 2, outputChars: 8 });
  });

  it("estimates the output from the text when a gateway drops message_delta's usage, not message_start's placeholder 1", async () => {
    const text = "x".repeat(2000);
    wire().enqueue(sseStream([messageStartEvent({ inputTokens: 21 }), deltaEvent(text), MESSAGE_STOP_EVENT]));
    const res = await streamed().complete(request());
    expect(res.output).toBe(text);
    expect(res.outputTokens).toBeGreaterThan(100);
  });

  it("reports the output tokens a stream counted before it ended without message_stop", async () => {
    wire().enqueue(sseStream([...STARTED, messageDeltaEvent(6)]));
    const err = await failure(streamed());
    expect(err).toMatchObject({ code: ERROR_CODES.MALFORMED_RESPONSE, retryable: true });
    expect(err.partial).toEqual({ inputTokens: 21, outputTokens: 6, outputChars: 8 });
  });

  it("keeps message_start's input and cache counts when message_delta repeats them as 0 or null", async () => {
    const delta = (usage: Record<string, unknown>): string => streamEvent("message_delta", { delta: { stop_reason: "end_turn", stop_sequence: null }, usage });
    const started = messageStartEvent({ inputTokens: 21, cacheReadInputTokens: 4000, cacheCreationInputTokens: 300 });
    // An Anthropic-compatible server's 0, and the API's nullable fields.
    for (const usage of [{ input_tokens: 0, output_tokens: 7 }, { input_tokens: null, cache_read_input_tokens: null, cache_creation_input_tokens: null, output_tokens: 7 }]) {
      wire().enqueue(sseStream([started, deltaEvent("NATS."), delta(usage), MESSAGE_STOP_EVENT]));
      expect(await streamed().complete(request())).toMatchObject({ inputTokens: 4321, cacheReadTokens: 4000, cacheWriteTokens: 300, outputTokens: 7 });
    }
  });

  it("carries message_start's cache reads and writes in the partial usage of a stream that broke off", async () => {
    wire().enqueue(sseStream([messageStartEvent({ inputTokens: 21, cacheReadInputTokens: 4000, cacheCreationInputTokens: 300 }), deltaEvent("NATS is "), errorEvent("overloaded_error", "Overloaded")]));
    const err = await failure(streamed());
    expect(err.partial).toEqual({ inputTokens: 4321, outputTokens: 2, outputChars: 8, cacheReadTokens: 4000, cacheWriteTokens: 300 });
  });
});
