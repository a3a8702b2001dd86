/** A hand-written `ModelProvider` that plays back a script, for executor edge cases. */
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
