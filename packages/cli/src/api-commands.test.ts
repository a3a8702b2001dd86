import { describe, expect, it } from "vitest";
import type { ApiEndpointName, HealthReport } from "@llm-router/shared";
import { prepareApiCommand, runApiCommand, type Ask, type ApiCommandContext, type ApiCommandOptions } from "./api-commands.js";
import { UsageError } from "./args.js";

const HEALTHY: HealthReport = {
  ok: true,
  at: "2026-04-02T12:00:00.000Z",
  nats: { ok: true, server: "127.0.0.1:4222", rttMs: 1 },
  database: { ok: true, kind: "pglite" },
  kv: { ok: true },
  unhealthyModels: [],
  budgets: [],
};

const NOW = new Date("2026-04-02T12:00:00.000Z");

/** A context whose `ask` answers from `answers` (a hand-written fake of the API) and records what was asked. */
function fakeContext(answers: Partial<Record<ApiEndpointName, unknown>>) {
  const asked: { endpoint: ApiEndpointName; request: unknown }[] = [];
  const out: string[] = [];
  const err: string[] = [];
  const ask = ((endpoint: ApiEndpointName, request: unknown) => {
    asked.push({ endpoint, request });
    return Promise.resolve(answers[endpoint]);
  }) as Ask;
  const ctx: ApiCommandContext = { ask, out: (t) => out.push(t), err: (t) => err.push(t) };
  return { ctx, asked, out, err };
}

const run = (command: "health" | "feedback" | "stats" | "budget" | "route", args: string[], o: ApiCommandOptions, answers: Partial<Record<ApiEndpointName, unknown>>) => {
  const fake = fakeContext(answers);
  // As the CLI does: the line is checked first (a UsageError, nothing asked), then run.
  return { fake, code: Promise.resolve().then(() => runApiCommand(command, prepareApiCommand(command, args, o, NOW), o, fake.ctx)) };
};

describe("router budget", () => {
  it("says a named scope has no budget of its own without claiming that no budget charges it", async () => {
    const empty = { at: "2026-04-02T12:00:00.000Z", budgets: [] };
    const scoped = run("budget", [], { scope: "tenant:acme" }, { "router.budget": empty });
    expect(await scoped.code).toBe(0);
    expect(scoped.fake.asked).toEqual([{ endpoint: "router.budget", request: { scope: "tenant:acme" } }]);
    expect(scoped.fake.out[0]).toBe("no budget of scope tenant:acme (budgets of other scopes, such as global, may still charge its tasks: `router budget` lists every line)");
    const all = run("budget", [], {}, { "router.budget": empty });
    await all.code;
    expect(all.fake.out[0]).toBe("no budget applies (configure `budgets` in router.config.yaml)");
  });
});

describe("router health", () => {
  it("exits 1 and prints each failed check with its error when the answer is not ok", async () => {
    const sick: HealthReport = { ...HEALTHY, ok: false, database: { ok: false, kind: "postgres", error: "connection refused" }, kv: { ok: false, error: "bucket not found" } };
    const { fake, code } = run("health", [], {}, { "router.health": sick });
    expect(await code).toBe(1);
    expect(fake.out[0]!.split("\n")).toEqual([
      "NOT OK at 2026-04-02T12:00:00.000Z",
      "database check failed: connection refused",
      "kv check failed: bucket not found",
      "models routed around: none",
      "budgets: none configured",
    ]);
  });

  it("exits 1 with --json too, printing the answer as it came", async () => {
    const sick: HealthReport = { ...HEALTHY, ok: false, nats: { ok: false, server: "127.0.0.1:4222", error: "flush timed out" } };
    const { fake, code } = run("health", [], { json: true }, { "router.health": sick });
    expect(await code).toBe(1);
    expect(JSON.parse(fake.out[0]!)).toEqual(sick);
  });

  it("says the budgets are unknown, not that none is configured, when they could not be read", async () => {
    const { fake, code } = run("health", [], {}, { "router.health": { ...HEALTHY, budgetsError: "no answer within 2000 ms" } });
    expect(await code).toBe(0);
    expect(fake.out[0]!.split("\n")).toContain("budgets: unknown (no answer within 2000 ms)");
  });

  it("says how many budget states the answer left out, and where to list them", async () => {
    const budgets = [{ scope: "run:r1", window: "day" as const, state: "exceeded" as const, spentUsd: 1, limitUsd: 1 }];
    const { fake, code } = run("health", [], {}, { "router.health": { ...HEALTHY, budgets, budgetsOmitted: 4000 } });
    expect(await code).toBe(0);
    expect(fake.out[0]!.split("\n")).toContain("budgets: run:r1 day exceeded, and 4000 more (router budget --scope run lists them)");
  });

  it("exits 0 when every check answers", async () => {
    const { fake, code } = run("health", [], {}, { "router.health": HEALTHY });
    expect(await code).toBe(0);
    expect(fake.out[0]).toMatch(/^ok at /);
  });
});

describe("router feedback --score", () => {
  it("refuses a score that is not a number from 0 to 1, and asks nothing", async () => {
    for (const score of ["", "0x1", "1.5", "-0.1", "abc", "Infinity"]) {
      const { fake, code } = run("feedback", ["t-1"], { score }, {});
      await expect(code, score).rejects.toThrow(UsageError);
      expect(fake.asked).toEqual([]);
    }
  });

  it("records a score as written", async () => {
    const { fake, code } = run("feedback", ["t-1"], { score: "0.25" }, { "router.feedback": { id: "f-1", duplicate: false } });
    expect(await code).toBe(0);
    expect(fake.asked).toEqual([{ endpoint: "router.feedback", request: { taskId: "t-1", score: 0.25 } }]);
  });
});

describe("router stats", () => {
  it("refuses --since after --until before asking", async () => {
    const { fake, code } = run("stats", [], { since: "1h", until: "1d" }, {});
    await expect(code).rejects.toThrow(UsageError);
    expect(fake.asked).toEqual([]);
  });
});

describe("router route", () => {
  it("asks about the task submit would publish, constraints included, and refuses a bad one before asking", async () => {
    const routed = {
      classification: { complexity: "simple", taskType: "summarization", risk: "low", confidence: 0.9, strategy: "single" },
      decision: { ok: true, model: "sim:local-small", strategy: "single", forcedLocal: false, fallbacks: [], estimatedCostUsd: 0, reason: "cheapest eligible", budget: { state: "ok" } },
    };
    const { fake, code } = run("route", ["Summarise", "this"], { tenant: "acme", "local-only": true, "max-cost": "0.01", "min-quality": "0.5" }, { "router.route": routed });
    expect(await code).toBe(0);
    expect(fake.out[0]).toContain("routed to:  sim:local-small (single), fallbacks none");
    expect(fake.asked).toEqual([{ endpoint: "router.route", request: { prompt: "Summarise this", tenant: "acme", constraints: { localOnly: true, maxCostUsd: 0.01, minQuality: 0.5 } } }]);

    const refused = run("route", ["Summarise"], { "min-quality": "2" }, {});
    await expect(refused.code).rejects.toThrow(UsageError);
    expect(refused.fake.asked).toEqual([]);
  });
});
