/**
 * The execution loop for one routed task: call the chosen model, retry transient errors with
 * backoff, walk the fallback chain, and account for every call (tokens, latency, cost) so the
 * ledger can bill failed attempts too. Provider specifics live behind `ModelProvider`.
 */
import { performance } from "node:perf_hooks";
import {
  ERROR_CODES,
  ProviderError,
  callCostUsd,
  isRetryable,
  modelName,
  providerKey,
  toErrorData,
  type ErrorData,
  type ModelCall,
  type ModelConfig,
  type TaskCompleted,
  type TaskResult,
  type TaskRouted,
} from "@llm-router/shared";
import { MAX_RETRY_DELAY_MS, backoffDelayMs } from "./backoff.js";
import type { CompletionResponse, ModelProvider } from "./providers/provider.js";

export interface ExecuteDeps {
  /** Providers by provider key (`createProviders`). */
  providers: ReadonlyMap<string, ModelProvider>;
  /** The model registry by spec: prices and the provider each model belongs to. */
  models: ReadonlyMap<string, ModelConfig>;
  /** Savings are measured against this model's prices. */
  referenceModel: ModelConfig;
  /** Retries of a retryable error on the same model before falling back (`executor.retries`). */
  retries: number;
  /** First backoff bound (`executor.backoffMs`). */
  backoffMs: number;
  /** Largest backoff bound (`executor.maxBackoffMs`). */
  maxBackoffMs: number;
  now: () => Date;
  sleep: (ms: number, signal?: AbortSignal) => Promise<void>;
  /** Uniform in [0, 1), for backoff jitter. */
  random: () => number;
  /**
   * Aborts the task (shutdown). `executeTask` then rejects with the signal's reason instead of
   * reporting a failure: the message should be redelivered, not completed as failed.
   */
  signal?: AbortSignal;
  /** Called for every call as it is recorded (metrics). */
  onCall?: (call: ModelCall) => void;
}

type ModelOutcome = { ok: true; spec: string; response: CompletionResponse } | { ok: false; error: ErrorData };

interface Run {
  routed: TaskRouted & { decision: { ok: true } };
  deps: ExecuteDeps;
  signal: AbortSignal;
  calls: ModelCall[];
}

export async function executeTask(routed: TaskRouted, deps: ExecuteDeps): Promise<TaskCompleted> {
  const { decision } = routed;
  if (!decision.ok) return completed(routed, deps, { status: "failed", error: decision.error }, [], 0);
  if (deps.signal?.aborted) throw deps.signal.reason;

  const link = linkSignal(deps.signal);
  const run: Run = { routed: { ...routed, decision }, deps, signal: link.signal, calls: [] };
  try {
    const failures: string[] = [];
    // A spec listed twice would only repeat the same failure and bill it twice.
    for (const spec of new Set([decision.model, ...decision.fallbacks])) {
      const outcome = await tryModel(run, spec);
      if (outcome.ok) {
        const { response } = outcome;
        const result: TaskResult = { status: "succeeded", model: spec, output: response.output, simulated: response.simulated };
        const referenceCostUsd = callCostUsd(deps.referenceModel, response.inputTokens, response.outputTokens);
        return completed(routed, deps, result, run.calls, referenceCostUsd);
      }
      failures.push(`${spec}: ${outcome.error.code} ${outcome.error.message}`);
    }
    const error = { code: ERROR_CODES.ALL_MODELS_FAILED, message: failures.join("; ") };
    return completed(routed, deps, { status: "failed", error }, run.calls, 0);
  } finally {
    link.dispose();
  }
}

/** Up to `1 + retries` attempts on one model while its errors are retryable. */
async function tryModel(run: Run, spec: string): Promise<ModelOutcome> {
  const { deps, signal } = run;
  const { task, decision } = run.routed;
  const model = deps.models.get(spec);
  const provider = model === undefined ? undefined : deps.providers.get(providerKey(spec));
  if (model === undefined || provider === undefined) {
    const error: ErrorData = model
      ? { code: ERROR_CODES.PROVIDER_NOT_CONFIGURED, message: `no provider "${providerKey(spec)}" is configured`, retryable: false }
      : { code: ERROR_CODES.UNKNOWN_MODEL, message: `${spec} is not in the model registry`, retryable: false };
    record(run, { ok: false, ...callBase(run, spec, deps.now(), 0), simulated: false, error });
    return { ok: false, error };
  }

  for (let retry = 0; ; retry++) {
    const startedAt = deps.now();
    const t0 = performance.now();
    const attempt = run.calls.length + 1;
    try {
      const response = await provider.complete({
        spec,
        model: modelName(spec),
        messages: task.messages,
        maxOutputTokens: decision.maxOutputTokens,
        taskId: task.id,
        attempt,
        signal,
      });
      const costUsd = roundUsd(response.costUsd ?? callCostUsd(model, response.inputTokens, response.outputTokens));
      record(run, {
        ok: true,
        ...callBase(run, spec, startedAt, performance.now() - t0),
        inputTokens: response.inputTokens,
        outputTokens: response.outputTokens,
        costUsd,
        simulated: response.simulated,
      });
      return { ok: true, spec, response };
    } catch (err) {
      // Shutdown, not a provider failure: nothing to record, the task will be redelivered.
      if (signal.aborted) throw signal.reason;
      const error = toErrorData(err);
      const simulated = provider.type === "simulator";
      record(run, { ok: false, ...callBase(run, spec, startedAt, performance.now() - t0), simulated, error });
      const retryAfterMs = err instanceof ProviderError ? err.retryAfterMs : undefined;
      // A Retry-After beyond the longest wait we allow (a daily quota window) will not clear in
      // time: the next model is the better use of the task's latency.
      if (!isRetryable(err) || retry >= deps.retries || (retryAfterMs ?? 0) > MAX_RETRY_DELAY_MS) return { ok: false, error };
      const delay = backoffDelayMs(retry + 1, { baseMs: deps.backoffMs, maxMs: deps.maxBackoffMs, retryAfterMs, random: deps.random });
      // No timer for a zero delay: setTimeout(0) still costs ≥ 1 ms.
      if (delay > 0) await deps.sleep(delay, signal);
      if (signal.aborted) throw signal.reason;
    }
  }
}

/** The fields every call shares; failed calls cost nothing and report no tokens. */
function callBase(run: Run, spec: string, startedAt: Date, latencyMs: number) {
  const n = run.calls.length + 1;
  return {
    callId: `${run.routed.task.id}:${n}`,
    model: spec,
    attempt: n,
    startedAt: startedAt.toISOString(),
    latencyMs: Math.max(0, Math.round(latencyMs * 1000) / 1000),
    inputTokens: 0,
    outputTokens: 0,
    costUsd: 0,
  };
}

function record(run: Run, call: ModelCall): void {
  run.calls.push(call);
  run.deps.onCall?.(call);
}

function completed(routed: TaskRouted, deps: ExecuteDeps, result: TaskResult, calls: ModelCall[], referenceCostUsd: number): TaskCompleted {
  // Sum in integer nano-dollars: adding floats call by call drifts in the last digits.
  const costNanos = calls.reduce((sum, c) => sum + Math.round(c.costUsd * 1e9), 0);
  return {
    v: 1,
    task: routed.task,
    classification: routed.classification,
    decision: routed.decision,
    result,
    calls,
    costUsd: costNanos / 1e9,
    inputTokens: calls.reduce((sum, c) => sum + c.inputTokens, 0),
    outputTokens: calls.reduce((sum, c) => sum + c.outputTokens, 0),
    referenceModel: deps.referenceModel.spec,
    referenceCostUsd,
    completedAt: deps.now().toISOString(),
  };
}

/** Provider-reported costs are floats of any precision; the ledger keeps 9 decimals. */
function roundUsd(usd: number): number {
  return Number.isFinite(usd) && usd > 0 ? Math.round(usd * 1e9) / 1e9 : 0;
}

/**
 * A per-task signal that follows `parent`. Providers combine the signal they get with a
 * deadline via `AbortSignal.any`, which on Node 20 keeps every combined signal reachable from a
 * long-lived parent (nodejs/node#55351): linking per task, and unlinking when it ends, keeps
 * the service's shutdown signal from accumulating one entry per call.
 */
function linkSignal(parent: AbortSignal | undefined): { signal: AbortSignal; dispose: () => void } {
  const controller = new AbortController();
  if (parent === undefined) return { signal: controller.signal, dispose: () => undefined };
  const onAbort = (): void => controller.abort(parent.reason);
  parent.addEventListener("abort", onAbort, { once: true });
  return { signal: controller.signal, dispose: () => parent.removeEventListener("abort", onAbort) };
}
