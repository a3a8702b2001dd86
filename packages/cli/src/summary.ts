/** Pure report functions for the CLI: they take completions and return lines of text. */
import { compareStrings, type TaskCompleted } from "@llm-router/shared";
import { RunError } from "./client.js";

export interface ModelRow {
  model: string;
  tasks: number;
  costUsd: number;
}

export interface DemoSummary {
  rows: ModelRow[];
  tasks: number;
  succeeded: number;
  failed: number;
  totalCostUsd: number;
  /**
   * What the tasks' reference costs were measured against: the one reference model, or each
   * with its task count (`sim:writer-xl ×1, sim:coder-pro ×1`) when tasks had different ones
   * (each task's is the most expensive model that could have taken it).
   */
  referenceModel: string;
  referenceCostUsd: number;
  /** Reference cost minus total cost: negative when routing cost more than the reference model would have. */
  savedUsd: number;
  /** `savedUsd` as a percentage of the reference cost (0 when that is 0); negative as it is. */
  savedPercent: number;
  simulated: boolean;
}

export function summarize(completions: readonly TaskCompleted[]): DemoSummary {
  const byModel = new Map<string, ModelRow>();
  let totalNanos = 0;
  let referenceNanos = 0;
  let succeeded = 0;
  let simulated = false;
  for (const c of completions) {
    const model = c.result.status === "succeeded" ? c.result.model : "(failed)";
    if (c.result.status === "succeeded") {
      succeeded++;
      simulated ||= c.result.simulated;
    }
    const row = byModel.get(model) ?? { model, tasks: 0, costUsd: 0 };
    row.tasks++;
    row.costUsd += c.costUsd;
    byModel.set(model, row);
    // Sum in nano-dollars: adding many small floats drifts.
    totalNanos += Math.round(c.costUsd * 1e9);
    referenceNanos += Math.round(c.referenceCostUsd * 1e9);
  }
  const totalCostUsd = totalNanos / 1e9;
  const referenceCostUsd = referenceNanos / 1e9;
  const savedUsd = (referenceNanos - totalNanos) / 1e9;
  return {
    rows: [...byModel.values()].sort((a, b) => b.tasks - a.tasks || compareStrings(a.model, b.model)),
    tasks: completions.length,
    succeeded,
    failed: completions.length - succeeded,
    totalCostUsd,
    referenceModel: referenceModels(completions),
    referenceCostUsd,
    savedUsd,
    savedPercent: referenceCostUsd > 0 ? (savedUsd / referenceCostUsd) * 100 : 0,
    simulated,
  };
}

const usd = (n: number): string => `${n < 0 ? "-" : ""}$${Math.abs(n).toFixed(6)}`;

/** `router demo`'s exit code: 1 when any task failed, so a script running the demo sees it. */
function referenceModels(completions: readonly TaskCompleted[]): string {
  const counts = new Map<string, number>();
  for (const c of completions) counts.set(c.referenceModel, (counts.get(c.referenceModel) ?? 0) + 1);
  if (counts.size <= 1) return [...counts.keys()][0] ?? "-";
  return [...counts].sort((a, b) => b[1] - a[1] || compareStrings(a[0], b[0])).map(([model, n]) => `${model} ×${n}`).join(", ");
}

export function demoExitCode(s: DemoSummary): number {
  return s.failed > 0 ? 1 : 0;
}

/**
 * What `router demo` prints for a run: the summary of its completions and the exit code. A run
 * in which some task did not complete (a RunError) still reports the tasks that did, then why
 * the others did not (`error`, exit 1); with none completed there is only the error.
 */
export function demoReport(run: readonly TaskCompleted[] | RunError): { summary?: string; error?: string; code: number } {
  const completions = run instanceof RunError ? run.outcomes.flatMap((o) => (o.status === "completed" ? [o.completed] : [])) : run;
  const summary = completions.length > 0 ? summarize(completions) : undefined;
  const text = summary && formatSummary(summary);
  if (run instanceof RunError) return { ...(text === undefined ? {} : { summary: text }), error: run.message, code: 1 };
  return { ...(text === undefined ? {} : { summary: text }), code: summary ? demoExitCode(summary) : 0 };
}

export function formatSummary(s: DemoSummary): string {
  const width = Math.max(8, ...s.rows.map((r) => r.model.length));
  const lines = [
    `${"model".padEnd(width)}  ${"tasks".padStart(6)}  ${"cost".padStart(12)}`,
    `${"-".repeat(width)}  ${"-".repeat(6)}  ${"-".repeat(12)}`,
    ...s.rows.map((r) => `${r.model.padEnd(width)}  ${String(r.tasks).padStart(6)}  ${usd(r.costUsd).padStart(12)}`),
    "",
    `tasks: ${s.tasks} (${s.succeeded} succeeded, ${s.failed} failed)`,
    `total cost:                         ${usd(s.totalCostUsd)}`,
    s.referenceModel.includes(" ×")
      ? `had every task gone to its reference (${s.referenceModel}): ${usd(s.referenceCostUsd)}`
      : `had every task gone to ${s.referenceModel}: ${usd(s.referenceCostUsd)}`,
    `saved:                              ${usd(s.savedUsd)} (${s.savedPercent.toFixed(1)}%)`,
  ];
  if (s.simulated) lines.push("", "note: answers came from the simulator ([simulated]); configure real providers in router.config.yaml");
  return lines.join("\n");
}

export function formatCompletion(c: TaskCompleted): string {
  const d = c.decision;
  const cl = c.classification;
  const latency = Date.parse(c.completedAt) - Date.parse(c.task.submittedAt);
  const lines = [
    `task:           ${c.task.id}`,
    `classification: ${cl.complexity} ${cl.taskType}, risk ${cl.risk} (confidence ${cl.confidence.toFixed(2)}, ${cl.strategy})`,
    `model:          ${c.result.status === "succeeded" ? c.result.model : "(none)"}${d.ok && d.forcedLocal ? " [forced local: budget exceeded]" : ""}`,
    `reason:         ${d.reason}`,
    `calls:          ${c.calls.map((call) => `${call.model}${call.ok ? "" : ` ✗ ${call.error.code}`}`).join(" → ") || "(none)"}`,
    `cost:           ${usd(c.costUsd)} (reference ${c.referenceModel}: ${usd(c.referenceCostUsd)})`,
    `latency:        ${latency} ms`,
    "",
    c.result.status === "succeeded" ? c.result.output : `FAILED ${c.result.error.code}: ${c.result.error.message}`,
  ];
  return lines.join("\n");
}
