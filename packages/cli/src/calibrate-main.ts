/**
 * `npm run calibrate -- --prompts <file.jsonl>… [--cloud-share X]`: which policy.pFailThreshold
 * sends what share of your prompts to cloud models, under the configured registry and policy.
 */
import { readFile } from "node:fs/promises";
import { resolve } from "node:path";
import { parseArgs } from "node:util";
import { loadLearnedModel } from "@llm-router/classifier";
import { TaskSubmission, loadConfig, toTask, type Task } from "@llm-router/shared";
import { decimal, UsageError, runCommand } from "./args.js";
import { calibrateThreshold, FLOORS_ONLY, type Calibration, type ThresholdRow } from "./calibrate.js";

const USAGE = `usage:
  npm run calibrate -- --prompts <file.jsonl> [--prompts <file.jsonl>] [--cloud-share X] [--thresholds N] [--json]

Classifies every prompt in process (rules + the configured learned model) and routes it with the
selector's own function under the configured models and policy (router.config.yaml, or
ROUTER_CONFIG) at policy.pFailThreshold settings placed at the quantiles of the prompts' pFail
(and beyond 1, up to "floors": pFail no longer raises the bar), and prints where each sends them: the share to cloud models, the share per model and the
estimated cost per prompt. Feedback statistics, exploration and the budget are left out.

  --prompts FILE    JSON lines, each a task as published on task.submitted ({"prompt": "..."} or
                    {"messages": [...]}; other fields such as routing-eval outcomes are ignored).
                    Repeat for several files. Use a sample of your own traffic.
  --cloud-share X   the share of prompts (0 to 1) you can afford to send to cloud models: prints the
                    lowest threshold (the most quality) that stays within it; exits 1 if none does.
  --thresholds N    settings to try (default 21).
  --json            one JSON object on stdout.`;

const pct = (x: number): string => `${(100 * x).toFixed(1)}%`;

async function readTasks(files: readonly string[]): Promise<Task[]> {
  const tasks: Task[] = [];
  const submittedAt = new Date();
  for (const file of files) {
    let text: string;
    try {
      text = await readFile(file, "utf8");
    } catch (err) {
      // Exit 1, as eval:routing and train:classifier exit on a file they cannot read.
      throw new Error(`--prompts ${file}: cannot read ${resolve(file)} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`, { cause: err });
    }
    const lines = text.replace(/^\uFEFF/, "").split("\n");
    lines.forEach((line, i) => {
      if (line.trim() === "") return;
      let json: unknown;
      try {
        json = JSON.parse(line);
      } catch (err) {
        throw new UsageError(`${file}:${i + 1}: not JSON (${err instanceof Error ? err.message : String(err)})`);
      }
      const parsed = TaskSubmission.safeParse(json);
      if (!parsed.success) throw new UsageError(`${file}:${i + 1}: not a task submission: ${parsed.error.issues.map((x) => `${x.path.join(".") || "(root)"}: ${x.message}`).join("; ")}`);
      tasks.push(toTask(parsed.data, `calibrate-${tasks.length + 1}`, submittedAt));
    });
  }
  return tasks;
}

function line(r: ThresholdRow): string {
  const models = Object.entries(r.modelShares)
    .map(([m, s]) => `${m} ${pct(s)}`)
    .join(", ");
  const threshold = r.pFailThreshold >= FLOORS_ONLY ? "floors" : r.pFailThreshold.toFixed(4);
  return `${threshold.padStart(9)}  ${pct(r.cloudShare).padStart(6)}  $${(r.meanEstimatedCostUsd * 1000).toFixed(4).padStart(9)}/1k   ${models}`;
}

function print(c: Calibration, target: number | undefined): void {
  console.log(`${c.prompts} prompts; pFail p10 ${c.pFail.p10.toFixed(3)}, p50 ${c.pFail.p50.toFixed(3)}, p90 ${c.pFail.p90.toFixed(3)}`);
  console.log("");
  console.log("threshold   cloud   est. cost          first model chosen");
  for (const r of c.rows) console.log(line(r));
  console.log("");
  console.log(`configured (policy.pFailThreshold ${c.configured.pFailThreshold}):`);
  console.log(line(c.configured));
  if (target === undefined) return;
  console.log("");
  if (c.recommended) console.log(`for at most ${pct(target)} cloud calls: policy.pFailThreshold: ${c.recommended.pFailThreshold} (${pct(c.recommended.cloudShare)} cloud)`);
  else console.log(`no threshold keeps cloud calls at or below ${pct(target)}: the quality floors alone ("floors": policy.minQuality, criticalMinQuality, the tasks' own minQuality) send ${pct(c.rows[c.rows.length - 1]!.cloudShare)} there whatever pFail says`);
}

async function main(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      prompts: { type: "string", multiple: true },
      "cloud-share": { type: "string" },
      thresholds: { type: "string" },
      json: { type: "boolean" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const files = values.prompts ?? [];
  if (files.length === 0) throw new UsageError("--prompts is required");
  const target = values["cloud-share"] === undefined ? undefined : decimal(values["cloud-share"]);
  if (target !== undefined && !(target >= 0 && target <= 1)) throw new UsageError(`--cloud-share: expected a share in [0, 1], got ${values["cloud-share"]}`);
  const thresholds = values.thresholds === undefined ? undefined : decimal(values.thresholds);
  if (thresholds !== undefined && !(Number.isInteger(thresholds) && thresholds >= 2)) throw new UsageError(`--thresholds: expected an integer of at least 2, got ${values.thresholds}`);

  const loaded = loadConfig({ env: process.env });
  const { config } = loaded;
  const learned = config.classifier.strategy === "rules" ? undefined : await loadLearnedModel(config.classifier.weightsFile);
  const tasks = await readTasks(files);
  if (tasks.length === 0) throw new UsageError(`no prompts in ${files.join(", ")}`);
  // Progress on stderr: stdout carries only the table or the JSON.
  const progress = (line: string): void => void process.stderr.write(`${line}\n`);
  progress(`read ${tasks.length} prompts from ${files.join(", ")}; config ${loaded.source}, learned model ${learned?.version ?? "none (classifier.strategy: rules)"}`);
  const calibration = calibrateThreshold({ config, tasks, progress, ...(learned && { learned }), ...(thresholds && { thresholds }), ...(target !== undefined && { targetCloudShare: target }) });
  if (values.json) console.log(JSON.stringify(calibration));
  else print(calibration, target);
  return target !== undefined && calibration.recommended === null ? 1 : 0;
}

runCommand("calibrate", USAGE, main);
