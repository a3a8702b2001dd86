/**
 * The OpenAI chat-completions wire format, spoken by OpenAI, OpenRouter, vLLM, the llama.cpp
 * server, LM Studio and Ollama's `/v1`. One POST per call, streamed (SSE) unless `stream` is
 * off; retries are the executor's job, so this adapter maps every failure to a coded
 * `ProviderError` and returns.
 */
import { ERROR_CODES, ProviderError, type ProviderConfig } from "@llm-router/shared";
import { completionFrom, count, field, malformed, postJson, type HttpReply, type ReportedUsage } from "./http.js";
import { errorFromResponse, errorInBody } from "./openai-errors.js";
import type { CompletionRequest, CompletionResponse, ModelProvider, ProviderDeps, ProviderFactory } from "./provider.js";
import { eventJson, postStream, type StreamFormat } from "./stream.js";

export type OpenAICompatibleConfig = Extract<ProviderConfig, { type: "openai-compatible" }>;

/** The SSE data that ends an OpenAI stream. */
const DONE = "[DONE]";

/**
 * The field that caps the answer. OpenAI's own API (and Azure's) deprecated `max_tokens` for
 * `max_completion_tokens`, and its reasoning models (o1, o3, o4-mini, gpt-5) refuse `max_tokens`
 * with a 400 on every call; other servers speaking the format (vLLM, llama.cpp, Ollama, LM
 * Studio, most gateways) read `max_tokens`.
 */
export function tokenLimitField(baseUrl: string): "max_completion_tokens" | "max_tokens" {
  const host = new URL(baseUrl).hostname;
  return host === "api.openai.com" || host.endsWith(".openai.azure.com") ? "max_completion_tokens" : "max_tokens";
}

export const openAICompatibleProvider: ProviderFactory<OpenAICompatibleConfig> = {
  type: "openai-compatible",
  create(key: string, config: OpenAICompatibleConfig, deps: ProviderDeps): ModelProvider {
    const url = `${config.baseUrl.replace(/\/+$/, "")}/chat/completions`;
    const host = new URL(url).host;
    const limitField = tokenLimitField(config.baseUrl);
    const apiKey = config.apiKeyEnv === undefined ? undefined : deps.env[config.apiKeyEnv];
    // Headers, not a plain object: names are case-insensitive, so a configured `Authorization`
    // is replaced by the key from the environment instead of being sent twice.
    const headers = new Headers({ "content-type": "application/json", ...config.headers });
    if (apiKey) headers.set("authorization", `Bearer ${apiKey}`);
    const errorFromReply = (res: HttpReply): ProviderError => errorFromResponse(key, res.status, res.headers, res.text);
    const format = streamFormat(key);

    async function complete(req: CompletionRequest): Promise<CompletionResponse> {
      if (req.signal.aborted) throw req.signal.reason;
      if (config.apiKeyEnv !== undefined && !apiKey) {
        // Names the variable so the operator knows what to set; the key itself never appears in errors.
        throw new ProviderError(ERROR_CODES.PROVIDER_NOT_CONFIGURED, `${key}: environment variable ${config.apiKeyEnv} is not set`);
      }
      const body = { model: req.model, messages: req.messages, [limitField]: req.maxOutputTokens };
      const call = { key, url, headers, timeoutMs: config.timeoutMs, signal: req.signal, target: host };
      if (config.stream) {
        // Without include_usage the stream carries no token counts and they would be estimated.
        const streamed = JSON.stringify({ ...body, stream: true, stream_options: { include_usage: true } });
        return postStream({ ...call, body: streamed, format, messages: req.messages, errorFromReply, whole: (text) => parseCompletion(key, text, req) });
      }
      const res = await postJson({ ...call, body: JSON.stringify({ ...body, stream: false }) });
      if (!res.ok) throw errorFromReply(res);
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
  const message = field(Array.isArray(choices) ? choices[0] : undefined, "message");
  // A refusal comes as `content: null` and `refusal: "…"`: the model answered, and was paid for.
  const refusal = field(message, "refusal");
  const content = field(message, "content");
  const output = typeof content === "string" ? content : typeof refusal === "string" ? refusal : undefined;
  if (typeof output !== "string") {
    // OpenRouter may answer 200 with an error body when the upstream fails after the response began.
    const error = field(body, "error");
    if (error !== undefined) throw errorInBody(key, error, bodyText);
    throw malformed(`${key}: response has no choices[0].message.content`);
  }
  return completionFrom(output, usageOf(field(body, "usage")), req.messages);
}

/**
 * `data:` events of `chat.completion.chunk`s, ended by `data: [DONE]`. With include_usage the
 * last chunk before [DONE] has empty `choices` and the call's `usage` (vLLM sends `usage: null`
 * on the others). OpenRouter reports an upstream failure after the stream began as a chunk with
 * an `error` object (and `finish_reason: "error"`), mapped like its 200 error body.
 */
function streamFormat(key: string): StreamFormat {
  return {
    framing: "sse",
    end: `data: ${DONE}`,
    read(event, progress) {
      if (event.data === DONE) return true;
      const chunk = eventJson(key, event);
      const error = field(chunk, "error");
      if (error !== undefined) throw errorInBody(key, error, event.data);
      const choices = field(chunk, "choices");
      const delta = field(Array.isArray(choices) ? choices[0] : undefined, "delta");
      progress.appendOutput(field(delta, "content"));
      // A streamed refusal arrives in `delta.refusal`, not `delta.content`.
      progress.appendOutput(field(delta, "refusal"));
      progress.report(usageOf(field(chunk, "usage")));
      return false;
    },
  };
}

/** Token counts and OpenRouter's `usage.cost`, each undefined when absent or not a valid value. */
function usageOf(usage: unknown): ReportedUsage {
  const cost = field(usage, "cost");
  return {
    inputTokens: count(field(usage, "prompt_tokens")),
    outputTokens: count(field(usage, "completion_tokens")),
    costUsd: typeof cost === "number" && Number.isFinite(cost) && cost >= 0 ? cost : undefined,
  };
}
