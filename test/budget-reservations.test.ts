/**
 * Budget reservations on a real NATS KV bucket: compare-and-set holds a hard limit however many
 * reservations race, from however many connections (replicas).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Kvm, type KV } from "@nats-io/kv";
import { BudgetRule, budgetCounterKey, budgetsFor, connectNats, createLogger, exhaustedFor, pruneSpendCounters, readBudgetCounter, reserveBudget, settleBudget, windowStart } from "@llm-router/shared";
import type { NatsConnection } from "@nats-io/transport-node";
import { createHarness, type Harness } from "./support/harness.js";

const AT = new Date("2026-05-05T12:00:00.000Z");

describe("budget reservations", () => {
  let h: Harness;
  let other: NatsConnection;
  let otherKv: KV;

  beforeAll(async () => {
    h = await createHarness();
    other = (await connectNats({ url: h.natsUrl, name: "replica-2", log: createLogger({ service: "test", level: "error" }) })).nc;
    otherKv = await new Kvm(other).open(h.topology.budgetBucket);
  });
  afterAll(async () => {
    await other?.close();
    await h?.close();
  });

  it("lets exactly as many reservations through as the limit covers when 64 race from two replicas", async () => {
    const budgets = budgetsFor([BudgetRule.parse({ scope: "tenant", window: "day", limitUsd: 10 })], { tenant: "race" });
    const outcomes = await Promise.all(Array.from({ length: 64 }, (_, i) => reserveBudget(i % 2 === 0 ? h.budgetKv : otherKv, budgets, 1, AT)));
    const granted = outcomes.filter((o) => o.ok);
    expect(granted).toHaveLength(10);
    const refused = outcomes.find((o) => !o.ok);
    expect(refused).toMatchObject({ ok: false, scope: "tenant:race", limitUsd: 10 });
    // A refusal marks the window spent for calls of its estimate at this limit; the reservations
    // in flight are not spend yet, so the ledger does not report it exceeded for them.
    const marked = await readBudgetCounter(h.budgetKv, "tenant:race", "day", AT);
    expect(marked).toEqual({ settledUsd: 0, reservedUsd: 10, exhaustedAtLimitUsd: 10, exhaustedNeedUsd: 1 });
    expect(exhaustedFor(marked, 10)).toBe(false);

    // Calls cost less than their estimates: settling frees the difference for others.
    for (const o of granted) if (o.ok) await settleBudget(h.budgetKv, o.reservation, 0.25);
    expect(await readBudgetCounter(h.budgetKv, "tenant:race", "day", AT)).toMatchObject({ settledUsd: 2.5, reservedUsd: 0 });
    const more = await Promise.all(Array.from({ length: 16 }, () => reserveBudget(otherKv, budgets, 1, AT)));
    expect(more.filter((o) => o.ok)).toHaveLength(7);
  });

  it("marks the window spent while what settled spend leaves does not cover the smallest refused estimate", async () => {
    const budgets = budgetsFor([BudgetRule.parse({ scope: "tenant", window: "day", limitUsd: 10 })], { tenant: "mark" });
    const read = () => readBudgetCounter(h.budgetKv, "tenant:mark", "day", AT);
    const first = await reserveBudget(h.budgetKv, budgets, 8, AT);
    expect(first.ok).toBe(true);
    expect((await reserveBudget(h.budgetKv, budgets, 5, AT)).ok).toBe(false);
    expect((await reserveBudget(h.budgetKv, budgets, 3, AT)).ok).toBe(false);
    // The smallest refusal is kept: 3.
    expect(await read()).toMatchObject({ exhaustedAtLimitUsd: 10, exhaustedNeedUsd: 3 });
    if (first.ok) await settleBudget(h.budgetKv, first.reservation, 7.5);
    // 2.5 left covers no 3: spent for paid calls at this limit, not at a raised one.
    expect(exhaustedFor(await read(), 10)).toBe(true);
    expect(exhaustedFor(await read(), 11)).toBe(false);
    // Settled at 7.5 of an 8 estimate; had it settled at 6, 4 left would cover the 3.
    expect(exhaustedFor({ ...(await read()), settledUsd: 6 }, 10)).toBe(false);
  });

  it("reserves on every budget of a task or on none, and starts a new window from zero", async () => {
    const rules = [BudgetRule.parse({ scope: "global", window: "hour", limitUsd: 100 }), BudgetRule.parse({ scope: "run", window: "hour", limitUsd: 1 })];
    const budgets = budgetsFor(rules, { tenant: "t", runId: "r-1" });
    expect((await reserveBudget(h.budgetKv, budgets, 0.6, AT)).ok).toBe(true);
    const refused = await reserveBudget(h.budgetKv, budgets, 0.6, AT);
    expect(refused).toMatchObject({ ok: false, scope: "run:r-1", committedUsd: 0.6 });
    // The refusal released what it had reserved on the global budget.
    expect(await readBudgetCounter(h.budgetKv, "global", "hour", AT)).toEqual({ settledUsd: 0, reservedUsd: 0.6 });
    expect(await readBudgetCounter(h.budgetKv, "run:r-1", "hour", AT)).toMatchObject({ exhaustedAtLimitUsd: 1, exhaustedNeedUsd: 0.6 });
    const nextHour = new Date(AT.getTime() + 3600_000);
    expect((await reserveBudget(h.budgetKv, budgets, 0.6, nextHour)).ok).toBe(true);
  });

  it("releases what it reserved when a later budget's counter cannot be reached, and settles every counter it can", async () => {
    const at = new Date(AT.getTime() + 5 * 3600_000);
    const rules = [BudgetRule.parse({ scope: "global", window: "hour", limitUsd: 100 }), BudgetRule.parse({ scope: "run", window: "hour", limitUsd: 1 })];
    const budgets = budgetsFor(rules, { tenant: "t", runId: "r-unreachable" });
    // The real bucket, with reads of the run's counter failing (a timeout, a lost connection).
    const unreachable = budgetCounterKey("run:r-unreachable", "hour", windowStart("hour", at));
    const failing = new Proxy(h.budgetKv, {
      get(target, prop) {
        const value = Reflect.get(target, prop) as unknown;
        if (prop === "get") return (key: string) => (key === unreachable ? Promise.reject(new Error("TIMEOUT")) : target.get(key));
        return typeof value === "function" ? (value as (...a: unknown[]) => unknown).bind(target) : value;
      },
    });
    await expect(reserveBudget(failing, budgets, 0.5, at)).rejects.toThrow("TIMEOUT");
    // The global hold it took first is released, not left reserved until the window ends.
    expect(await readBudgetCounter(h.budgetKv, "global", "hour", at)).toEqual({ settledUsd: 0, reservedUsd: 0 });

    // Settling goes on past a counter it cannot reach, then reports the failure.
    const granted = await reserveBudget(h.budgetKv, budgets, 0.5, at);
    if (!granted.ok) throw new Error("expected a reservation");
    await expect(settleBudget(failing, { holds: [...granted.reservation.holds].reverse() }, 0.2)).rejects.toThrow("TIMEOUT");
    expect(await readBudgetCounter(h.budgetKv, "global", "hour", at)).toEqual({ settledUsd: 0.2, reservedUsd: 0 });
  });

  it("purges the counters of windows that ended over an hour ago, and keeps the rest", async () => {
    const rules = ["hour", "day", "month"].map((window) => BudgetRule.parse({ scope: "tenant", window, limitUsd: 100 }));
    const budgets = budgetsFor(rules, { tenant: "sweep" });
    const HOUR = 3600_000;
    // Yesterday, three hours ago, half an hour ago (AT is 12:00 UTC).
    for (const at of [new Date(AT.getTime() - 24 * HOUR), new Date(AT.getTime() - 3 * HOUR), new Date(AT.getTime() - HOUR / 2)]) {
      expect((await reserveBudget(h.budgetKv, budgets, 0.1, at)).ok).toBe(true);
    }
    const key = (window: "hour" | "day" | "month", at: Date) => budgetCounterKey("tenant:sweep", window, windowStart(window, at));
    const live = async (k: string) => (await h.budgetKv.get(k))?.operation === "PUT";

    await pruneSpendCounters(h.budgetKv, AT);
    // Ended over an hour ago: yesterday's hour and day, the 09:00 hour.
    for (const k of [key("hour", new Date(AT.getTime() - 24 * HOUR)), key("day", new Date(AT.getTime() - 24 * HOUR)), key("hour", new Date(AT.getTime() - 3 * HOUR))]) expect(await live(k), k).toBe(false);
    // Still running, or ended within the hour (a late settle may still come): today, this month, 11:00.
    for (const k of [key("day", AT), key("month", AT), key("hour", new Date(AT.getTime() - HOUR / 2))]) expect(await live(k), k).toBe(true);
    expect(await readBudgetCounter(h.budgetKv, "tenant:sweep", "day", AT)).toMatchObject({ reservedUsd: 0.2 });
  });
});
