/** The `router` CLI. Composition root: the only file of the CLI that reads process.env. */
import { parseArgs } from "node:util";
import { API_TIMEOUT_MS, connectNats, createLogger, createSubjects, logLevelFromEnv, loadConfig, natsAuthFromEnv, type TaskSubmission } from "@llm-router/shared";
import { API_COMMAND_OPTIONS, isApiCommand, runApiCommand } from "./api-commands.js";
import { runCommand } from "./args.js";
import { createRouterClient } from "./client.js";
import { SAMPLE_PROMPTS } from "./sample-workload.js";
import { formatCompletion, formatSummary, summarize } from "./summary.js";

const USAGE = `usage:
  router submit "<prompt>" [--tenant T] [--min-quality Q] [--local-only] [--max-cost USD] [--json] [--timeout MS]
  router demo [--count N] [--timeout MS]
  router budget [--scope global|tenant|run|tenant:NAME|run:ID] [--json]
  router models [SPEC] [--json]
  router stats [--since T] [--until T] [--group-by hour|day|month|tenant|task_type] [--tenant T] [--task-type TYPE] [--json]
  router feedback TASK_ID (--score X | --success | --failure) [--comment C] [--id ID] [--json]
  router route "<prompt>" [--tenant T] [--json]        (dry run: the decision, nothing executed)
  router health [--json]

Publishes on the subjects of router.config.yaml (or ROUTER_CONFIG) at NATS_URL
(default nats://127.0.0.1:4222); the four services must be running (npm start).
budget, models, stats, feedback, route and health ask the router.* request/reply endpoints; T is ISO 8601
or a duration back from now (30m, 6h, 7d). A refusal prints its code and exits 1.`;

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
  const { config } = loadConfig({ env: process.env });
  const log = createLogger({ service: "cli", level: logLevelFromEnv(process.env.LOG_LEVEL, "warn") });
  const { nc } = await connectNats({ url: config.nats.url, name: "router-cli", log, auth: natsAuthFromEnv(process.env), inboxPrefix: process.env.NATS_INBOX_PREFIX || undefined });
  const client = createRouterClient(nc, createSubjects(config.nats.subjectPrefix));
  const timeoutMs = values.timeout ? Number(values.timeout) : 60_000;
  try {
    if (isApiCommand(command)) {
      const ctx = { nc, prefix: config.nats.subjectPrefix, timeoutMs: values.timeout ? Number(values.timeout) : API_TIMEOUT_MS, now: new Date() };
      return await runApiCommand(command, rest, values, { ...ctx, out: (t) => console.log(t), err: (t) => console.error(t) });
    }
    if (command === "submit") {
      const prompt = rest.join(" ").trim();
      if (!prompt) {
        console.error('router submit: a prompt is required, e.g. router submit "What is NATS?"');
        return 2;
      }
      const task: TaskSubmission = {
        prompt,
        ...(values.tenant ? { tenant: values.tenant } : {}),
        constraints: {
          ...(values["min-quality"] ? { minQuality: Number(values["min-quality"]) } : {}),
          ...(values["max-cost"] ? { maxCostUsd: Number(values["max-cost"]) } : {}),
          ...(values["local-only"] ? { localOnly: true } : {}),
        },
      };
      const [completed] = await client.run([task], { timeoutMs });
      if (!completed) return 1;
      console.log(values.json ? JSON.stringify(completed) : formatCompletion(completed));
      return completed.result.status === "succeeded" ? 0 : 1;
    }
    const count = values.count ? Number(values.count) : SAMPLE_PROMPTS.length;
    const tasks: TaskSubmission[] = Array.from({ length: count }, (_, i) => ({
      prompt: SAMPLE_PROMPTS[i % SAMPLE_PROMPTS.length] as string,
      metadata: { demo: true },
    }));
    process.stderr.write(`sending ${count} tasks to the router...\n`);
    const completions = await client.run(tasks, {
      timeoutMs,
      onCompleted: (_c, done) => {
        if (done % 10 === 0 || done === count) process.stderr.write(`  ${done}/${count} completed\n`);
      },
    });
    console.log(formatSummary(summarize(completions)));
    return 0;
  } finally {
    await nc.drain();
  }
}

runCommand("router", USAGE, main);
