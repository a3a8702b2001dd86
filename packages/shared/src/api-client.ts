/**
 * Calls a `router.*` endpoint: one core NATS request, the answer validated against the
 * endpoint's response schema, a service error turned back into an error with its stable code.
 */
import { ServiceError } from "@nats-io/services";
import { InvalidArgumentError, PermissionViolationError, RequestError, TimeoutError, type Msg, type NatsConnection } from "@nats-io/transport-node";
import { API_ENDPOINTS, apiSubject, type ApiEndpointName, type ApiRequestInput, type ApiResponse } from "./api.js";
import { describeZodError } from "./config.js";
import { ERROR_CODES, ErrorData, RouterError, type ErrorCode } from "./errors.js";

/** Default wait for an answer. */
export const API_TIMEOUT_MS = 10_000;

/** An endpoint answered with a service error: `code` is the server's, `status` the header's. */
export class ApiError extends RouterError {
  override readonly name = "ApiError";
  readonly status: number;
  constructor(code: string, message: string, options: { status: number; retryable?: boolean }) {
    // The code comes from the server, which may be a newer version with codes this one lacks.
    super(code as ErrorCode, message, { retryable: options.retryable ?? false });
    this.status = options.status;
  }
}

export interface ApiRequestOptions {
  /** The deployment's subject prefix (`nats.subjectPrefix`). Default none. */
  prefix?: string;
  /** Default `API_TIMEOUT_MS`. */
  timeoutMs?: number;
}

/**
 * Ask `endpoint` and resolve with its validated answer. Rejects with an `ApiError` carrying the
 * server's code, or a `RouterError`: SERVICE_UNAVAILABLE (nothing answers, or not in time;
 * retryable), AUTH_FAILED (this user may not ask), MALFORMED_RESPONSE (an answer that does not
 * match the schema).
 */
export async function requestApi<E extends ApiEndpointName>(nc: NatsConnection, endpoint: E, request: ApiRequestInput<E>, options: ApiRequestOptions = {}): Promise<ApiResponse<E>> {
  const subject = apiSubject(options.prefix ?? "", endpoint);
  const timeout = options.timeoutMs ?? API_TIMEOUT_MS;
  let msg: Msg;
  try {
    msg = await nc.request(subject, JSON.stringify(request), { timeout });
  } catch (err) {
    throw requestFailure(err, subject, endpoint, timeout);
  }
  const serviceError = ServiceError.toServiceError(msg);
  if (serviceError) throw apiErrorOf(msg, serviceError);
  let body: unknown;
  try {
    body = msg.json();
  } catch (err) {
    throw new RouterError(ERROR_CODES.MALFORMED_RESPONSE, `${subject} answered with something that is not JSON`, { cause: err });
  }
  const parsed = API_ENDPOINTS[endpoint].response.safeParse(body);
  if (!parsed.success) throw new RouterError(ERROR_CODES.MALFORMED_RESPONSE, `${subject} answered with an invalid response: ${describeZodError(parsed.error)}`);
  return parsed.data as ApiResponse<E>;
}

function requestFailure(err: unknown, subject: string, endpoint: ApiEndpointName, timeoutMs: number): RouterError {
  const who = `the ${API_ENDPOINTS[endpoint].service} service`;
  if (err instanceof TimeoutError) {
    return new RouterError(ERROR_CODES.SERVICE_UNAVAILABLE, `no answer on ${subject} within ${timeoutMs} ms: is ${who} running and well?`, { cause: err, retryable: true });
  }
  if (err instanceof RequestError && err.isNoResponders()) {
    return new RouterError(ERROR_CODES.SERVICE_UNAVAILABLE, `nothing answers ${subject}: is ${who} running?`, { cause: err, retryable: true });
  }
  for (let e: unknown = err; e instanceof Error; e = e.cause) {
    if (e instanceof PermissionViolationError) return new RouterError(ERROR_CODES.AUTH_FAILED, `this NATS user may not ask ${subject}: ${e.message}`, { cause: err });
    // Asking again cannot shrink the request.
    if (e instanceof InvalidArgumentError && e.message.includes("max_payload")) {
      return new RouterError(ERROR_CODES.MESSAGE_TOO_LARGE, `the request to ${subject} is larger than the server's max_payload: send a shorter prompt`, { cause: err });
    }
  }
  return new RouterError(ERROR_CODES.SERVICE_UNAVAILABLE, `asking ${subject} failed: ${err instanceof Error ? err.message : String(err)}`, { cause: err, retryable: true });
}

/** The error in the body (`{ok: false, error}`), else what the headers say. */
function apiErrorOf(msg: Msg, header: ServiceError): ApiError {
  let body: unknown;
  try {
    body = msg.json();
  } catch {
    body = undefined;
  }
  const parsed = ErrorData.safeParse((body as { error?: unknown } | undefined)?.error);
  if (parsed.success) return new ApiError(parsed.data.code, parsed.data.message, { status: header.code, retryable: parsed.data.retryable ?? false });
  const [code, ...rest] = header.message.split(": ");
  return rest.length > 0 && /^[A-Z_]+$/.test(code ?? "")
    ? new ApiError(code as string, rest.join(": "), { status: header.code })
    : new ApiError(ERROR_CODES.INTERNAL, header.message, { status: header.code });
}
