import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ledgerSchema, openLedgerDatabase, type LedgerDatabase } from "@llm-router/ledger";
import { DEFAULT_CONFIG_INPUT, createLogger, parseConfig } from "@llm-router/shared";
import { formatReplay, replayDecisions } from "./replay.js";

describe("replay", () => {
  let dir: string;
  let database: LedgerDatabase;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "replay-unit-"));
    database = await openLedgerDatabase({ dataDir: dir, log: createLogger({ service: "replay-test", level: "silent" }) });
    // Three decisions a minute apart. Their inputs predate replay, so each is skipped, but each
    // counts towards the limit like any other.
    await database.db.insert(ledgerSchema.decisions).values(
      [0, 1, 2].map((i) => ({
        taskId: `t-${i}`,
        ok: true,
        model: "sim:local-small",
        fallbacks: [],
        reason: "r",
        forcedLocal: false,
        budgetState: "ok",
        policyVersion: "p",
        registryVersion: "g",
        decidedAt: `2026-03-01T00:0${i}:00.000Z`,
        inputs: {},
      })),
    );
  }, 60_000);
  afterAll(async () => {
    await database?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it("says when the window holds more decisions than the limit, rather than stopping without a word", async () => {
    const { config } = parseConfig(DEFAULT_CONFIG_INPUT);
    const since = new Date("2026-03-01T00:00:00.000Z");
    const capped = await replayDecisions({ db: database.db, config, since, limit: 2 });
    expect(capped).toMatchObject({ limit: 2, limitReached: true });
    expect(capped.skipped.map((s) => s.taskId)).toEqual(["t-0", "t-1"]);
    expect(formatReplay(capped)).toContain("stopped at the limit of 2 decisions");

    const whole = await replayDecisions({ db: database.db, config, since, limit: 3 });
    expect(whole).toMatchObject({ limit: 3, limitReached: false });
    expect(whole.skipped).toHaveLength(3);
    expect(formatReplay(whole)).not.toContain("limit");
  });
});
