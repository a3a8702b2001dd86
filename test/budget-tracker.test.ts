/**
 * The ledger's budget states under faults of the NATS parts it writes through: a counter that
 * cannot be read, and an event that cannot be published. The faults are injected around the real
 * KV bucket and JetStream client (the calls that fail never reach the server); everything else
 * runs against real NATS and Postgres.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { jetstream, type JetStreamClient } from "@nats-io/jetstream";
import { BudgetRule, budgetCounterKey, budgetStateKey, budgetsFor, reserveBudget, settleBudget, windowStart, type BudgetState } from "@llm-router/shared";
import { completedTask } from "./support/completions.js";
import { createHarness, waitFor, type Harness } from "./support/harness.js";

const AT = new Date("2026-07-07T12:00:00.000Z");
const LIMIT = 0.01;

describe("budget states when a counter read or an event publish fails", () => {
  let h: Harness;
  /** Counter keys whose reads fail, and how many reads failed. */
  const failingReads = new Set<string>();
  let failedReads = 0;
  /** Subjects whose publishes fail. */
  const failingPublishes = new Set<string>();
  let failedPublishes = 0;

  beforeAll(async () => {
    h = await createHarness({ config: { budgets: [{ scope: "global", window: "day", limitUsd: LIMIT }, { scope: "tenant", window: "day", limitUsd: LIMIT }] } });
    const kv = new Proxy(h.budgetKv, {
      get(target, prop, receiver) {
        if (prop === "get") {
          return async (key: string) => {
            if (failingReads.has(key)) {
              failedReads++;
              throw new Error(`injected: KV get ${key} timed out`);
            }
            return target.get(key);
          };
        }
        const value = Reflect.get(target, prop, receiver) as unknown;
        return typeof value === "function" ? (value as (...args: unknown[]) => unknown).bind(target) : value;
      },
    });
    const js = new Proxy(h.js, {
      get(target, prop, receiver) {
        if (prop === "publish") {
          return async (subject: string, ...rest: Parameters<JetStreamClient["publish"]> extends [string, ...infer R] ? R : never) => {
            if (failingPublishes.has(subject)) {
              failedPublishes++;
              throw new Error(`injected: publish on ${subject} timed out`);
            }
            return target.publish(subject, ...rest);
          };
        }
        const value = Reflect.get(target, prop, receiver) as unknown;
        return typeof value === "function" ? (value as (...args: unknown[]) => unknown).bind(target) : value;
      },
    });
    await h.startLedger({ now: () => AT, budgetCheckMs: 50, budgetKv: kv, js });
  });
  afterAll(async () => {
    await h?.close();
  });

  const stateOf = async (scope: string): Promise<BudgetState["state"] | undefined> => (await h.budgetKv.get(budgetStateKey(scope, "day")))?.json<BudgetState>().state;

  it("keeps an exceeded state while the counter that exhausted it cannot be read", async () => {
    const soft = h.collect(h.topology.subjects["budget.soft_limit"]);
    const restored = h.collect(h.topology.subjects["budget.restored"]);
    // An executor's refusal exhausts the global budget before the ledger records any spend: 0.6
    // of it settled, another 0.6 refused.
    const global = budgetsFor([BudgetRule.parse({ scope: "global", window: "day", limitUsd: LIMIT })], { tenant: "t" });
    const granted = await reserveBudget(h.budgetKv, global, 0.6 * LIMIT, AT);
    if (!granted.ok) throw new Error("the first reservation should fit");
    await settleBudget(h.budgetKv, granted.reservation, 0.6 * LIMIT);
    const refused = await reserveBudget(h.budgetKv, global, 0.6 * LIMIT, AT);
    expect(refused.ok).toBe(false);
    await waitFor(async () => (await stateOf("global")) === "exceeded" || undefined, { what: "global exceeded" });

    failingReads.add(budgetCounterKey("global", "day", windowStart("day", AT)));
    const before = failedReads;
    // Each evaluation reads the counter once and evaluations run one after another: by the
    // third failed read, two whole evaluations ran without it.
    await waitFor(() => failedReads >= before + 3 || undefined, { what: "three evaluations with the counter unreadable" });
    expect(await stateOf("global")).toBe("exceeded");
    expect(soft.json()).toEqual([]);
    expect(restored.json()).toEqual([]);
    failingReads.clear();
    soft.stop();
    restored.stop();
  });

  it("announces a change whose event could not be published, once it can", async () => {
    const exceeded = h.collect(h.topology.subjects["budget.exceeded"]);
    failingPublishes.add(h.topology.subjects["budget.exceeded"]);
    await jetstream(h.nc).publish(h.topology.subjects["task.completed"], JSON.stringify(completedTask("bt-1", 2 * LIMIT, AT, { tenant: "bt" })), { msgID: "bt-1" });
    await waitFor(() => failedPublishes >= 2 || undefined, { what: "two failed attempts to announce tenant:bt exceeded" });
    expect(exceeded.json()).toEqual([]);
    failingPublishes.clear();
    const event = await waitFor(() => exceeded.json<BudgetState>().find((e) => e.scope === "tenant:bt"), { what: "budget.exceeded for tenant:bt" });
    expect(event).toMatchObject({ state: "exceeded", limitUsd: LIMIT, spentUsd: 2 * LIMIT });
    expect(await stateOf("tenant:bt")).toBe("exceeded");
    exceeded.stop();
  });
});

describe("a budget exceeded again in the next window", () => {
  const DAY1 = new Date("2026-03-10T23:59:00.000Z");
  const DAY2 = new Date("2026-03-11T00:00:30.000Z");
  let h: Harness;
  let now = DAY1;

  beforeAll(async () => {
    h = await createHarness({ config: { budgets: [{ scope: "global", window: "day", limitUsd: LIMIT }] } });
    // Evaluated only after each recorded batch, so the test decides which window an evaluation sees.
    await h.startLedger({ now: () => now, budgetCheckMs: 3_600_000 });
  });
  afterAll(async () => {
    await h?.close();
  });

  const state = async (): Promise<BudgetState | undefined> => (await h.budgetKv.get(budgetStateKey("global", "day")))?.json<BudgetState>();
  const record = (id: string, costUsd: number, at: Date) => jetstream(h.nc).publish(h.topology.subjects["task.completed"], JSON.stringify(completedTask(id, costUsd, at)), { msgID: id });

  it("writes the new window's exceeded state and announces it, though the state's name did not change", async () => {
    const exceeded = h.collect(h.topology.subjects["budget.exceeded"]);
    await record("nw-1", 2 * LIMIT, DAY1);
    await waitFor(async () => (await state())?.state === "exceeded" || undefined, { what: "day 1 exceeded" });
    // Day 2's budget is spent before any evaluation sees day 2 (a burst right after midnight).
    await record("nw-2", 2 * LIMIT, DAY2);
    await waitFor(async () => (await h.query("SELECT 1 FROM tasks WHERE task_id = 'nw-2'")).length === 1 || undefined, { what: "day 2's spend recorded" });
    now = DAY2;
    await record("nw-3", 0.000001, DAY2);
    const current = await waitFor(async () => {
      const s = await state();
      return s?.windowStart === "2026-03-11T00:00:00.000Z" ? s : undefined;
    }, { what: "day 2's state in the bucket the selectors read" });
    expect(current).toMatchObject({ state: "exceeded", spentUsd: 2 * LIMIT + 0.000001 });
    const events = await waitFor(() => (exceeded.json<BudgetState>().length === 2 ? exceeded.json<BudgetState>() : undefined), { what: "budget.exceeded for day 2" });
    expect(events.map((e) => e.windowStart)).toEqual(["2026-03-10T00:00:00.000Z", "2026-03-11T00:00:00.000Z"]);
    exceeded.stop();
  });
});
