/**
 * Reading Grafana dashboards the way Grafana runs them against Prometheus: every target's
 * PromQL with the dashboard's template variables and Grafana's built-in interval variables
 * substituted, ready for Prometheus' query API. Also reads the metric names of README's
 * Metrics table, so tests can hold the docs, the dashboards and the services to each other.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

export interface DashboardFile {
  file: string;
  json: unknown;
}

/** The parts of a dashboard a query is built from (the test's schema guarantees them). */
export interface QueryableDashboard {
  title: string;
  panels: readonly { type: string; title: string; targets?: readonly { refId: string; expr: string }[] }[];
  templating: { list: readonly { name: string; query: string; allValue?: string | undefined }[] };
}

export interface PanelQuery {
  dashboard: string;
  panel: string;
  refId: string;
  /** The expression as written in the dashboard. */
  expr: string;
}

/**
 * What Grafana's built-in variables become in the tests. A 1 s scrape interval and a workload
 * of a few seconds: a 1 m rate window holds every sample, and `$__range` stands for the
 * dashboard's time range.
 */
export const GRAFANA_BUILTINS: Readonly<Record<string, string>> = {
  __rate_interval: "1m",
  __interval: "15s",
  __range: "5m",
};

export function loadDashboards(dir: string): DashboardFile[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith(".json"))
    .sort()
    .map((file) => ({ file, json: JSON.parse(readFileSync(join(dir, file), "utf8")) as unknown }));
}

export function panelQueries(d: QueryableDashboard): PanelQuery[] {
  return d.panels.flatMap((p) => (p.targets ?? []).map((t) => ({ dashboard: d.title, panel: p.title, refId: t.refId, expr: t.expr })));
}

// `$name`, `${name}` and `${name:format}`, as Grafana interpolates them.
const VARIABLE = /\$\{(\w+)(?::\w+)?\}|\$(\w+)/g;

/** Names of the variables an expression uses, built-ins included. */
export function variablesIn(expr: string): string[] {
  return [...new Set([...expr.matchAll(VARIABLE)].map((m) => (m[1] ?? m[2])!))];
}

/** Replace every variable; an unknown one throws, as it would render as a broken query. */
export function substituteVariables(expr: string, values: Readonly<Record<string, string>>): string {
  return expr.replace(VARIABLE, (whole, braced: string | undefined, bare: string | undefined) => {
    const name = (braced ?? bare)!;
    const value = values[name];
    if (value === undefined) throw new Error(`unknown variable ${whole} in: ${expr}`);
    return value;
  });
}

/**
 * What each template variable stands for with "All" selected (its `allValue`, as Grafana
 * sends it), plus the built-ins.
 */
export function allSelected(d: QueryableDashboard): Record<string, string> {
  const values: Record<string, string> = { ...GRAFANA_BUILTINS };
  for (const v of d.templating.list) values[v.name] = v.allValue ?? ".*";
  return values;
}

/** `label_values(selector, label)` → the selector and the label (`label_values(label)` has no selector). */
export function parseLabelValues(query: string): { match: string | undefined; label: string } | undefined {
  const m = /^label_values\((?:(.+),\s*)?([a-zA-Z_][a-zA-Z0-9_]*)\)\s*$/.exec(query.trim());
  if (!m) return undefined;
  return { match: m[1]?.trim(), label: m[2]! };
}

/** The `router_*` metric names an expression reads (histogram series keep their suffix). */
export function metricNamesIn(expr: string): string[] {
  return [...new Set(expr.match(/\brouter_[a-zA-Z0-9_]+/g) ?? [])];
}

/**
 * The metric names in the first column of README's "### Metrics" table: names in backticks,
 * one or more per row (`a`, `b`).
 */
export function readmeMetricNames(readme: string): string[] {
  const start = readme.search(/^### Metrics\s*$/m);
  if (start < 0) throw new Error('README.md has no "### Metrics" section');
  const section = readme.slice(start).split(/\n(?=#{1,3} )/)[0]!;
  const names: string[] = [];
  for (const line of section.split("\n")) {
    if (!line.startsWith("|")) continue;
    const firstCell = line.split("|")[1] ?? "";
    for (const m of firstCell.matchAll(/`([a-zA-Z_:][a-zA-Z0-9_:]*)`/g)) names.push(m[1]!);
  }
  return [...new Set(names)];
}
