/**
 * The selector's view of the budget: read from the KV bucket at start and kept current by a
 * watch, so a selector started while the budget is exceeded routes local from its first task
 * and every replica sees a change within the watch's latency.
 */
import { KvWatchInclude, type KV, type KvEntry } from "@nats-io/kv";
import { BudgetState, type BudgetSnapshot, type Logger } from "@llm-router/shared";

export const GLOBAL_BUDGET_KEY = "global";

export interface BudgetView {
  snapshot(): BudgetSnapshot;
  stop(): Promise<void>;
}

export async function createBudgetView(kv: KV, log: Logger, onChange?: (s: BudgetSnapshot) => void): Promise<BudgetView> {
  let current: BudgetSnapshot = { state: "ok", revision: 0 };
  const apply = (entry: KvEntry | null): void => {
    if (!entry || entry.revision <= current.revision) return;
    if (entry.operation !== "PUT") {
      current = { state: "ok", revision: entry.revision };
    } else {
      const parsed = BudgetState.safeParse(entry.json());
      if (!parsed.success) {
        log.error({ key: entry.key, revision: entry.revision }, "ignoring an invalid budget state in KV");
        return;
      }
      current = { state: parsed.data.state, revision: entry.revision };
    }
    log.info({ budget: current }, "budget state");
    onChange?.(current);
  };
  // Watch first, then read: an update landing between the two is not missed.
  const watcher = await kv.watch({ key: GLOBAL_BUDGET_KEY, include: KvWatchInclude.UpdatesOnly });
  apply(await kv.get(GLOBAL_BUDGET_KEY));
  const loop = (async () => {
    for await (const entry of watcher) apply(entry);
  })();
  return {
    snapshot: () => current,
    async stop() {
      watcher.stop();
      await loop.catch((err: unknown) => log.error({ err }, "budget watch ended with an error"));
    },
  };
}
