/**
 * `npm run replay -- --since <time>`: re-decide the ledger's stored decisions with the current
 * configuration and report any that come out different. Reads DATABASE_URL (or the ledger's
 * embedded PGlite directory) and the router config like the services do.
 */
import { parseArgs } from "node:util";
import { openLedgerDatabase } from "@llm-router/ledger";
import { createLogger, loadConfig, logLevelFromEnv } from "@llm-router/shared";
import { UsageError, numberOption, parseWindow, runCommand } from "./args.js";
import { REPLAY_LIMIT, formatReplay, replayDecisions } from "./replay.js";

const USAGE = `usage:
  npm run replay -- --since <time> [--until <time>] [--limit N] [--json]

Re-decides every decision the ledger stored since <time> (ISO 8601, or a duration back from now:
30m, 6h, 7d) with the selector's own function and the current configuration, and reports each
that comes out different, with the inputs that changed since (policy or registry version, a
statistics snapshot no longer kept). With unchanged inputs every decision must come out the same.
At most N decisions (default ${REPLAY_LIMIT}) are replayed, the oldest first; the report says
when the window holds more. Exits 1 when any differs, 0 otherwise.`;

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
  const { since, until } = parseWindow(values, new Date());
  const limit = values.limit === undefined ? undefined : numberOption("limit", values.limit, "a positive integer", (n) => Number.isInteger(n) && n > 0);

  const { config } = loadConfig({ env: process.env });
  const log = createLogger({ service: "replay", level: logLevelFromEnv(process.env.LOG_LEVEL, "warn") });
  const database = await openLedgerDatabase({ databaseUrl: process.env.DATABASE_URL, dataDir: config.ledger.dataDir, minFreeBytes: config.ledger.minFreeDiskMb * 2 ** 20, log });
  try {
    const report = await replayDecisions({ db: database.db, config, since: since!, ...(until ? { until } : {}), ...(limit ? { limit } : {}) });
    if (values.json) console.log(JSON.stringify(report));
    else console.log(formatReplay(report));
    return report.different.length > 0 ? 1 : 0;
  } finally {
    await database.close();
  }
}

runCommand("replay", USAGE, main);
