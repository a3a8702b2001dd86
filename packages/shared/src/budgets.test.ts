import { describe, expect, it } from "vitest";
import { budgetCounterKey, budgetRules, budgetStateKey, budgetsFor, ladderState, ruleOf, scopeFor, stateApplies, tighter, windowStart } from "./budgets.js";
import { BudgetRule } from "./config.js";

const rule = (fields: Record<string, unknown>): BudgetRule => BudgetRule.parse({ limitUsd: 10, ...fields });

describe("budgets", () => {
  it("starts windows on UTC calendar boundaries", () => {
    const at = new Date("2026-03-10T23:59:59.999Z");
    expect(windowStart("hour", at).toISOString()).toBe("2026-03-10T23:00:00.000Z");
    expect(windowStart("day", at).toISOString()).toBe("2026-03-10T00:00:00.000Z");
    expect(windowStart("month", at).toISOString()).toBe("2026-03-01T00:00:00.000Z");
  });

  it("charges each task to its scopes: global, its tenant, a named tenant only for that tenant, its run only when it has one", () => {
    const task = { tenant: "acme", runId: "r:1" };
    expect(scopeFor(rule({ scope: "global" }), task)).toBe("global");
    expect(scopeFor(rule({ scope: "tenant" }), task)).toBe("tenant:acme");
    expect(scopeFor(rule({ scope: "tenant:acme" }), task)).toBe("tenant:acme");
    expect(scopeFor(rule({ scope: "tenant:beta" }), task)).toBeUndefined();
    expect(scopeFor(rule({ scope: "run" }), task)).toBe("run:r:1");
    expect(scopeFor(rule({ scope: "run" }), { tenant: "acme" })).toBeUndefined();
    const rules = [rule({ scope: "global" }), rule({ scope: "run" }), rule({ scope: "tenant:beta" })];
    expect(budgetsFor(rules, task).map((b) => b.scope)).toEqual(["global", "run:r:1"]);
  });

  it("lets a tenant's own rule replace every tenant's rule of the same window, and only that window", () => {
    const rules = [rule({ scope: "tenant", window: "day" }), rule({ scope: "tenant", window: "month" }), rule({ scope: "tenant:acme", window: "day", limitUsd: 100 })];
    const applied = budgetsFor(rules, { tenant: "acme" }).map((b) => `${b.rule.scope}/${b.rule.window} → ${b.scope}`);
    expect(applied).toEqual(["tenant/month → tenant:acme", "tenant:acme/day → tenant:acme"]);
    expect(budgetsFor(rules, { tenant: "beta" })).toHaveLength(2);
  });

  it("finds the rule that writes a state, and none for a state whose rule is gone", () => {
    const rules = [rule({ scope: "global", window: "month" }), rule({ scope: "tenant", window: "day" }), rule({ scope: "tenant:acme", window: "day", limitUsd: 100 }), rule({ scope: "run", window: "hour" })];
    expect(ruleOf(rules, { scope: "global", window: "month" })).toBe(rules[0]);
    expect(ruleOf(rules, { scope: "tenant:beta", window: "day" })).toBe(rules[1]);
    expect(ruleOf(rules, { scope: "tenant:acme", window: "day" })).toBe(rules[2]);
    expect(ruleOf(rules, { scope: "run:r-1", window: "hour" })).toBe(rules[3]);
    // Windows and scopes no rule has: a global day, a run's day, a tenant's month.
    for (const state of [{ scope: "global", window: "day" }, { scope: "run:r-1", window: "day" }, { scope: "tenant:beta", window: "month" }] as const) {
      expect(ruleOf(rules, state), JSON.stringify(state)).toBeUndefined();
    }
  });

  it("applies a state only in its own window and while a rule writes it", () => {
    const rules = [rule({ scope: "tenant", window: "day" })];
    const at = new Date("2026-03-10T12:00:00.000Z");
    expect(stateApplies(rules, { scope: "tenant:acme", window: "day", windowStart: "2026-03-10T00:00:00.000Z" }, at)).toBe(true);
    expect(stateApplies(rules, { scope: "tenant:acme", window: "day", windowStart: "2026-03-09T00:00:00.000Z" }, at)).toBe(false);
    expect(stateApplies([], { scope: "tenant:acme", window: "day", windowStart: "2026-03-10T00:00:00.000Z" }, at)).toBe(false);
  });

  it("rejects an unknown scope with a message naming the forms", () => {
    expect(() => rule({ scope: "team:x" })).toThrow(/scope must be global, tenant, tenant:<name> or run/);
  });

  it("adds the legacy single budget as a global one", () => {
    const legacy = { limitUsd: 5, window: "day" as const, softRatio: 0.8 };
    expect(budgetRules({ budget: legacy, budgets: [] })).toEqual([{ ...legacy, scope: "global" }]);
    expect(budgetRules({ budget: undefined, budgets: [] })).toEqual([]);
  });

  it("keys states and counters with KV-safe tokens, whatever the tenant name or run id holds", () => {
    expect(budgetStateKey("tenant:acme corp@eu", "day")).toMatch(/^state\.[A-Za-z0-9_-]+\.day$/);
    expect(budgetStateKey("tenant:a", "day")).not.toBe(budgetStateKey("tenant:b", "day"));
    expect(budgetCounterKey("run:x", "hour", new Date("2026-03-10T10:00:00.000Z"))).toMatch(/^spend\.[A-Za-z0-9_-]+\.hour\.1773136800$/);
  });

  it("steps down the ladder at the soft ratio and at the limit", () => {
    const r = rule({ scope: "global", softRatio: 0.8 });
    expect(ladderState(7.99, r)).toBe("ok");
    expect(ladderState(8, r)).toBe("soft");
    expect(ladderState(10, r)).toBe("exceeded");
    expect(tighter("soft", "ok")).toBe("soft");
    expect(tighter("soft", "exceeded")).toBe("exceeded");
    expect(tighter("ok", "ok")).toBe("ok");
  });
});
