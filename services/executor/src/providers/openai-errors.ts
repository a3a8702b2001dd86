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
  const message = `${key}: HTTP ${status}${detail.message ? `: ${truncate(detail.message)}` : ""}`;
  return errorForStatus(message, status, headers, isQuota(detail));
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

function isQuota(detail: ErrorDetail): boolean {
  return [detail.code, detail.type, detail.message].some((s) => s !== undefined && /quota|spend limit/i.test(s));
}

function errorDetail(bodyText: string): ErrorDetail {
  let body: unknown;
  try {
    body = JSON.parse(bodyText);
  } catch {
    const text = bodyText.replace(/\s+/g, " ").trim();
    return text ? { message: text } : {};
  }
  const error = field(body, "error");
  if (typeof error === "string") return { message: error };
  const source = isRecord(error) ? error : body;
  return { message: text(field(source, "message")), code: text(field(source, "code")), type: text(field(source, "type")) };
}


function text(value: unknown): string | undefined {
  return typeof value === "string" || typeof value === "number" ? String(value) : undefined;
}
