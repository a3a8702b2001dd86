/**
 * Maps an OpenAI-style error response to a `ProviderError` with a stable code. Servers differ in
 * body shape (OpenAI/OpenRouter `{error:{message,type,code}}`, vLLM `{object:"error",message}`,
 * some `{error:"text"}`), so the detail is read from whichever is present.
 */
import type { ProviderError } from "@llm-router/shared";
import { errorForStatus, field, isRecord, truncate } from "./http.js";

interface ErrorDetail {
  message?: string;
  code?: string;
  type?: string;
}

export function errorFromResponse(key: string, status: number, headers: Headers, bodyText: string): ProviderError {
  const detail = errorDetail(bodyText);
  // A 404 that does not name a model is a route the server lacks: nearly always a baseUrl
  // without its /v1, which would otherwise read as "model not found" on every call.
  const route = status === 404 && !/model/i.test(`${detail.message ?? ""} ${detail.code ?? ""}`);
  const hint = route ? `; no such route: is providers.${key}.baseUrl the API root with its /v1 (https://api.openai.com/v1, http://127.0.0.1:8000/v1)?` : "";
  const message = `${key}: HTTP ${status}${detail.message ? `: ${truncate(detail.message)}` : ""}${hint}`;
  // OpenRouter refuses flagged input with a 403: the request's content, not the key or the
  // model, so it must not read as AUTH_FAILED (which opens the model's breaker for everyone).
  const refusedContent = status === 403 && detail.message !== undefined && /flagged|moderation|content policy/i.test(detail.message);
  return errorForStatus(message, refusedContent ? 400 : status, headers, isQuota(detail));
}

/**
 * An error object inside a 200 answer: how OpenRouter reports an upstream that failed after the
 * response began, as the whole body or as a stream chunk. Mapped by its `code` when that is an
 * HTTP status, else as a 502 (transient).
 */
export function errorInBody(key: string, error: unknown, bodyText: string): ProviderError {
  const code = field(error, "code");
  const status = typeof code === "number" && code >= 400 && code <= 599 ? code : 502;
  return errorFromResponse(key, status, new Headers(), bodyText);
}

/**
 * An exhausted balance, which no retry fixes: OpenAI's `insufficient_quota` ("You exceeded your
 * current quota"), a spend limit, credits or billing. Not the word "quota" anywhere: Azure's rate
 * limits link to aka.ms/oai/quotaincrease and Gemini's say "check quota", and both pass.
 */
function isQuota(detail: ErrorDetail): boolean {
  if ([detail.code, detail.type].some((s) => s !== undefined && /insufficient_quota|quota_exceeded|billing|credits/i.test(s))) return true;
  return detail.message !== undefined && /exceeded your current quota|insufficient (?:quota|credits|balance|funds)|spend(?:ing)? limit|billing (?:limit|hard limit|details)|out of credits/i.test(detail.message);
}

function errorDetail(bodyText: string): ErrorDetail {
  let body: unknown;
  try {
    body = JSON.parse(bodyText);
  } catch {
    const text = bodyText.replace(/\s+/g, " ").trim();
    return text ? { message: text } : {};
  }
  // Gemini's OpenAI-compatible endpoint wraps the error in an array.
  if (Array.isArray(body) && body.length > 0) body = body[0] as unknown;
  const error = field(body, "error");
  if (typeof error === "string") return { message: error };
  const source = isRecord(error) ? error : body;
  return { message: text(field(source, "message")), code: text(field(source, "code")), type: text(field(source, "type")) };
}


function text(value: unknown): string | undefined {
  return typeof value === "string" || typeof value === "number" ? String(value) : undefined;
}
