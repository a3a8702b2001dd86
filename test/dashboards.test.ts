/**
 * The Grafana dashboards of infra/grafana, proven against a real Prometheus scraping the real
 * services: every dashboard has the shape Grafana 11 loads, and after a short workload
 * (success, fallback, a paid call refused and the budget exceeded, a redelivery, a dead letter) every panel query returns
 * series, every variable lists values, and every metric README documents is exported.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";
import { z } from "zod";
import type { Registry } from "prom-client";
import { DEFAULT_CONFIG_INPUT, createRegistry, requestApi, startOpsServer, type OpsServer } from "@llm-router/shared";
import { buildClassifier, startClassifier, type ClassifierService } from "@llm-router/classifier";
import { startSelector, type SelectorService } from "@llm-router/selector";
import { useWireServer } from "../services/executor/src/testing/openai-wire-server.js";
import { createHarness, waitFor, type Harness } from "./support/harness.js";
import { startPrometheus, type PrometheusServer } from "./support/prometheus.js";
import {
  allSelected,
  loadDashboards,
  metricNamesIn,
  panelQueries,
  parseLabelValues,
  readmeMetricNames,
  substituteVariables,
  variablesIn,
  GRAFANA_BUILTINS,
} from "./support/dashboards.js";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const GRAFANA_DIR = join(ROOT, "infra/grafana");

/** Grafana 11's dashboard schema version: every dashboard targets exactly this one. */
const SCHEMA_VERSION = 39;
/** The provisioned datasource's uid (infra/grafana/provisioning/datasources/prometheus.yaml). */
const DATASOURCE_UID = "prometheus";
const GRID_COLUMNS = 24;

// ------------------------------------------------------------------ the Grafana 11 dashboard model

const Datasource = z.object({ type: z.literal("prometheus"), uid: z.literal(DATASOURCE_UID) });
const GridPos = z
  .object({ h: z.int().min(1), w: z.int().min(1).max(GRID_COLUMNS), x: z.int().min(0).max(GRID_COLUMNS - 1), y: z.int().min(0) })
  .refine((g) => g.x + g.w <= GRID_COLUMNS, "panel extends past the 24-column grid");
const Target = z.object({
  refId: z.string().regex(/^[A-Z]$/),
  datasource: Datasource,
  expr: z.string().min(1),
  legendFormat: z.string().optional(),
  instant: z.boolean().optional(),
  range: z.boolean().optional(),
  format: z.enum(["time_series", "table", "heatmap"]).optional(),
});
const RowPanel = z.object({
  type: z.literal("row"),
  id: z.int().positive(),
  title: z.string().min(1),
  gridPos: GridPos,
  // Expanded rows: their panels follow them at the top level.
  collapsed: z.literal(false),
  panels: z.array(z.unknown()).length(0),
});
const DataPanel = z.object({
  type: z.enum(["timeseries", "stat", "gauge", "bargauge", "piechart", "table", "state-timeline"]),
  id: z.int().positive(),
  title: z.string().min(1),
  description: z.string().min(20),
  gridPos: GridPos,
  datasource: Datasource,
  fieldConfig: z.object({ defaults: z.object({ unit: z.string().min(1) }).loose(), overrides: z.array(z.unknown()) }),
  options: z.record(z.string(), z.unknown()),
  targets: z.array(Target).min(1),
});
const Panel = z.union([RowPanel, DataPanel]);
const Variable = z.object({
  name: z.string().regex(/^[a-z_]+$/),
  label: z.string().min(1),
  type: z.literal("query"),
  datasource: Datasource,
  query: z.string().min(1),
  definition: z.string().min(1),
  refresh: z.union([z.literal(1), z.literal(2)]),
  includeAll: z.boolean(),
  multi: z.boolean(),
  allValue: z.string().optional(),
});
const Dashboard = z.object({
  // Provisioned dashboards carry no database id; the uid is their identity (≤ 40 characters).
  id: z.null(),
  uid: z.string().regex(/^[a-z0-9-]{1,40}$/),
  title: z.string().min(1),
  description: z.string().min(1),
  tags: z.array(z.string()).refine((t) => t.includes("llm-router"), "tags must include llm-router (the dashboards link to each other by tag)"),
  schemaVersion: z.literal(SCHEMA_VERSION),
  editable: z.boolean(),
  time: z.object({ from: z.string(), to: z.string() }),
  refresh: z.string(),
  timezone: z.string(),
  annotations: z.object({ list: z.array(z.unknown()) }),
  templating: z.object({ list: z.array(Variable) }),
  panels: z.array(Panel).min(1),
});
type Dashboard = z.infer<typeof Dashboard>;
type DataPanel = z.infer<typeof DataPanel>;

const isData = (p: Dashboard["panels"][number]): p is DataPanel => p.type !== "row";

/** What the schema cannot say: ids, rows, layout, intervals and variables. */
function layoutProblems(d: Dashboard): string[] {
  const problems: string[] = [];
  const ids = d.panels.map((p) => p.id);
  if (new Set(ids).size !== ids.length) problems.push("panel ids are not unique");
  if (d.panels[0]?.type !== "row") problems.push("the first panel is not a row: every panel belongs to a row");
  let sinceRow = 0;
  for (const p of d.panels) {
    if (p.type === "row") {
      if (p !== d.panels[0] && sinceRow === 0) problems.push(`row "${p.title}" follows an empty row`);
      sinceRow = 0;
    } else sinceRow++;
  }
  if (sinceRow === 0) problems.push("the last row is empty");
  const covered = new Set<string>();
  for (const p of d.panels) {
    for (let y = p.gridPos.y; y < p.gridPos.y + p.gridPos.h; y++) {
      for (let x = p.gridPos.x; x < p.gridPos.x + p.gridPos.w; x++) {
        const cell = `${x},${y}`;
        if (covered.has(cell)) problems.push(`"${p.title}" overlaps another panel at ${cell}`);
        covered.add(cell);
      }
    }
  }
  const defined = new Set([...Object.keys(GRAFANA_BUILTINS), ...d.templating.list.map((v) => v.name)]);
  for (const p of d.panels.filter(isData)) {
    const refIds = p.targets.map((t) => t.refId);
    if (new Set(refIds).size !== refIds.length) problems.push(`"${p.title}": refIds are not unique`);
    for (const t of p.targets) {
      // Range windows come from Grafana, never hard-coded: a fixed [5m] breaks at other scrape intervals.
      for (const w of t.expr.match(/\[[^\]]*\]/g) ?? []) {
        if (!["[$__rate_interval]", "[$__range]", "[$__interval]"].includes(w)) problems.push(`"${p.title}" ${t.refId}: range ${w} is not $__rate_interval or $__range`);
      }
      for (const v of variablesIn(t.expr)) if (!defined.has(v)) problems.push(`"${p.title}" ${t.refId}: unknown variable $${v}`);
    }
  }
  for (const v of d.templating.list) {
    if (!parseLabelValues(v.query)) problems.push(`variable ${v.name}: only label_values(metric, label) queries are supported`);
  }
  return problems;
}

const files = loadDashboards(join(GRAFANA_DIR, "dashboards"));

describe("the Grafana dashboards in infra/grafana", () => {
  it("are the four the README describes", () => {
    expect(files.map((f) => f.file)).toEqual(["cost-budgets.json", "models-providers.json", "overview.json", "pipeline-health.json"]);
  });

  it.each(files.map((f) => [f.file, f.json] as const))("%s has the shape Grafana 11 loads (schemaVersion 39): rows, titled and described panels with units, targets by datasource uid", (_file, json) => {
    const parsed = Dashboard.safeParse(json);
    expect(parsed.success ? [] : parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`)).toEqual([]);
    if (parsed.success) expect(layoutProblems(parsed.data)).toEqual([]);
  });

  it("let a savings graph go below 0 (routing can cost more than the reference model would have)", () => {
    const clamped: string[] = [];
    for (const { file, json } of files) {
      for (const panel of (json as { panels: { title: string; type: string; targets?: { expr: string }[]; fieldConfig?: { defaults?: { min?: number; custom?: { axisSoftMin?: number } } } }[] }).panels) {
        const savings = panel.targets?.some((t) => t.expr.includes("router_reference_cost_usd_total") && t.expr.includes(" - ")) ?? false;
        const defaults = panel.fieldConfig?.defaults;
        if (panel.type === "timeseries" && savings && (defaults?.min === 0 || defaults?.custom?.axisSoftMin === 0)) clamped.push(`${file} › ${panel.title}`);
      }
    }
    expect(clamped).toEqual([]);
  });

  it("have distinct uids and titles", () => {
    const dashboards = files.map((f) => Dashboard.parse(f.json));
    expect(new Set(dashboards.map((d) => d.uid)).size).toBe(dashboards.length);
    expect(new Set(dashboards.map((d) => d.title)).size).toBe(dashboards.length);
  });

  it("are provisioned into the LLM Router folder against the datasource uid their panels name", () => {
    const ds = z
      .object({ apiVersion: z.literal(1), datasources: z.array(z.object({ uid: z.string(), type: z.string(), url: z.string() })).length(1) })
      .parse(parseYaml(readFileSync(join(GRAFANA_DIR, "provisioning/datasources/prometheus.yaml"), "utf8")));
    expect(ds.datasources[0]).toMatchObject({ uid: DATASOURCE_UID, type: "prometheus", url: "http://prometheus:9090" });
    const providers = z
      .object({ apiVersion: z.literal(1), providers: z.array(z.object({ folder: z.string(), type: z.literal("file"), options: z.object({ path: z.string() }) })).length(1) })
      .parse(parseYaml(readFileSync(join(GRAFANA_DIR, "provisioning/dashboards/router.yaml"), "utf8")));
    expect(providers.providers[0]).toMatchObject({ folder: "LLM Router", options: { path: "/var/lib/grafana/dashboards" } });
  });
});

// ------------------------------------------------------------------ against a real Prometheus

const SERVICES = ["classifier", "selector", "executor", "ledger"] as const;
type ServiceName = (typeof SERVICES)[number];

/** Tasks of the workload, by what each exercises. All reach the ledger. */
const TASKS = {
  redelivered: "wl-redelivered",
  fallback: "wl-fallback",
  cloud: "wl-cloud",
  cloudRefused: "wl-cloud-refused",
  allFail: "wl-all-fail",
  forcedLocal: "wl-forced-local",
  escalated: "wl-escalated",
} as const;

const llmServer = useWireServer();

describe("the dashboards against a real Prometheus scraping the services", () => {
  let h: Harness;
  let prometheus: PrometheusServer;
  const registries = {} as Record<ServiceName, Registry>;
  const ops: OpsServer[] = [];
  let classifier: ClassifierService | undefined;
  let selector: SelectorService | undefined;
  // An invalid dashboard fails the shape test above; the queries of the valid ones still run.
  const dashboards = files.flatMap((f) => {
    const parsed = Dashboard.safeParse(f.json);
    return parsed.success ? [parsed.data] : [];
  });

  beforeAll(async () => {
    // The cheapest local model always fails (fallback + retries). The budget covers one cloud
    // call's reservation (sim:cloud-large: up to 1,024 output tokens at $10/Mtok ≈ $0.0103) but
    // not a second on top of what the first spent: the second is refused and the budget exceeded.
    const models = DEFAULT_CONFIG_INPUT.models.map((m) => (m.spec === "sim:local-small" ? { ...m, sim: { latencyMs: 0, failureRate: 1 } } : m));
    // The classifier escalates unsure tasks to an LLM on a local wire-format server, whose
    // answers ("ok") are unparseable: each escalation falls back, so routing is what it would be.
    h = await createHarness({
      config: {
        models,
        executor: { retries: 1, backoffMs: 1, maxBackoffMs: 5 },
        budget: { limitUsd: 0.0105, window: "day" },
        providers: { sim: { type: "simulator" }, vllm: { type: "openai-compatible", baseUrl: llmServer().baseUrl, stream: false } },
        classifier: { strategy: "cascade", llm: { model: "vllm:qwen3" } },
      },
    });

    // Each service's registry as its main.ts builds it (default process metrics, build info),
    // served the way runService serves it, on a loopback port of its own.
    for (const s of SERVICES) {
      registries[s] = createRegistry(s, "test");
      ops.push(await startOpsServer({ registry: registries[s], port: 0, host: "127.0.0.1", ready: () => true }));
    }
    prometheus = await startPrometheus({
      targets: SERVICES.map((s, i) => ({ address: `127.0.0.1:${ops[i]!.port}`, labels: { component: s } })),
      scrapeIntervalSeconds: 1,
    });

    const base = { js: h.js, budgetKv: h.budgetKv, topology: h.topology, log: h.log, config: h.config };
    await h.startLedger({ registry: registries.ledger });
    await h.startExecutor({ registry: registries.executor });
    selector = await startSelector({ ...base, registry: registries.selector });

    // A redelivery, as after a classifier crash: take a task off the classifier's durable and
    // never ack it; JetStream redelivers it to the classifier after AckWait (2 s).
    const submitted = h.topology.subjects["task.submitted"];
    h.publishRaw(submitted, JSON.stringify({ id: TASKS.redelivered, prompt: "What is the capital of Italy?" }));
    const crashed = await (await h.js.consumers.get(h.topology.stream, "classifier")).next({ expires: 5000 });
    expect(crashed?.info.deliveryCount).toBe(1);
    classifier = await startClassifier({ ...base, registry: registries.classifier, classifier: await buildClassifier(h.config, {}, h.log) });

    h.publishRaw(submitted, JSON.stringify({ id: TASKS.fallback, prompt: "Hi there!" }));
    // Too little for the rules to be sure of: the cascade asks the LLM.
    h.publishRaw(submitted, JSON.stringify({ id: TASKS.escalated, prompt: "hmm" }));
    h.publishRaw(submitted, JSON.stringify({ id: TASKS.cloud, prompt: "Design a sharded rate limiter for a global API.", constraints: { minQuality: 0.9 } }));
    await waitFor(async () => (await h.query("SELECT 1 FROM tasks WHERE task_id = $1", [TASKS.cloud])).length === 1, { what: "the first cloud task in the ledger" });
    h.publishRaw(submitted, JSON.stringify({ id: TASKS.cloudRefused, prompt: "Design a sharded rate limiter for a global API.", constraints: { minQuality: 0.9 } }));
    h.publishRaw(submitted, JSON.stringify({ id: TASKS.allFail, prompt: "Hi again", constraints: { localOnly: true, maxLatencyMs: 500 } }));
    h.publishRaw(submitted, "{ this is not json");
    await waitFor(() => selector?.budget().state === "exceeded", { what: "the budget to be exceeded", timeoutMs: 30_000 });
    h.publishRaw(submitted, JSON.stringify({ id: TASKS.forcedLocal, prompt: "Design a sharded rate limiter for a global API.", constraints: { minQuality: 0.9 } }));

    const ids = Object.values(TASKS);
    // Names the tasks still missing when it times out (a shared CI host can be slow: 60 s).
    await waitFor(
      async () => {
        const recorded = new Set((await h.query<{ task_id: string }>("SELECT task_id FROM tasks WHERE task_id = ANY($1)", [ids])).map((r) => r.task_id));
        const missing = ids.filter((id) => !recorded.has(id));
        if (missing.length > 0) throw new Error(`not yet recorded: ${missing.join(", ")}`);
        return true;
      },
      { what: "every workload task in the ledger", timeoutMs: 60_000 },
    );
    await waitFor(async () => (await h.query("SELECT code FROM dead_letters")).length > 0, { what: "the dead letter in the ledger" });
    // An API request, answered by the ledger's router.health endpoint.
    expect((await requestApi(h.nc, "router.health", {}, { prefix: h.topology.subjects.prefix })).nats).toBeDefined();

    // Prometheus has scraped the end state (every task recorded, every durable's backlog
    // polled), and then a few more times so each rate window holds samples after the change.
    const scalar = async (expr: string): Promise<number> => {
      const r = await prometheus.query(expr);
      return r.resultType === "vector" && r.result[0] ? Number(r.result[0].value[1]) : Number.NaN;
    };
    await waitFor(async () => (await scalar("sum(router_ledger_tasks_recorded_total)")) >= ids.length, { what: "Prometheus to scrape the recorded tasks", timeoutMs: 30_000 });
    await waitFor(async () => (await scalar("count(router_consumer_pending_messages)")) >= 6, { what: "Prometheus to scrape every durable's backlog", timeoutMs: 30_000 });
    await new Promise((r) => setTimeout(r, 3000));
  }, 100_000);

  afterAll(async () => {
    await prometheus?.stop();
    await classifier?.stop();
    await selector?.stop();
    await h?.close();
    for (const o of ops) await o.close();
  });

  it("scraped a workload that exercised success, fallback, retries, budget exceeded, a redelivery and a dead letter", async () => {
    const value = async (expr: string): Promise<number> => {
      const r = await prometheus.query(expr);
      return r.resultType === "vector" && r.result[0] ? Number(r.result[0].value[1]) : 0;
    };
    // What each part of the workload must have left behind, as Prometheus scraped it.
    const expected: [what: string, expr: string, atLeast: number][] = [
      ["tasks succeeded", 'sum(router_tasks_completed_total{status="succeeded"})', 4],
      ["a task failed on every model", 'sum(router_tasks_completed_total{status="failed"})', 1],
      ["a fallback answered", "sum(router_fallbacks_total)", 1],
      ["a failing model was retried", "sum(router_retries_total)", 1],
      ["cloud spend was recorded", "sum(router_model_cost_usd_total)", 0.0001],
      ["a paid call was refused by the budget", "sum(router_budget_refusals_total)", 1],
      ["the ledger reports the budget exceeded", 'max(router_budget_exceeded{scope="global"})', 1],
      ["the selector routes local only", "max(router_selector_budget_exceeded)", 1],
      ["a decision was forced local", 'sum(router_decisions_total{forced_local="true"})', 1],
      ["the classifier saw a redelivery", 'sum(router_redeliveries_total{stage="classifier"})', 1],
      ["the classifier asked its LLM and fell back", 'sum(router_classification_escalations_total{outcome="unparseable"})', 1],
      ["the classifier dead-lettered the undecodable message", 'sum(router_dead_letters_total{stage="classifier", code="MESSAGE_UNDECODABLE"})', 1],
    ];
    const lacking: string[] = [];
    for (const [what, expr, atLeast] of expected) {
      const seen = await value(expr);
      if (!(seen >= atLeast)) lacking.push(`${what}: ${expr} = ${seen}, expected ≥ ${atLeast}`);
    }
    expect(lacking).toEqual([]);
  });

  it("every target of every panel returns series", async () => {
    const failures: string[] = [];
    for (const d of dashboards) {
      const values = allSelected(d);
      for (const q of panelQueries(d)) {
        const expr = substituteVariables(q.expr, values);
        const where = `${d.title} › ${q.panel} › ${q.refId}: ${expr}`;
        try {
          const r = await prometheus.query(expr);
          const series = r.resultType === "vector" || r.resultType === "matrix" ? r.result.length : 1;
          if (series === 0) failures.push(`${where} → no series`);
        } catch (err) {
          failures.push(`${where} → ${(err as Error).message}`);
        }
      }
    }
    expect(failures).toEqual([]);
  });

  it("every metric a panel reads has series in Prometheus (an `or vector(0)` cannot hide a misspelt name)", async () => {
    const names = [...new Set(dashboards.flatMap((d) => panelQueries(d).flatMap((q) => metricNamesIn(q.expr))))].sort();
    expect(names.length).toBeGreaterThan(20);
    const missing: string[] = [];
    for (const name of names) if ((await prometheus.series(name)).length === 0) missing.push(name);
    expect(missing).toEqual([]);
  });

  it("every template variable lists values", async () => {
    const empty: string[] = [];
    for (const d of dashboards) {
      const values = allSelected(d);
      for (const v of d.templating.list) {
        const q = parseLabelValues(substituteVariables(v.query, values))!;
        const listed = await prometheus.labelValues(q.label, q.match ?? "{__name__=~\"router_.+\"}");
        if (listed.length === 0) empty.push(`${d.title} › $${v.name}: ${v.query}`);
      }
    }
    expect(empty).toEqual([]);
  });

  it("every metric in README's Metrics table is exported by a service after the workload", async () => {
    // This workload's ledger runs on Postgres; test/pglite.test.ts reads the embedded ledger's own.
    const pgliteOnly = ["router_ledger_disk_free_bytes"];
    const documented = readmeMetricNames(readFileSync(join(ROOT, "README.md"), "utf8")).filter((name) => !pgliteOnly.includes(name));
    expect(documented.length).toBeGreaterThan(20);
    const unexported: string[] = [];
    for (const name of documented) {
      let samples = 0;
      for (const s of SERVICES) samples += (await registries[s].getSingleMetric(name)?.get())?.values.length ?? 0;
      if (samples === 0) unexported.push(name);
    }
    expect(unexported).toEqual([]);
  });
});
