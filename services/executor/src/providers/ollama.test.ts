import { ERROR_CODES, type ModelConfig, type ProviderError } from "@llm-router/shared";
import { describe, expect, it } from "vitest";
import { chatRequest, model, providerFailure } from "../testing/fixtures.js";
import { streamContract } from "../testing/stream-contract.js";
import {
  chatStream,
  chunkLine,
  doneLine,
  ndjsonLine,
  ndjsonStream,
  ollamaChat,
  ollamaError,
  startOllamaWireServer,
  useOllamaWireServer,
} from "../testing/ollama-wire-server.js";
import { ollamaProvider, type OllamaConfig } from "./ollama.js";
import type { CompletionRequest, ModelProvider } from "./provider.js";

const wire = useOllamaWireServer();

function provider(config: Partial<OllamaConfig> = {}, models: ModelConfig[] = []): ModelProvider {
  const full: OllamaConfig = { type: "ollama", baseUrl: wire().baseUrl, timeoutMs: 2000, headers: {}, stream: false, ...config };
  return ollamaProvider.create("ollama", full, { env: {}, models, sleep: () => Promise.resolve() });
}

function request(fields: Partial<CompletionRequest> = {}): CompletionRequest {
  return chatRequest("ollama:llama3.2:3b", fields);
}

const failure = (p: ModelProvider, req = request()): Promise<ProviderError> => providerFailure(p, req);

describe("ollama provider", () => {
  it("posts a non-streaming /api/chat request with num_predict and keep_alive, and returns Ollama's counts", async () => {
    wire().enqueue({ body: ollamaChat("NATS is a messaging system.", { promptEvalCount: 21, evalCount: 7 }) });
    const p = provider({ keepAlive: "10m", headers: { "x-proxy-token": "local" } });

    const res = await p.complete(request());

    expect(res).toEqual({ output: "NATS is a messaging system.", inputTokens: 21, outputTokens: 7, simulated: false });
    const [sent] = wire().requests;
    expect(sent?.method).toBe("POST");
    expect(sent?.path).toBe("/api/chat");
    expect(sent?.headers["content-type"]).toBe("application/json");
    expect(sent?.headers["x-proxy-token"]).toBe("local");
    expect(sent?.headers.authorization).toBeUndefined();
    expect(sent?.body).toEqual({
      model: "llama3.2:3b",
      messages: [
        { role: "system", content: "Be brief." },
        { role: "user", content: "What is NATS?" },
      ],
      stream: false,
      options: { num_predict: 64 },
      keep_alive: "10m",
    });
  });

  it("sends the registry's contextWindow as num_ctx on every call, short or long, so Ollama neither cuts the prompt nor reloads the model", async () => {
    const p = provider({}, [model("ollama:llama3.2:3b", { contextWindow: 32768 })]);

    await p.complete(request());
    await p.complete(request({ messages: [{ role: "user", content: "word ".repeat(20_000) }] }));

    expect(wire().requests.map((r) => r.body)).toMatchObject([{ options: { num_predict: 64, num_ctx: 32768 } }, { options: { num_predict: 64, num_ctx: 32768 } }]);
  });

  it("leaves num_ctx out for a model the registry does not list, so Ollama's own default applies", async () => {
    await provider({}, [model("ollama:other", { contextWindow: 32768 })]).complete(request());
    expect(wire().requests[0]?.body).toMatchObject({ options: { num_predict: 64 } });
    expect(wire().requests[0]?.body).not.toHaveProperty("options.num_ctx");
  });

  it("leaves keep_alive out when none is configured, so Ollama's default applies", async () => {
    await provider().complete(request());
    expect(wire().requests[0]?.body).not.toHaveProperty("keep_alive");
  });

  it("accepts a base URL with a trailing slash", async () => {
    await provider({ baseUrl: `${wire().baseUrl}/` }).complete(request());
    expect(wire().requests[0]?.path).toBe("/api/chat");
  });

  it("estimates input tokens from the messages when Ollama omits prompt_eval_count for a cached prompt", async () => {
    wire().enqueue({ body: ollamaChat("12345678", { promptEvalCount: null, evalCount: 3 }) });
    const res = await provider().complete(request());
    // "Be brief." (9 chars → 3) + "What is NATS?" (13 chars → 4).
    expect(res).toMatchObject({ inputTokens: 7, outputTokens: 3 });
  });

  it("estimates output tokens from the text when eval_count is absent", async () => {
    wire().enqueue({ body: ollamaChat("12345678", { evalCount: null }) });
    const res = await provider().complete(request());
    expect(res.outputTokens).toBe(2);
  });

  it("maps a 404 for a model that was never pulled to a non-retryable MODEL_NOT_FOUND", async () => {
    wire().enqueue({ status: 404, body: ollamaError('model "llama3.2:3b" not found, try pulling it first') });
    const err = await failure(provider());
    expect(err).toMatchObject({ code: ERROR_CODES.MODEL_NOT_FOUND, retryable: false, status: 404 });
    expect(err.message).toContain("ollama pull llama3.2:3b");
  });

  it("maps a 404 from a base URL that is not the API root to MODEL_NOT_FOUND without a pull hint", async () => {
    const err = await failure(provider({ baseUrl: `${wire().baseUrl}/v1` }));
    expect(err).toMatchObject({ code: ERROR_CODES.MODEL_NOT_FOUND, retryable: false, status: 404 });
    expect(err.message).not.toContain("ollama pull");
  });

  it("maps 400 to a non-retryable BAD_REQUEST", async () => {
    wire().enqueue({ status: 400, body: ollamaError("invalid message format") });
    const err = await failure(provider());
    expect(err).toMatchObject({ code: ERROR_CODES.BAD_REQUEST, retryable: false, status: 400 });
  });

  it.each([500, 502, 503])("maps %i (loading, out of memory) to a retryable PROVIDER_UNAVAILABLE", async (status) => {
    wire().enqueue({ status, body: ollamaError("model requires more system memory (5.5 GiB) than is available (3.1 GiB)") });
    const err = await failure(provider());
    expect(err).toMatchObject({ code: ERROR_CODES.PROVIDER_UNAVAILABLE, retryable: true, status });
  });

  it("maps 429 with Retry-After to a retryable RATE_LIMITED carrying the delay", async () => {
    wire().enqueue({ status: 429, headers: { "retry-after": "3" }, body: ollamaError("server busy, please try again.  maximum pending requests exceeded") });
    const err = await failure(provider());
    expect(err).toMatchObject({ code: ERROR_CODES.RATE_LIMITED, retryable: true, status: 429, retryAfterMs: 3000 });
  });

  it("includes Ollama's error text truncated to a readable length", async () => {
    wire().enqueue({ status: 400, body: ollamaError(`bad ${"x".repeat(1000)}`) });
    const err = await failure(provider());
    expect(err.message).toContain("bad xxx");
    expect(err.message.length).toBeLessThan(400);
  });

  it("reports PROVIDER_TIMEOUT when Ollama does not answer within timeoutMs", async () => {
    wire().enqueue("hang");
    const err = await failure(provider({ timeoutMs: 100 }));
    expect(err).toMatchObject({ code: ERROR_CODES.PROVIDER_TIMEOUT, retryable: true });
  });

  it("reports MALFORMED_RESPONSE for a 200 body that is not JSON", async () => {
    wire().enqueue({ raw: "<html>proxy error</html>" });
    const err = await failure(provider());
    expect(err).toMatchObject({ code: ERROR_CODES.MALFORMED_RESPONSE, retryable: true });
  });

  it("reports MALFORMED_RESPONSE for JSON without message.content", async () => {
    wire().enqueue({ body: { model: "llama3.2:3b", done: true } });
    const err = await failure(provider());
    expect(err).toMatchObject({ code: ERROR_CODES.MALFORMED_RESPONSE, retryable: true });
  });

  it("fails an answer without text that num_predict cut off (a thinking model) as a non-retryable OUTPUT_TRUNCATED; an empty stop is an answer", async () => {
    wire().enqueue({ body: ollamaChat("", { doneReason: "length", promptEvalCount: 21, evalCount: 64 }) });
    const err = await failure(provider());
    expect(err).toMatchObject({ code: ERROR_CODES.OUTPUT_TRUNCATED, retryable: false });
    expect(err.partial).toEqual({ inputTokens: 21, outputTokens: 64, outputChars: 0 });
    wire().enqueue({ body: ollamaChat("", { doneReason: "stop" }) });
    expect((await provider().complete(request())).output).toBe("");
  });

  it("reports MALFORMED_RESPONSE for a response that is not done", async () => {
    wire().enqueue({ body: { ...ollamaChat("partial"), done: false } });
    const err = await failure(provider());
    expect(err).toMatchObject({ code: ERROR_CODES.MALFORMED_RESPONSE, retryable: true });
  });

  it("reports a retryable CONNECTION_FAILED when nothing listens at the base URL", async () => {
    const stopped = await startOllamaWireServer();
    await stopped.close();
    const err = await failure(provider({ baseUrl: stopped.baseUrl }));
    expect(err).toMatchObject({ code: ERROR_CODES.CONNECTION_FAILED, retryable: true });
  });

  it("rejects with the caller's abort reason, not a provider error, when the caller aborts", async () => {
    wire().enqueue("hang");
    const controller = new AbortController();
    const pending = provider().complete(request({ signal: controller.signal }));
    const reason = new Error("shutting down");
    setTimeout(() => controller.abort(reason), 20);
    await expect(pending).rejects.toBe(reason);
  });

  it("rejects with the abort reason without calling Ollama when already aborted", async () => {
    const controller = new AbortController();
    const reason = new Error("shutting down");
    controller.abort(reason);
    await expect(provider().complete(request({ signal: controller.signal }))).rejects.toBe(reason);
    expect(wire().requests).toHaveLength(0);
  });
});

describe("ollama provider, streamed", () => {
  const streamed = (config: Partial<OllamaConfig> = {}): ModelProvider => provider({ stream: true, ...config });

  streamContract({
    provider: streamed,
    request,
    server: wire,
    stream: ndjsonStream,
    opening: [chunkLine("")],
    piece: (content) => chunkLine(content),
    closing: [doneLine()],
    notJson: '{"message":{"content":\n',
    rateLimited: { status: 429, headers: { "retry-after": "2" }, body: ollamaError("server busy, please try again.  maximum pending requests exceeded") },
    openingInputTokens: 7,
  });

  it("asks for a stream, joins the message pieces and takes the counts from the done line", async () => {
    wire().enqueue(chatStream(["NATS is ", "a messaging ", "system."], { promptEvalCount: 21, evalCount: 7 }));

    const res = await provider({ stream: true, keepAlive: "10m" }, [model("ollama:llama3.2:3b", { contextWindow: 16384 })]).complete(request());

    expect(res).toEqual({ output: "NATS is a messaging system.", inputTokens: 21, outputTokens: 7, simulated: false, timeToFirstTokenMs: expect.any(Number) as number });
    expect(wire().requests[0]?.body).toMatchObject({ model: "llama3.2:3b", stream: true, options: { num_predict: 64, num_ctx: 16384 }, keep_alive: "10m" });
  });

  it("fails a stream without text that num_predict cut off as OUTPUT_TRUNCATED, and returns the text of one cut off after some", async () => {
    wire().enqueue(chatStream([""], { doneReason: "length", promptEvalCount: 21, evalCount: 64 }));
    const err = await failure(streamed());
    expect(err).toMatchObject({ code: ERROR_CODES.OUTPUT_TRUNCATED, retryable: false });
    expect(err.partial).toEqual({ inputTokens: 21, outputTokens: 64, outputChars: 0 });
    wire().enqueue(chatStream(["NATS is"], { doneReason: "length" }));
    expect((await streamed().complete(request())).output).toBe("NATS is");
  });

  it("estimates the counts the done line leaves out", async () => {
    wire().enqueue(chatStream(["1234", "5678"], { promptEvalCount: null, evalCount: null }));
    const res = await streamed().complete(request());
    expect(res).toMatchObject({ output: "12345678", inputTokens: 7, outputTokens: 2 });
  });

  it("maps an error line after the 200 to a retryable PROVIDER_UNAVAILABLE carrying the partial usage", async () => {
    wire().enqueue(ndjsonStream([chunkLine("NATS is "), ndjsonLine(ollamaError("an error was encountered while running the model: unexpected EOF"))]));

    const err = await failure(streamed());

    expect(err).toMatchObject({ code: ERROR_CODES.PROVIDER_UNAVAILABLE, retryable: true });
    // "NATS is " is 8 chars (2 estimated tokens); the request's messages estimate to 7 input tokens.
    expect(err.partial).toEqual({ inputTokens: 7, outputTokens: 2, outputChars: 8 });
    expect(err.message).toContain("unexpected EOF");
  });
});
