/**
 * `npm run eval:routing` as a user runs it: the files it reads, the files it refuses and the plot
 * it writes. (The evaluation's figures are tested in eval-routing.test.ts.)
 */
import { execFile } from "node:child_process";
import { link, mkdir, mkdtemp, readFile, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { EVAL_ERROR_CODES } from "@llm-router/eval";
import { ROOT, jsonlFiles, proofRows, runTool } from "../../../test/support/cli.js";

const run = (args: string[], options?: Parameters<typeof runTool>[2]) => runTool("packages/cli/src/eval-routing-main.ts", args, options);
const FAST = ["--knobs", "5", "--bootstrap", "0"];
const last = (stdout: string): Record<string, unknown> => JSON.parse(stdout.trim().split("\n").pop()!) as Record<string, unknown>;

describe("npm run eval:routing", () => {
  it("refuses training rows given twice — one file twice, by another path, or a row id in two files — and still tests on a training file", async () => {
    // b.jsonl repeats a.jsonl's first 30 rows under the same ids.
    const f = await jsonlFiles({ "a.jsonl": proofRows(60, "a"), "b.jsonl": proofRows(30, "a") });
    const split = ["--test", f.path("a.jsonl"), "--split", "0.25", ...FAST, "--json"];
    const repeated = `[${EVAL_ERROR_CODES.EVAL_ROWS_REPEATED}]: `;
    const cases: [string, string][] = [
      [f.path("a.jsonl"), `${repeated}--train ${f.path("a.jsonl")} is given twice`],
      [`${f.dir}/./a.jsonl`, `${repeated}--train ${f.dir}/./a.jsonl is given twice`],
      [f.path("b.jsonl"), `${repeated}row id "a-0" is in both ${f.path("a.jsonl")} and ${f.path("b.jsonl")}`],
    ];
    const [{ stdout }] = await Promise.all([
      run(["--train", f.path("a.jsonl"), ...split]),
      ...cases.map(([second, message]) => expect(run(["--train", f.path("a.jsonl"), "--train", second, ...split]), second).rejects.toMatchObject({ code: 1, stderr: expect.stringContaining(message) })),
    ]);
    const result = last(stdout);
    expect((result.trainRows as number) + (result.testRows as number)).toBe(60);
  }, 60_000);

  it("names the option and the path of an input it cannot read, such as a directory", async () => {
    const f = await jsonlFiles({ "a.jsonl": proofRows(30, "a") });
    const [good, missing] = [f.path("a.jsonl"), f.path("missing.jsonl")];
    const cases: [string[], string][] = [
      [["--train", f.dir, "--test", good], `--train ${f.dir}`],
      [["--train", good, "--test", f.dir], `--test ${f.dir}`],
      [["--train", good, "--test", missing], `--test ${missing}`],
    ];
    await Promise.all(
      cases.map(([args, named]) =>
        expect(run([...args, "--json"]), args.join(" ")).rejects.toMatchObject({ code: 1, stderr: expect.stringContaining(`[${EVAL_ERROR_CODES.EVAL_FILE_UNREADABLE}]: ${named}: cannot read ${args[args.indexOf(named.split(" ")[0]!) + 1]}`) }),
      ),
    );
  }, 60_000);

  it("writes the plot asked for with --json too, keeping the JSON the last line of stdout", async () => {
    const f = await jsonlFiles({ "a.jsonl": proofRows(60, "a") });
    const plot = f.path("plot.svg");
    const { stdout, stderr } = await run(["--train", f.path("a.jsonl"), "--test", f.path("a.jsonl"), "--split", "0.25", ...FAST, "--json", "--plot", plot]);
    expect(last(stdout)).toHaveProperty("curve");
    expect(stdout.trim().split("\n")).toHaveLength(1);
    expect(stderr).toContain(`plot: ${plot}`);
    expect(await readFile(plot, "utf8")).toMatch(/^<svg/);
  }, 60_000);

  it("writes its default plot into the working directory, under a name git ignores", async () => {
    const f = await jsonlFiles({ "a.jsonl": proofRows(60, "a") });
    const cwd = await mkdtemp(join(tmpdir(), "eval-routing-cwd-"));
    const { stdout } = await run(["--train", f.path("a.jsonl"), "--test", f.path("a.jsonl"), "--split", "0.25", ...FAST], { cwd });
    expect(stdout).toContain("plot: routing-eval-a.svg");
    expect(await readFile(join(cwd, "routing-eval-a.svg"), "utf8")).toMatch(/^<svg/);
    // `npm run eval:routing` runs in the repository root: the plot must not show up as a change there.
    await expect(promisify(execFile)("git", ["check-ignore", "--no-index", "routing-eval-a.svg"], { cwd: ROOT })).resolves.toMatchObject({ stdout: "routing-eval-a.svg\n" });
  }, 60_000);

  it("refuses a plot it cannot write before reading any data (exit 2)", async () => {
    const f = await jsonlFiles({});
    await mkdir(f.path("plots"));
    await writeFile(f.path("file.txt"), "not a directory");
    // The data does not exist: an eval that read it first would fail on it instead (exit 1).
    const data = ["--train", f.path("missing.jsonl"), "--test", f.path("missing.jsonl")];
    await Promise.all([
      expect(run([...data, "--plot", f.path("no-such-dir/plot.svg")])).rejects.toMatchObject({
        code: 2,
        stderr: expect.stringContaining(`--plot ${f.path("no-such-dir/plot.svg")}: cannot write ${f.path("no-such-dir")}`),
      }),
      expect(run([...data, "--plot", f.path("plots"), "--json"])).rejects.toMatchObject({ code: 2, stderr: expect.stringContaining(`--plot ${f.path("plots")} is a directory`) }),
      // Under a regular file: refused here, not with ENOTDIR after the evaluation.
      expect(run([...data, "--plot", f.path("file.txt/plot.svg"), "--json"])).rejects.toMatchObject({ code: 2, stderr: expect.stringContaining(`${f.path("file.txt")} is a file, not a directory`) }),
    ]);
    // The default plot, not asked for, is named as such, with the ways around it.
    const cwd = await mkdtemp(join(tmpdir(), "eval-routing-cwd-"));
    await mkdir(join(cwd, "routing-eval-missing.svg"));
    await expect(run(data, { cwd })).rejects.toMatchObject({
      code: 2,
      stderr: expect.stringContaining("the plot routing-eval-missing.svg (written by default to the working directory; give --plot FILE, or --json without --plot for none) is a directory"),
    });
  }, 60_000);

  it("refuses options that cannot mean what they say (exit 2)", async () => {
    const f = await jsonlFiles({ "a.jsonl": proofRows(30, "a"), "b.jsonl": proofRows(30, "b").map((r) => ({ ...r, prompt: `${r.prompt} Briefly.` })) });
    const [a, b] = [f.path("a.jsonl"), f.path("b.jsonl")];
    const cases: [string[], string][] = [
      // A split of two different files would score a fifth of b and train on most of a, silently.
      [["--train", a, "--test", b, "--split", "0.2"], "--split scores only the held-out share of --test"],
      [["--train", a, "--test", a, "--plot", ""], ": give a file path"],
      [["--train", a, "--test", a, "--split", "0.2", "--bootstrap", "1000000000"], "--bootstrap: expected a whole number from 0 (off) to 100000"],
      [["--train", a, "--test", a, "--folds", "31"], "--folds 31: more folds than the 30 test rows"],
      // A pair sweeps the threshold itself: a held one would be overridden without a word.
      [["--train", a, "--test", b, "--pfail-threshold", "0.5", "--json"], "--pfail-threshold is for many models"],
    ];
    // FAST first: the options under test come after it and win.
    await Promise.all(cases.map(([args, message]) => expect(run([...FAST, ...args]), args.join(" ")).rejects.toMatchObject({ code: 2, stderr: expect.stringContaining(message) })));
  }, 60_000);

  it("takes a --test given by another path to a --train file (a symlink, a hard link) with --split, and a file of its own with --folds", async () => {
    const f = await jsonlFiles({ "a.jsonl": proofRows(60, "a"), "b.jsonl": proofRows(30, "b").map((r) => ({ ...r, prompt: `${r.prompt} Briefly.` })) });
    await symlink(f.path("a.jsonl"), f.path("link.jsonl"));
    await link(f.path("a.jsonl"), f.path("hard.jsonl"));
    for (const test of ["link.jsonl", "hard.jsonl"]) {
      const split = last((await run(["--train", f.path("a.jsonl"), "--test", f.path(test), "--split", "0.25", ...FAST, "--json"])).stdout);
      expect((split.trainRows as number) + (split.testRows as number), test).toBe(60);
    }
    // A misspelt --test is named as such, not taken for another file.
    await expect(run(["--train", f.path("a.jsonl"), "--test", f.path("nope.jsonl"), "--split", "0.25", ...FAST])).rejects.toMatchObject({ code: 1, stderr: expect.stringContaining(`--test ${f.path("nope.jsonl")}: cannot read`) });
    const folds = last((await run(["--train", f.path("a.jsonl"), "--test", f.path("b.jsonl"), "--folds", "3", ...FAST, "--json"])).stdout);
    expect(folds.testRows).toBe(30);
  }, 60_000);

  it("refuses data that cannot score a router, naming what is wrong (exit 1)", async () => {
    const f = await jsonlFiles({
      "a.jsonl": proofRows(30, "a"),
      // Prompts of their own: a test row asking what a training row asks drops that training row.
      "b.jsonl": proofRows(30, "b").map((r) => ({ ...r, prompt: `${r.prompt} Briefly.` })),
      "empty.jsonl": [],
      // small never fails where big succeeds: pFail would be one value for every prompt.
      "same.jsonl": proofRows(30, "s", true),
    });
    const [a, b] = [f.path("a.jsonl"), f.path("b.jsonl")];
    const cases: [string[], string][] = [
      [["--train", f.path("empty.jsonl"), "--test", b], `[${EVAL_ERROR_CODES.EVAL_INPUT_INVALID}]: no rows in ${f.path("empty.jsonl")} (--train)`],
      [["--train", a, "--test", f.path("empty.jsonl")], `[${EVAL_ERROR_CODES.EVAL_INPUT_INVALID}]: no rows in ${f.path("empty.jsonl")} (--test)`],
      [["--train", f.path("same.jsonl"), "--test", b], `[${EVAL_ERROR_CODES.EVAL_INPUT_INVALID}]: no training row has small failing where big succeeds`],
      [["--train", a, "--test", b, "--strong", "nope", "--weak", "small"], `[${EVAL_ERROR_CODES.EVAL_MODEL_MISSING}]: strong model "nope"`],
      [["--train", a, "--test", b, "--models", "big,big"], `[${EVAL_ERROR_CODES.EVAL_INPUT_INVALID}]: --models needs at least two different models, got big`],
    ];
    await Promise.all(cases.map(([args, message]) => expect(run([...args, ...FAST, "--json"]), args.join(" ")).rejects.toMatchObject({ code: 1, stderr: expect.stringContaining(message) })));
  }, 60_000);

  it("reads only the files it is given, whatever the working directory and the environment hold", async () => {
    // Prompts are worded by index: training rows 30-89 ask nothing a test row asks.
    const f = await jsonlFiles({ "train.jsonl": proofRows(90, "train").slice(30), "test.jsonl": proofRows(30, "test") });
    // A working directory and a data directory that would break the eval, or change its figures,
    // were it to read them: a broken router config, and benchmark files with other models.
    const cwd = await mkdtemp(join(tmpdir(), "eval-routing-cwd-"));
    await writeFile(join(cwd, "router.config.yaml"), "{ not: [valid yaml");
    const decoys = await jsonlFiles({ "gsm8k.dev.jsonl": proofRows(30, "decoy").map((r) => ({ ...r, outcomes: { decoy: { score: 1, cost_usd: 1 } } })) });
    const log = join(cwd, "paths.log");
    const { stdout } = await run(["--train", f.path("train.jsonl"), "--test", f.path("test.jsonl"), ...FAST, "--json"], {
      cwd,
      env: { ROUTER_DATA_DIR: decoys.dir, ROUTER_CONFIG: join(cwd, "router.config.yaml"), RECORD_FS_PATHS: log },
      imports: [pathToFileURL(join(ROOT, "test/support/record-fs-paths.ts")).href],
    });
    expect(last(stdout)).toMatchObject({ models: ["big", "small"], trainRows: 60, testRows: 30 });
    // Every path the eval touched through node:fs, but the modules its dependencies load.
    const touched = (await readFile(log, "utf8")).split("\n").map((line) => line.slice(line.indexOf(" ") + 1));
    expect(new Set(touched.filter((p) => !p.startsWith(join(ROOT, "node_modules/"))))).toEqual(new Set([f.path("train.jsonl"), f.path("test.jsonl")]));
  }, 60_000);
});
