import { ERROR_CODES, type ProviderError, type RouterEnv } from "@llm-router/shared";
import { describe, expect, it } from "vitest";
import { chatRequest, providerFailure } from "../testing/fixtures.js";
import { DONE_EVENT, chunkEvent, closedPort, completion, completionStream, errorBody, sseEvent, sseStream, usageEvent, useWireServer } from "../testing/openai-wire-server.js";
import { streamContract } from "../testing/stream-contract.js";
import { openAICompatibleProvider, tokenLimitField, type OpenAICompatibleConfig } from "./openai-compatible.js";
import type { CompletionRequest, ModelProvider } from "./provider.js";

const SECRET = "sk-test-secret-123";
const wire = useWireServer();

function provider(config: Partial<OpenAICompatibleConfig> = {}, env: RouterEnv = { TEST_API_KEY: SECRET }): ModelProvider {
  const full: OpenAICompatibleConfig = { type: "openai-compatible", baseUrl: wire().baseUrl, timeoutMs: 2000, headers: {}, stream: false, ...config };
  return openAICompatibleProvider.create("openai", full, { env, models: [], sleep: () => Promise.resolve() });
}

function request(fields: Partial<CompletionRequest> = {}): CompletionRequest {
  return chatRequest("openai:gpt-4o-mini", fields);
}

const failure = (p: ModelProvider, req = request()): Promise<ProviderError> => providerFailure(p, req);

/** What a reasoning model that spent its output limit thinking (or a filtered answer) returns: no content, billed usage. */
function noAnswer(content: string | null, finishReason: string): Record<string, unknown> {
  return {
    id: "chatcmpl-test",
    object: "chat.completion",
    choices: [{ index: 0, message: { role: "assistant", content }, finish_reason: finishReason }],
    usage: { prompt_tokens: 1000, completion_tokens: 64, total_tokens: 1064, cost: 0.5 },
  };
}

describe("openai-compatible provider", () => {
  it("posts the chat-completions request with the bearer key and returns the reported usage", async () => {
    wire().enqueue({ body: completion("NATS is a messaging system.", { promptTokens: 21, completionTokens: 7 }) });
    const p = provider({ apiKeyEnv: "TEST_API_KEY", headers: { "x-title": "llm-router" } });

    const res = await p.complete(request());

    expect(res).toEqual({ output: "NATS is a messaging system.", inputTokens: 21, outputTokens: 7, simulated: false });
    const [sent] = wire().requests;
    expect(sent?.method).toBe("POST");
    expect(sent?.path).toBe("/v1/chat/completions");
    expect(sent?.headers.authorization).toBe(`Bearer ${SECRET}`);
    expect(sent?.headers["content-type"]).toBe("application/json");
    expect(sent?.headers["x-title"]).toBe("llm-router");
    expect(sent?.body).toEqual({
      model: "gpt-4o-mini",
      messages: [
        { role: "system", content: "Be brief." },
        { role: "user", content: "What is NATS?" },
      ],
      max_tokens: 64,
      stream: false,
    });
  });

  it("caps the answer with max_completion_tokens on OpenAI's and Azure's APIs (reasoning models refuse max_tokens), max_tokens elsewhere", () => {
    expect(tokenLimitField("https://api.openai.com/v1")).toBe("max_completion_tokens");
    expect(tokenLimitField("https://my-resource.openai.azure.com/openai/deployments/gpt-4o")).toBe("max_completion_tokens");
    for (const other of ["https://openrouter.ai/api/v1", "http://127.0.0.1:8000/v1", "http://localhost:11434/v1", "https://api.openai.com.evil.example/v1"]) {
      expect(tokenLimitField(other), other).toBe("max_tokens");
    }
  });

  it("returns a refusal (content null, refusal text) as the answer it is, with its usage", async () => {
    const body = completion("", { promptTokens: 30, completionTokens: 9 });
    (body.choices as { message: Record<string, unknown> }[])[0]!.message = { role: "assistant", content: null, refusal: "I can't help with that." };
    wire().enqueue({ body });
    const res = await provider().complete(request());
    expect(res).toMatchObject({ output: "I can't help with that.", inputTokens: 30, outputTokens: 9 });
    expect(wire().requests).toHaveLength(1);
  });

  it("sends no authorization header when no key variable is configured", async () => {
    await provider().complete(request());
    expect(wire().requests[0]?.headers.authorization).toBeUndefined();
  });

  it("uses OpenRouter's usage.cost as the call cost", async () => {
    wire().enqueue({ body: completion("hi", { cost: 0.000123 }) });
    const res = await provider().complete(request());
    expect(res.costUsd).toBe(0.000123);
  });

  it("estimates tokens from the text when the server reports no usage", async () => {
    wire().enqueue({ body: completion("12345678", { noUsage: true }) });
    const res = await provider().complete(request());
    // "Be brief." (9 chars → 3) + "What is NATS?" (13 chars → 4); output 8 chars → 2.
    expect(res).toMatchObject({ inputTokens: 7, outputTokens: 2 });
  });

  it("maps 429 with Retry-After seconds to a retryable RATE_LIMITED carrying the delay", async () => {
    wire().enqueue({ status: 429, headers: { "retry-after": "2" }, body: errorBody("Rate limit reached", "requests", "rate_limit_exceeded") });
    const err = await failure(provider());
    expect(err).toMatchObject({ code: ERROR_CODES.RATE_LIMITED, retryable: true, status: 429, retryAfterMs: 2000 });
  });

  it("prefers retry-after-ms over Retry-After", async () => {
    wire().enqueue({ status: 429, headers: { "retry-after-ms": "350", "retry-after": "9" }, body: errorBody("slow down") });
    const err = await failure(provider());
    expect(err).toMatchObject({ code: ERROR_CODES.RATE_LIMITED, retryAfterMs: 350 });
  });

  it.each([500, 502, 503, 408])("maps %i to a retryable PROVIDER_UNAVAILABLE", async (status) => {
    wire().enqueue({ status, body: errorBody("upstream is overloaded", "server_error") });
    const err = await failure(provider());
    expect(err).toMatchObject({ code: ERROR_CODES.PROVIDER_UNAVAILABLE, retryable: true, status });
  });

  it.each([
    [400, "a rejected request", errorBody("max_tokens is too large"), ERROR_CODES.BAD_REQUEST],
    [422, "a vLLM validation error", { object: "error", message: "invalid messages", type: "BadRequestError", code: 422 }, ERROR_CODES.BAD_REQUEST],
    [401, "a wrong key", errorBody("Incorrect API key provided", "invalid_request_error", "invalid_api_key"), ERROR_CODES.AUTH_FAILED],
    [403, "a forbidden model", errorBody("forbidden"), ERROR_CODES.AUTH_FAILED],
    [404, "an unknown model", errorBody("The model `gpt-9` does not exist", "invalid_request_error", "model_not_found"), ERROR_CODES.MODEL_NOT_FOUND],
    [402, "OpenRouter out of credits", { error: { code: 402, message: "Insufficient credits" } }, ERROR_CODES.QUOTA_EXCEEDED],
    [429, "OpenAI insufficient_quota", errorBody("You exceeded your current quota", "insufficient_quota", "insufficient_quota"), ERROR_CODES.QUOTA_EXCEEDED],
    [403, "a key spend limit", errorBody("Key spend limit reached"), ERROR_CODES.QUOTA_EXCEEDED],
    [403, "OpenRouter's moderation of the input", { error: { code: 403, message: "Your input was flagged by the moderation model", metadata: { reasons: ["violence"] } } }, ERROR_CODES.BAD_REQUEST],
  ])("maps %i (%s) to non-retryable %s", async (status, _label, body, code) => {
    wire().enqueue({ status, body });
    const err = await failure(provider());
    expect(err).toMatchObject({ code, retryable: false });
    // A refused input is read as the bad request it is; every other error keeps its status.
    expect(err.status).toBe(code === ERROR_CODES.BAD_REQUEST && status === 403 ? 400 : status);
  });

  it("says a 404 that names no model is a route the server lacks: a baseUrl without its /v1", async () => {
    wire().enqueue({ status: 404, body: { detail: "Not Found" } });
    const route = await failure(provider());
    expect(route).toMatchObject({ code: ERROR_CODES.MODEL_NOT_FOUND, status: 404 });
    expect(route.message).toMatch(/no such route: is providers\.\S+\.baseUrl the API root with its \/v1/);
    wire().enqueue({ status: 404, body: errorBody("The model `gpt-9` does not exist", "invalid_request_error", "model_not_found") });
    expect((await failure(provider())).message).not.toContain("no such route");
  });

  it.each([
    [
      "Azure OpenAI's token rate limit (which links to a quota page)",
      errorBody("Requests to the ChatCompletions_Create Operation under Azure OpenAI API version 2024-02-01 have exceeded token rate limit of your current AIServices S0 pricing tier. Please retry after 6 seconds. Please go here: https://aka.ms/oai/quotaincrease if you would like to further increase the default rate limit.", "rate_limit_exceeded", "429"),
    ],
    ["Gemini's rate limit, in an array", [{ error: { code: 429, message: "Resource has been exhausted (e.g. check quota).", status: "RESOURCE_EXHAUSTED" } }]],
  ])("reads %s as a retryable RATE_LIMITED with its Retry-After and message", async (_label, body) => {
    wire().enqueue({ status: 429, headers: { "retry-after": "6" }, body });
    const err = await failure(provider());
    expect(err).toMatchObject({ code: ERROR_CODES.RATE_LIMITED, retryable: true, retryAfterMs: 6000 });
    expect(err.message).toMatch(/HTTP 429: (Requests to|Resource has been exhausted)/);
  });

  it("includes the provider's message, truncated, and never the key", async () => {
    wire().enqueue({ status: 400, body: errorBody(`bad ${"x".repeat(1000)}`) });
    const err = await failure(provider({ apiKeyEnv: "TEST_API_KEY" }));
    expect(err.message).toContain("bad xxx");
    expect(err.message.length).toBeLessThan(400);
    expect(err.message).not.toContain(SECRET);
  });

  it("maps a 200 error body (OpenRouter upstream failure) by its code", async () => {
    wire().enqueue({ body: { error: { code: 502, message: "upstream error" } } });
    const err = await failure(provider());
    expect(err).toMatchObject({ code: ERROR_CODES.PROVIDER_UNAVAILABLE, retryable: true });
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

  it("reports MALFORMED_RESPONSE for JSON without choices[0].message.content", async () => {
    wire().enqueue({ body: { id: "x", choices: [] } });
    const err = await failure(provider());
    expect(err).toMatchObject({ code: ERROR_CODES.MALFORMED_RESPONSE, retryable: true });
  });

  it.each([
    ["null", "length", ERROR_CODES.OUTPUT_TRUNCATED],
    ["empty", "length", ERROR_CODES.OUTPUT_TRUNCATED],
    ["null", "content_filter", ERROR_CODES.CONTENT_FILTERED],
  ])("fails a 200 answer with %s content and finish_reason %s as a non-retryable %s charged for its usage", async (content, finishReason, code) => {
    wire().enqueue({ body: noAnswer(content === "null" ? null : "", finishReason) });
    const err = await failure(provider());
    expect(err).toMatchObject({ code, retryable: false });
    expect(err.partial).toEqual({ inputTokens: 1000, outputTokens: 64, outputChars: 0, costUsd: 0.5 });
  });

  it("returns an empty answer that stopped normally (finish_reason stop) as the answer, with its usage", async () => {
    wire().enqueue({ body: completion("", { promptTokens: 30, completionTokens: 1 }) });
    const res = await provider().complete(request());
    expect(res).toMatchObject({ output: "", inputTokens: 30, outputTokens: 1 });
  });

  it("reports a 200 answer with no choices as a retryable MALFORMED_RESPONSE that still carries the reported usage", async () => {
    wire().enqueue({ body: { id: "x", choices: [], usage: { prompt_tokens: 1000, completion_tokens: 0, cost: 0.25 } } });
    const err = await failure(provider());
    expect(err).toMatchObject({ code: ERROR_CODES.MALFORMED_RESPONSE, retryable: true });
    expect(err.partial).toEqual({ inputTokens: 1000, outputTokens: 0, outputChars: 0, costUsd: 0.25 });
  });

  it("adds the upstream provider's bill (cost_details.upstream_inference_cost) to OpenRouter's fee for a BYOK call", async () => {
    const usage = { prompt_tokens: 194, completion_tokens: 2, cost: 0.0001, is_byok: true, cost_details: { upstream_inference_cost: 0.002 } };
    wire().enqueue({ body: { ...completion("hi"), usage } });
    const res = await provider().complete(request());
    expect(res.costUsd).toBeCloseTo(0.0021, 12);
  });

  it("does not add upstream_inference_cost to the cost of a call without BYOK, where it repeats the cost", async () => {
    const usage = { prompt_tokens: 194, completion_tokens: 2, cost: 0.002, is_byok: false, cost_details: { upstream_inference_cost: 0.002 } };
    wire().enqueue({ body: { ...completion("hi"), usage } });
    const res = await provider().complete(request());
    expect(res.costUsd).toBe(0.002);
  });

  it("counts cached prompt tokens once, inside prompt_tokens, and reports them as cache reads (and OpenRouter's cache writes)", async () => {
    wire().enqueue({ body: completion("hi", { promptTokens: 1200, completionTokens: 5, cachedTokens: 1024 }) });
    const res = await provider().complete(request());
    expect(res).toMatchObject({ inputTokens: 1200, outputTokens: 5, cacheReadTokens: 1024 });
    expect(res).not.toHaveProperty("cacheWriteTokens");
    expect(res).not.toHaveProperty("costUsd");

    wire().enqueue({ body: completion("hi", { promptTokens: 1500, completionTokens: 5, cachedTokens: 0, cacheWriteTokens: 1400 }) });
    const written = await provider().complete(request());
    expect(written).toMatchObject({ inputTokens: 1500, cacheWriteTokens: 1400 });
    // No cache hit (cached_tokens: 0): no cache reads reported.
    expect(written).not.toHaveProperty("cacheReadTokens");
  });

  it("reads DeepSeek's cache hits (prompt_cache_hit_tokens) as cache reads", async () => {
    const usage = { prompt_tokens: 900, completion_tokens: 5, prompt_cache_hit_tokens: 768, prompt_cache_miss_tokens: 132 };
    wire().enqueue({ body: { ...completion("hi"), usage } });
    expect(await provider().complete(request())).toMatchObject({ inputTokens: 900, cacheReadTokens: 768 });
  });

  it("ignores cache counts that are not token counts", async () => {
    const usage = { prompt_tokens: 900, completion_tokens: 5, prompt_tokens_details: { cached_tokens: -3, cache_write_tokens: "12" } };
    wire().enqueue({ body: { ...completion("hi"), usage } });
    const res = await provider().complete(request());
    expect(res).toMatchObject({ inputTokens: 900 });
    expect(res).not.toHaveProperty("cacheReadTokens");
    expect(res).not.toHaveProperty("cacheWriteTokens");
  });

  it("reports CONNECTION_FAILED when nothing listens on the port", async () => {
    const port = await closedPort();
    const err = await failure(provider({ baseUrl: `http://127.0.0.1:${port}/v1` }));
    expect(err).toMatchObject({ code: ERROR_CODES.CONNECTION_FAILED, retryable: true });
  });

  it("fails with PROVIDER_NOT_CONFIGURED naming the variable, without calling the server", async () => {
    const err = await failure(provider({ apiKeyEnv: "MISSING_KEY" }, { MISSING_KEY: "" }));
    expect(err).toMatchObject({ code: ERROR_CODES.PROVIDER_NOT_CONFIGURED, retryable: false });
    expect(err.message).toContain("MISSING_KEY");
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

describe("openai-compatible provider, streamed", () => {
  const streamed = (config: Partial<OpenAICompatibleConfig> = {}): ModelProvider => provider({ stream: true, ...config });
  const ROLE_CHUNK = chunkEvent({ role: "assistant", content: "" });
  /** "NATS is " is 8 chars (2 estimated tokens); the request's messages estimate to 7 input tokens. */
  const FIRST_PIECE = chunkEvent({ content: "NATS is " });

  streamContract({
    provider: streamed,
    request,
    server: wire,
    stream: sseStream,
    opening: [ROLE_CHUNK],
    piece: (content) => chunkEvent({ content }),
    closing: [usageEvent(), DONE_EVENT],
    notJson: 'data: {"choices": [{"delta"\n\n',
    rateLimited: { status: 429, headers: { "retry-after": "2" }, body: errorBody("Rate limit reached", "requests", "rate_limit_exceeded") },
    openingInputTokens: 7,
  });

  it("asks for a stream with usage, joins the deltas and takes usage and OpenRouter's cost from the last chunk", async () => {
    wire().enqueue(completionStream(["NATS is ", "a messaging ", "system."], { promptTokens: 21, completionTokens: 7, cost: 0.000123 }));

    const res = await streamed().complete(request());

    expect(res).toEqual({
      output: "NATS is a messaging system.",
      inputTokens: 21,
      outputTokens: 7,
      costUsd: 0.000123,
      simulated: false,
      timeToFirstTokenMs: expect.any(Number) as number,
    });
    expect(wire().requests[0]?.body).toMatchObject({ model: "gpt-4o-mini", max_tokens: 64, stream: true, stream_options: { include_usage: true } });
  });

  it("takes the cache reads from the stream's usage chunk", async () => {
    wire().enqueue(completionStream(["NATS is ", "fast."], { promptTokens: 2100, completionTokens: 4, cachedTokens: 2048 }));
    expect(await streamed().complete(request())).toMatchObject({ inputTokens: 2100, outputTokens: 4, cacheReadTokens: 2048 });
  });

  it("takes a whole JSON answer to a streamed request (a gateway or cache that does not stream) as the answer", async () => {
    wire().enqueue({ body: completion("NATS is a messaging system.", { promptTokens: 1200, completionTokens: 400 }) });
    const res = await streamed().complete(request());
    expect(res).toMatchObject({ output: "NATS is a messaging system.", inputTokens: 1200, outputTokens: 400 });
    expect(wire().requests).toHaveLength(1);
  });

  it("reads a streamed refusal (delta.refusal) as the answer", async () => {
    wire().enqueue(sseStream([ROLE_CHUNK, chunkEvent({ refusal: "I can't " }), chunkEvent({ refusal: "help with that." }), usageEvent({ promptTokens: 30, completionTokens: 9 }), DONE_EVENT]));
    const res = await streamed().complete(request());
    expect(res).toMatchObject({ output: "I can't help with that.", inputTokens: 30, outputTokens: 9 });
  });

  it("estimates tokens from the streamed text when no usage chunk arrives", async () => {
    wire().enqueue(completionStream(["1234", "5678"], { noUsage: true }));
    const res = await streamed().complete(request());
    expect(res).toMatchObject({ output: "12345678", inputTokens: 7, outputTokens: 2 });
    expect(res).not.toHaveProperty("costUsd");
  });

  it.each([
    ["server_error", ERROR_CODES.PROVIDER_UNAVAILABLE, 502],
    [429, ERROR_CODES.RATE_LIMITED, 429],
  ])("maps an error chunk after the 200 (code %s) to a retryable %s carrying the partial usage", async (code, expected, status) => {
    const failed = { error: { code, message: "Provider disconnected unexpectedly" }, choices: [{ index: 0, delta: { content: "" }, finish_reason: "error" }] };
    wire().enqueue(sseStream([ROLE_CHUNK, FIRST_PIECE, chunkEvent({ content: "" }, failed)]));

    const err = await failure(streamed());

    expect(err).toMatchObject({ code: expected, retryable: true, status });
    expect(err.partial).toEqual({ inputTokens: 7, outputTokens: 2, outputChars: 8 });
    expect(err.message).toContain("Provider disconnected unexpectedly");
  });

  it.each([
    ["length", ERROR_CODES.OUTPUT_TRUNCATED],
    ["content_filter", ERROR_CODES.CONTENT_FILTERED],
  ])("fails a stream that ends without output and finish_reason %s as a non-retryable %s charged for its usage", async (finishReason, code) => {
    const finished = chunkEvent({}, { choices: [{ index: 0, delta: {}, finish_reason: finishReason }] });
    wire().enqueue(sseStream([chunkEvent({ role: "assistant", content: null }), finished, usageEvent({ promptTokens: 1000, completionTokens: 64, cost: 0.5 }), DONE_EVENT]));
    const err = await failure(streamed());
    expect(err).toMatchObject({ code, retryable: false });
    expect(err.partial).toEqual({ inputTokens: 1000, outputTokens: 64, outputChars: 0, costUsd: 0.5 });
  });

  it("returns a stream cut at the output limit after some output as the (truncated) answer", async () => {
    const finished = chunkEvent({}, { choices: [{ index: 0, delta: {}, finish_reason: "length" }] });
    wire().enqueue(sseStream([ROLE_CHUNK, FIRST_PIECE, finished, usageEvent({ promptTokens: 21, completionTokens: 64 }), DONE_EVENT]));
    const res = await streamed().complete(request());
    expect(res).toMatchObject({ output: "NATS is ", inputTokens: 21, outputTokens: 64 });
  });

  it("returns an empty stream that stopped normally as an empty answer", async () => {
    wire().enqueue(completionStream([], { promptTokens: 21, completionTokens: 1 }));
    const res = await streamed().complete(request());
    expect(res).toMatchObject({ output: "", inputTokens: 21, outputTokens: 1 });
  });

  it("reads chunks whose error field is null (Microsoft Foundry Local sends it on every chunk) as a stream that went well", async () => {
    wire().enqueue(sseStream([chunkEvent({ role: "assistant", content: "" }, { error: null }), chunkEvent({ content: "NATS" }, { error: null }), usageEvent(), DONE_EVENT]));
    const res = await streamed().complete(request());
    expect(res.output).toBe("NATS");
  });

  it.each([
    ["a crashed slot (code 500)", ERROR_CODES.PROVIDER_UNAVAILABLE, true, '{"code":500,"message":"slot crashed","type":"server_error"}'],
    ["a prompt over the context size (code 400)", ERROR_CODES.BAD_REQUEST, false, '{"code":400,"message":"the request exceeds the available context size","type":"exceed_context_size_error"}'],
  ])("maps llama.cpp's mid-stream `error:` event for %s to %s (retryable: %s) carrying the partial usage, not to a success", async (_label, code, retryable, error) => {
    wire().enqueue(sseStream([ROLE_CHUNK, FIRST_PIECE, `error: ${error}\n\n`, DONE_EVENT]));
    const err = await failure(streamed());
    expect(err).toMatchObject({ code, retryable });
    expect(err.partial).toEqual({ inputTokens: 7, outputTokens: 2, outputChars: 8 });
  });

  it("maps an `event: error` whose data wraps the error in `error` by its code", async () => {
    wire().enqueue(sseStream([ROLE_CHUNK, FIRST_PIECE, sseEvent({ error: { code: 429, message: "slow down" } }, "error"), DONE_EVENT]));
    const err = await failure(streamed());
    expect(err).toMatchObject({ code: ERROR_CODES.RATE_LIMITED, retryable: true, status: 429 });
    expect(err.message).toContain("slow down");
  });

  it("adds a BYOK call's upstream_inference_cost from the usage chunk to OpenRouter's fee", async () => {
    const usage = { prompt_tokens: 21, completion_tokens: 3, cost: 0.0001, is_byok: true, cost_details: { upstream_inference_cost: 0.002 } };
    wire().enqueue(sseStream([ROLE_CHUNK, FIRST_PIECE, chunkEvent({}, { choices: [], usage }), DONE_EVENT]));
    const res = await streamed().complete(request());
    expect(res.costUsd).toBeCloseTo(0.0021, 12);
  });

  it("reports the usage and cost a stream sent before it ended without [DONE]", async () => {
    wire().enqueue(sseStream([FIRST_PIECE, usageEvent({ promptTokens: 21, completionTokens: 3, cost: 0.00005 })]));
    const err = await failure(streamed());
    expect(err).toMatchObject({ code: ERROR_CODES.MALFORMED_RESPONSE, retryable: true });
    expect(err.partial).toEqual({ inputTokens: 21, outputTokens: 3, outputChars: 8, costUsd: 0.00005 });
  });
});
