/**
 * The Anthropic Messages API (`POST /v1/messages`). One call per `complete`, streamed (SSE)
 * unless `stream` is off; retries are the executor's job, so every failure becomes a coded
 * `ProviderError`.
 *
 * Two differences from the OpenAI format shape the request: the system prompt is a top-level
 * `system` field, not a message, and `messages` must alternate user/assistant turns.
 */
import { ERROR_CODES, ProviderError, cachedTokens, type ChatMessage, type ProviderConfig } from "@llm-router/shared";
import { count, errorForStatus, unreadBilling, field, isRecord, malformed, noAnswerReader, partialUsage, postJson, truncate, type HttpReply, type ReportedUsage } from "./http.js";
import type { CompletionRequest, CompletionResponse, ModelProvider, ProviderDeps, ProviderFactory } from "./provider.js";
import { eventJson, postStream, type StreamFormat } from "./stream.js";

export type AnthropicConfig = Extract<ProviderConfig, { type: "anthropic" }>;

/** Joins system messages into `system`, and consecutive same-role turns into one turn. */
const TURN_SEPARATOR = "\n\n";

/**
 * Anthropic answers a spent prepaid balance ("Your credit balance is too low…") and a reached
 * workspace spend limit ("You have reached your specified API usage limits…") with a plain 400
 * `invalid_request_error`; only the text tells them from a malformed request.
 */
const QUOTA_MESSAGE = /credit balance|billing|usage limits?|spend limit/i;

/**
 * The HTTP status an `error` event is mapped as: overloaded is Anthropic's 529, a rate limit a
 * 429, any other type a 500. The event arrives after the 200, when the request was accepted,
 * so whatever its type it is the server's failure and retryable.
 */
const STREAM_ERROR_STATUS: ReadonlyMap<unknown, number> = new Map([
  ["overloaded_error", 529],
  ["rate_limit_error", 429],
]);
const STREAM_ERROR_DEFAULT_STATUS = 500;

interface AnthropicTurn {
  role: "user" | "assistant";
  content: string;
}

interface AnthropicMessagesBody {
  model: string;
  max_tokens: number;
  system?: string;
  messages: AnthropicTurn[];
  stream: boolean;
}

export const anthropicProvider: ProviderFactory<AnthropicConfig> = {
  type: "anthropic",
  create(key: string, config: AnthropicConfig, deps: ProviderDeps): ModelProvider {
    const url = `${config.baseUrl.replace(/\/+$/, "")}/v1/messages`;
    const host = new URL(url).host;
    const apiKey = deps.env[config.apiKeyEnv];
    // Headers, not a plain object: names are case-insensitive, so a configured `x-api-key` or
    // `anthropic-version` is replaced by the environment's key and `config.version`, not sent twice.
    const headers = new Headers({ "content-type": "application/json", ...config.headers });
    headers.set("anthropic-version", config.version);
    if (apiKey) headers.set("x-api-key", apiKey);
    const errorFromReply = (res: HttpReply): ProviderError => anthropicErrorFromResponse(key, res.status, res.headers, res.text);
    const format = streamFormat(key);

    async function complete(req: CompletionRequest): Promise<CompletionResponse> {
      if (req.signal.aborted) throw req.signal.reason;
      if (!apiKey) {
        // Names the variable so the operator knows what to set; the key itself never appears in errors.
        throw new ProviderError(ERROR_CODES.PROVIDER_NOT_CONFIGURED, `${key}: environment variable ${config.apiKeyEnv} is not set`);
      }
      const call = { key, url, headers, body: JSON.stringify(messagesBody(req, config.stream)), timeoutMs: config.timeoutMs, signal: req.signal, target: host, ifUnread: unreadBilling(req) };
      if (config.stream) return postStream({ ...call, format, messages: req.messages, errorFromReply, whole: (text) => parseMessage(key, text, req.messages) });
      const res = await postJson(call);
      if (!res.ok) throw errorFromReply(res);
      return parseMessage(key, res.text, req.messages);
    }

    return { key, type: "anthropic", complete };
  },
};

/**
 * The request body. System messages, wherever they stand, are hoisted into `system` in order;
 * the remaining turns keep their order, with consecutive same-role turns merged because the API
 * rejects two user (or two assistant) messages in a row. A trailing assistant turn is sent as
 * is: Anthropic treats it as a prefill the answer continues.
 */
function messagesBody(req: Pick<CompletionRequest, "model" | "messages" | "maxOutputTokens">, stream: boolean): AnthropicMessagesBody {
  const system: string[] = [];
  const turns: AnthropicTurn[] = [];
  for (const message of req.messages) {
    if (message.role === "system") {
      system.push(message.content);
      continue;
    }
    const { role, content } = message;
    const last = turns.at(-1);
    if (last?.role === role) last.content += `${TURN_SEPARATOR}${content}`;
    else turns.push({ role, content });
  }
  return {
    model: req.model,
    max_tokens: req.maxOutputTokens,
    ...(system.length > 0 ? { system: system.join(TURN_SEPARATOR) } : {}),
    messages: turns,
    stream,
  };
}

/**
 * Output is every `text` block joined as is (Anthropic splits one answer into several blocks,
 * e.g. around citations); other block types (`thinking`, `tool_use`) are not output.
 *
 * Input tokens include `cache_creation_input_tokens` and `cache_read_input_tokens`: Anthropic
 * reports them apart from `input_tokens`, and leaving them out would under-count the prompt. They
 * are also reported as the call's cache writes and reads, which the model's `cacheWritePerMtok`
 * and `cacheReadPerMtok` price (by default 1.25× and a tenth of the input price, Anthropic's).
 */
function parseMessage(key: string, bodyText: string, messages: readonly ChatMessage[]): CompletionResponse {
  let body: unknown;
  try {
    body = JSON.parse(bodyText);
  } catch (err) {
    throw malformed(`${key}: response body is not JSON`, err);
  }
  const content = field(body, "content");
  if (!Array.isArray(content)) throw malformed(`${key}: response has no content array`);
  const usage = field(body, "usage");
  const { inputTokens, ...cached } = inputUsageOf(usage);
  const outputTokens = count(field(usage, "output_tokens"));
  if (inputTokens === undefined || outputTokens === undefined) {
    throw malformed(`${key}: response has no usage.input_tokens and usage.output_tokens`);
  }
  const output = content
    .filter((block) => field(block, "type") === "text")
    .map((block) => field(block, "text"))
    .filter((text): text is string => typeof text === "string")
    .join("");
  if (output === "") {
    const withheld = withheldAnswer(key, field(body, "stop_reason"), partialUsage("", { inputTokens, outputTokens, ...cached }, messages));
    if (withheld) throw withheld;
  }
  return { output, inputTokens, outputTokens, ...cachedTokens(cached), simulated: false };
}

/**
 * Why an answer without any text failed, from its `stop_reason` (see `noAnswerError`):
 * `max_tokens` before any text (extended thinking can spend it all), or `refusal`, the API's
 * safety classifiers stopping the answer. An empty `end_turn` is an answer.
 */
const withheldAnswer = noAnswerReader("stop_reason", { max_tokens: "output-limit", refusal: "withheld" });

/**
 * `input_tokens` plus the cache tokens Anthropic reports apart from it (see `parseMessage`), and
 * those cache tokens; all undefined without `input_tokens`.
 */
function inputUsageOf(usage: unknown): ReportedUsage {
  const uncached = count(field(usage, "input_tokens"));
  if (uncached === undefined) return {};
  // Absent or null when caching is not in play.
  const cacheWriteTokens = count(field(usage, "cache_creation_input_tokens")) ?? 0;
  const cacheReadTokens = count(field(usage, "cache_read_input_tokens")) ?? 0;
  return { inputTokens: uncached + cacheWriteTokens + cacheReadTokens, cacheReadTokens, cacheWriteTokens };
}

/**
 * The Messages stream: `message_start` carries the input usage, `content_block_delta`s the
 * output (`text_delta` only, as `parseMessage` takes only text blocks), `message_delta` the
 * output token count so far — cumulative, so the last one wins — and `message_stop` ends it.
 * `ping`, block start/stop and event types added later are skipped. Events are told apart by
 * the data's `type`, which repeats the SSE event name.
 */
function streamFormat(key: string): StreamFormat {
  return {
    framing: "sse",
    end: "message_stop",
    read(event, progress) {
      const data = eventJson(key, event);
      switch (field(data, "type")) {
        case "message_start": {
          // Its output_tokens is a placeholder (1): the count comes with message_delta, and a
          // gateway that drops that is estimated from the text rather than billed as 1 token.
          progress.report(inputUsageOf(field(field(data, "message"), "usage")));
          return false;
        }
        case "content_block_delta": {
          const delta = field(data, "delta");
          if (field(delta, "type") === "text_delta") progress.appendOutput(field(delta, "text"));
          return false;
        }
        case "message_delta": {
          // Only the output count: newer API versions may repeat the input counts here, but as
          // nullable fields, and Anthropic-compatible servers send 0 — message_start's stand.
          progress.report({ outputTokens: count(field(field(data, "usage"), "output_tokens")) });
          const stopReason = field(field(data, "delta"), "stop_reason");
          if (typeof stopReason === "string") progress.finishReason = stopReason;
          return false;
        }
        case "message_stop": {
          // The stream reader adds what was billed.
          const withheld = progress.output === "" ? withheldAnswer(key, progress.finishReason) : undefined;
          if (withheld) throw withheld;
          return true;
        }
        case "error": {
          const status = STREAM_ERROR_STATUS.get(field(field(data, "error"), "type")) ?? STREAM_ERROR_DEFAULT_STATUS;
          throw anthropicErrorFromResponse(key, status, new Headers(), event.data);
        }
        default:
          return false;
      }
    },
  };
}

/**
 * Maps an Anthropic error response (`{"type":"error","error":{"type":"overloaded_error",
 * "message":"Overloaded"}}`) to a `ProviderError` with a stable code.
 */
function anthropicErrorFromResponse(key: string, status: number, headers: Headers, bodyText: string): ProviderError {
  const detail = errorDetail(bodyText);
  const summary = [detail.type, detail.message].filter((s) => s !== undefined).join(": ");
  // Anthropic names the model in a 404 for one it lacks; any other 404 is a route: a baseUrl with
  // a stray /v1 (the adapter appends /v1/messages).
  const route = status === 404 && !/model/i.test(detail.message ?? "");
  const hint = route ? `; no such route: is providers.${key}.baseUrl the API root, without /v1 (https://api.anthropic.com)?` : "";
  const message = `${key}: HTTP ${status}${summary ? ` ${summary}` : ""}${hint}`;
  // A 429 stays a rate limit whatever its text says ("usage limits" also appears there).
  const quota = detail.type === "billing_error" || (status !== 429 && QUOTA_MESSAGE.test(detail.message ?? ""));
  return errorForStatus(message, status, headers, quota);
}

interface ErrorDetail {
  type?: string;
  message?: string;
}

function errorDetail(bodyText: string): ErrorDetail {
  let body: unknown;
  try {
    body = JSON.parse(bodyText);
  } catch {
    // A proxy in front of the API may answer with text or HTML.
    const text = bodyText.replace(/\s+/g, " ").trim();
    return text ? { message: truncate(text) } : {};
  }
  const error = field(body, "error");
  const source = isRecord(error) ? error : body;
  const type = field(source, "type");
  const message = field(source, "message");
  return {
    ...(typeof type === "string" ? { type } : {}),
    ...(typeof message === "string" ? { message: truncate(message) } : {}),
  };
}




