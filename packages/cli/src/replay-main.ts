/**
 * `npm run replay -- --since <time>`: re-decide the ledger's stored decisions with the current
 * configuration and report any that come out different. Reads DATABASE_URL (or the ledger's
 * embedded PGlite directory) and the router config like the services do.
 */
import { parseArgs } from "node:util";
import { openLedgerDatabase } from "@llm-router/ledger";
import { createLogger, loadConfig, logLevelFromEnv } from "@llm-router/shared";
import { UsageError, parseSince, runCommand } from "./args.js";
import { replayDecisions, type ReplayReport } from "./replay.js";

const USAGE = `usage:
  npm run replay -- --since <time> [--until <time>] [--limit N] [--json]

Re-decides every decision the ledger stored since <time> (ISO 8601, or a duration back from now:
30m, 6h, 7d) with the selector's own function and the current configuration, and reports each
that comes out different, with the inputs that changed since (policy or registry version, a
statistics snapshot no longer kept). With unchanged inputs every decision must come out the same.
Exits 1 when any differs, 0 otherwise.`;

function print(report: ReplayReport): void {
  console.log(`policy ${report.policyVersion}, registry ${report.registryVersion}`);
  console.log(`replayed ${report.replayed}: ${report.same} the same, ${report.different.length} different; ${report.skipped.length} skipped`);
  for (const d of report.different) {
    console.log(`  ${d.taskId} (${d.decidedAt})`);
    console.log(`    recorded: ${d.recorded}`);
    console.log(`    replayed: ${d.replayed}`);
    if (d.drift.length > 0) console.log(`    changed since: ${d.drift.join("; ")}`);
  }
  if (report.skipped.length > 0) console.log(`  skipped (first): ${report.skipped[0]!.taskId}: ${report.skipped[0]!.reason}`);
}

async function main(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: { since: { type: "string" }, until: { type: "string" }, limit: { type: "string" }, json: { type: "boolean" }, help: { type: "boolean", short: "h" } },
  });
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  if (values.since === undefined) throw new UsageError("--since is required");
  const now = new Date();
  const since = parseSince(values.since, now);
  const until = values.until === undefined ? undefined : parseSince(values.until, now);
  const limit = values.limit === undefined ? undefined : Number(values.limit);
  if (limit !== undefined && !(Number.isInteger(limit) && limit > 0)) throw new UsageError(`--limit: expected a positive integer, got ${values.limit}`);

  const { config } = loadConfig({ env: process.env });
  const log = createLogger({ service: "replay", level: logLevelFromEnv(process.env.LOG_LEVEL, "warn") });
  const database = await openLedgerDatabase({ databaseUrl: process.env.DATABASE_URL, dataDir: config.ledger.dataDir, log });
  try {
    const report = await replayDecisions({ db: database.db, config, since, ...(until ? { until } : {}), ...(limit ? { limit } : {}) });
    if (values.json) console.log(JSON.stringify(report));
    else print(report);
    return report.different.length > 0 ? 1 : 0;
  } finally {
    await database.close();
  }
}

runCommand("replay", USAGE, main);
