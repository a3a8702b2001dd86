/**
 * The simulator: a clearly labelled stand-in model for demos and load tests. Everything it does
 * is a pure function of (task id, spec, attempt, prompt), so runs replay exactly: the same task
 * gets the same answer, tokens, latency and failures every time.
 */
import { ERROR_CODES, ProviderError, estimateTokens, fmix32, type ModelConfig } from "@llm-router/shared";
import type { CompletionRequest, CompletionResponse, ModelProvider, ProviderDeps, ProviderFactory } from "./provider.js";
import { estimatedInputTokens } from "./http.js";

const SIMULATED_FAILURE = "simulated failure";
/** Words of the prompt echoed back, so an answer visibly belongs to its task. */
const PARAPHRASE_WORDS = 12;
const MIN_FILLER_WORDS = 16;
const FILLER_WORD_SPREAD = 48;
/** `estimateTokens` counts ≈4 characters a token; the inverse bounds output by `maxOutputTokens`. */
const CHARS_PER_TOKEN = 4;
const FILLER = [
  "the", "model", "answer", "considers", "context", "and", "returns", "a", "concise", "result",
  "based", "on", "request", "details", "with", "clear", "steps", "for", "review", "further",
] as const;

type SimSettings = NonNullable<ModelConfig["sim"]>;
const NO_SIM: SimSettings = { latencyMs: 0, failureRate: 0 };

export const simulatorProvider: ProviderFactory<{ type: "simulator" }> = {
  type: "simulator",
  create(key: string, _config: { type: "simulator" }, deps: ProviderDeps): ModelProvider {
    const settings = new Map(deps.models.map((m) => [m.spec, m.sim ?? NO_SIM]));
    return {
      key,
      type: "simulator",
      async complete(req: CompletionRequest): Promise<CompletionResponse> {
        if (req.signal.aborted) throw req.signal.reason;
        const sim = settings.get(req.spec) ?? NO_SIM;
        // A simulated stream: the first token after a fifth of the latency (prefill), the rest
        // after the remainder; time to first token is measured like a real stream's. No timer at
        // all for 0 ms: even setTimeout(0) costs ≥ 1 ms and would cap load tests.
        const started = performance.now();
        const prefillMs = Math.round(sim.latencyMs * SIMULATED_PREFILL_SHARE);
        if (prefillMs > 0) await deps.sleep(prefillMs, req.signal);
        const timeToFirstTokenMs = performance.now() - started;
        if (sim.latencyMs - prefillMs > 0) await deps.sleep(sim.latencyMs - prefillMs, req.signal);
        if (unitHash(`${req.taskId}\u0000${req.spec}\u0000${req.attempt}`) < sim.failureRate) {
          throw new ProviderError(ERROR_CODES.PROVIDER_UNAVAILABLE, SIMULATED_FAILURE, { retryable: true, status: 503 });
        }
        const output = simulatedOutput(req);
        return {
          output,
          inputTokens: estimatedInputTokens(req.messages),
          outputTokens: estimateTokens(output),
          simulated: true,
          timeToFirstTokenMs,
        };
      },
    };
  },
};

/** The share of a simulated call's latency before its first token. */
const SIMULATED_PREFILL_SHARE = 0.2;

/**
 * `[simulated <spec>] <paraphrase> <filler>`. The label is never cut (a tiny `maxOutputTokens`
 * may leave only the label); the rest is truncated to fit `maxOutputTokens`.
 */
export function simulatedOutput(req: Pick<CompletionRequest, "spec" | "taskId" | "messages" | "maxOutputTokens">): string {
  const label = `[simulated ${req.spec}]`;
  const prompt = [...req.messages].reverse().find((m) => m.role === "user") ?? req.messages.at(-1);
  const words = (prompt?.content ?? "").split(/\s+/).filter((w) => w.length > 0);
  const gist = words.slice(0, PARAPHRASE_WORDS).join(" ") + (words.length > PARAPHRASE_WORDS ? " …" : "");
  const seed = hash32(`${req.taskId}\u0000${req.spec}`);
  const fillerCount = MIN_FILLER_WORDS + (seed % FILLER_WORD_SPREAD);
  const filler = Array.from({ length: fillerCount }, (_, i) => FILLER[(seed + i * 7) % FILLER.length]);
  const body = `A short answer to "${gist}": ${filler.join(" ")}.`;
  const room = req.maxOutputTokens * CHARS_PER_TOKEN - label.length - 1;
  // Cut at a word boundary so a truncated answer does not end in half a word.
  const fitted = body.length <= room ? body : body.slice(0, room + 1).replace(/\s+\S*$/, "").slice(0, Math.max(0, room));
  return fitted.length > 0 ? `${label} ${fitted}` : label;
}

/** A deterministic value in [0, 1). */
export function unitHash(text: string): number {
  return hash32(text) / 2 ** 32;
}

/** FNV-1a with a murmur3 finaliser: inputs differing only in a trailing digit still spread over the range. */
function hash32(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return fmix32(h);
}
