export { startLedger, type LedgerService, type LedgerServiceDeps } from "./service.js";
export { openLedgerDatabase, DiskSpaceLow, MIGRATIONS_FOLDER, type LedgerDatabase, type LedgerDb, type OpenLedgerDatabaseOptions } from "./db.js";
export * as ledgerSchema from "./schema.js";
export { windowStart } from "@llm-router/shared";
export { pruneStatsSnapshots } from "./ledger-queries.js";
export { loadOutcomeStats } from "./outcome-samples.js";
