import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { defineConfig } from "vitest/config";

const here = (p: string): string => fileURLToPath(new URL(p, import.meta.url));

// Workspace packages resolve to their TypeScript sources: tests never need a build first.
const alias = {
  "@llm-router/shared": here("./packages/shared/src/index.ts"),
  "@llm-router/classifier": here("./services/classifier/src/index.ts"),
  "@llm-router/selector": here("./services/selector/src/index.ts"),
  "@llm-router/executor": here("./services/executor/src/index.ts"),
  "@llm-router/ledger": here("./services/ledger/src/index.ts"),
  "@llm-router/eval": here("./packages/eval/src/index.ts"),
};

// One temporary directory per run: every directory a test makes with os.tmpdir(), and every one a
// service it starts makes (PGlite ledgers, weights, configs), goes under it (TMPDIR), and it is
// removed when the run ends, passed or failed: tests cleaning up one by one left about 120 MB a
// run behind (those that forgot, and those that failed first). The process that made it removes
// it; one that finds it in the environment (the config read again, a run inside a run) reuses it.
const inheritedTmp = process.env.ROUTER_TEST_RUN_TMPDIR;
const runTmp = inheritedTmp ?? mkdtempSync(join(tmpdir(), "router-test-run-"));
if (inheritedTmp === undefined) {
  process.env.ROUTER_TEST_RUN_TMPDIR = runTmp;
  process.once("exit", () => rmSync(runTmp, { recursive: true, force: true }));
}

export default defineConfig({
  resolve: { alias },
  test: {
    env: { TMPDIR: runTmp },
    projects: [
      {
        extends: true,
        test: {
          name: "unit",
          sequence: { groupOrder: 0 },
          include: ["packages/*/src/**/*.test.ts", "services/*/src/**/*.test.ts", "bench/**/*.test.ts", "scripts/**/*.test.ts"],
        },
      },
      {
        extends: true,
        test: {
          name: "integration",
          // After the unit tests, with its own worker limit.
          sequence: { groupOrder: 1 },
          include: ["test/**/*.test.ts"],
          globalSetup: ["test/support/global-setup.ts"],
          testTimeout: 60_000,
          hookTimeout: 60_000,
          // Files run in parallel; each isolates itself with its own subject prefix, streams and database.
          fileParallelism: true,
          maxWorkers: 2,
        },
      },
    ],
  },
});
