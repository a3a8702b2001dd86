/**
 * A thin embeddings client over two wire formats: the OpenAI `POST /v1/embeddings` (OpenAI,
 * OpenRouter, vLLM, the llama.cpp server, LM Studio, Ollama's `/v1`) and Ollama's native
 * `POST /api/embed`. One POST per call, no retries, every failure a coded `ProviderError` from
 * the shared HTTP layer, so a caller handles an embedding failure as it handles a completion one.
 * The response is checked whole (one finite vector per input, all of one length): a centroid
 * compared with a ragged or NaN vector gives a confident wrong answer, not an error.
 */
import { ConfigError, ERROR_CODES, ProviderError, type ProviderConfig, type RouterEnv } from "@llm-router/shared";
import { count, field, malformed, postJson, type HttpReply } from "./http.js";
import { errorFromResponse } from "./openai-errors.js";

export interface EmbedRequest {
  /** The provider-local model name, e.g. `text-embedding-3-small`, `nomic-embed-text`. */
  model: string;
  /** The texts to embed, in the order the vectors are returned. */
  inputs: readonly string[];
  /** Deadline for the whole call; the provider's own `timeoutMs` (sized for completions) is not used. */
  timeoutMs: number;
  /** Aborted when the caller gives up (shutdown); the call then rejects with `signal.reason`. */
  signal?: AbortSignal;
}

export interface Embedder {
  /** The key under `providers` in the config. */
  readonly key: string;
  /**
   * One vector per input, in input order, all of the same non-zero length. Rejects with a
   * `ProviderError` on provider failure, or with `req.signal.reason` when aborted.
   */
  embed(req: EmbedRequest): Promise<Float32Array[]>;
}

/** Provider types that serve embeddings; any other type is a configuration error. */
export const EMBEDDING_PROVIDER_TYPES = ["openai-compatible", "ollama"] as const;

/**
 * Build an embeddings client for the provider configured under `key`. Throws `ConfigError` when
 * the provider type has no embeddings endpoint (`simulator`, `anthropic`).
 */
export function createEmbedder(key: string, config: ProviderConfig, env: RouterEnv): Embedder {
  switch (config.type) {
    case "openai-compatible":
      return openAIEmbedder(key, config, env);
    case "ollama":
      return ollamaEmbedder(key, config);
    default:
      throw new ConfigError(
        `providers.${key}: type "${config.type}" has no embeddings endpoint; use one of ${EMBEDDING_PROVIDER_TYPES.join(", ")}`,
      );
  }
}

type OpenAICompatibleConfig = Extract<ProviderConfig, { type: "openai-compatible" }>;
type OllamaConfig = Extract<ProviderConfig, { type: "ollama" }>;

function openAIEmbedder(key: string, config: OpenAICompatibleConfig, env: RouterEnv): Embedder {
  const url = `${config.baseUrl.replace(/\/+$/, "")}/embeddings`;
  const host = new URL(url).host;
  const apiKey = config.apiKeyEnv === undefined ? undefined : env[config.apiKeyEnv];
  // Headers, not a plain object: a configured `Authorization` is replaced, not sent twice.
  const headers = new Headers({ "content-type": "application/json", ...config.headers });
  if (apiKey) headers.set("authorization", `Bearer ${apiKey}`);

  return {
    key,
    async embed(req) {
      const signal = req.signal ?? new AbortController().signal;
      if (signal.aborted) throw signal.reason;
      if (config.apiKeyEnv !== undefined && !apiKey) {
        // Names the variable so the operator knows what to set; the key itself never appears in errors.
        throw new ProviderError(ERROR_CODES.PROVIDER_NOT_CONFIGURED, `${key}: environment variable ${config.apiKeyEnv} is not set`);
      }
      if (req.inputs.length === 0) return [];
      const res = await postJson({
        key,
        url,
        headers,
        body: JSON.stringify({ model: req.model, input: req.inputs }),
        timeoutMs: req.timeoutMs,
        signal,
        target: host,
      });
      return checkVectors(key, req.inputs.length, parseOpenAIEmbeddings(key, res, req.inputs.length));
    },
  };
}

function ollamaEmbedder(key: string, config: OllamaConfig): Embedder {
  const baseUrl = config.baseUrl.replace(/\/+$/, "");
  const url = `${baseUrl}/api/embed`;
  const headers = new Headers({ "content-type": "application/json", ...config.headers });

  return {
    key,
    async embed(req) {
      const signal = req.signal ?? new AbortController().signal;
      if (signal.aborted) throw signal.reason;
      if (req.inputs.length === 0) return [];
      const res = await postJson({
        key,
        url,
        headers,
        body: JSON.stringify({
          model: req.model,
          input: req.inputs,
          // Left out when unset so Ollama's own default (OLLAMA_KEEP_ALIVE, 5m) applies.
          ...(config.keepAlive === undefined ? {} : { keep_alive: config.keepAlive }),
        }),
        timeoutMs: req.timeoutMs,
        signal,
        target: `Ollama at ${baseUrl}`,
        timeoutHint: "a cold model may still be loading",
        unreachableHint: "is `ollama serve` running?",
      });
      // Ollama's `{"error": "..."}` is one of the shapes the OpenAI error reader takes; its 404
      // text (`model "x" not found, try pulling it first`) already says what to do.
      if (!res.ok) throw errorFromResponse(key, res.status, res.headers, res.text);
      const embeddings = field(parseBody(key, res.text), "embeddings");
      if (!Array.isArray(embeddings)) throw malformed(`${key}: response has no embeddings array`);
      return checkVectors(key, req.inputs.length, embeddings);
    },
  };
}

/** The `data` items as an array of raw vectors in input order (items may arrive in any order). */
function parseOpenAIEmbeddings(key: string, res: HttpReply, expected: number): unknown[] {
  if (!res.ok) throw errorFromResponse(key, res.status, res.headers, res.text);
  const body = parseBody(key, res.text);
  const data = field(body, "data");
  if (!Array.isArray(data)) {
    // OpenRouter may answer 200 with an error body when the upstream fails after the response began.
    if (field(body, "error") !== undefined) {
      const code = field(field(body, "error"), "code");
      const status = typeof code === "number" && code >= 400 && code <= 599 ? code : 502;
      throw errorFromResponse(key, status, new Headers(), res.text);
    }
    throw malformed(`${key}: response has no data array`);
  }
  if (data.length !== expected) throw malformed(`${key}: ${data.length} embeddings for ${expected} inputs`);
  const ordered: unknown[] = new Array<unknown>(expected);
  data.forEach((item: unknown, position) => {
    // Servers that omit `index` list the items in input order.
    const index = count(field(item, "index")) ?? position;
    if (index >= expected || ordered[index] !== undefined) throw malformed(`${key}: embedding index ${index} is out of range or repeated`);
    ordered[index] = field(item, "embedding");
  });
  return ordered;
}

function parseBody(key: string, text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    throw malformed(`${key}: response body is not JSON`, err);
  }
}

/** One finite vector per input, all of the same non-zero length, as Float32Arrays. */
function checkVectors(key: string, expected: number, raw: readonly unknown[]): Float32Array[] {
  if (raw.length !== expected) throw malformed(`${key}: ${raw.length} embeddings for ${expected} inputs`);
  let dims: number | undefined;
  return raw.map((value, i) => {
    // A string here is `encoding_format: "base64"`, which this client never asks for.
    if (!Array.isArray(value) || value.length === 0) throw malformed(`${key}: embedding ${i} is not a non-empty array of numbers`);
    dims ??= value.length;
    if (value.length !== dims) throw malformed(`${key}: embedding ${i} has ${value.length} dimensions, embedding 0 has ${dims}`);
    const vector = new Float32Array(value.length);
    value.forEach((x: unknown, j) => {
      if (typeof x !== "number") throw malformed(`${key}: embedding ${i} has a non-number at ${j}`);
      vector[j] = x;
    });
    // Checked after the conversion: a finite float64 beyond ±3.4e38 becomes Infinity in float32.
    if (!vector.every(Number.isFinite)) throw malformed(`${key}: embedding ${i} has a non-finite value`);
    return vector;
  });
}
