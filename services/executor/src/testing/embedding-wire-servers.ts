/**
 * Real HTTP servers speaking the two embeddings wire formats, for embedder and classifier tests:
 * OpenAI `POST /v1/embeddings` and Ollama `POST /api/embed`. Each request takes the next scripted
 * response (status, headers, JSON or raw body, delay, or "hang") and is recorded, as with the chat
 * wire servers. Once the script is empty a server answers like a model: `fakeEmbedding` of each
 * input, so centroid tests see texts that share words land near each other.
 */
import { errorBody } from "./openai-wire-server.js";
import { startScriptedServer, useScriptedServer, type RecordedRequest, type ScriptedServer } from "./scripted-server.js";

export type { RecordedRequest, ScriptedResponse } from "./scripted-server.js";
export { errorBody };
export { ollamaError } from "./ollama-wire-server.js";
export { closedPort } from "./scripted-server.js";

/** Scripted first, then `fakeEmbedding` of the inputs. */
export type EmbeddingWireServer = ScriptedServer;

export interface EmbeddingServerOptions {
  /** How the server embeds a text once the script is empty. Default `fakeEmbedding` (64 dims). */
  embed?: (text: string) => number[];
}

export const FAKE_EMBEDDING_DIMS = 64;

/**
 * A deterministic bag-of-words embedding: each lower-cased word adds 1 to the dimension its
 * FNV-1a hash falls in. Texts that share words get a high cosine similarity; unrelated ones a low
 * one, unless their words collide (rare in 64 dimensions; at 16, common words like "a" and
 * "the" already pull unrelated texts together).
 */
export function fakeEmbedding(text: string, dims = FAKE_EMBEDDING_DIMS): number[] {
  const vector = new Array<number>(dims).fill(0);
  for (const word of text.toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? []) {
    let hash = 0x811c9dc5;
    for (let i = 0; i < word.length; i++) hash = Math.imul(hash ^ word.charCodeAt(i), 0x01000193) >>> 0;
    vector[hash % dims]! += 1;
  }
  return vector;
}

export interface OpenAIEmbeddingsOptions {
  model?: string;
  promptTokens?: number;
  /** List the items last-first, as servers that embed a batch in parallel may. */
  reversed?: boolean;
}

/** An OpenAI `/v1/embeddings` success body; item `index` is the vector's position in `vectors`. */
export function openAIEmbeddings(vectors: readonly unknown[], opts: OpenAIEmbeddingsOptions = {}): Record<string, unknown> {
  const data = vectors.map((embedding, index) => ({ object: "embedding", index, embedding }));
  if (opts.reversed) data.reverse();
  const promptTokens = opts.promptTokens ?? 8;
  return { object: "list", data, model: opts.model ?? "text-embedding-3-small", usage: { prompt_tokens: promptTokens, total_tokens: promptTokens } };
}

/** An Ollama `/api/embed` success body. Durations are nanoseconds, as Ollama reports them. */
export function ollamaEmbeddings(vectors: readonly unknown[], model = "nomic-embed-text"): Record<string, unknown> {
  return { model, embeddings: vectors, total_duration: 14_143_917, load_duration: 1_019_500, prompt_eval_count: 8 };
}

/** The texts of an embeddings request (`input` is a string or an array of strings in both formats). */
export function embeddingInputs(req: RecordedRequest): string[] {
  const input = (req.body as { input?: unknown } | undefined)?.input;
  if (typeof input === "string") return [input];
  return Array.isArray(input) ? input.filter((x): x is string => typeof x === "string") : [];
}

export function startOpenAIEmbeddingServer(opts: EmbeddingServerOptions = {}): Promise<EmbeddingWireServer> {
  const embed = opts.embed ?? ((text: string) => fakeEmbedding(text));
  return startModelServer({
    basePath: "/v1",
    route: "/v1/embeddings",
    notFound: { status: 404, body: errorBody("Unknown route") },
    answer: (req) => ({ body: openAIEmbeddings(embeddingInputs(req).map(embed)) }),
  });
}

export function startOllamaEmbeddingServer(opts: EmbeddingServerOptions = {}): Promise<EmbeddingWireServer> {
  const embed = opts.embed ?? ((text: string) => fakeEmbedding(text));
  return startModelServer({
    basePath: "",
    route: "/api/embed",
    // Ollama's router (Go) answers unknown routes with plain text, not its JSON error body.
    notFound: { status: 404, headers: { "content-type": "text/plain" }, raw: "404 page not found" },
    answer: (req) => ({ body: ollamaEmbeddings(embeddingInputs(req).map(embed)) }),
  });
}

/** Start one for the enclosing test file (closed after it, requests cleared before each test). */
export function useOpenAIEmbeddingServer(opts: EmbeddingServerOptions = {}): () => EmbeddingWireServer {
  return useScriptedServer(() => startOpenAIEmbeddingServer(opts));
}

/** Start one for the enclosing test file (closed after it, requests cleared before each test). */
export function useOllamaEmbeddingServer(opts: EmbeddingServerOptions = {}): () => EmbeddingWireServer {
  return useScriptedServer(() => startOllamaEmbeddingServer(opts));
}

interface ModelServerOptions {
  basePath: string;
  route: string;
  notFound: { status: number; headers?: Record<string, string>; body?: unknown; raw?: string };
  /** The reply computed from the request once the script is empty. */
  answer: (req: RecordedRequest) => { body: unknown };
}

/**
 * The scripted server's fallback cannot see the request, but its precheck can: the precheck
 * passes while scripted responses are pending (the script answers) and answers from the request
 * once they are used up. Counting here works because the precheck runs once per request to the
 * route, just before that request takes the next scripted response.
 */
async function startModelServer(o: ModelServerOptions): Promise<EmbeddingWireServer> {
  let pending = 0;
  const server = await startScriptedServer({
    basePath: o.basePath,
    route: o.route,
    notFound: o.notFound,
    fallback: () => ({ status: 500, body: { error: "unreachable: the precheck answers once the script is empty" } }),
    precheck: (req) => {
      if (pending === 0) return o.answer(req);
      pending -= 1;
      return undefined;
    },
  });
  return {
    ...server,
    enqueue: (...responses) => {
      pending += responses.length;
      server.enqueue(...responses);
    },
  };
}
