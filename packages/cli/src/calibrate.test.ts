import { execFile } from "node:child_process";
import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { loadLearnedModel } from "@llm-router/classifier";
import { DEFAULT_CONFIG_INPUT, parseConfig, toTask, type Task } from "@llm-router/shared";
import { devDataFile } from "@llm-router/eval";
import { calibrateThreshold, FLOORS_ONLY, roundUp4 } from "./calibrate.js";

const ROOT = new URL("../../../", import.meta.url);
// The development data (../shared/data, or ROUTER_DATA_DIR); a missing file fails saying where it looked.
const ARENA = () => devDataFile("arena-hard-v2.prompts.jsonl");

const PROMPTS = [
  "Hi there!",
  "What is the capital of France?",
  "Translate 'good morning' into Spanish.",
  "Write a Python function that merges two sorted lists.",
  "Summarise this paragraph in one sentence: the meeting moved to Tuesday because the room was booked.",
  "Prove that there are infinitely many primes, step by step, and then generalise the argument to primes of the form 4k+3.",
  "Design a sharded rate limiter for a global API, with failure modes, consistency trade-offs and a migration plan.",
  "A train leaves at 3pm at 60 km/h and another at 4pm at 90 km/h from the same station; when does the second catch up? Show the algebra.",
  "Write a short poem about the sea.",
  "Explain the difference between TCP and UDP.",
];
const tasks: Task[] = PROMPTS.map((prompt, i) => toTask({ prompt }, `cal-${i}`, new Date("2026-01-01T00:00:00Z")));

describe("calibrateThreshold", () => {
  it("maps thresholds to cloud shares with the selector's own rule, and finds the lowest threshold within a target", async () => {
    const { config } = parseConfig(DEFAULT_CONFIG_INPUT);
    const learned = await loadLearnedModel();
    const c = calibrateThreshold({ config, tasks, learned, targetCloudShare: 0.3 });
    expect(c.prompts).toBe(10);
    const thresholds = c.rows.map((r) => r.pFailThreshold);
    expect(thresholds).toEqual([...thresholds].sort((a, b) => a - b));
    expect(thresholds.at(-1)).toBe(FLOORS_ONLY);
    for (const r of c.rows) expect(Object.values(r.modelShares).reduce((a, b) => a + b, 0)).toBeCloseTo(1, 12);
    // A higher threshold lowers the bar: never more cloud calls, never more estimated cost.
    for (let i = 1; i < c.rows.length; i++) {
      expect(c.rows[i]!.cloudShare).toBeLessThanOrEqual(c.rows[i - 1]!.cloudShare);
      expect(c.rows[i]!.meanEstimatedCostUsd).toBeLessThanOrEqual(c.rows[i - 1]!.meanEstimatedCostUsd + 1e-12);
    }
    // The lowest threshold sends more to the cloud than the floors alone: pFail matters here.
    expect(c.rows[0]!.cloudShare).toBeGreaterThan(c.rows.at(-1)!.cloudShare);
    const rec = c.recommended!;
    expect(rec.cloudShare).toBeLessThanOrEqual(0.3);
    // The value to copy into the config, as printed (four significant digits, rounded up), and
    // routed at exactly that value it keeps within the target.
    expect(Number(rec.pFailThreshold.toPrecision(4))).toBe(rec.pFailThreshold);
    const copied = parseConfig({ ...DEFAULT_CONFIG_INPUT, policy: { pFailThreshold: rec.pFailThreshold } }).config;
    expect(calibrateThreshold({ config: copied, tasks, learned, thresholds: 2 }).configured.cloudShare).toBeLessThanOrEqual(0.3);
    // Lowest within the target: every coarser setting below it sends more.
    for (const r of c.rows) if (r.pFailThreshold < rec.pFailThreshold) expect(r.cloudShare).toBeGreaterThan(0.3);
    // The configured threshold, routed the same way.
    expect(c.configured.pFailThreshold).toBe(config.policy.pFailThreshold);
    expect(c.configured).toEqual(calibrateThreshold({ config, tasks, learned, thresholds: 2 }).configured);
  });

  it("rounds a threshold up to four significant digits, never down (down could send more to the cloud)", () => {
    expect([roundUp4(0.348449), roundUp4(0.34840001), roundUp4(0.3484), roundUp4(0.0012341), roundUp4(2.5)]).toEqual([0.3485, 0.3485, 0.3484, 0.001235, 2.5]);
  });

  it("recommends nothing when the quality floors alone send more to the cloud than the target", async () => {
    // Every complexity's floor above the local models' quality: everything goes to the cloud.
    const { config } = parseConfig({ ...DEFAULT_CONFIG_INPUT, policy: { minQuality: { simple: 0.7, moderate: 0.7, complex: 0.7, expert: 0.7 } } });
    const c = calibrateThreshold({ config, tasks, learned: await loadLearnedModel(), targetCloudShare: 0.5 });
    expect(c.rows.at(-1)!.cloudShare).toBe(1);
    expect(c.recommended).toBeNull();
  });

  it("routes the floors row without pFail: a model exactly at a floor takes the task", async () => {
    const models = [
      { spec: "sim:local-mid", local: true, quality: 0.7, capabilities: ["chat", "code", "reasoning"], contextWindow: 32768 },
      { spec: "sim:cloud-large", inputPerMtok: 2.5, outputPerMtok: 10, quality: 0.9, capabilities: ["chat", "code", "reasoning", "json", "tools", "long-context"], contextWindow: 128000 },
    ];
    const { config } = parseConfig({ ...DEFAULT_CONFIG_INPUT, models, policy: { minQuality: { simple: 0.7, moderate: 0.7, complex: 0.7, expert: 0.7 } } });
    const c = calibrateThreshold({ config, tasks, learned: await loadLearnedModel() });
    const floors = c.rows.at(-1)!;
    expect(floors.pFailThreshold).toBe(FLOORS_ONLY);
    expect(floors.modelShares).toEqual({ "sim:local-mid": 1 });
  });

  it("estimates every call of each task's strategy", async () => {
    const learned = await loadLearnedModel();
    const byTier = (strategy: string) => ({ simple: strategy, moderate: strategy, complex: strategy, expert: strategy, critical: strategy });
    const single = parseConfig({ ...DEFAULT_CONFIG_INPUT, strategies: { byTier: byTier("single") } }).config;
    const parallel = parseConfig({ ...DEFAULT_CONFIG_INPUT, strategies: { byTier: byTier("parallel") } }).config;
    const one = calibrateThreshold({ config: single, tasks, learned });
    const four = calibrateThreshold({ config: parallel, tasks, learned });
    // Three specialists and a synthesis: four calls a task, on the same models.
    four.rows.forEach((r, i) => {
      expect(r.modelShares).toEqual(one.rows[i]!.modelShares);
      expect(r.meanEstimatedCostUsd).toBeCloseTo(4 * one.rows[i]!.meanEstimatedCostUsd, 12);
    });
    expect(one.rows[0]!.meanEstimatedCostUsd).toBeGreaterThan(0);
  });

  it("without a learned model there is no pFail, so the threshold changes nothing", () => {
    const { config } = parseConfig(DEFAULT_CONFIG_INPUT);
    const c = calibrateThreshold({ config, tasks });
    expect(new Set(c.rows.map((r) => r.cloudShare)).size).toBe(1);
    expect(c.pFail.p50).toBeNaN();
    expect(() => calibrateThreshold({ config, tasks: [] })).toThrow(/no prompts/);
  });
});

describe("npm run calibrate", () => {
  const run = (args: string[], env: Record<string, string> = {}) =>
    promisify(execFile)(process.execPath, ["--conditions=source", "--import", "tsx", "packages/cli/src/calibrate-main.ts", ...args], { cwd: ROOT, env: { ...process.env, ...env } });

  it("prints one JSON object for a prompts file, with a threshold within the target", async () => {
    const { stdout } = await run(["--prompts", ARENA(), "--cloud-share", "0.3", "--json"]);
    const c = JSON.parse(stdout) as { prompts: number; recommended: { cloudShare: number; pFailThreshold: number } | null };
    expect(c.prompts).toBe(750);
    expect(c.recommended!.cloudShare).toBeLessThanOrEqual(0.3);
  }, 60_000);

  it("says which line is wrong, and exits 2 for bad input and 1 for an unreadable file or a target no threshold meets", async () => {
    const dir = await mkdtemp(join(tmpdir(), "router-calibrate-"));
    const bad = join(dir, "bad.jsonl");
    await writeFile(bad, '{"prompt": "fine"}\n{"nothing": true}\n');
    await expect(run(["--prompts", bad])).rejects.toMatchObject({ code: 2, stderr: expect.stringContaining(`${bad}:2: not a task submission`) });
    await expect(run([])).rejects.toMatchObject({ code: 2, stderr: expect.stringContaining("--prompts is required") });
    // A file it cannot read is named with the option and the path, not a bare "EISDIR: … read".
    await expect(run(["--prompts", dir])).rejects.toMatchObject({ code: 1, stderr: expect.stringContaining(`--prompts ${dir}: cannot read ${dir} (EISDIR)`) });
    const strict = join(dir, "router.config.json");
    await writeFile(strict, JSON.stringify({ ...DEFAULT_CONFIG_INPUT, policy: { minQuality: { simple: 0.7, moderate: 0.7, complex: 0.7, expert: 0.7 } } }));
    const good = join(dir, "good.jsonl");
    await writeFile(good, '{"prompt": "Hi there!"}\n{"messages": [{"role": "user", "content": "What is 2 + 2?"}]}\n');
    await expect(run(["--prompts", good, "--cloud-share", "0.1"], { ROUTER_CONFIG: strict })).rejects.toMatchObject({
      code: 1,
      stdout: expect.stringContaining("no threshold keeps cloud calls at or below 10.0%"),
    });
  }, 60_000);
});
