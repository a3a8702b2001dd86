/**
 * The router.* request/reply API on real NATS and Postgres: every endpoint served by the
 * service that owns its data (under this file's subject prefix), discovered through `$SRV`,
 * each refusal answered as a service error with a stable code; and the CLI commands that ask
 * them, run as a child process against the running services.
 */
import { execFile } from "node:child_process";
import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { jetstream } from "@nats-io/jetstream";
import { Svcm, ServiceError, type ServiceInfo } from "@nats-io/services";
import {
  ApiError,
  ERROR_CODES,
  RouterError,
  MAX_HEALTH_BUDGETS,
  budgetRules,
  budgetStateKey,
  budgetsFor,
  windowStart,
  requestApi,
  reserveBudget,
  startApiServer,
  updateHealth,
  type ApiEndpointName,
  type ApiRequestInput,
  type BudgetReport,
  type BudgetState,
  type HealthReport,
  type TaskCompleted,
} from "@llm-router/shared";
import { completedTask } from "./support/completions.js";
import { createHarness, testConfigInput, waitFor, type Harness, type Stoppable } from "./support/harness.js";

const ENDPOINTS: readonly ApiEndpointName[] = [
  "router.classify",
  "router.route",
  "router.models",
  "router.models.get",
  "router.budget",
  "router.metrics",
  "router.feedback",
  "router.health",
];

const BUDGETS = { budgets: [{ scope: "global", window: "month", limitUsd: 100 }, { scope: "tenant", window: "day", limitUsd: 0.01 }] };

/** A completed task at `at` that took `latencyMs`, with its own reference cost. */
function completion(id: string, o: { at: string; tenant?: string; taskType?: "chat" | "code"; costUsd: number; referenceUsd: number; latencyMs: number; failed?: boolean }): TaskCompleted {
  const base = completedTask(id, o.costUsd, new Date(o.at), { tenant: o.tenant ?? "default", classification: { taskType: o.taskType ?? "chat" } });
  return {
    ...base,
    referenceCostUsd: o.referenceUsd,
    completedAt: new Date(Date.parse(o.at) + o.latencyMs).toISOString(),
    ...(o.failed ? { result: { status: "failed", error: { code: "ALL_MODELS_FAILED", message: "every model failed" } }, calls: [] } : {}),
  };
}

/** The error a request was refused with. */
async function refusal(p: Promise<unknown>): Promise<RouterError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof RouterError) return err;
    throw err;
  }
  throw new Error("expected the request to be refused");
}

describe("router.* API", () => {
  let h: Harness;
  let prefix: string;
  let classifier: Stoppable | undefined;
  const ask = <E extends ApiEndpointName>(endpoint: E, request: ApiRequestInput<E>) => requestApi(h.nc, endpoint, request, { prefix });
  const publish = (c: TaskCompleted) => jetstream(h.nc).publish(h.topology.subjects["task.completed"], JSON.stringify(c), { msgID: `${c.task.id}:completed` });
  const now = () => new Date().toISOString();

  beforeAll(async () => {
    h = await createHarness({ config: BUDGETS });
    prefix = h.topology.subjects.prefix;
    await h.startLedger({ budgetCheckMs: 100, statsPublishMs: 100 });
    await h.startSelector();
    // Tasks the ledger records: two March days, two tenants, one failure; and one today for the budget.
    for (const c of [
      completion("m-1", { at: "2026-03-01T10:00:00.000Z", tenant: "alpha", costUsd: 0.001, referenceUsd: 0.01, latencyMs: 100 }),
      completion("m-2", { at: "2026-03-02T10:00:00.000Z", tenant: "beta", taskType: "code", costUsd: 0.002, referenceUsd: 0.004, latencyMs: 200 }),
      completion("m-3", { at: "2026-03-02T11:00:00.000Z", tenant: "beta", costUsd: 0, referenceUsd: 0.001, latencyMs: 300, failed: true }),
      completion("acme-1", { at: now(), tenant: "acme", costUsd: 0.009, referenceUsd: 0.02, latencyMs: 50 }),
    ]) {
      await publish(c);
    }
    await waitFor(async () => (await h.query("SELECT 1 FROM tasks")).length === 4, { what: "the completions in the ledger" });
  });
  afterAll(async () => {
    await h?.close();
  });

  it("answers router.route with SERVICE_UNAVAILABLE while no classifier serves router.classify", async () => {
    const err = await refusal(ask("router.route", { prompt: "Hi there!" }));
    expect(err).toBeInstanceOf(ApiError);
    expect(err).toMatchObject({ code: ERROR_CODES.SERVICE_UNAVAILABLE, retryable: true, status: 503 });
    expect(err.message).toContain(`${prefix}router.classify`);
    classifier = await h.startClassifier();
  });

  it("lists every endpoint under this router's prefix in $SRV.INFO, and answers $SRV.PING and $SRV.STATS", async () => {
    const client = new Svcm(h.nc).client();
    const infos: ServiceInfo[] = [];
    for await (const info of await client.info()) if (info.metadata?.subject_prefix === prefix) infos.push(info);
    expect(infos.map((i) => i.name).sort()).toEqual(["router-classifier", "router-ledger", "router-selector"]);
    const subjects = infos.flatMap((i) => i.endpoints.map((e) => e.subject)).sort();
    expect(subjects).toEqual(ENDPOINTS.map((e) => `${prefix}${e}`).sort());
    expect(infos.find((i) => i.name === "router-selector")?.endpoints.map((e) => e.name).sort()).toEqual(["models", "models-get", "route"]);

    const pings: string[] = [];
    for await (const ping of await client.ping("router-ledger")) if (ping.metadata?.subject_prefix === prefix) pings.push(ping.id);
    expect(pings).toEqual([infos.find((i) => i.name === "router-ledger")?.id]);
    await ask("router.health", {});
    const healthRequests: (number | undefined)[] = [];
    for await (const stats of await client.stats("router-ledger")) {
      if (stats.metadata?.subject_prefix === prefix) healthRequests.push(stats.endpoints?.find((e) => e.name === "health")?.num_requests);
    }
    // One ledger answers for this prefix, and it counted the health request just made.
    expect(healthRequests).toHaveLength(1);
    expect(healthRequests[0]).toBeGreaterThanOrEqual(1);
  });

  it("classifies a submission with the classifier service's configured strategies", async () => {
    const c = await ask("router.classify", { prompt: "Write a Python function that merges two sorted lists." });
    expect(c.taskType).toBe("code");
    expect(c.strategy).toBe("rules+learned");
    expect(c.pFail).toBeGreaterThan(0);
  });

  it("refuses an invalid or undecodable body with REQUEST_INVALID, in the headers and the body", async () => {
    const err = await refusal(ask("router.classify", { prompt: "x", messages: [{ role: "user", content: "y" }] }));
    expect(err).toMatchObject({ code: ERROR_CODES.REQUEST_INVALID, status: 400 });
    expect(err.message).toContain("exactly one of `prompt` or `messages`");
    // As any NATS client sees it.
    const raw = await h.nc.request(`${prefix}router.classify`, "{ not json", { timeout: 5000 });
    expect(ServiceError.toServiceError(raw)).toMatchObject({ code: 400 });
    expect(raw.headers?.get("Nats-Service-Error")).toMatch(/^REQUEST_INVALID: /);
    expect(raw.json()).toMatchObject({ ok: false, error: { code: "REQUEST_INVALID" } });
  });

  it("routes a submission as a dry run: classification and decision, nothing published or recorded", async () => {
    const seen = h.collect(`${prefix}task.>`);
    const routed = await ask("router.route", { id: "dry-1", prompt: "Hi there!", tenant: "acme" });
    expect(routed.task).toMatchObject({ id: "dry-1", tenant: "acme", messages: [{ role: "user", content: "Hi there!" }] });
    expect(routed.classification.taskType).toBe("chat");
    expect(routed.decision).toMatchObject({ ok: true, model: "sim:local-small" });
    // The selector's live views: acme's tenant budget is past its soft limit (0.009 of 0.01).
    await waitFor(async () => (await ask("router.route", { id: "dry-1", prompt: "Hi there!", tenant: "acme" })).decision.budget.state === "soft", { what: "the soft budget in the decision" });
    await h.nc.flush();
    expect(seen.messages).toEqual([]);
    seen.stop();
    expect(await h.query("SELECT 1 FROM tasks WHERE task_id = 'dry-1'")).toEqual([]);
    expect((await refusal(ask("router.route", { prompt: "" }))).code).toBe(ERROR_CODES.REQUEST_INVALID);
  });

  it("lists the registry with each model's health and outcome statistics; gets one by spec or MODEL_NOT_FOUND", async () => {
    const since = new Date().toISOString();
    await updateHealth(h.budgetKv, (m) => {
      m["sim:cloud-large"] = { state: "open", reason: "test outage", since, until: new Date(Date.now() + 600_000).toISOString(), by: "test" };
    });
    const models = await waitFor(
      async () => {
        const r = await ask("router.models", {});
        const large = r.models.find((m) => m.spec === "sim:cloud-large");
        const mini = r.models.find((m) => m.spec === "sim:cloud-mini");
        return large?.health.state === "open" && (mini?.stats.samples ?? 0) >= 3 && r;
      },
      { what: "health and statistics in router.models" },
    );
    expect(models.models.map((m) => m.spec)).toEqual(["sim:local-small", "sim:local-coder", "sim:cloud-mini", "sim:cloud-large"]);
    expect(models.statsId).not.toBe("empty");
    const mini = await ask("router.models.get", { spec: "sim:cloud-mini" });
    expect(mini).toMatchObject({ spec: "sim:cloud-mini", provider: "sim", local: false, priceSource: "config", health: { state: "healthy" } });
    expect(models.models.map((m) => m.priceSource)).toEqual(["local", "local", "config", "config"]);
    expect(mini.stats.successRate).toBe(1);
    expect(mini.stats.buckets.map((b) => `${b.taskType}/${b.complexity}`).sort()).toEqual(["chat/simple", "code/simple"]);
    const large = await ask("router.models.get", { spec: "sim:cloud-large" });
    expect(large.health).toMatchObject({ state: "open", reason: "test outage" });

    const missing = await refusal(ask("router.models.get", { spec: "sim:gpt-9" }));
    expect(missing).toMatchObject({ code: ERROR_CODES.MODEL_NOT_FOUND, status: 404 });
    expect(missing.message).toContain("sim:local-small");
    expect((await refusal(ask("router.models.get", {} as { spec: string }))).code).toBe(ERROR_CODES.REQUEST_INVALID);
  });

  it("reports each budget scope's limit, ledger spend, reservations, remainder and state, filtered by scope", async () => {
    const rules = budgetRules(h.config);
    const held = await reserveBudget(h.budgetKv, budgetsFor(rules, { tenant: "acme" }), 0.0005, new Date());
    expect(held.ok).toBe(true);
    const report = await ask("router.budget", {});
    const acme = report.budgets.find((b) => b.scope === "tenant:acme");
    expect(acme).toMatchObject({ rule: "tenant", window: "day", limitUsd: 0.01, spentUsd: 0.009, reservedUsd: 0.0005, state: "soft" });
    expect(acme?.remainingUsd).toBeCloseTo(0.0005, 9);
    expect(report.budgets.find((b) => b.scope === "global")).toMatchObject({ window: "month", limitUsd: 100, state: "ok" });

    const only = await ask("router.budget", { scope: "tenant:acme" });
    expect(only.budgets.map((b) => b.scope)).toEqual(["tenant:acme"]);
    // A tenant that has not spent gets the budgets that would charge it, at zero.
    const fresh = await ask("router.budget", { scope: "tenant:newco" });
    expect(fresh.budgets).toEqual([expect.objectContaining({ scope: "tenant:newco", spentUsd: 0, remainingUsd: 0.01, state: "ok" })]);
    expect((await ask("router.budget", { scope: "tenant" })).budgets.every((b) => b.scope.startsWith("tenant:"))).toBe(true);
    expect((await refusal(ask("router.budget", { scope: "team:x" }))).code).toBe(ERROR_CODES.REQUEST_INVALID);
  });

  it("reports tasks, success, cost, latency, models and savings from Postgres, filtered and grouped", async () => {
    const march = { since: "2026-03-01T00:00:00Z", until: "2026-03-03T00:00:00Z" };
    const all = await ask("router.metrics", march);
    expect(all.totals).toMatchObject({ tasks: 3, succeeded: 2, failed: 1, costUsd: 0.003, referenceCostUsd: 0.015, savedUsd: 0.012, savedPercent: 80, latencyMeanMs: 200 });
    expect(all.totals.successRate).toBeCloseTo(2 / 3, 9);
    expect(all.totals.latencyP95Ms).toBeCloseTo(290, 6);
    expect(all.totals.models).toEqual([
      { model: "sim:cloud-mini", tasks: 2, share: 2 / 3, costUsd: 0.003 },
      { model: "(failed)", tasks: 1, share: 1 / 3, costUsd: 0 },
    ]);
    expect(all.groups).toBeUndefined();

    const byDay = await ask("router.metrics", { ...march, groupBy: "day" });
    expect(byDay.groups?.map((g) => [g.key, g.tasks, g.savedUsd])).toEqual([
      ["2026-03-01T00:00:00.000Z", 1, 0.009],
      ["2026-03-02T00:00:00.000Z", 2, 0.003],
    ]);
    const byTenant = await ask("router.metrics", { ...march, groupBy: "tenant" });
    expect(byTenant.groups?.map((g) => [g.key, g.tasks])).toEqual([
      ["alpha", 1],
      ["beta", 2],
    ]);
    const code = await ask("router.metrics", { taskType: "code", tenant: "beta" });
    expect(code.totals).toMatchObject({ tasks: 1, costUsd: 0.002, savedUsd: 0.002, savedPercent: 50 });
    expect((await ask("router.metrics", { since: "2030-01-01T00:00:00Z" })).totals).toMatchObject({ tasks: 0, successRate: null, latencyMeanMs: null, models: [] });

    expect((await refusal(ask("router.metrics", { groupBy: "week" } as never))).code).toBe(ERROR_CODES.REQUEST_INVALID);
    expect((await refusal(ask("router.metrics", { since: "yesterday" }))).code).toBe(ERROR_CODES.REQUEST_INVALID);
  });

  it("publishes feedback on a recorded task through JetStream, idempotent by id; refuses unknown tasks and invalid bodies", async () => {
    const first = await ask("router.feedback", { id: "fb-m1", taskId: "m-1", score: 0.9, comment: "good" });
    expect(first).toEqual({ ok: true, id: "fb-m1", duplicate: false });
    expect(await ask("router.feedback", { id: "fb-m1", taskId: "m-1", score: 0.9 })).toEqual({ ok: true, id: "fb-m1", duplicate: true });
    const assigned = await ask("router.feedback", { taskId: "m-2", success: false });
    expect(assigned.id).toMatch(/^fb-/);
    // Without an id, a retry of the same feedback (after a timeout, say) is recorded once.
    expect(await ask("router.feedback", { taskId: "m-2", success: false })).toEqual({ ok: true, id: assigned.id, duplicate: true });
    await waitFor(async () => (await h.query("SELECT 1 FROM feedback")).length === 2, { what: "the feedback rows" });
    expect(await h.query("SELECT feedback_id, task_id, score, comment FROM feedback WHERE feedback_id = 'fb-m1'")).toEqual([
      { feedback_id: "fb-m1", task_id: "m-1", score: 0.9, comment: "good" },
    ]);

    const unknown = await refusal(ask("router.feedback", { taskId: "never-ran", success: true }));
    expect(unknown).toMatchObject({ code: ERROR_CODES.TASK_NOT_FOUND, status: 404 });
    expect((await refusal(ask("router.feedback", { taskId: "m-1" }))).message).toContain("feedback needs `score`");
    expect((await refusal(ask("router.feedback", { taskId: "m-1", score: 2 }))).code).toBe(ERROR_CODES.REQUEST_INVALID);
  });

  it("lists at most MAX_HEALTH_BUDGETS budget states in its health, the tightest first, and how many it left out", async () => {
    const at = new Date();
    const state = (scope: string, s: BudgetState["state"]): BudgetState => ({ v: 1, scope, window: "day", windowStart: windowStart("day", at).toISOString(), state: s, limitUsd: 0.01, spentUsd: 0, at: at.toISOString() });
    const many = [...Array.from({ length: 150 }, (_, i) => state(`tenant:many-${String(i).padStart(3, "0")}`, "ok")), state("tenant:zz-spent", "exceeded")];
    for (const s of many) await h.budgetKv.put(budgetStateKey(s.scope, "day"), JSON.stringify(s));
    try {
      const health = await ask("router.health", {});
      expect(health.budgets).toHaveLength(MAX_HEALTH_BUDGETS);
      expect(health.budgets[0]).toMatchObject({ scope: "tenant:zz-spent", state: "exceeded" });
      expect(health.budgetsOmitted).toBeGreaterThanOrEqual(many.length - MAX_HEALTH_BUDGETS);
    } finally {
      for (const s of many) await h.budgetKv.purge(budgetStateKey(s.scope, "day"));
    }
  });

  it("reports the ledger's health: NATS, database, KV, unhealthy models and budget states; the database going away", async () => {
    const health = await ask("router.health", {});
    expect(health).toMatchObject({ ok: true, nats: { ok: true }, database: { ok: true, kind: "postgres" }, kv: { ok: true } });
    expect(health.unhealthyModels).toEqual([expect.objectContaining({ spec: "sim:cloud-large", state: "open", reason: "test outage" })]);
    expect(health.budgets).toContainEqual(expect.objectContaining({ scope: "tenant:acme", window: "day", state: "soft" }));

    await h.setDatabaseAvailable(false);
    try {
      const down = await ask("router.health", {});
      expect(down).toMatchObject({ ok: false, database: { ok: false }, kv: { ok: true } });
      const err = await refusal(ask("router.metrics", {}));
      expect(err).toMatchObject({ code: ERROR_CODES.SERVICE_UNAVAILABLE, retryable: true, status: 503 });
    } finally {
      await h.setDatabaseAvailable(true);
    }
    await waitFor(async () => (await ask("router.health", {})).ok, { what: "the database back" });
  });

  describe("the router CLI", () => {
    let env: NodeJS.ProcessEnv;
    const run = async (...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> => {
      try {
        const { stdout, stderr } = await promisify(execFile)(process.execPath, ["--conditions=source", "--import", "tsx", "packages/cli/src/main.ts", ...args], {
          cwd: new URL("../", import.meta.url),
          env,
        });
        return { code: 0, stdout, stderr };
      } catch (err) {
        const e = err as { code: number; stdout: string; stderr: string };
        return { code: e.code, stdout: e.stdout, stderr: e.stderr };
      }
    };

    beforeAll(async () => {
      const dir = await mkdtemp(join(tmpdir(), "router-api-cli-"));
      const configFile = join(dir, "router.config.json");
      await writeFile(configFile, JSON.stringify(testConfigInput(h.id, BUDGETS)));
      env = { ...process.env, NATS_URL: h.natsUrl, ROUTER_CONFIG: configFile, NATS_USER: "", NATS_PASSWORD: "", NATS_TOKEN: "" };
    });

    it("prints budgets and models as tables, and the raw answer with --json", async () => {
      const [table, json, models, model] = await Promise.all([run("budget"), run("budget", "--scope", "tenant:acme", "--json"), run("models"), run("models", "sim:cloud-large")]);
      expect(table.code).toBe(0);
      expect(table.stdout).toMatch(/^scope\s+window\s+since\s+limit\s+spent\s+reserved\s+remaining\s+state$/m);
      expect(table.stdout).toMatch(/^tenant:acme\s+day\s+\S+\s+\$0\.010000\s+\$0\.009000\s+\$0\.000500\s+\$0\.000500\s+soft$/m);
      expect((JSON.parse(json.stdout) as BudgetReport).budgets.map((b) => b.scope)).toEqual(["tenant:acme"]);
      expect(models.stdout).toMatch(/^sim:cloud-large\s+no\s+0\.90\s+\$2\.5\/\$10\s+open \(test outage\)/m);
      expect(model.stdout).toContain("health:       open (test outage) until ");
    }, 60_000);

    it("prints the savings report per window with stats --group-by", async () => {
      const { code, stdout } = await run("stats", "--since", "2026-03-01T00:00:00Z", "--until", "2026-03-03T00:00:00Z", "--group-by", "day");
      expect(code).toBe(0);
      expect(stdout).toContain("tasks:      3 (2 succeeded, 1 failed; success rate 66.7%)");
      expect(stdout).toContain("saved:      $0.012000 (80.0%)");
      expect(stdout).toMatch(/^2026-03-02T00:00:00\.000Z\s+2\s+50\.0%\s+\$0\.002000\s+\$0\.003000\s+60\.0%/m);
    }, 60_000);

    it("shows a dry-run decision with route and the router's view with health", async () => {
      const [route, routeJson, health, noPrompt] = await Promise.all([run("route", "What", "is", "the", "capital", "of", "Italy?"), run("route", "Hi there!", "--json"), run("health"), run("route")]);
      expect(route.code).toBe(0);
      expect(route.stdout).toMatch(/^classified: simple qa, risk normal, confidence \d\.\d\d/m);
      expect(route.stdout).toMatch(/^routed to: {2}sim:\S+ \(single\)/m);
      expect(route.stdout).toContain("dry run — nothing was executed or recorded");
      expect(JSON.parse(routeJson.stdout)).toMatchObject({ task: { messages: [{ role: "user", content: "Hi there!" }] }, decision: { ok: true } });
      expect(health.code).toBe(0);
      expect(health.stdout).toMatch(/^ok at /m);
      expect(health.stdout).toContain("models routed around: sim:cloud-large open");
      expect(noPrompt.code).toBe(2);
      expect(noPrompt.stderr).toContain("route: the prompt is required");
    }, 60_000);

    it("records feedback, and exits 1 with the service's code, or 2 for a command line that cannot work", async () => {
      const [ok, unknown, missing, usage] = await Promise.all([
        run("feedback", "m-2", "--score", "0.8", "--comment", "fine", "--json"),
        run("feedback", "never-ran", "--success"),
        run("models", "sim:gpt-9", "--json"),
        run("feedback", "m-2"),
      ]);
      expect(ok.code).toBe(0);
      expect(JSON.parse(ok.stdout)).toMatchObject({ ok: true, duplicate: false });
      expect(unknown.code).toBe(1);
      expect(unknown.stderr).toContain("router feedback: TASK_NOT_FOUND: no task never-ran in the ledger");
      expect(missing.code).toBe(1);
      expect(JSON.parse(missing.stdout)).toMatchObject({ ok: false, error: { code: "MODEL_NOT_FOUND" } });
      expect(usage.code).toBe(2);
      expect(usage.stderr).toContain("give --score X (0..1), --success or --failure");
    }, 60_000);

    it("exits 2 for a command line that cannot work before connecting: the same with NATS down", async () => {
      const up = env;
      env = { ...up, NATS_URL: "nats://127.0.0.1:1" };
      try {
        const results = await Promise.all([
          run("stats", "--since", "5"),
          run("stats", "--group-by", "week"),
          run("feedback", "t1", "--score", "2"),
          run("route", "hi", "--max-cost=-1"),
          run("route"),
          // An option the command does not read is refused, not ignored.
          run("budget", "--score", "1"),
          run("route", "hi", "--id", "t-1"),
        ]);
        expect(results.map((r) => r.code)).toEqual([2, 2, 2, 2, 2, 2, 2]);
        expect(results[5]?.stderr).toContain("router budget does not take --score");
        expect(results[6]?.stderr).toContain("router route does not take --id");
        for (const r of results) expect(r.stderr).not.toContain("cannot connect");
        expect(results[2]?.stderr).toContain("--score");
      } finally {
        env = up;
      }
    }, 60_000);
  });

  it("stops answering when the service stops", async () => {
    await classifier?.stop();
    const err = await refusal(ask("router.classify", { prompt: "Hi" }));
    expect(err.code).toBe(ERROR_CODES.SERVICE_UNAVAILABLE);
  });
});

describe("the router.* API server", () => {
  let h: Harness;
  let server: { stop(): Promise<void> } | undefined;
  let handled = 0;

  beforeAll(async () => {
    h = await createHarness();
    server = await startApiServer({
      nc: h.nc,
      service: "ledger",
      version: "0.0.0",
      prefix: h.topology.subjects.prefix,
      log: h.log,
      handlers: {
        "router.health": () => {
          handled++;
          // An answer past the server's max_payload (1 MiB by default).
          return Promise.resolve({ pad: "x".repeat(2 * 1024 * 1024) } as unknown as HealthReport);
        },
        "router.budget": () => {
          handled++;
          return Promise.resolve({ at: new Date().toISOString(), budgets: [] });
        },
      } as unknown as Parameters<typeof startApiServer<"ledger">>[0]["handlers"],
    });
  });
  afterAll(async () => {
    await server?.stop();
    await h?.close();
  });

  it("does no work for a message without a reply subject: nobody would get the answer", async () => {
    h.nc.publish(`${h.topology.subjects.prefix}router.budget`, "{}");
    // Requests are handed to the handler in the order they arrive: the plain publish came first.
    await requestApi(h.nc, "router.budget", {}, { prefix: h.topology.subjects.prefix });
    expect(handled).toBe(1);
  });

  it("refuses an answer larger than the server's max_payload with MESSAGE_TOO_LARGE, which is not worth retrying", async () => {
    const err = await refusal(requestApi(h.nc, "router.health", {}, { prefix: h.topology.subjects.prefix }));
    expect(err).toMatchObject({ code: ERROR_CODES.MESSAGE_TOO_LARGE, retryable: false });
    expect(err.message).toMatch(/^the answer is \d+ bytes, more than the server's max_payload of \d+: ask for less/);
  });
});

describe("router.metrics under a slow database", () => {
  let h: Harness;

  beforeAll(async () => {
    h = await createHarness();
    await h.startLedger();
  });
  afterAll(async () => {
    await h?.close();
  });

  it("runs one report at a time, tells a third to come back, and refuses one past its time as too broad", async () => {
    // Another session holds the tasks table: every report waits on it.
    const blocker = await h.pg.connect();
    try {
      await blocker.query("BEGIN");
      await blocker.query("LOCK TABLE tasks IN ACCESS EXCLUSIVE MODE");
      const ask = () => requestApi(h.nc, "router.metrics", {}, { prefix: h.topology.subjects.prefix, timeoutMs: 30_000 });
      const first = refusal(ask());
      const second = ask();
      const third = await refusal(ask());
      expect(third).toMatchObject({ code: ERROR_CODES.SERVICE_UNAVAILABLE, retryable: true });
      expect(third.message).toContain("computing other reports");
      const slow = await first;
      expect(slow).toMatchObject({ code: ERROR_CODES.REQUEST_INVALID, retryable: false });
      expect(slow.message).toMatch(/^the report took longer than 8 s to compute: ask for a shorter range/);
      await blocker.query("ROLLBACK");
      // The second ran after the first, on a free table: an answer.
      expect((await second).totals.tasks).toBe(0);
    } finally {
      await blocker.query("ROLLBACK").catch(() => undefined);
      blocker.release();
    }
  }, 60_000);
});
