/** Builders and injected clock/sleep/randomness for executor tests: nothing waits for real time. */
import { ModelConfig, ProviderError, modelName, type ChatMessage, type RoutingDecision, type TaskRouted } from "@llm-router/shared";
import type { ExecuteDeps } from "../execute-task.js";
import type { CompletionRequest, ModelProvider } from "../providers/provider.js";

export const FIXED_NOW = new Date("2025-06-01T12:00:00.000Z");

/** A registry entry with the schema's defaults filled in. */
export function model(spec: string, fields: Partial<ModelConfig> = {}): ModelConfig {
  return ModelConfig.parse({ spec, quality: 0.5, ...fields });
}

export interface RoutedOptions {
  taskId?: string;
  model?: string;
  fallbacks?: string[];
  maxOutputTokens?: number;
  messages?: ChatMessage[];
  /** Replace the decision with a refusal carrying this error. */
  refused?: { code: string; message: string };
}

export function routedTask(opts: RoutedOptions = {}): TaskRouted {
  const common = {
    reason: "test",
    policyVersion: "p1",
    registryVersion: "r1",
    statsId: "empty",
    budget: { state: "ok" as const, revision: 0 },
    decidedAt: FIXED_NOW.toISOString(),
  };
  const decision: RoutingDecision = opts.refused
    ? { ok: false, error: opts.refused, ...common }
    : {
        ok: true,
        model: opts.model ?? "sim:small",
        fallbacks: opts.fallbacks ?? [],
        strategy: "single",
        forcedLocal: false,
        estimatedInputTokens: 10,
        maxOutputTokens: opts.maxOutputTokens ?? 256,
        estimatedCostUsd: 0,
        seed: 1,
        ...common,
      };
  return {
    v: 1,
    task: {
      v: 1,
      id: opts.taskId ?? "task-1",
      tenant: "default",
      messages: opts.messages ?? [
        { role: "system", content: "You are terse." },
        { role: "user", content: "Summarise the quarterly report in three bullet points." },
      ],
      constraints: {},
      submittedAt: FIXED_NOW.toISOString(),
    },
    classification: {
      complexity: "simple",
      risk: "normal",
      taskType: "summarization",
      confidence: 0.9,
      pFail: 0.1,
      strategy: "rules",
      strategyVersion: "1",
      features: {},
      signals: [],
    },
    decision,
  };
}

/** A sleep that returns at once and remembers what it was asked to wait. */
export function recordingSleep(): { sleep: (ms: number, signal?: AbortSignal) => Promise<void>; waits: number[] } {
  const waits: number[] = [];
  return {
    waits,
    sleep: (ms, signal) => {
      waits.push(ms);
      return signal?.aborted ? Promise.reject(signal.reason as Error) : Promise.resolve();
    },
  };
}

/** A provider request: a system and a user message, attempt 1, a signal that never aborts. */
export function completionRequest(spec: string, fields: Partial<CompletionRequest> = {}): CompletionRequest {
  return {
    spec,
    model: modelName(spec),
    messages: [
      { role: "system", content: "You are terse." },
      { role: "user", content: "Explain how JetStream consumers acknowledge messages" },
    ],
    maxOutputTokens: 256,
    taskId: "task-42",
    attempt: 1,
    signal: new AbortController().signal,
    ...fields,
  };
}

/** The short two-message request the HTTP adapter tests send. */
export function chatRequest(spec: string, fields: Partial<CompletionRequest> = {}): CompletionRequest {
  return completionRequest(spec, {
    messages: [
      { role: "system", content: "Be brief." },
      { role: "user", content: "What is NATS?" },
    ],
    maxOutputTokens: 64,
    taskId: "t-1",
    ...fields,
  });
}

/** The ProviderError a call rejects with (fails the test when it resolves or rejects otherwise). */
export async function providerFailure(provider: ModelProvider, req: CompletionRequest): Promise<ProviderError> {
  const err: unknown = await provider.complete(req).then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(err instanceof ProviderError)) throw new Error(`expected a ProviderError, got ${String(err)}`);
  return err;
}

/**
 * Executor dependencies for loop tests: the given providers (by key) and registry, no retries,
 * no waiting, a fixed clock. `overrides` replace any field.
 */
export function executeDeps(providers: readonly ModelProvider[], models: readonly ModelConfig[], overrides: Partial<ExecuteDeps> = {}): ExecuteDeps {
  return {
    providers: new Map(providers.map((p) => [p.key, p])),
    models: new Map(models.map((m) => [m.spec, m])),
    referenceModel: models[models.length - 1]!,
    retries: 0,
    backoffMs: 0,
    maxBackoffMs: 0,
    now: () => FIXED_NOW,
    sleep: () => Promise.resolve(),
    random: () => 0,
    ...overrides,
  };
}
