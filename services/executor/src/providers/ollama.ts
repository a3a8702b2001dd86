/**
 * Ollama's native chat API (`POST /api/chat`), streamed (NDJSON) unless `stream` is off.
 * Native rather than Ollama's `/v1` OpenAI shim because only the native API takes
 * `keep_alive`, and its errors are plain `{"error": "..."}` bodies whose text (`model "x" not
 * found, try pulling it first`) tells the operator what to do. One POST per call; retries are
 * the executor's job, so every failure is mapped to a coded `ProviderError` and returned.
 * Local: no API key, no cost.
 */
import type { ProviderConfig, ProviderError } from "@llm-router/shared";
import { completionFrom, count, errorForStatus, field, malformed, noAnswerReader, partialUsage, postJson, truncate, unreadBilling, type HttpReply, type ReportedUsage } from "./http.js";
import type { CompletionRequest, CompletionResponse, ModelProvider, ProviderDeps, ProviderFactory } from "./provider.js";
import { eventJson, postStream, type StreamFormat } from "./stream.js";

export type OllamaConfig = Extract<ProviderConfig, { type: "ollama" }>;

export const ollamaProvider: ProviderFactory<OllamaConfig> = {
  type: "ollama",
  create(key: string, config: OllamaConfig, deps: ProviderDeps): ModelProvider {
    // Ollama runs a model with its own context length (num_ctx: 4096, 2048 on older versions)
    // whatever the registry declares, and silently truncates a longer prompt: the task would be
    // answered on a cut prompt and the cut count billed. So each model's `contextWindow` (what the
    // selector routed on) is sent as num_ctx, one fixed value per model: a num_ctx that changes
    // from call to call makes Ollama reload the model. Left out for a model the registry does not list.
    const contextWindows = new Map(deps.models.map((m) => [m.spec, m.contextWindow]));
    const baseUrl = config.baseUrl.replace(/\/+$/, "");
    const url = `${baseUrl}/api/chat`;
    const headers = new Headers({ "content-type": "application/json", ...config.headers });

    async function complete(req: CompletionRequest): Promise<CompletionResponse> {
      const numCtx = contextWindows.get(req.spec);
      const call = {
        key,
        url,
        headers,
        body: JSON.stringify({
          model: req.model,
          messages: req.messages.map(({ role, content }) => ({ role, content })),
          // Ollama streams NDJSON unless told otherwise, so `stream: false` is always sent explicitly.
          stream: config.stream,
          options: { num_predict: req.maxOutputTokens, ...(numCtx === undefined ? {} : { num_ctx: numCtx }) },
          // Left out when unset so Ollama's own default (OLLAMA_KEEP_ALIVE, 5m) applies.
          ...(config.keepAlive === undefined ? {} : { keep_alive: config.keepAlive }),
        }),
        timeoutMs: config.timeoutMs,
        signal: req.signal,
        target: `Ollama at ${baseUrl}`,
        timeoutHint: "a cold model may still be loading",
        unreachableHint: "is `ollama serve` running?",
        ifUnread: unreadBilling(req),
      };
      const errorFromReply = (res: HttpReply): ProviderError => errorFromOllamaResponse(key, req.model, res.status, res.headers, res.text);
      if (config.stream) return postStream({ ...call, format: streamFormat(key, req.model), messages: req.messages, errorFromReply, whole: (text) => parseChat(key, text, req) });
      const res = await postJson(call);
      if (!res.ok) throw errorFromReply(res);
      return parseChat(key, res.text, req);
    }

    return { key, type: "ollama", complete };
  },
};

/** Maps an Ollama error response (`{"error": "..."}`, or plain text from a proxy) to a coded `ProviderError`. */
function errorFromOllamaResponse(key: string, model: string, status: number, headers: Headers, bodyText: string): ProviderError {
  const detail = errorText(bodyText);
  let message = `${key}: HTTP ${status}${detail ? `: ${truncate(detail)}` : ""}`;
  if (status === 404) {
    // Ollama's 404 on /api/chat is a model that was never pulled; a 404 without that text is the
    // router's "404 page not found", i.e. a baseUrl that is not the API root (often a stray `/v1`).
    message += detail && /model/i.test(detail) ? `; run \`ollama pull ${model}\`` : "; is baseUrl the Ollama API root?";
  }
  return errorForStatus(message, status, headers);
}

function parseChat(key: string, bodyText: string, req: CompletionRequest): CompletionResponse {
  let body: unknown;
  try {
    body = JSON.parse(bodyText);
  } catch (err) {
    throw malformed(`${key}: response body is not JSON`, err);
  }
  const output = field(field(body, "message"), "content");
  if (typeof output !== "string") {
    const error = field(body, "error");
    throw malformed(`${key}: response has no message.content${typeof error === "string" ? `: ${truncate(error)}` : ""}`);
  }
  // done:false is a streaming chunk: the server ignored stream:false and the output is partial.
  if (field(body, "done") !== true) throw malformed(`${key}: response is not done (partial output)`);
  const usage = usageOf(body);
  const truncated = output === "" ? cutOff(key, field(body, "done_reason"), partialUsage("", usage, req.messages)) : undefined;
  if (truncated) throw truncated;
  return completionFrom(output, usage, req.messages);
}

/**
 * An answer without any text that `num_predict` cut off (`done_reason: "length"`): a thinking
 * model (qwen3, deepseek-r1) that spent the output limit in `message.thinking`. It fails as
 * OUTPUT_TRUNCATED so the fallback chain goes on, as for the cloud adapters (`noAnswerError`).
 */
const cutOff = noAnswerReader("done_reason", { length: "output-limit" });

/** The counts of a done answer; Ollama omits prompt_eval_count when the whole prompt came from its cache. */
function usageOf(done: unknown): ReportedUsage {
  return { inputTokens: count(field(done, "prompt_eval_count")), outputTokens: count(field(done, "eval_count")) };
}

/**
 * One JSON object a line, each with a `message.content` piece; the last has `done: true` and
 * the counts (and durations, unused). An `{"error": "..."}` line is a runner that failed after
 * the 200 (out of memory, crashed): mapped as a 500, transient.
 */
function streamFormat(key: string, model: string): StreamFormat {
  return {
    framing: "ndjson",
    end: "a line with done: true",
    read(event, progress) {
      const line = eventJson(key, event);
      if (field(line, "error") !== undefined) throw errorFromOllamaResponse(key, model, 500, new Headers(), event.data);
      progress.appendOutput(field(field(line, "message"), "content"));
      if (field(line, "done") !== true) return false;
      progress.report(usageOf(line));
      // The stream reader adds what was billed.
      const truncated = progress.output === "" ? cutOff(key, field(line, "done_reason")) : undefined;
      if (truncated) throw truncated;
      return true;
    },
  };
}


function errorText(bodyText: string): string | undefined {
  let body: unknown;
  try {
    body = JSON.parse(bodyText);
  } catch {
    const text = bodyText.replace(/\s+/g, " ").trim();
    return text || undefined;
  }
  const error = field(body, "error");
  if (typeof error === "string") return error;
  // Not Ollama's shape (an OpenAI-style proxy): `{error:{message}}` or `{message}`.
  const message = field(error, "message") ?? field(body, "message");
  return typeof message === "string" ? message : undefined;
}
