/**
 * The one interface every model provider implements. The executor's loop only ever sees
 * `ModelProvider`; wire formats, auth and error mapping stay inside each adapter file.
 */
import type { ChatMessage, ModelConfig, ProviderConfig, RouterEnv } from "@llm-router/shared";

export interface CompletionRequest {
  /** The full `provider:model` spec, for labels and error messages. */
  spec: string;
  /** The provider-local model name, `modelName(spec)`. */
  model: string;
  messages: readonly ChatMessage[];
  maxOutputTokens: number;
  taskId: string;
  /** 1-based number of this call among all calls of the task. */
  attempt: number;
  /** Aborted when the caller gives up (shutdown); the adapter then rejects with `signal.reason`. */
  signal: AbortSignal;
}

export interface CompletionResponse {
  output: string;
  inputTokens: number;
  outputTokens: number;
  /** Provider-reported cost (e.g. OpenRouter `usage.cost`); wins over the registry price. */
  costUsd?: number;
  /** Of `inputTokens`, those the provider read from its prompt cache (priced at `cacheReadPerMtok`). */
  cacheReadTokens?: number;
  /** Of `inputTokens`, those the provider wrote to its prompt cache (priced at `cacheWritePerMtok`). */
  cacheWriteTokens?: number;
  /** True when no real model produced the output. */
  simulated: boolean;
  /** Streamed calls: request sent → first output token received. */
  timeToFirstTokenMs?: number;
}

export interface ModelProvider {
  /** The key under `providers` in the config (`openai`, `ollama`, `sim`). */
  readonly key: string;
  /** The adapter type (`openai-compatible`, `simulator`). */
  readonly type: string;
  /**
   * One call, no retries: retry policy belongs to the executor, so there is one retry layer.
   * Rejects with `ProviderError` on provider failure (with `partial` set when a stream failed
   * after some output), or with `req.signal.reason` when aborted.
   */
  complete(req: CompletionRequest): Promise<CompletionResponse>;
}

export interface ProviderDeps {
  env: RouterEnv;
  /** The models served by this provider (the registry's entries for its key). */
  models: readonly ModelConfig[];
  sleep: (ms: number, signal?: AbortSignal) => Promise<void>;
}

export interface ProviderFactory<C extends ProviderConfig = ProviderConfig> {
  readonly type: C["type"];
  create(key: string, config: C, deps: ProviderDeps): ModelProvider;
}
