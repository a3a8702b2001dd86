/**
 * Maps an OpenAI-style error response to a `ProviderError` with a stable code. Servers differ in
 * body shape (OpenAI/OpenRouter `{error:{message,type,code}}`, vLLM `{object:"error",message}`,
 * some `{error:"text"}`), so the detail is read from whichever is present.
 */
import { ERROR_CODES, ProviderError } from "@llm-router/shared";
import { field, isRecord, truncate } from "./http.js";
import { parseRetryAfterMs } from "./retry-after.js";


interface ErrorDetail {
  message?: string;
  code?: string;
  type?: string;
}

export function errorFromResponse(key: string, status: number, headers: Headers, bodyText: string): ProviderError {
  const detail = errorDetail(bodyText);
  const message = `${key}: HTTP ${status}${detail.message ? `: ${truncate(detail.message)}` : ""}`;
  const retryAfterMs = parseRetryAfterMs(headers);
  // Quota before rate limit: OpenAI reports an exhausted balance as 429 `insufficient_quota`,
  // and retrying that only burns the retry budget. 5xx stays transient whatever its text says.
  if (status === 402 || (status < 500 && isQuota(detail))) {
    return new ProviderError(ERROR_CODES.QUOTA_EXCEEDED, message, { status });
  }
  if (status === 429) return new ProviderError(ERROR_CODES.RATE_LIMITED, message, { status, retryable: true, retryAfterMs });
  if (status === 401 || status === 403) return new ProviderError(ERROR_CODES.AUTH_FAILED, message, { status });
  if (status === 404) return new ProviderError(ERROR_CODES.MODEL_NOT_FOUND, message, { status });
  if (status === 408 || status === 409 || status >= 500 || status < 400) {
    // 408/409 are a lost race or a slow upload, and 1xx/3xx here mean a misbehaving proxy: all transient.
    return new ProviderError(ERROR_CODES.PROVIDER_UNAVAILABLE, message, { status, retryable: true, retryAfterMs });
  }
  // 400, 422 and every other 4xx: the request itself is wrong, another try sends the same bytes.
  return new ProviderError(ERROR_CODES.BAD_REQUEST, message, { status });
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


