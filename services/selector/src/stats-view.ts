/**
 * The selector's view of the outcome statistics the ledger publishes to KV (`STATS_KV_KEY`):
 * read at start, then kept current by a watch, so every replica routes on the same snapshot
 * within the watch's latency. An invalid value is logged and ignored (the last good one stays).
 */
import { KvWatchInclude, type KV, type KvEntry } from "@nats-io/kv";
import { EMPTY_STATS, STATS_KV_KEY, StatsSnapshotSchema, type Logger, type StatsSnapshot } from "@llm-router/shared";

export interface StatsView {
  snapshot(): StatsSnapshot;
  stop(): Promise<void>;
}

export async function createStatsView(kv: KV, log: Logger): Promise<StatsView> {
  let current: StatsSnapshot = EMPTY_STATS;
  let revision = 0;
  const apply = (entry: KvEntry | null): void => {
    if (!entry || entry.revision <= revision) return;
    revision = entry.revision;
    if (entry.operation !== "PUT") {
      current = EMPTY_STATS;
      return;
    }
    const parsed = StatsSnapshotSchema.safeParse(entry.json());
    if (!parsed.success) {
      log.error({ key: entry.key, revision: entry.revision }, "ignoring invalid outcome statistics in KV");
      return;
    }
    current = parsed.data;
    log.debug({ statsId: current.id, buckets: Object.keys(current.buckets).length }, "outcome statistics updated");
  };
  // Watch first, then read: an update landing between the two is not missed.
  const watcher = await kv.watch({ key: STATS_KV_KEY, include: KvWatchInclude.UpdatesOnly });
  apply(await kv.get(STATS_KV_KEY));
  const loop = (async () => {
    for await (const entry of watcher) apply(entry);
  })();
  return {
    snapshot: () => current,
    async stop() {
      watcher.stop();
      await loop.catch((err: unknown) => log.error({ err }, "statistics watch ended with an error"));
    },
  };
}
