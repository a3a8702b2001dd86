/**
 * Budgets by scope and window: which apply to a task, how their state and counters are keyed in
 * the KV bucket, and the UTC calendar windows they reset on. Shared by the ledger (spend and
 * state), the selector (the ladder) and the executor (reservations).
 */
import type { BudgetConfig, BudgetRule, RouterConfig } from "./config.js";
import type { BudgetStateName, BudgetWindow } from "./vocab.js";

/** Start of the UTC calendar window containing `at`. */
export function windowStart(window: BudgetWindow, at: Date): Date {
  const y = at.getUTCFullYear();
  const m = at.getUTCMonth();
  const d = at.getUTCDate();
  switch (window) {
    case "hour":
      return new Date(Date.UTC(y, m, d, at.getUTCHours()));
    case "day":
      return new Date(Date.UTC(y, m, d));
    case "month":
      return new Date(Date.UTC(y, m, 1));
  }
}

/** The first instant after the UTC calendar window that starts at `start`. */
export function windowEnd(window: BudgetWindow, start: Date): Date {
  switch (window) {
    case "hour":
      return new Date(start.getTime() + 3_600_000);
    case "day":
      return new Date(start.getTime() + 86_400_000);
    case "month":
      return new Date(Date.UTC(start.getUTCFullYear(), start.getUTCMonth() + 1, 1));
  }
}

/** Every configured budget: `budgets`, plus the legacy single `budget` as a global one. */
export function budgetRules(config: Pick<RouterConfig, "budget" | "budgets">): BudgetRule[] {
  const legacy: BudgetConfig | undefined = config.budget;
  return [...config.budgets, ...(legacy ? [{ ...legacy, scope: "global" as const }] : [])];
}

/** The scope a rule charges for a task (`global`, `tenant:<t>`, `run:<id>`), or undefined when it does not apply. */
export function scopeFor(rule: Pick<BudgetRule, "scope">, task: { tenant: string; runId?: string | undefined }): string | undefined {
  switch (rule.scope) {
    case "global":
      return "global";
    case "tenant":
      return `tenant:${task.tenant}`;
    case "run":
      return task.runId === undefined ? undefined : `run:${task.runId}`;
    default:
      return rule.scope === `tenant:${task.tenant}` ? rule.scope : undefined;
  }
}

export interface AppliedBudget {
  rule: BudgetRule;
  scope: string;
}

/**
 * Whether a tenant's own rule (`tenant:acme`) replaces the every-tenant rule (`tenant`) for this
 * scope and window: "one tenant's own limit", not a second limit on the same spend (two rules on
 * one scope and window would charge one counter twice and publish two states under one key).
 */
export function overridden(rule: Pick<BudgetRule, "scope" | "window">, scope: string, rules: readonly Pick<BudgetRule, "scope" | "window">[]): boolean {
  return rule.scope === "tenant" && rules.some((other) => other.scope === scope && other.window === rule.window);
}

/**
 * The configured rule a published state belongs to: the one whose scope and window write its
 * key (`tenant` for `tenant:<t>` unless that tenant has a rule of its own for the window).
 * Undefined for a state no configured rule writes any more: its rule was removed or its window
 * changed.
 */
export function ruleOf<R extends Pick<BudgetRule, "scope" | "window">>(rules: readonly R[], state: { scope: string; window: BudgetWindow }): R | undefined {
  return rules.find(
    (rule) =>
      rule.window === state.window &&
      (rule.scope === state.scope || ((rule.scope === "tenant" || rule.scope === "run") && state.scope.startsWith(`${rule.scope}:`) && !overridden(rule, state.scope, rules))),
  );
}

/**
 * Whether a published state still speaks for its scope at `at`: a configured rule writes it and
 * its window has not ended. A state the ledger left behind — a removed rule's, or one from before
 * a window rolled over while the ledger was down — does not.
 */
export function stateApplies(rules: readonly Pick<BudgetRule, "scope" | "window">[], state: { scope: string; window: BudgetWindow; windowStart: string }, at: Date): boolean {
  return ruleOf(rules, state) !== undefined && Date.parse(state.windowStart) >= windowStart(state.window, at).getTime();
}

/** The budgets that apply to a task, each with the scope it charges. */
export function budgetsFor(rules: readonly BudgetRule[], task: { tenant: string; runId?: string | undefined }): AppliedBudget[] {
  return rules.flatMap((rule) => {
    const scope = scopeFor(rule, task);
    return scope === undefined || overridden(rule, scope, rules) ? [] : [{ rule, scope }];
  });
}

/** KV keys allow `-/_=.a-zA-Z0-9`; scopes hold tenant names and run ids: base64url. */
function keyToken(scope: string): string {
  return Buffer.from(scope, "utf8").toString("base64url");
}

/** KV key of a scope's published state for a window kind: `state.<scope>.<window>`. */
export function budgetStateKey(scope: string, window: BudgetWindow): string {
  return `state.${keyToken(scope)}.${window}`;
}

/** Every state key, for watches. */
export const BUDGET_STATE_KEYS = "state.>";

/** KV key of a scope's reservation counter for one window: `spend.<scope>.<window>.<start, epoch s>`. */
export function budgetCounterKey(scope: string, window: BudgetWindow, start: Date): string {
  return `spend.${keyToken(scope)}.${window}.${Math.floor(start.getTime() / 1000)}`;
}

const SEVERITY: Record<BudgetStateName, number> = { ok: 0, soft: 1, exceeded: 2 };

/** The state of a spend against a limit on the ladder. */
export function ladderState(spentUsd: number, rule: Pick<BudgetRule, "limitUsd" | "softRatio">): BudgetStateName {
  if (spentUsd >= rule.limitUsd) return "exceeded";
  return spentUsd >= rule.limitUsd * rule.softRatio ? "soft" : "ok";
}

/** The tightest of several states (exceeded over soft over ok). */
export function tighter(a: BudgetStateName, b: BudgetStateName): BudgetStateName {
  return SEVERITY[b] > SEVERITY[a] ? b : a;
}
