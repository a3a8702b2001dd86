/**
 * The OpenAI chat-completions wire format, spoken by OpenAI, OpenRouter, vLLM, the llama.cpp
 * server, LM Studio and Ollama's `/v1`. One non-streaming POST per call; retries are the
 * executor's job, so this adapter maps every failure to a coded `ProviderError` and returns.
 */
import { ERROR_CODES, ProviderError, estimateTokens, type ProviderConfig } from "@llm-router/shared";
import { count, field, malformed, postJson } from "./http.js";
import { errorFromResponse } from "./openai-errors.js";
import type { CompletionRequest, CompletionResponse, ModelProvider, ProviderDeps, ProviderFactory } from "./provider.js";

export type OpenAICompatibleConfig = Extract<ProviderConfig, { type: "openai-compatible" }>;

export const openAICompatibleProvider: ProviderFactory<OpenAICompatibleConfig> = {
  type: "openai-compatible",
  create(key: string, config: OpenAICompatibleConfig, deps: ProviderDeps): ModelProvider {
    const url = `${config.baseUrl.replace(/\/+$/, "")}/chat/completions`;
    const host = new URL(url).host;
    const apiKey = config.apiKeyEnv === undefined ? undefined : deps.env[config.apiKeyEnv];
    // Headers, not a plain object: names are case-insensitive, so a configured `Authorization`
    // is replaced by the key from the environment instead of being sent twice.
    const headers = new Headers({ "content-type": "application/json", ...config.headers });
    if (apiKey) headers.set("authorization", `Bearer ${apiKey}`);

    async function complete(req: CompletionRequest): Promise<CompletionResponse> {
      if (req.signal.aborted) throw req.signal.reason;
      if (config.apiKeyEnv !== undefined && !apiKey) {
        // Names the variable so the operator knows what to set; the key itself never appears in errors.
        throw new ProviderError(ERROR_CODES.PROVIDER_NOT_CONFIGURED, `${key}: environment variable ${config.apiKeyEnv} is not set`);
      }
      const res = await postJson({
        key,
        url,
        headers,
        body: JSON.stringify({ model: req.model, messages: req.messages, max_tokens: req.maxOutputTokens, stream: false }),
        timeoutMs: config.timeoutMs,
        signal: req.signal,
        target: host,
      });
      if (!res.ok) throw errorFromResponse(key, res.status, res.headers, res.text);
      return parseCompletion(key, res.text, req);
    }

    return { key, type: "openai-compatible", complete };
  },
};

function parseCompletion(key: string, bodyText: string, req: CompletionRequest): CompletionResponse {
  let body: unknown;
  try {
    body = JSON.parse(bodyText);
  } catch (err) {
    throw malformed(`${key}: response body is not JSON`, err);
  }
  const choices = field(body, "choices");
  const output = field(field(Array.isArray(choices) ? choices[0] : undefined, "message"), "content");
  if (typeof output !== "string") {
    // OpenRouter may answer 200 with an error body when the upstream fails after the response began.
    const error = field(body, "error");
    if (error !== undefined) {
      const code = field(error, "code");
      const status = typeof code === "number" && code >= 400 && code <= 599 ? code : 502;
      throw errorFromResponse(key, status, new Headers(), bodyText);
    }
    throw malformed(`${key}: response has no choices[0].message.content`);
  }
  const usage = field(body, "usage");
  const cost = field(usage, "cost");
  return {
    output,
    inputTokens: count(field(usage, "prompt_tokens")) ?? req.messages.reduce((sum, m) => sum + estimateTokens(m.content), 0),
    outputTokens: count(field(usage, "completion_tokens")) ?? estimateTokens(output),
    ...(typeof cost === "number" && Number.isFinite(cost) && cost >= 0 ? { costUsd: cost } : {}),
    simulated: false,
  };
}



