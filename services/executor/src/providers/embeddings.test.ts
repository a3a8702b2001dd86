import { ConfigError, ERROR_CODES, ProviderError, type ProviderConfig, type RouterEnv } from "@llm-router/shared";
import { describe, expect, it } from "vitest";
import {
  closedPort,
  errorBody,
  ollamaEmbeddings,
  ollamaError,
  openAIEmbeddings,
  useOllamaEmbeddingServer,
  useOpenAIEmbeddingServer,
  type EmbeddingWireServer,
} from "../testing/embedding-wire-servers.js";
import { createEmbedder, type EmbedRequest, type Embedder } from "./embeddings.js";

const SECRET = "sk-test-secret-123";

function request(fields: Partial<EmbedRequest> = {}): EmbedRequest {
  return { model: "embed-small", inputs: ["first text", "second text"], timeoutMs: 2000, ...fields };
}

/** The ProviderError an embed call rejects with (fails the test when it resolves or rejects otherwise). */
async function failure(embedder: Embedder, req = request()): Promise<ProviderError> {
  const err: unknown = await embedder.embed(req).then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(err instanceof ProviderError)) throw new Error(`expected a ProviderError, got ${String(err)}`);
  return err;
}

const vectors = (...rows: number[][]): number[][] => rows;
const plain = (result: Float32Array[]): number[][] => result.map((v) => Array.from(v));

interface Format {
  name: string;
  route: string;
  wire: () => EmbeddingWireServer;
  config: (baseUrl: string) => ProviderConfig;
  /** A success body carrying these vectors in order. */
  success: (rows: readonly unknown[]) => Record<string, unknown>;
  /** An error body in the format's own shape. */
  error: (message: string) => Record<string, unknown>;
}

const openAIWire = useOpenAIEmbeddingServer();
const ollamaWire = useOllamaEmbeddingServer();

const FORMATS: Format[] = [
  {
    name: "openai-compatible",
    route: "/v1/embeddings",
    wire: openAIWire,
    config: (baseUrl) => ({ type: "openai-compatible", baseUrl, timeoutMs: 60_000, headers: {}, stream: false }),
    success: (rows) => openAIEmbeddings(rows),
    error: (message) => errorBody(message),
  },
  {
    name: "ollama",
    route: "/api/embed",
    wire: ollamaWire,
    config: (baseUrl) => ({ type: "ollama", baseUrl, timeoutMs: 120_000, headers: {}, stream: false }),
    success: (rows) => ollamaEmbeddings(rows),
    error: (message) => ollamaError(message),
  },
];

describe.each(FORMATS)("$name embedder", (format) => {
  const wire = format.wire;
  const embedder = (baseUrl = wire().baseUrl): Embedder => createEmbedder("embed", format.config(baseUrl), {});

  it("posts the model and the inputs and returns one Float32Array per input, in input order", async () => {
    wire().enqueue({ body: format.success(vectors([0.5, -1, 2], [3, 0.25, -0.125])) });

    const result = await embedder().embed(request());

    expect(result.every((v) => v instanceof Float32Array)).toBe(true);
    expect(plain(result)).toEqual([
      [0.5, -1, 2],
      [3, 0.25, -0.125],
    ]);
    const [sent] = wire().requests;
    expect(sent?.method).toBe("POST");
    expect(sent?.path).toBe(format.route);
    expect(sent?.headers["content-type"]).toBe("application/json");
    expect(sent?.body).toEqual({ model: "embed-small", input: ["first text", "second text"] });
  });

  it("accepts a base URL with a trailing slash", async () => {
    await embedder(`${wire().baseUrl}/`).embed(request());
    expect(wire().requests[0]?.path).toBe(format.route);
  });

  it("returns no vectors for no inputs without calling the server", async () => {
    await expect(embedder().embed(request({ inputs: [] }))).resolves.toEqual([]);
    expect(wire().requests).toHaveLength(0);
  });

  it("maps 401 to a non-retryable AUTH_FAILED", async () => {
    wire().enqueue({ status: 401, body: format.error("invalid api key") });
    const err = await failure(embedder());
    expect(err).toMatchObject({ code: ERROR_CODES.AUTH_FAILED, retryable: false, status: 401 });
    expect(err.message).toContain("invalid api key");
  });

  it("maps 429 with Retry-After to a retryable RATE_LIMITED carrying the delay", async () => {
    wire().enqueue({ status: 429, headers: { "retry-after": "2" }, body: format.error("slow down") });
    const err = await failure(embedder());
    expect(err).toMatchObject({ code: ERROR_CODES.RATE_LIMITED, retryable: true, status: 429, retryAfterMs: 2000 });
  });

  it("maps 500 to a retryable PROVIDER_UNAVAILABLE", async () => {
    wire().enqueue({ status: 500, body: format.error("model is loading") });
    const err = await failure(embedder());
    expect(err).toMatchObject({ code: ERROR_CODES.PROVIDER_UNAVAILABLE, retryable: true, status: 500 });
  });

  it("maps 404 for an unknown model to a non-retryable MODEL_NOT_FOUND", async () => {
    wire().enqueue({ status: 404, body: format.error('model "embed-small" not found, try pulling it first') });
    const err = await failure(embedder());
    expect(err).toMatchObject({ code: ERROR_CODES.MODEL_NOT_FOUND, retryable: false });
  });

  it.each([
    ["fewer embeddings than inputs", [[1, 2]]],
    ["more embeddings than inputs", [[1, 2], [3, 4], [5, 6]]],
    ["ragged vectors", [[1, 2, 3], [4, 5]]],
    ["empty vectors", [[], []]],
    ["a non-number in a vector", [[1, "2"], [3, 4]]],
    ["a null in a vector", [[1, null], [3, 4]]],
    ["a value beyond float32 range", [[1, 1e39], [3, 4]]],
    ["a base64 string instead of numbers", ["AACAPwAAAEA=", "AABAQAAAgEA="]],
  ])("reports a retryable MALFORMED_RESPONSE for %s", async (_case, rows) => {
    wire().enqueue({ body: format.success(rows) });
    const err = await failure(embedder());
    expect(err).toMatchObject({ code: ERROR_CODES.MALFORMED_RESPONSE, retryable: true });
  });

  it("reports MALFORMED_RESPONSE for a 200 body that is not JSON", async () => {
    wire().enqueue({ raw: "<html>proxy error</html>" });
    const err = await failure(embedder());
    expect(err).toMatchObject({ code: ERROR_CODES.MALFORMED_RESPONSE, retryable: true });
  });

  it("reports MALFORMED_RESPONSE for JSON without vectors", async () => {
    wire().enqueue({ body: { model: "embed-small" } });
    const err = await failure(embedder());
    expect(err).toMatchObject({ code: ERROR_CODES.MALFORMED_RESPONSE, retryable: true });
  });

  it("reports PROVIDER_TIMEOUT when the server does not answer within the request's timeoutMs", async () => {
    wire().enqueue("hang");
    const started = performance.now();
    const err = await failure(embedder(), request({ timeoutMs: 100 }));
    expect(err).toMatchObject({ code: ERROR_CODES.PROVIDER_TIMEOUT, retryable: true });
    // The request's deadline, not the provider's (60 s / 120 s, sized for completions).
    expect(performance.now() - started).toBeLessThan(2000);
  });

  it("reports a retryable CONNECTION_FAILED when nothing listens at the base URL", async () => {
    const err = await failure(embedder(`http://127.0.0.1:${await closedPort()}`));
    expect(err).toMatchObject({ code: ERROR_CODES.CONNECTION_FAILED, retryable: true });
  });

  it("rejects with the caller's abort reason, not a provider error, when the caller aborts", async () => {
    wire().enqueue("hang");
    const controller = new AbortController();
    const pending = embedder().embed(request({ signal: controller.signal }));
    const reason = new Error("shutting down");
    setTimeout(() => controller.abort(reason), 20);
    await expect(pending).rejects.toBe(reason);
  });
});

describe("openai-compatible embedder", () => {
  const wire = openAIWire;
  type Config = Extract<ProviderConfig, { type: "openai-compatible" }>;
  function embedder(config: Partial<Config> = {}, env: RouterEnv = { TEST_API_KEY: SECRET }): Embedder {
    return createEmbedder("openai", { type: "openai-compatible", baseUrl: wire().baseUrl, timeoutMs: 60_000, headers: {}, stream: false, ...config }, env);
  }

  it("sends the bearer key from the configured variable and the configured headers", async () => {
    await embedder({ apiKeyEnv: "TEST_API_KEY", headers: { "x-title": "llm-router" } }).embed(request());
    const [sent] = wire().requests;
    expect(sent?.headers.authorization).toBe(`Bearer ${SECRET}`);
    expect(sent?.headers["x-title"]).toBe("llm-router");
  });

  it("sends no authorization header when no key variable is configured", async () => {
    await embedder().embed(request());
    expect(wire().requests[0]?.headers.authorization).toBeUndefined();
  });

  it("reports PROVIDER_NOT_CONFIGURED naming the variable, without calling the server, when it is unset", async () => {
    const err = await failure(embedder({ apiKeyEnv: "MISSING_KEY" }, {}));
    expect(err).toMatchObject({ code: ERROR_CODES.PROVIDER_NOT_CONFIGURED, retryable: false });
    expect(err.message).toContain("MISSING_KEY");
    expect(wire().requests).toHaveLength(0);
  });

  it("orders the vectors by each item's index, not by the order the items arrive in", async () => {
    wire().enqueue({ body: openAIEmbeddings(vectors([1, 0], [0, 1], [1, 1]), { reversed: true }) });
    const result = await embedder().embed(request({ inputs: ["a", "b", "c"] }));
    expect(plain(result)).toEqual([
      [1, 0],
      [0, 1],
      [1, 1],
    ]);
  });

  it("reports MALFORMED_RESPONSE when two items claim the same index", async () => {
    wire().enqueue({
      body: { object: "list", data: [0, 0].map((index) => ({ object: "embedding", index, embedding: [1, 2] })) },
    });
    const err = await failure(embedder());
    expect(err).toMatchObject({ code: ERROR_CODES.MALFORMED_RESPONSE });
  });

  it("maps a 200 error body from an upstream that failed mid-response to its coded error", async () => {
    wire().enqueue({ body: { error: { message: "upstream overloaded", code: 503 } } });
    const err = await failure(embedder());
    expect(err).toMatchObject({ code: ERROR_CODES.PROVIDER_UNAVAILABLE, retryable: true });
  });

  it("maps 429 insufficient_quota to a non-retryable QUOTA_EXCEEDED", async () => {
    wire().enqueue({ status: 429, body: errorBody("You exceeded your current quota", "insufficient_quota", "insufficient_quota") });
    const err = await failure(embedder());
    expect(err).toMatchObject({ code: ERROR_CODES.QUOTA_EXCEEDED, retryable: false });
  });
});

describe("ollama embedder", () => {
  it("passes the configured keep_alive so the embedding model stays loaded", async () => {
    const embedder = createEmbedder("ollama", { type: "ollama", baseUrl: ollamaWire().baseUrl, timeoutMs: 120_000, keepAlive: "30m", headers: {}, stream: false }, {});
    await embedder.embed(request());
    expect(ollamaWire().requests[0]?.body).toMatchObject({ keep_alive: "30m" });
  });
});

describe("createEmbedder", () => {
  it.each<ProviderConfig>([
    { type: "simulator" },
    { type: "anthropic", baseUrl: "https://api.anthropic.com", apiKeyEnv: "ANTHROPIC_API_KEY", version: "2023-06-01", timeoutMs: 1000, headers: {}, stream: false },
  ])("rejects a $type provider with a ConfigError naming the key and the type", (config) => {
    let err: unknown;
    try {
      createEmbedder("mine", config, {});
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect(err).toMatchObject({ code: ERROR_CODES.CONFIG_INVALID });
    expect((err as Error).message).toContain("providers.mine");
    expect((err as Error).message).toContain(config.type);
  });
});
