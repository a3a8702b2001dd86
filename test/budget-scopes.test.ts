/**
 * Budgets per scope on real NATS and Postgres: a per-tenant budget and a per-run budget are kept
 * by the ledger per tenant and per run, step through the ladder (soft, then exceeded) with their
 * own events and KV state, and each selector applies the tightest state that concerns a task.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { jetstream } from "@nats-io/jetstream";
import { budgetStateKey, type BudgetState, type TaskCompleted } from "@llm-router/shared";
import type { SelectorService } from "@llm-router/selector";
import { completedTask } from "./support/completions.js";
import { createHarness, waitFor, type Harness } from "./support/harness.js";

const AT = new Date("2026-04-02T10:15:00.000Z");

const completion = (id: string, costUsd: number, fields: { tenant?: string; runId?: string } = {}): TaskCompleted => completedTask(id, costUsd, AT, fields);

describe("budgets per tenant and per run", () => {
  let h: Harness;
  let selector: SelectorService;

  beforeAll(async () => {
    h = await createHarness({
      config: {
        budgets: [
          { scope: "global", window: "month", limitUsd: 100 },
          { scope: "tenant", window: "day", limitUsd: 0.01 },
          // gamma's own daily limit, in place of every tenant's.
          { scope: "tenant:gamma", window: "day", limitUsd: 1 },
          { scope: "run", window: "hour", limitUsd: 0.002, softRatio: 0.5 },
        ],
      },
    });
    await h.startLedger({ now: () => AT, budgetCheckMs: 50 });
    // The selector's clock is the ledger's: a state of a window that has ended applies to nothing.
    selector = await h.startSelector({ now: () => AT });
  });
  afterAll(async () => {
    await h?.close();
  });

  const publish = (c: TaskCompleted) => jetstream(h.nc).publish(h.topology.subjects["task.completed"], JSON.stringify(c), { msgID: `${c.task.id}:completed` });
  const stateOf = async (scope: string, window: "hour" | "day" | "month") => (await h.budgetKv.get(budgetStateKey(scope, window)))?.json<BudgetState>();

  it("keeps each tenant's spend apart: one tenant past its soft limit, then exceeded; the other untouched", async () => {
    const soft = h.collect(h.topology.subjects["budget.soft_limit"]);
    const exceeded = h.collect(h.topology.subjects["budget.exceeded"]);
    await publish(completion("acme-1", 0.009, { tenant: "acme" }));
    await publish(completion("beta-1", 0.001, { tenant: "beta" }));
    const s = await waitFor(() => soft.json<BudgetState>().find((e) => e.scope === "tenant:acme"), { what: "budget.soft_limit for acme" });
    expect(s).toMatchObject({ window: "day", windowStart: "2026-04-02T00:00:00.000Z", state: "soft", limitUsd: 0.01 });
    expect(s.spentUsd).toBeCloseTo(0.009, 9);
    await waitFor(() => selector.budget({ tenant: "acme" }).state === "soft", { what: "the selector to see acme soft" });
    expect(selector.budget({ tenant: "acme" })).toMatchObject({ state: "soft", scope: "tenant:acme" });
    expect(selector.budget({ tenant: "beta" }).state).toBe("ok");

    await publish(completion("acme-2", 0.002, { tenant: "acme" }));
    await waitFor(() => exceeded.json<BudgetState>().find((e) => e.scope === "tenant:acme"), { what: "budget.exceeded for acme" });
    await waitFor(() => selector.budget({ tenant: "acme" }).state === "exceeded", { what: "the selector to see acme exceeded" });
    expect((await stateOf("tenant:beta", "day"))?.state).toBe("ok");
    expect((await stateOf("global", "month"))?.state).toBe("ok");
    expect(exceeded.json<BudgetState>().filter((e) => e.scope === "tenant:acme")).toHaveLength(1);
    soft.stop();
    exceeded.stop();
  });

  it("gives a tenant with its own limit that limit instead of every tenant's, charged once", async () => {
    const exceeded = h.collect(h.topology.subjects["budget.exceeded"]);
    await publish(completion("gamma-1", 0.02, { tenant: "gamma" }));
    const spent = await waitFor(async () => {
      const r = await h.query<{ spent_usd: string }>("SELECT spent_usd FROM budget_spend WHERE scope = 'tenant:gamma' AND \"window\" = 'day'");
      return r.length === 1 ? r[0]!.spent_usd : undefined;
    }, { what: "gamma's spend" });
    expect(spent).toBe("0.020000000");
    await new Promise((r) => setTimeout(r, 300));
    // Past every tenant's $0.01, within gamma's own $1: ok, and only one state under the key.
    expect(await stateOf("tenant:gamma", "day")).toMatchObject({ state: "ok", limitUsd: 1 });
    expect(selector.budget({ tenant: "gamma" }).state).toBe("ok");
    // Never judged against every tenant's limit too (that flipped the state at each evaluation).
    expect(exceeded.json<BudgetState>().filter((e) => e.scope === "tenant:gamma")).toEqual([]);
    exceeded.stop();
  });

  it("limits a run on its own: its tasks see the run's state, the tenant's other tasks do not", async () => {
    await publish(completion("run-1", 0.0015, { tenant: "beta", runId: "agent-42" }));
    await waitFor(async () => (await stateOf("run:agent-42", "hour"))?.state === "soft", { what: "run agent-42 soft" });
    await publish(completion("run-2", 0.001, { tenant: "beta", runId: "agent-42" }));
    await waitFor(() => selector.budget({ tenant: "beta", runId: "agent-42" }).state === "exceeded", { what: "the selector to see the run exceeded" });
    expect(selector.budget({ tenant: "beta", runId: "agent-42" }).scope).toBe("run:agent-42");
    expect(selector.budget({ tenant: "beta" }).state).toBe("ok");
    expect(selector.budget({ tenant: "beta", runId: "agent-7" }).state).toBe("ok");
    const [spend] = await h.query<{ spent_usd: string }>("SELECT spent_usd FROM budget_spend WHERE scope = 'run:agent-42' AND \"window\" = 'hour'");
    expect(spend?.spent_usd).toBe("0.002500000");
  });
});
