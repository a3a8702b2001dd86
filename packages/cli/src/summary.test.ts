import { describe, expect, it } from "vitest";
import type { TaskCompleted } from "@llm-router/shared";
import { RUN_ERROR_CODES, RunError } from "./client.js";
import { demoExitCode, demoReport, formatSummary, summarize } from "./summary.js";

function completed(model: string | null, costUsd: number, referenceCostUsd: number): TaskCompleted {
  return {
    v: 1,
    task: { v: 1, id: `t-${Math.random()}`, tenant: "default", messages: [{ role: "user", content: "x" }], constraints: {}, submittedAt: "2026-01-01T00:00:00.000Z" },
    classification: { complexity: "simple", risk: "normal", taskType: "chat", confidence: 0.9, pFail: 0.2, strategy: "rules", strategyVersion: "rules-1", features: {}, signals: [] },
    decision: { ok: false, error: { code: "X", message: "x" }, reason: "r", policyVersion: "p", registryVersion: "g", statsId: "empty", budget: { state: "ok", revision: 0 }, decidedAt: "2026-01-01T00:00:00.000Z" },
    result: model ? { status: "succeeded", model, output: "o", simulated: true } : { status: "failed", error: { code: "ALL_MODELS_FAILED", message: "m" } },
    calls: [],
    costUsd,
    inputTokens: 1,
    outputTokens: 1,
    referenceModel: "sim:cloud-large",
    referenceCostUsd,
    completedAt: "2026-01-01T00:00:01.000Z",
  };
}

describe("the demo summary", () => {
  it("counts tasks per model and compares the total with the reference model", () => {
    const s = summarize([
      completed("sim:local-small", 0, 0.001),
      completed("sim:local-small", 0, 0.002),
      completed("sim:cloud-mini", 0.0001, 0.003),
      completed(null, 0, 0),
    ]);
    expect(s.rows).toEqual([
      { model: "sim:local-small", tasks: 2, costUsd: 0 },
      { model: "(failed)", tasks: 1, costUsd: 0 },
      { model: "sim:cloud-mini", tasks: 1, costUsd: 0.0001 },
    ]);
    expect(s.totalCostUsd).toBe(0.0001);
    expect(s.referenceCostUsd).toBe(0.006);
    expect(s.savedUsd).toBeCloseTo(0.0059, 12);
    expect(s.savedPercent).toBeCloseTo(98.333, 2);
    expect(s.failed).toBe(1);
    const text = formatSummary(s);
    expect(text).toContain("had every task gone to sim:cloud-large: $0.006000");
    expect(text).toContain("[simulated]");
  });

  it("shows savings as negative when routing cost more than the reference model", () => {
    const s = summarize([completed("sim:cloud-large", 0.003, 0.002), completed("sim:local-small", 0, 0.0005)]);
    expect(s.savedUsd).toBe(-0.0005);
    expect(s.savedPercent).toBeCloseTo(-20, 9);
    expect(formatSummary(s)).toMatch(/^saved: +-\$0\.000500 \(-20\.0%\)$/m);
  });

  it("names each task's reference model with its count when they differ, not the first task's alone", () => {
    const code = { ...completed("sim:local-coder", 0, 0.0018), referenceModel: "sim:coder-pro" };
    const s = summarize([completed("sim:local-small", 0, 0.0075), code, completed("sim:local-small", 0, 0.001)]);
    expect(s.referenceModel).toBe("sim:cloud-large ×2, sim:coder-pro ×1");
    expect(formatSummary(s)).toContain("had every task gone to its reference (sim:cloud-large ×2, sim:coder-pro ×1): $0.010300");
  });

  it("makes router demo exit 1 when any task failed", () => {
    expect(demoExitCode(summarize([completed("sim:local-small", 0, 0.001), completed(null, 0, 0)]))).toBe(1);
    expect(demoExitCode(summarize([completed("sim:local-small", 0, 0.001)]))).toBe(0);
  });

  it("reports the tasks of a failed run that did complete, then why the others did not, and exits 1", () => {
    const done = completed("sim:local-small", 0, 0.001);
    const failed = new RunError(RUN_ERROR_CODES.RUN_TIMEOUT, "1 of 2 tasks completed:\n  t-2: still pending", [
      { status: "completed", taskId: done.task.id, completed: done },
      { status: "pending", taskId: "t-2" },
    ]);
    expect(demoReport(failed)).toEqual({ summary: formatSummary(summarize([done])), error: failed.message, code: 1 });
    // Nothing completed: only the error.
    expect(demoReport(new RunError(RUN_ERROR_CODES.RUN_TIMEOUT, "none", [{ status: "pending", taskId: "t-3" }]))).toEqual({ error: "none", code: 1 });
    expect(demoReport([done])).toEqual({ summary: formatSummary(summarize([done])), code: 0 });
  });
});
