/** A `task.completed` message built by hand, for ledger and budget tests that publish completions directly. */
import type { TaskCompleted } from "@llm-router/shared";

export interface CompletionFields {
  tenant?: string;
  runId?: string;
  model?: string;
  /** Default `simple` `chat`. */
  classification?: Partial<TaskCompleted["classification"]>;
  seed?: number;
}

/** One successful call of `costUsd` on `model` at `at`; the decision and result to match. */
export function completedTask(id: string, costUsd: number, at: Date, fields: CompletionFields = {}): TaskCompleted {
  const iso = at.toISOString();
  const model = fields.model ?? "sim:cloud-mini";
  return {
    v: 1,
    task: { v: 1, id, tenant: fields.tenant ?? "default", ...(fields.runId ? { runId: fields.runId } : {}), messages: [{ role: "user", content: "x" }], constraints: {}, submittedAt: iso },
    classification: { complexity: "simple", risk: "normal", taskType: "chat", confidence: 0.9, strategy: "rules", strategyVersion: "rules-1", features: {}, signals: [], ...fields.classification },
    decision: {
      ok: true,
      model,
      fallbacks: [],
      strategy: "single",
      forcedLocal: false,
      estimatedInputTokens: 10,
      maxOutputTokens: 100,
      estimatedCostUsd: costUsd,
      seed: fields.seed ?? 1,
      reason: "test",
      policyVersion: "p",
      registryVersion: "r",
      statsId: "empty",
      budget: { state: "ok", revision: 0 },
      decidedAt: iso,
    },
    result: { status: "succeeded", model, output: "o", simulated: true },
    calls: [{ ok: true, callId: `${id}:1`, model, attempt: 1, startedAt: iso, latencyMs: 5, inputTokens: 10, outputTokens: 20, costUsd, simulated: true }],
    costUsd,
    inputTokens: 10,
    outputTokens: 20,
    referenceModel: "sim:cloud-large",
    referenceCostUsd: costUsd,
    completedAt: iso,
  };
}
