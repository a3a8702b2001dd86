/** Hand-written `ModelProvider`s for executor tests: a script played back, or one answering every model. */
import { ERROR_CODES, ProviderError } from "@llm-router/shared";
import type { CompletionRequest, CompletionResponse, ModelProvider } from "../providers/provider.js";

export type ScriptStep = CompletionResponse | Error | ((req: CompletionRequest) => Promise<CompletionResponse>);

export interface ScriptedProvider extends ModelProvider {
  readonly requests: CompletionRequest[];
}

/** Each call takes the next step: a response is returned, an error thrown, a function run. */
export function scriptedProvider(key: string, steps: ScriptStep[], type = "scripted"): ScriptedProvider {
  const requests: CompletionRequest[] = [];
  return {
    key,
    type,
    requests,
    async complete(req) {
      requests.push(req);
      const step = steps.shift();
      if (step === undefined) throw new Error(`scripted provider ${key}: no step left for call ${requests.length}`);
      if (step instanceof Error) throw step;
      return typeof step === "function" ? step(req) : step;
    },
  };
}

export interface AnsweringOptions {
  /** Requests refused with a 503 PROVIDER_UNAVAILABLE. */
  fails?: (req: CompletionRequest) => boolean;
  /** Requests never answered: they wait for their signal, as a call does while its executor dies. */
  hangs?: (req: CompletionRequest) => boolean;
  /** Input tokens each answer reports read from the prompt cache (of its 100). */
  cacheReadTokens?: number;
}

/**
 * One provider (key `m`) for every model: answers `<model> answer <n>`, n counting its requests,
 * at 100 input and 50 output tokens.
 */
export function answeringProvider(o: AnsweringOptions = {}): ScriptedProvider {
  const requests: CompletionRequest[] = [];
  return {
    key: "m",
    type: "scripted",
    requests,
    complete(req): Promise<CompletionResponse> {
      requests.push(req);
      if (o.fails?.(req)) return Promise.reject(new ProviderError(ERROR_CODES.PROVIDER_UNAVAILABLE, `${req.spec}: down`, { status: 503 }));
      if (o.hangs?.(req)) return new Promise((_resolve, reject) => req.signal.addEventListener("abort", () => reject(req.signal.reason as Error), { once: true }));
      const cached = o.cacheReadTokens === undefined ? {} : { cacheReadTokens: o.cacheReadTokens };
      return Promise.resolve({ output: `${req.model} answer ${requests.length}`, inputTokens: 100, outputTokens: 50, simulated: false, ...cached });
    },
  };
}

/** The request's system message (the strategy's instructions), or "". */
export const systemOf = (req: CompletionRequest): string => (req.messages[0]?.role === "system" ? req.messages[0].content : "");
