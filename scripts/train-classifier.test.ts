/**
 * `npm run train:classifier` as a user runs it: a weights file the service loads, and clear
 * refusals, before any training where they can be, of what would give a useless or skewed model.
 */
import { execFile } from "node:child_process";
import { mkdtemp, mkdir, readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { loadLearnedModel } from "@llm-router/classifier";
import type { RoutingEvalRow } from "@llm-router/eval";

const ROOT = new URL("../", import.meta.url);
const run = (args: string[], env: Record<string, string> = {}) =>
  promisify(execFile)(process.execPath, ["--conditions=source", "--import", "tsx", "scripts/train-classifier.ts", ...args], { cwd: ROOT, env: { ...process.env, ...env } });
const FAST = ["--dims", "2^12", "--epochs", "2", "--calibration-folds", "2"];

/** Rows where the weak model fails the proofs and solves the greetings; `same` makes both models agree everywhere. */
function rows(n: number, prefix: string, same = false): RoutingEvalRow[] {
  return Array.from({ length: n }, (_, i) => {
    const hard = i % 3 === 0;
    return {
      id: `${prefix}-${i}`,
      source: "test",
      category: hard ? "proof" : "greeting",
      prompt: hard ? `Prove lemma ${i} rigorously, step by step.` : `Say hello to friend ${i}.`,
      outcomes: { big: { score: 1, cost_usd: 0.01 }, small: { score: same || !hard ? 1 : 0, cost_usd: 0.001 } },
    };
  });
}

async function files(entries: Record<string, RoutingEvalRow[]>): Promise<{ dir: string; path: (name: string) => string }> {
  const dir = await mkdtemp(join(tmpdir(), "train-classifier-"));
  for (const [name, r] of Object.entries(entries)) await writeFile(join(dir, name), r.map((row) => JSON.stringify(row)).join("\n"));
  return { dir, path: (name) => join(dir, name) };
}

describe("npm run train:classifier", () => {
  it("writes a weights file the classifier loads, and names a file that adds nothing", async () => {
    const other = rows(20, "o").map((r) => ({ ...r, outcomes: { elsewhere: r.outcomes.big! } }));
    const f = await files({ "a.jsonl": rows(90, "a"), "other.jsonl": other });
    const { stdout, stderr } = await run(["--data", f.path("a.jsonl"), "--data", f.path("other.jsonl"), "--out", f.path("w/weights.json"), "--strong", "big", "--weak", "small", ...FAST]);
    expect(stdout).toMatch(/wrote .*weights\.json/);
    expect(stderr).toContain(`warning: ${f.path("other.jsonl")} has no row with outcomes for both big and small`);
    const model = await loadLearnedModel(f.path("w/weights.json"));
    expect(model.version).toMatch(/^sha256:/);
  }, 60_000);

  it("writes the same bytes when trained again on the same data with SOURCE_DATE_EPOCH, and keeps the rule features' maxima", async () => {
    const { path } = await files({ "d.jsonl": rows(60, "r") });
    const epoch = { SOURCE_DATE_EPOCH: "1764547200" };
    await run(["--data", path("d.jsonl"), "--out", path("a.json"), ...FAST], epoch);
    await run(["--data", path("d.jsonl"), "--out", path("b.json"), ...FAST], epoch);
    const [a, b] = await Promise.all([readFile(path("a.json"), "utf8"), readFile(path("b.json"), "utf8")]);
    expect(a).toBe(b);
    const file = JSON.parse(a) as { createdAt: string; ruleMax?: number[] };
    expect(file.createdAt).toBe("2025-12-01T00:00:00.000Z");
    expect(file.ruleMax?.some((x) => x > 0)).toBe(true);
    for (const bad of ["yesterday", "99999999999999999"]) {
      await expect(run(["--data", path("d.jsonl"), "--out", path("c.json"), ...FAST], { SOURCE_DATE_EPOCH: bad })).rejects.toMatchObject({
        code: 2,
        stderr: expect.stringContaining(`SOURCE_DATE_EPOCH must be whole seconds since 1970, got "${bad}"`),
      });
    }
  }, 60_000);

  it("refuses data where the weak model never fails where the strong one succeeds (exit 1)", async () => {
    const f = await files({ "same.jsonl": rows(60, "s", true) });
    await expect(run(["--data", f.path("same.jsonl"), "--out", f.path("w.json"), ...FAST])).rejects.toMatchObject({
      code: 1,
      stderr: expect.stringContaining("no training row has small failing where big succeeds"),
    });
  }, 60_000);

  it("refuses a file given twice or a row id in two files, which would count rows twice", async () => {
    const f = await files({ "a.jsonl": rows(30, "a"), "b.jsonl": rows(30, "a") });
    await expect(run(["--data", f.path("a.jsonl"), "--data", f.path("a.jsonl"), "--out", f.path("w.json")])).rejects.toMatchObject({
      code: 2,
      stderr: expect.stringContaining("is given twice"),
    });
    await expect(run(["--data", f.path("a.jsonl"), "--data", f.path("b.jsonl"), "--out", f.path("w.json")])).rejects.toMatchObject({
      code: 1,
      stderr: expect.stringContaining('row id "a-0" is in both'),
    });
  }, 60_000);

  it("refuses bad options and an --out that is a directory before reading any data (exit 2)", async () => {
    const f = await files({});
    await mkdir(f.path("out-dir"));
    const missing = f.path("missing.jsonl");
    for (const [args, message] of [
      [["--test-fraction", "1"], "--test-fraction: a share in [0, 1)"],
      [["--seed", "1.5"], "--seed: a non-negative integer"],
      [["--dims", "2^40"], "--dims: an integer in [128, 2^22]"],
      [["--epochs", "0"], "epochs must be a positive integer"],
      [["--learning-rate", "1e308"], "with learningRate 1e+308"],
    ] as const) {
      await expect(run(["--data", missing, "--out", f.path("w.json"), ...args])).rejects.toMatchObject({ code: 2, stderr: expect.stringContaining(message) });
    }
    await expect(run(["--data", missing, "--out", f.path("out-dir")])).rejects.toMatchObject({ code: 2, stderr: expect.stringContaining("is a directory") });
  }, 60_000);
});
