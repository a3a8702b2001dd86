/**
 * Train the learned pFail model (services/classifier/src/learned/pfail-model.ts) on routing-eval
 * JSONL files and write its weights file. Reads only the files given with --data; run with --help for the options.
 */
import { mkdir, rename, rm, writeFile } from "node:fs/promises";
import { dirname, resolve } from "node:path";
import { parseArgs } from "node:util";
import { chooseModelPair, constantLabelProblem, SUCCESS_THRESHOLD } from "../services/classifier/src/learned/labels.js";
import { resolveTrainOptions, type EpochProgress } from "../services/classifier/src/learned/logistic.js";
import { DEFAULT_CALIBRATION_FOLDS, trainPFail, type HeadName } from "../services/classifier/src/learned/train-pfail.js";
import { DEFAULT_MAX_SHARE, DEFAULT_MIN_CATEGORY_ROWS, DEFAULT_TERMS_PER_CATEGORY, trainCategories } from "../services/classifier/src/learned/category-model.js";
import { readRoutingEvalFiles, requireStrongDearer } from "@llm-router/eval";
import { saveWeights } from "../services/classifier/src/learned/weights.js";
import { MAX_DIMS, MIN_DIMS } from "../services/classifier/src/learned/featurize.js";
import { DEFAULT_RULE_BLOCK_WEIGHT } from "../services/classifier/src/learned/standardize.js";
import { UsageError, integerOption, optionalNumber, requireWritableFile, runScript } from "../packages/cli/src/args.js";

const DEFAULT_DIMS = 2 ** 16;

const USAGE = `usage:
  npm run train:classifier -- --data <a.jsonl> [--data <b.jsonl>] --out <weights.json>
      [--strong MODEL] [--weak MODEL] [--dims 2^16] [--epochs 10] [--test-fraction 0.2] [--seed 1]
      [--learning-rate 0.5] [--l2 1e-4] [--rule-weight ${DEFAULT_RULE_BLOCK_WEIGHT}] [--calibration-folds ${DEFAULT_CALIBRATION_FOLDS}]
      [--categories [--category-terms ${DEFAULT_TERMS_PER_CATEGORY}] [--category-max-share ${DEFAULT_MAX_SHARE}] [--category-min-rows ${DEFAULT_MIN_CATEGORY_ROWS}]]

Learns pFail, the probability that the weak model fails (score < ${SUCCESS_THRESHOLD}) a prompt the strong
model gets right, from routing-eval JSONL v1 rows: one logistic head for whether each model succeeds,
and a calibration that maps their difference (the expected gain of the strong call, which ranks
prompts) to that probability. Rows are split by a hash of their id: the held-out rows are never
trained on, and the AUCs and log-loss are measured on them.

  --data FILE            routing-eval JSONL file; repeat for several (a file given twice, or a row
                         id in two files, is refused). Only these files are read.
  --out FILE             where to write the weights (format router-learned-v2).
  --strong, --weak       model names as in the rows' outcomes; the strong one must be the dearer
                         (mean cost_usd per prompt). Default: the most expensive model as strong,
                         the cheapest as weak.
  --dims N               feature vector length, an integer or 2^k (default 2^16).
  --epochs N             passes over the training rows (default 10).
  --test-fraction F      share of rows held out, in [0, 1) (default 0.2).
  --seed N               seeds both the split and the shuffle (default 1).
  --learning-rate F      initial SGD step (default 0.5).
  --l2 F                 L2 penalty (default 1e-4).
  --rule-weight F        the rule features are fitted standardised, each with this standard
                         deviation, beside the n-grams' norm of 1 (default ${DEFAULT_RULE_BLOCK_WEIGHT}); the saved
                         weights apply to the raw features.
  --calibration-folds N  folds for the out-of-fold gains the calibration is fitted on (default ${DEFAULT_CALIBRATION_FOLDS}).
  --categories           also learn the rows' own \`category\` labels (where the data has one): one
                         logistic head per category, cut to its largest weights on uncommon slots
                         and refitted, saved with the model; classifications then name a category.
                         Same split, epochs and l2.
  --category-terms N     weights kept per category (default ${DEFAULT_TERMS_PER_CATEGORY}).
  --category-max-share F never keep a slot more than this share of the prompts have (default
                         ${DEFAULT_MAX_SHARE}). Higher terms and share are more accurate and cost more per task.
  --category-min-rows N  categories with fewer training rows are left out (default ${DEFAULT_MIN_CATEGORY_ROWS}).`;

/** `--dims`: a whole number, or a power written `2^k`, in [MIN_DIMS, MAX_DIMS]. */
function dimsOption(raw: string | undefined): number {
  const expected = `an integer in [${MIN_DIMS}, 2^22] (or 2^k)`;
  const accept = (n: number): boolean => Number.isInteger(n) && n >= MIN_DIMS && n <= MAX_DIMS;
  const power = raw === undefined ? null : /^(\d+)\^(\d+)$/.exec(raw.trim());
  if (!power) return optionalNumber("dims", raw, DEFAULT_DIMS, expected, accept);
  const dims = Number(power[1]) ** Number(power[2]);
  if (!accept(dims)) throw new UsageError(`--dims: expected ${expected}, got ${raw}`);
  return dims;
}

const seconds = (startMs: number): string => `${((performance.now() - startMs) / 1000).toFixed(2)} s`;
const fixed = (x: number, digits = 4): string => (Number.isNaN(x) ? "n/a" : x.toFixed(digits));

async function main(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      data: { type: "string", multiple: true },
      out: { type: "string" },
      strong: { type: "string" },
      weak: { type: "string" },
      dims: { type: "string" },
      epochs: { type: "string" },
      "test-fraction": { type: "string" },
      seed: { type: "string" },
      "learning-rate": { type: "string" },
      l2: { type: "string" },
      "rule-weight": { type: "string" },
      "calibration-folds": { type: "string" },
      categories: { type: "boolean" },
      "category-terms": { type: "string" },
      "category-max-share": { type: "string" },
      "category-min-rows": { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const files = values.data ?? [];
  if (files.length === 0 || values.out === undefined) throw new UsageError("--data and --out are required");
  await requireWritableFile(`--out ${values.out}`, values.out, { createDirs: true, viaRename: true });
  // Numbers as written, as the eval reads them: Number() would read "" as 0 and 0x10 as 16.
  const dims = dimsOption(values.dims);
  const testFraction = optionalNumber("test-fraction", values["test-fraction"], 0.2, "a share in [0, 1)", (f) => f >= 0 && f < 1);
  const seed = integerOption("seed", values.seed, 1, 0, "a non-negative integer");
  const calibrationFolds = integerOption("calibration-folds", values["calibration-folds"], DEFAULT_CALIBRATION_FOLDS, 2, "an integer of at least 2");
  // Resolve (and so validate) the training options before the slow part.
  const trainOptions = {
    epochs: integerOption("epochs", values.epochs, 10, 1, "a positive integer"),
    learningRate: optionalNumber("learning-rate", values["learning-rate"], 0.5, "a number", () => true),
    l2: optionalNumber("l2", values.l2, 1e-4, "a number", () => true),
    ruleBlockWeight: optionalNumber("rule-weight", values["rule-weight"], DEFAULT_RULE_BLOCK_WEIGHT, "a positive number", (w) => w > 0),
    onEpoch: (head: HeadName, { epoch, loss }: EpochProgress) => console.log(`  ${head.padEnd(6)} head  epoch ${String(epoch).padStart(3)}  train log-loss ${fixed(loss)}`),
  };
  // Validate the options before the slow part.
  try {
    resolveTrainOptions({ dims, epochs: trainOptions.epochs, learningRate: trainOptions.learningRate, l2: trainOptions.l2 });
  } catch (err) {
    throw new UsageError(`${(err as Error).message} (--epochs, --learning-rate, --l2)`);
  }
  const termsPerCategory = integerOption("category-terms", values["category-terms"], DEFAULT_TERMS_PER_CATEGORY, 1, "a positive integer");
  const minRows = integerOption("category-min-rows", values["category-min-rows"], DEFAULT_MIN_CATEGORY_ROWS, 1, "a positive integer");
  const maxShare = optionalNumber("category-max-share", values["category-max-share"], DEFAULT_MAX_SHARE, "a share in (0, 1]", (f) => f > 0 && f <= 1);
  const made = createdAt(process.env);
  const started = performance.now();

  const rowsOf = await readRoutingEvalFiles(files, { option: "--data", progress: (line) => console.log(line) });
  const rows = rowsOf.flatMap((f) => f.rows);
  if (values.categories && new Set(rows.map((r) => r.category).filter((c) => c !== undefined && c !== "")).size < 2) {
    throw new UsageError("--categories: the rows have fewer than two distinct `category` labels");
  }

  const { strong, weak } = chooseModelPair(rows, { strong: values.strong, weak: values.weak });
  for (const [side, m] of [["strong", strong], ["weak", weak]] as const) {
    const how = m.picked ? `picked as the ${side === "strong" ? "most expensive" : "cheapest"} model (--${side} not given)` : "given";
    console.log(`${side}: ${m.model} — ${how}; mean cost $${m.meanCostUsd.toPrecision(3)} per prompt`);
  }
  // As the eval refuses it: the router sends prompts up from the weak model to the strong one.
  requireStrongDearer(strong, weak, "the data");
  const pair = { strong: strong.model, weak: weak.model };
  let usableRows = 0;
  for (const { file, rows: fileRows } of rowsOf) {
    const usable = fileRows.filter((r) => Object.hasOwn(r.outcomes, pair.strong) && Object.hasOwn(r.outcomes, pair.weak)).length;
    usableRows += usable;
    if (usable === 0) console.warn(`warning: ${file} has no row with outcomes for both ${pair.strong} and ${pair.weak}: it adds nothing to the model (pick the pair with --strong/--weak)`);
  }
  // The dearest and the cheapest model of all the files may never meet in one row (files that
  // name their models differently): say so, rather than train on nothing.
  if (usableRows === 0) throw new UsageError(`no row has outcomes for both ${pair.strong} and ${pair.weak}; do the files name the same models differently? pick the pair with --strong/--weak`);

  const featurizeStarted = performance.now();
  console.log(`training: ${trainOptions.epochs} epochs, learning rate ${trainOptions.learningRate}, l2 ${trainOptions.l2}, rule weight ${trainOptions.ruleBlockWeight}, dims ${dims}`);
  const training = trainPFail(rows, { pair, dims, testFraction, seed, calibrationFolds, ...trainOptions, progress: (line) => console.log(line) });
  const dropped = Object.entries(training.excluded).map(([reason, n]) => `${n} ${reason}`).join(", ");
  console.log(`labelled and split (seed ${seed}): ${training.trainRows} train rows, pFail base rate ${fixed(training.trainPositiveRate, 3)} (excluded: ${dropped})`);
  const constant = constantLabelProblem(training.trainPositiveRate, pair);
  if (constant) throw new Error(constant);
  const { model, heldOut } = training;
  console.log(`calibration: pFail = sigmoid(${fixed(model.calibration.scale, 3)} × (pStrong − pWeak) + ${fixed(model.calibration.offset, 3)})`);
  console.log(`trained in ${seconds(featurizeStarted)}`);
  if (heldOut) {
    console.log(`held-out (${heldOut.rows} rows): pFail AUC ${fixed(heldOut.auc)}, log-loss ${fixed(heldOut.logLoss)} (predicting the train base rate: ${fixed(heldOut.baseRateLogLoss)}); weak head AUC ${fixed(heldOut.weakAuc)}, strong head AUC ${fixed(heldOut.strongAuc)}`);
    console.log(`held-out calibration: expected calibration error ${fixed(heldOut.ece)} over ${heldOut.reliability.length} equal-count bins (mean pFail → observed rate):`);
    console.log(heldOut.reliability.map((b) => `  ${fixed(b.meanP, 3)} → ${fixed(b.observed, 3)}  (${b.rows} rows)`).join("\n"));
  }

  let categories: Parameters<typeof saveWeights>[1]["categories"];
  if (values.categories) {
    const categoriesStarted = performance.now();
    const trained = trainCategories(rows, { dims, testFraction, seed, termsPerCategory, maxShare, minRows, ...trainOptions, progress: (line) => console.log(line) });
    console.log(
      `categories: ${trained.model.heads.length} from ${trained.trainRows} train rows (left out: ${trained.excluded.uncategorised} without one, ${trained.excluded.rareCategory} of categories under ${minRows} rows), ${termsPerCategory} weights each on slots in at most ${maxShare} of prompts, in ${seconds(categoriesStarted)}`,
    );
    if (trained.heldOut) console.log(`held-out category accuracy (${trained.heldOut.rows} rows): ${fixed(trained.heldOut.accuracy)}`);
    categories = { model: trained.model, rows: trained.trainRows, termsPerCategory, maxShare, ...(trained.heldOut && { heldOut: trained.heldOut }) };
  }

  const json = saveWeights(model, {
    ...(categories && { categories }),
    trainedOn: {
      files,
      rows: training.trainRows,
      label: `pFail = P(${pair.weak} scores < ${SUCCESS_THRESHOLD} and ${pair.strong} scores >= ${SUCCESS_THRESHOLD}); heads: P(each scores >= ${SUCCESS_THRESHOLD})`,
      ...pair,
    },
    ...(heldOut && {
      heldOut: {
        rows: heldOut.rows,
        auc: Number.isNaN(heldOut.auc) ? null : heldOut.auc,
        logLoss: Number.isNaN(heldOut.logLoss) ? null : heldOut.logLoss,
        weakAuc: Number.isNaN(heldOut.weakAuc) ? null : heldOut.weakAuc,
        strongAuc: Number.isNaN(heldOut.strongAuc) ? null : heldOut.strongAuc,
      },
    }),
    createdAt: made,
  });
  await mkdir(dirname(values.out), { recursive: true });
  // Whole or not at all: a service starting while this writes must not load half a file.
  const partial = `${values.out}.${process.pid}.partial`;
  try {
    await writeFile(partial, json);
    await rename(partial, values.out);
  } catch (err) {
    await rm(partial, { force: true });
    throw new Error(`cannot write --out ${resolve(values.out)}: ${(err as Error).message}`, { cause: err });
  }
  console.log(`wrote ${values.out} (${(json.length / 1024).toFixed(0)} KiB) in ${seconds(started)} total`);
  return 0;
}

runScript("train-classifier", main);

/**
 * When the file says it was made: now, or `SOURCE_DATE_EPOCH` (seconds, the reproducible-builds
 * convention) so that training again with the same data and options writes the same bytes.
 */
export function createdAt(env: NodeJS.ProcessEnv): Date {
  const epoch = env.SOURCE_DATE_EPOCH;
  if (epoch === undefined || epoch === "") return new Date();
  const seconds = Number(epoch);
  // Within what a Date holds (±8.64e15 ms): past it, toISOString would throw after the training.
  if (!/^\d+$/.test(epoch) || !Number.isSafeInteger(seconds) || seconds > 8.64e12) {
    throw new UsageError(`SOURCE_DATE_EPOCH must be whole seconds since 1970, got ${JSON.stringify(epoch)}`);
  }
  return new Date(seconds * 1000);
}
