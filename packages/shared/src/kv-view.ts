/**
 * One KV key, read at start and kept current by a watch: how every replica sees state another
 * service publishes (budget state, outcome statistics, model health) within the watch's latency.
 * Watch first, then read, so an update landing between the two is not missed; entries older
 * than the one applied are ignored; an invalid value is logged and the last good one stays.
 */
import { KvWatchInclude, type KV, type KvEntry } from "@nats-io/kv";
import type { Logger } from "./logger.js";

export interface KvKeyView<T> {
  /** The value of the newest entry applied (the initial value until one is). */
  current(): T;
  /** The KV revision of that entry; 0 before any. */
  revision(): number;
  stop(): Promise<void>;
}

export interface KvKeyViewOptions<T> {
  kv: KV;
  key: string;
  log: Logger;
  /** What the key holds, for log lines ("budget state"). */
  what: string;
  /** The value before any entry, and after the key is deleted or purged. */
  empty: (revision: number) => T;
  /** The value of a PUT, or undefined when it is invalid (logged, ignored). */
  parse: (value: unknown, revision: number) => T | undefined;
  onChange?: (value: T) => void;
}

export async function watchKvKey<T>(o: KvKeyViewOptions<T>): Promise<KvKeyView<T>> {
  let current = o.empty(0);
  let revision = 0;
  const apply = (entry: KvEntry | null): void => {
    if (!entry || entry.revision <= revision) return;
    let next: T | undefined;
    if (entry.operation !== "PUT") {
      next = o.empty(entry.revision);
    } else {
      let value: unknown;
      try {
        value = entry.json();
      } catch {
        value = undefined;
      }
      next = o.parse(value, entry.revision);
      if (next === undefined) {
        o.log.error({ key: entry.key, revision: entry.revision }, `ignoring an invalid ${o.what} in KV`);
        return;
      }
    }
    revision = entry.revision;
    current = next;
    o.log.debug({ key: entry.key, revision }, `${o.what} updated`);
    o.onChange?.(current);
  };
  const watcher = await o.kv.watch({ key: o.key, include: KvWatchInclude.UpdatesOnly });
  apply(await o.kv.get(o.key));
  const loop = (async () => {
    for await (const entry of watcher) apply(entry);
  })();
  return {
    current: () => current,
    revision: () => revision,
    async stop() {
      watcher.stop();
      await loop.catch((err: unknown) => o.log.error({ err }, `${o.what} watch ended with an error`));
    },
  };
}
