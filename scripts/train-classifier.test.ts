/**
 * `npm run train:classifier` as a user runs it: a weights file the service loads, and clear
 * refusals, before any training where they can be, of what would give a useless or skewed model.
 */
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { describe, expect, it } from "vitest";
import { loadLearnedModel } from "@llm-router/classifier";
import { EVAL_ERROR_CODES } from "@llm-router/eval";
import { jsonlFiles as files, proofRows as rows, runTool } from "../test/support/cli.js";

const run = (args: string[], env: Record<string, string> = {}) => runTool("scripts/train-classifier.ts", args, { env });
const FAST = ["--dims", "2^12", "--epochs", "2", "--calibration-folds", "2"];

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
    const repeated = `[${EVAL_ERROR_CODES.EVAL_ROWS_REPEATED}]: `;
    await Promise.all([
      expect(run(["--data", f.path("a.jsonl"), "--data", f.path("a.jsonl"), "--out", f.path("w.json")])).rejects.toMatchObject({
        code: 1,
        stderr: expect.stringContaining(`${repeated}--data ${f.path("a.jsonl")} is given twice`),
      }),
      expect(run(["--data", f.path("a.jsonl"), "--data", f.path("b.jsonl"), "--out", f.path("w.json")])).rejects.toMatchObject({
        code: 1,
        stderr: expect.stringContaining(`${repeated}row id "a-0" is in both`),
      }),
    ]);
  }, 60_000);

  it("refuses a strong model that costs no more than the weak one, as the eval does, before training", async () => {
    const f = await files({ "d.jsonl": rows(60, "d") });
    const swapped = run(["--data", f.path("d.jsonl"), "--out", f.path("w.json"), "--strong", "small", "--weak", "big", ...FAST]);
    await expect(swapped).rejects.toMatchObject({
      code: 1,
      stderr: expect.stringContaining(`[${EVAL_ERROR_CODES.EVAL_INPUT_INVALID}]: the strong model must cost more than the weak one on the data: small $0.00100 a prompt, big $0.0100; swap --strong and --weak`),
    });
    await expect(swapped).rejects.toMatchObject({ stdout: expect.not.stringContaining("training:") });
  }, 60_000);

  it("names the option and the path of data it cannot read, such as a directory", async () => {
    const f = await files({});
    await expect(run(["--data", f.dir, "--out", f.path("w.json")])).rejects.toMatchObject({
      code: 1,
      stderr: expect.stringContaining(`[${EVAL_ERROR_CODES.EVAL_FILE_UNREADABLE}]: --data ${f.dir}: cannot read ${f.dir}`),
    });
  }, 60_000);

  it("refuses bad options and an --out that is a directory before reading any data (exit 2)", async () => {
    const f = await files({});
    await mkdir(f.path("out-dir"));
    await writeFile(f.path("file.txt"), "not a directory");
    const missing = f.path("missing.jsonl");
    // Numbers as the eval reads them: Number() would read "" as 0 and 0x10 as 16.
    const cases: [option: string, value: string, message: string][] = [
      ["--test-fraction", "1", "--test-fraction: expected a share in [0, 1), got 1"],
      ["--test-fraction", "0x0", "--test-fraction: expected a share in [0, 1), got 0x0"],
      ["--seed", "1.5", "--seed: expected a non-negative integer, got 1.5"],
      ["--seed", "0x10", "--seed: expected a non-negative integer, got 0x10"],
      ["--seed", "", '--seed: expected a non-negative integer, got ""'],
      ["--dims", "2^40", "--dims: expected an integer in [128, 2^22] (or 2^k), got 2^40"],
      ["--dims", "0x1000", "--dims: expected an integer in [128, 2^22] (or 2^k), got 0x1000"],
      ["--epochs", "0", "--epochs: expected a positive integer, got 0"],
      ["--learning-rate", "1e308", "with learningRate 1e+308"],
      ["--l2", " ", '--l2: expected a number, got " "'],
    ];
    await Promise.all([
      ...cases.map(([option, value, message]) =>
        expect(run(["--data", missing, "--out", f.path("w.json"), option, value]), `${option} ${value}`).rejects.toMatchObject({ code: 2, stderr: expect.stringContaining(message) }),
      ),
      expect(run(["--data", missing, "--out", f.path("out-dir")])).rejects.toMatchObject({ code: 2, stderr: expect.stringContaining("is a directory") }),
      // An empty path used to train for minutes, then fail renaming a stray ".<pid>.partial".
      expect(run(["--data", missing, "--out", ""])).rejects.toMatchObject({ code: 2, stderr: expect.stringContaining("--out: give a file path") }),
      // A directory cannot be made under a file: refused first, not after training (ENOTDIR).
      expect(run(["--data", missing, "--out", f.path("file.txt/sub/w.json")])).rejects.toMatchObject({ code: 2, stderr: expect.stringContaining(`${f.path("file.txt")} is a file, not a directory`) }),
    ]);
  }, 60_000);

  it("refuses files whose dearest and cheapest models never meet in one row (names written differently)", async () => {
    const renamed = rows(30, "b").map((r) => ({ ...r, outcomes: { "big-v2": r.outcomes.big!, "small-v2": { ...r.outcomes.small!, cost_usd: 0.0001 } } }));
    const f = await files({ "a.jsonl": rows(30, "a").map((r) => ({ ...r, outcomes: { ...r.outcomes, big: { ...r.outcomes.big!, cost_usd: 0.02 } } })), "b.jsonl": renamed });
    await expect(run(["--data", f.path("a.jsonl"), "--data", f.path("b.jsonl"), "--out", f.path("w.json"), ...FAST])).rejects.toMatchObject({
      code: 2,
      stderr: expect.stringContaining("no row has outcomes for both big and small-v2; do the files name the same models differently?"),
    });
  }, 60_000);
});
