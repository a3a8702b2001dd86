/**
 * The selector's view of the budgets: every scope's state (`state.<scope>.<window>` keys the
 * ledger writes) read from the KV bucket at start and kept current by one watch, so a selector
 * started while a budget is exceeded routes accordingly from its first task, and every replica
 * sees a change within the watch's latency. A task's snapshot is the tightest state among the
 * budgets that apply to it (global, its tenant, its run).
 */
import type { KV } from "@nats-io/kv";
import {
  BUDGET_STATE_KEYS,
  BudgetState,
  budgetStateKey,
  budgetsFor,
  stateApplies,
  tighter,
  watchKvKeys,
  type BudgetRule,
  type BudgetSnapshot,
  type Logger,
  type Task,
} from "@llm-router/shared";

export interface BudgetView {
  /**
   * The tightest state among the budgets that apply to `task`; without one, among all budgets.
   * Only states that still apply count (`stateApplies`): one left by a removed rule, or from a
   * window that has ended (the ledger down across the rollover), routes nothing.
   */
  snapshot(task?: Pick<Task, "tenant" | "runId">): BudgetSnapshot;
  stop(): Promise<void>;
}

export async function createBudgetView(kv: KV, log: Logger, rules: readonly BudgetRule[], now: () => Date): Promise<BudgetView> {
  const view = await watchKvKeys<BudgetState>({
    kv,
    filter: BUDGET_STATE_KEYS,
    log,
    what: "budget state",
    parse: (value) => BudgetState.safeParse(value).data,
    onChange: (s) => log.info({ scope: s.scope, window: s.window, state: s.state, spentUsd: s.spentUsd, limitUsd: s.limitUsd }, "budget state"),
  });

  const snapshot = (task?: Pick<Task, "tenant" | "runId">): BudgetSnapshot => {
    const states = view.current();
    const keys = task ? budgetsFor(rules, task).map(({ rule, scope }) => budgetStateKey(scope, rule.window)) : [...states.keys()];
    const at = now();
    let result: BudgetSnapshot = { state: "ok", revision: 0 };
    for (const key of keys) {
      const entry = states.get(key);
      if (!entry || !stateApplies(rules, entry.value, at)) continue;
      const { state, scope } = entry.value;
      // Tighter wins; among equals the newest, so the revision names what the decision saw.
      if (tighter(result.state, state) !== result.state || (state === result.state && entry.revision > result.revision)) {
        result = state === "ok" ? { state, revision: entry.revision } : { state, scope, revision: entry.revision };
      }
    }
    return result;
  };
  return { snapshot, stop: () => view.stop() };
}
