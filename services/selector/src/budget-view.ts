/**
 * The selector's view of the budget: read from the KV bucket at start and kept current by a
 * watch, so a selector started while the budget is exceeded routes local from its first task
 * and every replica sees a change within the watch's latency.
 */
import type { KV } from "@nats-io/kv";
import { BudgetState, watchKvKey, type BudgetSnapshot, type Logger } from "@llm-router/shared";

export const GLOBAL_BUDGET_KEY = "global";

export interface BudgetView {
  snapshot(): BudgetSnapshot;
  stop(): Promise<void>;
}

export async function createBudgetView(kv: KV, log: Logger, onChange?: (s: BudgetSnapshot) => void): Promise<BudgetView> {
  const view = await watchKvKey<BudgetSnapshot>({
    kv,
    key: GLOBAL_BUDGET_KEY,
    log,
    what: "budget state",
    empty: (revision) => ({ state: "ok", revision }),
    parse: (value, revision) => {
      const parsed = BudgetState.safeParse(value);
      return parsed.success ? { state: parsed.data.state, revision } : undefined;
    },
    onChange: (s) => {
      log.info({ budget: s }, "budget state");
      onChange?.(s);
    },
  });
  return { snapshot: () => view.current(), stop: () => view.stop() };
}
