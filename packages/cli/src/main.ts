/** The `router` CLI. Composition root: the only file of the CLI that reads process.env. */
import { parseArgs } from "node:util";
import { API_TIMEOUT_MS, connectNats, createLogger, createSubjects, logLevelFromEnv, loadConfig, natsAuthFromEnv, type TaskSubmission } from "@llm-router/shared";
import { API_COMMAND_OPTIONS, createAsk, isApiCommand, prepareApiCommand, runApiCommand } from "./api-commands.js";
import { UsageError, runCommand, timeoutOption } from "./args.js";
import { createRouterClient, RunError } from "./client.js";
import { SAMPLE_PROMPTS } from "./sample-workload.js";
import { demoCount, submissionOf } from "./submit-options.js";
import { demoReport, formatCompletion } from "./summary.js";

/** How long `submit` and `demo` wait for the completions by default. */
const RUN_TIMEOUT_MS = 60_000;

const USAGE = `usage:
  router submit "<prompt>" [--id ID] [--tenant T] [--min-quality Q] [--local-only] [--max-cost USD] [--json] [--timeout MS]
  router demo [--count N] [--timeout MS]
  router budget [--scope global|tenant|run|tenant:NAME|run:ID] [--json]
  router models [SPEC] [--json]
  router stats [--since T] [--until T] [--group-by hour|day|month|tenant|task_type] [--tenant T] [--task-type TYPE] [--json]
  router feedback TASK_ID (--score X | --success | --failure) [--comment C] [--id ID] [--json]
  router route "<prompt>" [--tenant T] [--min-quality Q] [--local-only] [--max-cost USD] [--json]   (dry run: the decision, nothing executed)
  router health [--json]

Publishes on the subjects of router.config.yaml (or ROUTER_CONFIG) at NATS_URL
(default nats://127.0.0.1:4222); the four services must be running (npm start).
budget, models, stats, feedback, route and health ask the router.* request/reply endpoints; T is ISO 8601
(UTC unless it names a zone) or a duration back from now (30m, 6h, 7d). MS is milliseconds (default 60000 for submit and demo,
10000 for the others). A refusal prints its code and exits 1, as do a failed task and a failed
health check. submit --id gives the task its id: submitted again within the stream's duplicate
window, it is not run again, and its first run's outcome is printed.`;

/** The options each command reads (besides --help): another is refused, not silently ignored. */
const COMMAND_OPTIONS: Record<string, readonly string[]> = {
  submit: ["id", "tenant", "min-quality", "local-only", "max-cost", "json", "timeout"],
  demo: ["count", "timeout"],
  budget: ["scope", "json", "timeout"],
  models: ["json", "timeout"],
  stats: ["since", "until", "group-by", "tenant", "task-type", "json", "timeout"],
  feedback: ["score", "success", "failure", "comment", "id", "json", "timeout"],
  route: ["tenant", "min-quality", "local-only", "max-cost", "json", "timeout"],
  health: ["json", "timeout"],
};

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      tenant: { type: "string" },
      "min-quality": { type: "string" },
      "max-cost": { type: "string" },
      "local-only": { type: "boolean" },
      json: { type: "boolean" },
      timeout: { type: "string" },
      count: { type: "string" },
      ...API_COMMAND_OPTIONS,
      help: { type: "boolean", short: "h" },
    },
  });
  const [command, ...rest] = positionals;
  if (values.help || !command || !(["submit", "demo"].includes(command) || isApiCommand(command))) {
    console.log(USAGE);
    return values.help ? 0 : 2;
  }
  const stray = Object.keys(values).filter((name) => name !== "help" && !(COMMAND_OPTIONS[command] ?? []).includes(name));
  if (stray.length > 0) throw new UsageError(`router ${command} does not take ${stray.map((name) => `--${name}`).join(", ")}`);
  // Every option is checked before connecting: a bad one is exit 2 whether or not NATS is up.
  const timeoutMs = timeoutOption(values.timeout, isApiCommand(command) ? API_TIMEOUT_MS : RUN_TIMEOUT_MS);
  const apiRun = isApiCommand(command) ? prepareApiCommand(command, rest, values, new Date()) : undefined;
  let tasks: TaskSubmission[] = [];
  if (command === "submit") {
    const prompt = rest.join(" ").trim();
    if (!prompt) {
      console.error('router submit: a prompt is required, e.g. router submit "What is NATS?"');
      return 2;
    }
    tasks = [submissionOf(prompt, values)];
  } else if (command === "demo") {
    tasks = Array.from({ length: demoCount(values.count, SAMPLE_PROMPTS.length) }, (_, i) => ({
      prompt: SAMPLE_PROMPTS[i % SAMPLE_PROMPTS.length] as string,
      metadata: { demo: true },
    }));
  }

  const { config } = loadConfig({ env: process.env });
  const log = createLogger({ service: "cli", level: logLevelFromEnv(process.env.LOG_LEVEL, "warn") });
  const { nc } = await connectNats({ url: config.nats.url, name: "router-cli", log, auth: natsAuthFromEnv(process.env), inboxPrefix: process.env.NATS_INBOX_PREFIX || undefined });
  const client = createRouterClient(nc, createSubjects(config.nats.subjectPrefix), { stream: config.nats.stream, onStall: (m) => process.stderr.write(`${m}\n`) });
  try {
    if (isApiCommand(command) && apiRun) {
      const ask = createAsk(nc, config.nats.subjectPrefix, timeoutMs);
      return await runApiCommand(command, apiRun, values, { ask, out: (t) => console.log(t), err: (t) => console.error(t) });
    }
    if (command === "submit") {
      const [completed] = await client.run(tasks, {
        timeoutMs,
        onDuplicate: (id, stream, seq) => process.stderr.write(`task ${id} was already submitted (${stream} #${seq}): this is that submission's outcome, not a new run; submit with a new id (or none) to run it again\n`),
      });
      if (!completed) return 1;
      console.log(values.json ? JSON.stringify(completed) : formatCompletion(completed));
      return completed.result.status === "succeeded" ? 0 : 1;
    }
    const count = tasks.length;
    process.stderr.write(`sending ${count} tasks to the router...\n`);
    const run = await client
      .run(tasks, {
        timeoutMs,
        onCompleted: (_c, done) => {
          if (done % 10 === 0 || done === count) process.stderr.write(`  ${done}/${count} completed\n`);
        },
      })
      .catch((err: unknown) => {
        if (err instanceof RunError) return err;
        throw err;
      });
    const report = demoReport(run);
    if (report.summary !== undefined) console.log(report.summary);
    if (report.error !== undefined) console.error(`router: ${report.error}`);
    return report.code;
  } finally {
    await nc.drain();
  }
}

runCommand("router", USAGE, main);
