/** Composition root of the ledger: the only file that reads process.env. */
import { runService } from "@llm-router/shared";
import { openLedgerDatabase } from "./db.js";
import { startLedger } from "./service.js";

await runService({
  name: "ledger",
  version: "0.1.0",
  env: process.env,
  defaultPort: 9104,
  start: async (ctx) => {
    const database = await openLedgerDatabase({
      databaseUrl: ctx.env.DATABASE_URL,
      dataDir: ctx.loaded.config.ledger.dataDir,
      minFreeBytes: ctx.loaded.config.ledger.minFreeDiskMb * 2 ** 20,
      log: ctx.log,
    });
    const ledger = await startLedger({ ...ctx, config: ctx.loaded.config, database });
    return {
      ready: () => ledger.ready,
      steps: [
        { name: "ledger consumers and pending batches", close: () => ledger.stop() },
        { name: "database", close: () => database.close() },
      ],
    };
  },
});
