/**
 * The OpenAI chat-completions wire format, spoken by OpenAI, OpenRouter, vLLM, the llama.cpp
 * server, LM Studio and Ollama's `/v1`. One POST per call, streamed (SSE) unless `stream` is
 * off; retries are the executor's job, so this adapter maps every failure to a coded
 * `ProviderError` and returns.
 */
import { ERROR_CODES, ProviderError, type ProviderConfig } from "@llm-router/shared";
import { completionFrom, count, field, isRecord, malformed, noAnswerReader, partialUsage, postJson, unreadBilling, type HttpReply, type ReportedUsage } from "./http.js";
import { errorFromResponse, errorInBody } from "./openai-errors.js";
import type { CompletionRequest, CompletionResponse, ModelProvider, ProviderDeps, ProviderFactory } from "./provider.js";
import { eventJson, postStream, type StreamEvent, type StreamFormat } from "./stream.js";

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
      const call = { key, url, headers, timeoutMs: config.timeoutMs, signal: req.signal, target: host, ifUnread: unreadBilling(req) };
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
  const choice: unknown = Array.isArray(choices) ? choices[0] : undefined;
  const message = field(choice, "message");
  const content = field(message, "content");
  // A refusal comes as `content: null` and `refusal: "…"`: the model answered, and was paid for.
  const output = [content, field(message, "refusal")].find((text): text is string => typeof text === "string" && text !== "");
  const usage = usageOf(field(body, "usage"));
  if (output !== undefined) return completionFrom(output, usage, req.messages);
  // No text: the prompt (and any thinking) was billed all the same.
  const billed = partialUsage("", usage, req.messages);
  const withheld = withheldAnswer(key, field(choice, "finish_reason"), billed);
  if (withheld) throw withheld;
  // An empty answer that ended for any other reason (`stop`) is an answer: see noAnswerError.
  if (content === "") return completionFrom("", usage, req.messages);
  // OpenRouter may answer 200 with an error body when the upstream fails after the response began.
  const error = field(body, "error");
  if (isError(error)) throw errorInBody(key, error, bodyText);
  throw malformed(`${key}: response has no choices[0].message.content`, undefined, billed);
}

/** Why a 200 answer without any output failed, from its `finish_reason` (see `noAnswerError`). */
const withheldAnswer = noAnswerReader("finish_reason", { length: "output-limit", content_filter: "withheld" });

/**
 * Whether an `error` field reports an error: an object or a non-empty string. Microsoft Foundry
 * Local sends `"error": null` on every chunk of a stream that goes well.
 */
function isError(error: unknown): boolean {
  return isRecord(error) || (typeof error === "string" && error !== "");
}

/**
 * An error event: llama.cpp's `error:` field, or an `event: error`. Its data is the error object
 * itself (llama.cpp: `{"code":500,"message":…,"type":"server_error"}`) or wraps it in `error`, and
 * is mapped by its code like OpenRouter's error chunk; text that is not JSON is a 502.
 */
function errorEvent(key: string, event: StreamEvent): ProviderError {
  let data: unknown;
  try {
    data = JSON.parse(event.data);
  } catch {
    data = undefined;
  }
  const wrapped = field(data, "error");
  return errorInBody(key, isError(wrapped) ? wrapped : data, event.data);
}

/**
 * `data:` events of `chat.completion.chunk`s, ended by `data: [DONE]`. With include_usage the
 * last chunk before [DONE] has empty `choices` and the call's `usage` (vLLM sends `usage: null`
 * on the others). OpenRouter reports an upstream failure after the stream began as a chunk with
 * an `error` object (and `finish_reason: "error"`), mapped like its 200 error body; llama.cpp as
 * an `error:` event. A stream that ends without output fails as a whole answer does (noAnswerError).
 */
function streamFormat(key: string): StreamFormat {
  return {
    framing: "sse",
    end: `data: ${DONE}`,
    read(event, progress) {
      if (event.type === "error") throw errorEvent(key, event);
      if (event.data === DONE) {
        const withheld = progress.output === "" ? withheldAnswer(key, progress.finishReason) : undefined;
        if (withheld) throw withheld;
        return true;
      }
      const chunk = eventJson(key, event);
      const error = field(chunk, "error");
      if (isError(error)) throw errorInBody(key, error, event.data);
      const choices = field(chunk, "choices");
      const choice: unknown = Array.isArray(choices) ? choices[0] : undefined;
      const delta = field(choice, "delta");
      progress.appendOutput(field(delta, "content"));
      // A streamed refusal arrives in `delta.refusal`, not `delta.content`.
      progress.appendOutput(field(delta, "refusal"));
      const finishReason = field(choice, "finish_reason");
      if (typeof finishReason === "string") progress.finishReason = finishReason;
      progress.report(usageOf(field(chunk, "usage")));
      return false;
    },
  };
}

/**
 * Token counts and OpenRouter's cost, each undefined when absent or not a valid value.
 *
 * The cost is `usage.cost`, plus, for a BYOK call (`is_byok: true`), the upstream provider's
 * bill to the key's owner, `cost_details.upstream_inference_cost`: `cost` is then only
 * OpenRouter's fee. Without BYOK that field repeats `cost` (it is included), so it is not added.
 *
 * `prompt_tokens` counts cached prompt tokens in with the rest, as Anthropic's input count does
 * its cache reads; they are reported as the call's cache reads (OpenAI's
 * `prompt_tokens_details.cached_tokens`, DeepSeek's `prompt_cache_hit_tokens`), which the
 * model's `cacheReadPerMtok` prices, and cache writes where a server counts them
 * (`prompt_tokens_details.cache_write_tokens`, as OpenRouter does for Anthropic models). A
 * provider-reported cost wins over both (OpenRouter's `cost` already has the cache discount).
 */
function usageOf(usage: unknown): ReportedUsage {
  const cost = usd(field(usage, "cost"));
  const upstream = field(usage, "is_byok") === true ? usd(field(field(usage, "cost_details"), "upstream_inference_cost")) : undefined;
  const details = field(usage, "prompt_tokens_details");
  return {
    inputTokens: count(field(usage, "prompt_tokens")),
    outputTokens: count(field(usage, "completion_tokens")),
    costUsd: cost === undefined ? undefined : cost + (upstream ?? 0),
    cacheReadTokens: count(field(details, "cached_tokens")) ?? count(field(usage, "prompt_cache_hit_tokens")),
    cacheWriteTokens: count(field(details, "cache_write_tokens")),
  };
}

function usd(value: unknown): number | undefined {
  return typeof value === "number" && Number.isFinite(value) && value >= 0 ? value : undefined;
}
