/** Pure report functions for the CLI's API commands: they take an endpoint's answer and return text. */
import { PRICE_TABLE, type BudgetReport, type MetricsReport, type MetricsSummary, type ModelInfo, type ModelsReport } from "@llm-router/shared";

/**
 * A plain-text table: a header, a rule, one line per row; columns as wide as their widest cell.
 * A header with a leading `>` right-aligns its column (numbers read best that way).
 */
export function formatTable(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  const columns = headers.map((h) => (h.startsWith(">") ? { header: h.slice(1), right: true } : { header: h, right: false }));
  const widths = columns.map((c, i) => Math.max(c.header.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: readonly string[]): string =>
    columns
      .map((c, i) => (c.right ? (cells[i] ?? "").padStart(widths[i]!) : (cells[i] ?? "").padEnd(widths[i]!)))
      .join("  ")
      .trimEnd();
  return [line(columns.map((c) => c.header)), widths.map((w) => "-".repeat(w)).join("  "), ...rows.map(line)].join("\n");
}

export const usd = (n: number): string => `${n < 0 ? "-" : ""}$${Math.abs(n).toFixed(6)}`;
const percent = (share: number | null): string => (share === null ? "-" : `${(share * 100).toFixed(1)}%`);
/** A percentage that is one already (`savedPercent`). */
const saved = (pct: number | null): string => (pct === null ? "-" : `${pct.toFixed(1)}%`);
const ms = (n: number | null): string => (n === null ? "-" : `${Math.round(n)} ms`);
const num = (n: number | null, digits = 2): string => (n === null ? "-" : n.toFixed(digits));

/**
 * The budget lines as a table. `scope`: the filter asked for, which selects lines of that scope
 * only — a tenant's tasks are also charged to the global budget, whose line is `global`.
 */
export function formatBudget(report: BudgetReport, scope?: string): string {
  if (report.budgets.length === 0) {
    if (scope === undefined || scope === "global") return "no budget applies (configure `budgets` in router.config.yaml)";
    return `no budget of scope ${scope} (budgets of other scopes, such as global, may still charge its tasks: \`router budget\` lists every line)`;
  }
  const rows = report.budgets.map((b) => [b.scope, b.window, b.windowStart, usd(b.limitUsd), usd(b.spentUsd), usd(b.reservedUsd), usd(b.remainingUsd), b.state]);
  const header = ["scope", "window", "since", ">limit", ">spent", ">reserved", ">remaining", "state"];
  return `${formatTable(header, rows)}\n\nat ${report.at}; spent: recorded by the ledger; reserved: held by paid calls in flight`;
}

const health = (m: ModelInfo): string => (m.health.state === "healthy" ? "healthy" : `${m.health.state}${m.health.reason ? ` (${m.health.reason})` : ""}`);
const isListed = (source: string | undefined): boolean => source?.startsWith(`${PRICE_TABLE} `) === true;
const amount = (m: ModelInfo): string => (m.inputPerMtok === 0 && m.outputPerMtok === 0 ? "free" : `$${m.inputPerMtok}/$${m.outputPerMtok}`);
/** The table's price: a cloud model with no price (`priceSource` none) is not free, its calls count as $0. */
const price = (m: ModelInfo): string => (m.priceSource === "none" ? "unpriced" : isListed(m.priceSource) ? `${amount(m)} listed` : amount(m));
/** One model's price and where it came from. */
function priceLine(m: ModelInfo): string {
  if (m.priceSource === "none") return "$0/$0 per 1M tokens in/out (a cloud model with neither a configured nor a listed price: its calls count as $0 in budgets and the ledger)";
  const source = m.priceSource;
  const origin = source === undefined ? "" : isListed(source) ? ` (listed as ${source.slice(PRICE_TABLE.length + 1)} in ${PRICE_TABLE})` : ` (${source})`;
  return `${amount(m)} per 1M tokens in/out${origin}${cachePrices(m)}`;
}

/** The prompt cache's prices where the model has its own (else cached tokens cost the input price). */
function cachePrices(m: ModelInfo): string {
  const parts = [m.cacheReadPerMtok === undefined ? undefined : `read $${m.cacheReadPerMtok}`, m.cacheWritePerMtok === undefined ? undefined : `written $${m.cacheWritePerMtok}`];
  const given = parts.filter((p) => p !== undefined);
  return given.length === 0 ? "" : `; prompt cache ${given.join(", ")} per 1M tokens`;
}

export function formatModels(report: ModelsReport): string {
  // The statistics keep a latency histogram: its percentiles are bin edges, upper bounds.
  const header = ["model", "local", ">quality", ">$/Mtok in/out", "health", ">calls", ">success", ">score", ">p95 ≤"];
  const rows = report.models.map((m) => [m.spec, m.local ? "yes" : "no", num(m.quality), price(m), health(m), String(m.stats.samples), percent(m.stats.successRate), num(m.stats.meanScore), ms(m.stats.latencyP95Ms)]);
  return `${formatTable(header, rows)}\n\nregistry ${report.registryVersion}, policy ${report.policyVersion}, statistics ${report.statsId}`;
}

export function formatModel(m: ModelInfo): string {
  const lines = [
    `model:        ${m.spec} (${m.local ? "local" : "cloud"}, provider ${m.provider})`,
    `quality:      ${num(m.quality)}`,
    `price:        ${priceLine(m)}`,
    `capabilities: ${m.capabilities.join(", ")}`,
    `context:      ${m.contextWindow} tokens; typical latency ${m.typicalLatencyMs} ms`,
    `health:       ${health(m)}${m.health.until ? ` until ${m.health.until}` : ""}`,
    `outcomes:     ${m.stats.samples} calls, ${percent(m.stats.successRate)} succeeded, mean score ${num(m.stats.meanScore)} (${m.stats.scored} scored), mean cost ${m.stats.meanCostUsd === null ? "-" : usd(m.stats.meanCostUsd)}, latency p50 ≤ ${ms(m.stats.latencyP50Ms)}, p95 ≤ ${ms(m.stats.latencyP95Ms)} (histogram bin edges)`,
  ];
  if (m.stats.buckets.length === 0) return lines.join("\n");
  const header = ["task type", "complexity", ">calls", ">success", ">scored", ">score", ">expected quality"];
  const rows = m.stats.buckets.map((b) => [b.taskType, b.complexity, String(b.samples), percent(b.successRate), String(b.scored), num(b.meanScore), num(b.expectedQuality)]);
  return [...lines, "", formatTable(header, rows)].join("\n");
}

function formatSummary(s: MetricsSummary): string {
  const lines = [
    `tasks:      ${s.tasks} (${s.succeeded} succeeded, ${s.failed} failed; success rate ${percent(s.successRate)})`,
    `cost:       ${usd(s.costUsd)} (reference ${usd(s.referenceCostUsd)})`,
    `saved:      ${usd(s.savedUsd)} (${saved(s.savedPercent)})`,
    `latency:    mean ${ms(s.latencyMeanMs)}, p95 ${ms(s.latencyP95Ms)}`,
  ];
  if (s.models.length === 0) return lines.join("\n");
  const header = ["model", ">tasks", ">share", ">cost"];
  return [...lines, "", formatTable(header, s.models.map((m) => [m.model, String(m.tasks), percent(m.share), usd(m.costUsd)]))].join("\n");
}

export function formatMetrics(report: MetricsReport): string {
  const f = report.filter;
  const filters = [f.since && `since ${f.since}`, f.until && `until ${f.until}`, f.tenant && `tenant ${f.tenant}`, f.taskType && `task type ${f.taskType}`].filter(Boolean);
  const parts = [`${filters.length > 0 ? filters.join(", ") : "all tasks"}`, "", formatSummary(report.totals)];
  if (report.groups) {
    const header = [f.groupBy ?? "group", ">tasks", ">success", ">cost", ">saved", ">saved %", ">mean", ">p95"];
    const rows = report.groups.map((g) => [g.key, String(g.tasks), percent(g.successRate), usd(g.costUsd), usd(g.savedUsd), saved(g.savedPercent), ms(g.latencyMeanMs), ms(g.latencyP95Ms)]);
    parts.push("", formatTable(header, rows));
  }
  return parts.join("\n");
}
