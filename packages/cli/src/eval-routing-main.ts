/**
 * `npm run eval:routing`: score the router's classify + select on routing-eval JSONL files.
 * Reads only the files given; run with --help for the options.
 */
import { stat, writeFile } from "node:fs/promises";
import { basename, resolve } from "node:path";
import { parseArgs } from "node:util";
import { curveSvg, EVAL_ERROR_CODES, EvalError, readRoutingEvalFiles, type BootstrapInterval } from "@llm-router/eval";
import { UsageError, integerOption, numberOption, optionalNumber, requireWritableFile, runScript } from "./args.js";
import { evaluateRouting, holdOut, type EvalFold, type EvalRoutingResult, type Stratify } from "./eval-routing.js";

const USAGE = `usage:
  npm run eval:routing -- --train <a.jsonl> [--train <b.jsonl>] --test <c.jsonl>
      [--strong M --weak M | --models M,M,…] [--split F | --folds K] [--stratify outcomes|none] [--seed N]
      [--knobs N] [--bootstrap N]
      [--pfail-threshold X] [--plot FILE] [--json]

Trains the learned pFail model and the outcome statistics on the --train rows, routes every --test
prompt through the router's classify and select functions at each setting of the cost–quality knob
(policy.pFailThreshold for a strong/weak pair, policy.answerValueUsd for many models), and scores the chosen models' recorded outcomes (routing-eval JSONL v1, ../shared/data/README.md).

  --train FILE     training rows; repeat for several (a file given twice, or a row id in two files,
                   is refused). Rows whose id or prompt is also a test row's are dropped.
  --test FILE      rows to route and score.
  --strong, --weak a strong/weak pair, the strong one the dearer (default when the test rows have
                   exactly two models: the most expensive as strong, the cheapest as weak).
  --models LIST    route between these models (comma-separated); default every model of the test rows.
  --split F        hold out a share F of rows (see --stratify): test on the held-out rows of --test and
                   train on the rest of --train (--test must be one of the --train files: to
                   score all of a test file of its own, leave --split out). Default: no split.
  --folds K        K-fold cross-validation (see --stratify): each --test row is routed once, by a router
                   trained on the --train rows of the other K-1 folds, and the figures are over
                   all --test rows (a 20% split's figures move by several points with --seed).
  --stratify outcomes|none
                   how --split and --folds hold rows out. outcomes (the default for a strong/weak
                   pair): each held-out part of --test keeps its mix of the pair's outcomes — both
                   models right, only one, neither —, so its figures move less with --seed; none
                   (the only choice for many models): by id hash alone. The JSON's held_out says
                   which was used.
  --seed N         seeds the split or the folds, the training shuffle and the bootstrap (default 1).
  --knobs N        knob settings to sweep, at least 3 (default 101).
  --bootstrap N    redraw the test rows N times (with replacement) for 95% intervals of the
                   headline figures: how far they move with the test sample alone (default 200;
                   0 turns it off; at most 100,000).
  --pfail-threshold X
                   many models only: the policy.pFailThreshold held while the answer value is
                   swept (default 1).
  --plot FILE      where the SVG plot goes, checked writable before evaluating (default
                   routing-eval-<test file>.svg in the current directory; with --json, only when given).
  --json           print progress to stderr and, as the last line of stdout, one JSON object:
                   apgr, cpt50, cpt80, strong_share_at_95, savings_at_95, curve, baselines,
                   pfail_calibration, bootstrap, held_out (how rows were held out), …`;

/** More redraws than this take minutes and narrow nothing that matters. */
const MAX_BOOTSTRAP = 100_000;

const pct = (x: number | null): string => (x === null || Number.isNaN(x) ? "n/a" : `${(100 * x).toFixed(1)}%`);
const num = (x: number | null, digits = 3): string => (x === null || Number.isNaN(x) ? "n/a" : x.toFixed(digits));
/** A bootstrap interval, with how many redraws never reached the figure's target. */
const interval = (i: BootstrapInterval | null | undefined, format: (x: number) => string = pct): string =>
  i ? `${format(i.low)}–${format(i.high)}${i.undefinedDraws > 0 ? ` (${i.undefinedDraws} redraws never reach it)` : ""}` : "n/a";
const usd = (x: number): string => `$${(x * 1000).toFixed(4)}/1k`;

/**
 * Whether `file` is one of `files`: the same file, by device and inode (a symlink, a hard link or
 * another spelling of the path counts). A file that cannot be read counts as one, so that reading
 * it names the real problem.
 */
async function isOneOf(file: string, files: readonly string[]): Promise<boolean> {
  const target = await stat(file).catch(() => undefined);
  if (!target) return true;
  for (const f of files) {
    const other = await stat(f).catch(() => undefined);
    if (other && other.dev === target.dev && other.ino === target.ino) return true;
  }
  return false;
}

/** Refuses, before the minutes of evaluating, a plot path that cannot be written. */
async function requireWritable(file: string, given: boolean): Promise<void> {
  // The default plot was not asked for: say so, and how to put it elsewhere or go without.
  const what = given ? `--plot ${file}` : `the plot ${file} (written by default to the working directory; give --plot FILE, or --json without --plot for none)`;
  await requireWritableFile(what, file);
}

function table(result: EvalRoutingResult): string {
  const lines: string[] = [];
  lines.push(`models: ${result.models.join(", ")}  (pFail trained on ${result.pfailPair.strong} vs ${result.pfailPair.weak})`);
  const training = result.folds > 1 ? `${result.folds} folds, ~${result.trainRows} training rows each` : `${result.trainRows} training rows`;
  lines.push(`${training}, ${result.testRows} test rows, statistics ${result.statsId}`);
  const cal = result.pfail_calibration;
  if (cal) {
    const bins = cal.bins.map((b) => `${num(b.meanP, 2)}→${num(b.observed, 2)}`).join(" ");
    lines.push(`pFail calibration on the test rows: expected error ${num(cal.ece)} (${cal.bins.length} equal-count bins, mean pFail→observed: ${bins})`);
  }
  lines.push("");
  if (result.mode === "pair") {
    const b = result.baselines;
    lines.push(`router (policy.pFailThreshold sweep)`);
    lines.push(`  APGR ${num(result.apgr)}   CPT(50%) ${pct(result.cpt50)}   CPT(80%) ${pct(result.cpt80)}`);
    lines.push(`  at 95% of always-strong quality: ${pct(result.strong_share_at_95)} strong calls, ${pct(result.savings_at_95)} cost saved`);
    const ci = result.bootstrap?.intervals;
    if (ci) lines.push(`  95% bootstrap intervals (${result.bootstrap!.samples} redraws of the test rows): strong calls ${interval(ci.strong_share_at_95)}, cost saved ${interval(ci.savings_at_95)}, APGR ${interval(ci.apgr, num)}`);
    lines.push("");
    lines.push("baseline        strong share  quality   cost");
    for (const [name, p] of [["always strong", b.always_strong], ["always weak", b.always_weak], ["oracle", b.oracle]] as const) {
      lines.push(`${name.padEnd(16)}${pct(p.strong_share).padStart(12)}  ${num(p.quality).padStart(7)}   ${usd(p.cost)}`);
    }
    lines.push(`random          APGR ${num(b.random.apgr)}, ${pct(b.random.strong_share_at_95)} strong calls at 95%`);
    return lines.join("\n");
  }
  lines.push(`router (policy.answerValueUsd sweep, policy.pFailThreshold ${result.pFailThreshold})`);
  lines.push(`  cost saved at 95% of the best single model (${result.best_single.model}, quality ${num(result.best_single.quality)}): ${pct(result.savings_at_95)}`);
  const ci = result.bootstrap?.intervals;
  if (ci) lines.push(`  95% bootstrap interval (${result.bootstrap!.samples} redraws of the test rows): ${interval(ci.savings_at_95)}`);
  lines.push("");
  lines.push("curve (non-dominated settings)    cost        quality");
  for (const p of result.curve) lines.push(`  answerValueUsd ${p.knob.toPrecision(3).padEnd(16)}${usd(p.cost).padStart(12)}  ${num(p.quality)}`);
  lines.push("");
  lines.push("single model                              cost        quality");
  for (const s of [...result.singles].sort((a, b) => a.cost - b.cost)) lines.push(`  ${s.model.padEnd(40)}${usd(s.cost).padStart(12)}  ${num(s.quality)}`);
  const { oracle, random } = result.baselines;
  lines.push("");
  lines.push(`  ${"oracle (each prompt to its cheapest best model)".padEnd(40)}${usd(oracle.cost).padStart(12)}  ${num(oracle.quality)}`);
  lines.push(`  ${"random (a model drawn per prompt)".padEnd(40)}${usd(random.cost).padStart(12)}  ${num(random.quality)}`);
  return lines.join("\n");
}

function plot(result: EvalRoutingResult, testName: string): string {
  if (result.mode === "pair") {
    const b = result.baselines;
    return curveSvg({
      title: `${testName}: quality vs strong-call share (${result.strong} / ${result.weak})`,
      xLabel: "share of calls to the strong model",
      yLabel: "mean score",
      series: [
        { name: "router", points: result.curve.map((p) => ({ x: p.strong_share, y: p.quality })) },
        { name: "random", points: [{ x: 0, y: b.always_weak.quality }, { x: 1, y: b.always_strong.quality }] },
      ],
      markers: [{ name: "oracle", x: b.oracle.strong_share, y: b.oracle.quality }],
    });
  }
  return curveSvg({
    title: `${testName}: quality vs cost per prompt`,
    xLabel: "mean cost per prompt (USD)",
    yLabel: "mean score",
    series: [{ name: "router", points: result.curve.map((p) => ({ x: p.cost, y: p.quality })) }],
    markers: [...result.singles.map((s) => ({ name: s.model, x: s.cost, y: s.quality })), { name: "oracle", x: result.baselines.oracle.cost, y: result.baselines.oracle.quality }],
  });
}

async function main(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      train: { type: "string", multiple: true },
      test: { type: "string" },
      strong: { type: "string" },
      weak: { type: "string" },
      models: { type: "string" },
      split: { type: "string" },
      folds: { type: "string" },
      stratify: { type: "string" },
      seed: { type: "string" },
      knobs: { type: "string" },
      bootstrap: { type: "string" },
      "pfail-threshold": { type: "string" },
      plot: { type: "string" },
      json: { type: "boolean" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const trainFiles = values.train ?? [];
  if (trainFiles.length === 0 || values.test === undefined) throw new UsageError("--train and --test are required");
  if ((values.strong === undefined) !== (values.weak === undefined)) throw new UsageError("give both --strong and --weak, or neither");
  if (values.strong !== undefined && values.models !== undefined) throw new UsageError("--models cannot be combined with --strong/--weak");
  const json = values.json === true;
  // With --json stdout carries only the result; progress goes to stderr.
  const log = (line: string): void => (json ? console.error(line) : console.log(line));
  // Numbers as written: Number() would read "" as 0 (--bootstrap "" turning the bootstrap off)
  // and 0x10 as 16; Infinity would pass a "≥ 0" check and fail later in the config schema.
  const seed = integerOption("seed", values.seed, 1, 0, "a non-negative integer");
  const split = values.split === undefined ? undefined : numberOption("split", values.split, "a share in (0, 1)", (f) => f > 0 && f < 1);
  const foldCount = values.folds === undefined ? undefined : integerOption("folds", values.folds, 0, 2, "at least 2 folds, a whole number");
  if (foldCount !== undefined && split !== undefined) throw new UsageError("--split and --folds are alternatives: give one");
  const stratify = values.stratify as Stratify | undefined;
  if (stratify !== undefined && stratify !== "outcomes" && stratify !== "none") throw new UsageError(`--stratify: expected outcomes or none, got ${JSON.stringify(stratify)}`);
  if (stratify !== undefined && split === undefined && foldCount === undefined) throw new UsageError("--stratify is for --split or --folds: without them every --test row is scored");
  const pFailThreshold = values["pfail-threshold"] === undefined ? undefined : numberOption("pfail-threshold", values["pfail-threshold"], "a number ≥ 0", (t) => t >= 0);
  const knobs = integerOption("knobs", values.knobs, 101, 3, "at least 3 settings (the two ends and one between), a whole number");
  const bootstrap = optionalNumber("bootstrap", values.bootstrap, 200, `a whole number from 0 (off) to ${MAX_BOOTSTRAP}`, (n) => Number.isInteger(n) && n >= 0 && n <= MAX_BOOTSTRAP);
  // A split scores only its held-out share of --test: with a test file of its own, four fifths of
  // it would go unscored without a word. (Folds score every --test row, so they may differ.)
  if (split !== undefined && !(await isOneOf(values.test, trainFiles))) {
    throw new UsageError(`--split scores only the held-out share of --test, so it is for a --test that is one of the --train files; to score all of a test file of its own, leave out --split`);
  }
  const testName = basename(values.test).replace(/\.jsonl$/, "");
  // With --json a plot is written only when asked for: scripts that read the JSON want no file.
  const plotFile = values.plot ?? (json ? undefined : `routing-eval-${testName}.svg`);
  if (plotFile !== undefined) await requireWritable(plotFile, values.plot !== undefined);

  // --test may be one of the --train files (with --split or --folds): the rows it shares with
  // them are dropped from training, not refused.
  const trainRows = (await readRoutingEvalFiles(trainFiles, { option: "--train", progress: log })).flatMap((f) => f.rows);
  const testRows = (await readRoutingEvalFiles([values.test], { option: "--test", progress: log })).flatMap((f) => f.rows);
  if (trainRows.length === 0) throw new EvalError(EVAL_ERROR_CODES.EVAL_INPUT_INVALID, `no rows in ${trainFiles.map((f) => resolve(f)).join(", ")} (--train)`);
  if (testRows.length === 0) throw new EvalError(EVAL_ERROR_CODES.EVAL_INPUT_INVALID, `no rows in ${resolve(values.test)} (--test)`);
  if (foldCount !== undefined && foldCount > testRows.length) throw new UsageError(`--folds ${foldCount}: more folds than the ${testRows.length} test rows`);
  const models = values.models?.split(",").map((m) => m.trim()).filter((m) => m !== "");
  let folds: EvalFold[];
  let heldOut: { split: number | null; folds: number | null; seed: number; stratify: Stratify } | null = null;
  if (foldCount !== undefined || split !== undefined) {
    const held = holdOut(trainRows, testRows, { ...(foldCount !== undefined ? { folds: foldCount } : { split: split! }), seed, stratify, strong: values.strong, weak: values.weak, models });
    folds = held.folds;
    heldOut = { split: split ?? null, folds: foldCount ?? null, seed, stratify: held.stratified ? "outcomes" : "none" };
    log(held.description);
  } else {
    folds = [{ train: trainRows, test: testRows }];
  }
  const started = performance.now();
  const result = evaluateRouting({
    folds,
    strong: values.strong,
    weak: values.weak,
    models,
    knobs,
    bootstrap,
    pFailThreshold,
    seed,
    progress: log,
  });
  log(`evaluated in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  if (plotFile !== undefined) await writeFile(plotFile, plot(result, testName));
  if (json) {
    if (plotFile !== undefined) log(`plot: ${plotFile}`);
    console.log(JSON.stringify({ ...result, held_out: heldOut }));
    return 0;
  }
  console.log("");
  console.log(table(result));
  console.log(`\nplot: ${plotFile}`);
  return 0;
}

runScript("eval:routing", main);
