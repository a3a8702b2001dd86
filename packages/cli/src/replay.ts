/**
 * Replay: re-decide the ledger's stored decisions with the selector's own function and report
 * any that come out different. Each decision carries what decided it — the classification, the
 * constraints, tenant, run and output cap, the input-token estimate, the budget snapshot, the
 * models excluded for their health, the id of the statistics snapshot (kept by the ledger) and
 * the seed (from the task id) — so with the same policy, registry and statistics the same
 * decision must come out; a difference then is a bug. With today's configuration it also answers
 * "would the current policy route yesterday's traffic differently?", and says which input moved.
 */
import { and, asc, eq, gte, lte } from "drizzle-orm";
import { ledgerSchema, type LedgerDb } from "@llm-router/ledger";
import { createModelRegistry, policyVersion, selectModel, strategyCallCounts } from "@llm-router/selector";
import {
  Classification,
  EMPTY_STATS,
  RoutingDecision,
  StatsSnapshotSchema,
  TaskConstraints,
  type HealthSnapshot,
  type RouterConfig,
  type StatsSnapshot,
  type Task,
} from "@llm-router/shared";
import { z } from "zod";

/** What the ledger keeps in `decisions.inputs`. */
const StoredInputs = z.object({
  classification: Classification,
  decision: RoutingDecision,
  constraints: TaskConstraints,
  /** Absent in rows written before replay existed. */
  task: z.object({ tenant: z.string(), runId: z.string().optional(), maxOutputTokens: z.number().int().positive().optional() }).optional(),
});

/** Decisions replayed at most, by default. */
export const REPLAY_LIMIT = 100_000;

export interface ReplayOptions {
  db: LedgerDb;
  config: RouterConfig;
  since: Date;
  until?: Date;
  /** The oldest this many decisions of the window are replayed. Default REPLAY_LIMIT. */
  limit?: number;
}

export interface ReplayDifference {
  taskId: string;
  decidedAt: string;
  recorded: string;
  replayed: string;
  /** Inputs that differ from when it was decided: the likely cause. */
  drift: string[];
}

export interface ReplayReport {
  replayed: number;
  same: number;
  different: ReplayDifference[];
  /** Rows that cannot be replayed (written before the inputs were kept), with why. */
  skipped: { taskId: string; reason: string }[];
  policyVersion: string;
  registryVersion: string;
  /** The most decisions replayed. */
  limit: number;
  /** The window holds more decisions than `limit`: the report stops at the limit, before its end. */
  limitReached: boolean;
}

/** The parts of a decision that matter: where the task goes and how. The reason text may word things differently. */
function outcomeOf(d: RoutingDecision): string {
  if (!d.ok) return `refused ${d.error.code}`;
  const local = d.forcedLocal ? " forced-local" : "";
  return `${d.model} [${d.fallbacks.join(", ")}] ${d.strategy}${local}`;
}

export async function replayDecisions(o: ReplayOptions): Promise<ReplayReport> {
  const { decisions, statsSnapshots } = ledgerSchema;
  const registry = createModelRegistry(o.config.models);
  const strategyCalls = strategyCallCounts(o.config.strategies);
  const version = policyVersion(o.config.policy, { strategyByTier: o.config.strategies.byTier, strategyCalls, budgetLadder: o.config.budgetLadder });
  const limit = o.limit ?? REPLAY_LIMIT;
  // One row past the limit says whether the window holds more than the report covers.
  const fetched = await o.db
    .select({ taskId: decisions.taskId, decidedAt: decisions.decidedAt, inputs: decisions.inputs })
    .from(decisions)
    .where(and(gte(decisions.decidedAt, o.since.toISOString()), o.until ? lte(decisions.decidedAt, o.until.toISOString()) : undefined))
    .orderBy(asc(decisions.decidedAt))
    .limit(limit + 1);
  const limitReached = fetched.length > limit;
  const rows = limitReached ? fetched.slice(0, limit) : fetched;

  const statsCache = new Map<string, StatsSnapshot | undefined>([[EMPTY_STATS.id, EMPTY_STATS]]);
  const statsFor = async (id: string): Promise<StatsSnapshot | undefined> => {
    if (!statsCache.has(id)) {
      const [row] = await o.db.select({ snapshot: statsSnapshots.snapshot }).from(statsSnapshots).where(eq(statsSnapshots.statsId, id));
      statsCache.set(id, row ? StatsSnapshotSchema.safeParse(row.snapshot).data : undefined);
    }
    return statsCache.get(id);
  };

  const report: ReplayReport = { replayed: 0, same: 0, different: [], skipped: [], policyVersion: version, registryVersion: registry.version, limit, limitReached };
  for (const row of rows) {
    const parsed = StoredInputs.safeParse(row.inputs);
    if (!parsed.success || !parsed.data.task) {
      report.skipped.push({ taskId: row.taskId, reason: "written before decisions kept their replay inputs" });
      continue;
    }
    const { classification, decision, constraints, task: stored } = parsed.data;
    const inputTokens = decision.estimatedInputTokens;
    if (inputTokens === undefined) {
      report.skipped.push({ taskId: row.taskId, reason: "no input-token estimate recorded" });
      continue;
    }
    const drift: string[] = [];
    if (decision.policyVersion !== version) drift.push(`policy ${decision.policyVersion} → ${version}`);
    if (decision.registryVersion !== registry.version) drift.push(`registry ${decision.registryVersion} → ${registry.version}`);
    let stats = await statsFor(decision.statsId);
    if (!stats) {
      drift.push(`statistics ${decision.statsId} not kept (replayed without)`);
      stats = EMPTY_STATS;
    }
    // The prompt is not kept; its recorded token estimate stands in for it.
    const task: Task = {
      v: 1,
      id: row.taskId,
      tenant: stored.tenant,
      ...(stored.runId ? { runId: stored.runId } : {}),
      messages: [{ role: "user", content: "" }],
      constraints,
      ...(decision.ok ? { maxOutputTokens: decision.maxOutputTokens } : stored.maxOutputTokens ? { maxOutputTokens: stored.maxOutputTokens } : {}),
      submittedAt: decision.decidedAt,
    };
    const health: HealthSnapshot = {
      v: 1,
      models: Object.fromEntries((decision.unhealthy ?? []).map((spec) => [spec, { state: "unavailable" as const, reason: "as recorded", since: decision.decidedAt, by: "replay" }])),
    };
    const replayed = selectModel(
      { task, classification, budget: decision.budget, inputTokens },
      {
        registry,
        policy: o.config.policy,
        policyVersion: version,
        now: new Date(decision.decidedAt),
        stats,
        health,
        strategyByTier: o.config.strategies.byTier,
        strategyCalls,
        budgetLadder: o.config.budgetLadder,
      },
    );
    report.replayed++;
    const recorded = outcomeOf(decision);
    const again = outcomeOf(replayed);
    if (recorded === again) report.same++;
    else report.different.push({ taskId: row.taskId, decidedAt: decision.decidedAt, recorded, replayed: again, drift });
  }
  return report;
}

/** The report as `npm run replay` prints it without `--json`. */
export function formatReplay(report: ReplayReport): string {
  const lines = [
    `policy ${report.policyVersion}, registry ${report.registryVersion}`,
    `replayed ${report.replayed}: ${report.same} the same, ${report.different.length} different; ${report.skipped.length} skipped`,
  ];
  if (report.limitReached) {
    lines.push(`stopped at the limit of ${report.limit} decisions: later ones in the window were not replayed (narrow --since/--until or raise --limit)`);
  }
  for (const d of report.different) {
    lines.push(`  ${d.taskId} (${d.decidedAt})`, `    recorded: ${d.recorded}`, `    replayed: ${d.replayed}`);
    if (d.drift.length > 0) lines.push(`    changed since: ${d.drift.join("; ")}`);
  }
  const [skipped] = report.skipped;
  if (skipped) lines.push(`  skipped (first): ${skipped.taskId}: ${skipped.reason}`);
  return lines.join("\n");
}
