/**
 * Reproducible decisions: tasks routed through the running pipeline (real NATS and Postgres) are
 * re-decided from the ledger by `npm run replay` and come out the same; under a changed policy
 * the ones that route differently are reported with the input that changed.
 */
import { execFile } from "node:child_process";
import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openLedgerDatabase, pruneStatsSnapshots, type LedgerDatabase } from "@llm-router/ledger";
import { parseConfig } from "@llm-router/shared";
import { replayDecisions, type ReplayReport } from "../packages/cli/src/replay.js";
import { createHarness, testConfigInput, waitFor, type Harness } from "./support/harness.js";

const PROMPTS = [
  "Hi there!",
  "What is the capital of Italy?",
  "Write a Python function that merges two sorted lists.",
  "Compare two approaches to caching API responses, and explain which one you would choose for a small web service.",
  "Design a sharded rate limiter for a global API, with failure modes and a migration plan.",
  "Translate 'good morning' into French.",
];

describe("replay", () => {
  let h: Harness;
  let database: LedgerDatabase;
  const since = new Date(Date.now() - 60_000);

  beforeAll(async () => {
    h = await createHarness();
    const selector = await h.startAll();
    // Two rounds, so the later decisions route with outcome statistics the first round produced.
    for (const round of [1, 2]) {
      PROMPTS.forEach((prompt, i) => h.publishRaw(h.topology.subjects["task.submitted"], JSON.stringify({ id: `rp-${round}-${i}`, prompt, tenant: i % 2 ? "acme" : "beta" })));
      await waitFor(async () => (await h.query("SELECT 1 FROM tasks WHERE task_id LIKE $1", [`rp-${round}-%`])).length === PROMPTS.length, {
        what: `round ${round} in the ledger`,
      });
      // The statistics are published once a second: round 2 starts once the selector has them.
      if (round === 1) await waitFor(() => selector.stats().id !== "empty" || undefined, { what: "the selector to have the first round's statistics" });
    }
    database = await openLedgerDatabase({ databaseUrl: h.databaseUrl, dataDir: "", log: h.log });
  });
  afterAll(async () => {
    await database?.close();
    await h?.close();
  });

  it("re-decides every stored decision the same with the configuration that made them, statistics included", async () => {
    const stats = await h.query<{ stats_id: string }>("SELECT DISTINCT inputs->'decision'->>'statsId' AS stats_id FROM decisions WHERE task_id LIKE 'rp-%'");
    expect(stats.some((s) => s.stats_id !== "empty")).toBe(true);
    const report = await replayDecisions({ db: database.db, config: h.config, since });
    expect(report.skipped).toEqual([]);
    expect(report.replayed).toBe(2 * PROMPTS.length);
    expect(report.different).toEqual([]);
    expect(report.same).toBe(2 * PROMPTS.length);
  });

  it("reports the decisions a changed policy routes differently, naming the policy change", async () => {
    // Simple tasks now need more than the local models offer.
    const changed = parseConfig(testConfigInput(h.id, { policy: { minQuality: { simple: 0.7 } } }), { NATS_URL: h.natsUrl }).config;
    const report = await replayDecisions({ db: database.db, config: changed, since });
    expect(report.different.length).toBeGreaterThan(0);
    const hi = report.different.find((d) => d.taskId === "rp-1-0");
    expect(hi?.recorded).toMatch(/^sim:local-small /);
    expect(hi?.replayed).toMatch(/^sim:cloud-/);
    expect(hi?.drift[0]).toMatch(/^policy [0-9a-f]+ → [0-9a-f]+$/);
  });

  it("prunes statistics snapshots older than the retention, keeping the recent ones", async () => {
    await h.query("INSERT INTO stats_snapshots (stats_id, snapshot, published_at) VALUES ('old-one', '{}', now() - interval '40 days')");
    const before = Number((await h.query<{ n: string }>("SELECT count(*)::text AS n FROM stats_snapshots"))[0]?.n);
    expect(await pruneStatsSnapshots(database.db, new Date(Date.now() - 30 * 86_400_000))).toBe(1);
    const after = Number((await h.query<{ n: string }>("SELECT count(*)::text AS n FROM stats_snapshots"))[0]?.n);
    expect(after).toBe(before - 1);
    expect(after).toBeGreaterThan(0);
  });

  it("runs as npm run replay: exit 0 and a JSON report when nothing differs", async () => {
    const dir = await mkdtemp(join(tmpdir(), "replay-"));
    const configFile = join(dir, "router.config.json");
    await writeFile(configFile, JSON.stringify(testConfigInput(h.id)));
    const { stdout } = await promisify(execFile)(process.execPath, ["--conditions=source", "--import", "tsx", "packages/cli/src/replay-main.ts", "--since", "10m", "--json"], {
      cwd: new URL("../", import.meta.url),
      env: { ...process.env, DATABASE_URL: h.databaseUrl, ROUTER_CONFIG: configFile },
    });
    const report = JSON.parse(stdout) as ReplayReport;
    expect(report.same).toBeGreaterThanOrEqual(2 * PROMPTS.length);
    expect(report.different).toEqual([]);
  }, 60_000);
});
