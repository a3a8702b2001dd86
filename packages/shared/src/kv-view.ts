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

/** A PUT's value through `parse`; undefined (and logged) when it is not JSON or not valid. */
function decodePut<T>(entry: KvEntry, o: Pick<KvKeyViewOptions<T>, "parse" | "log" | "what">): T | undefined {
  let value: unknown;
  try {
    value = entry.json();
  } catch {
    value = undefined;
  }
  const parsed = o.parse(value, entry.revision);
  if (parsed === undefined) o.log.error({ key: entry.key, revision: entry.revision }, `ignoring an invalid ${o.what} in KV`);
  return parsed;
}

export async function watchKvKey<T>(o: KvKeyViewOptions<T>): Promise<KvKeyView<T>> {
  let current = o.empty(0);
  let revision = 0;
  const apply = (entry: KvEntry | null): void => {
    if (!entry || entry.revision <= revision) return;
    const next = entry.operation === "PUT" ? decodePut(entry, o) : o.empty(entry.revision);
    if (next === undefined) return;
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

export interface KvKeysView<T> {
  /** The newest valid value of every key matching the filter. */
  current(): ReadonlyMap<string, { value: T; revision: number }>;
  stop(): Promise<void>;
}

/**
 * Every key matching a wildcard filter (`state.>`), read at start and kept current by one watch:
 * the same rules as `watchKvKey`, per key. A deleted or purged key disappears from the map.
 */
export async function watchKvKeys<T>(o: Omit<KvKeyViewOptions<T>, "key" | "empty"> & { filter: string }): Promise<KvKeysView<T>> {
  const values = new Map<string, { value: T; revision: number }>();
  const apply = (entry: KvEntry | null): void => {
    if (!entry || entry.revision <= (values.get(entry.key)?.revision ?? 0)) return;
    if (entry.operation !== "PUT") {
      values.delete(entry.key);
    } else {
      const parsed = decodePut(entry, o);
      if (parsed === undefined) return;
      values.set(entry.key, { value: parsed, revision: entry.revision });
      o.onChange?.(parsed);
    }
    o.log.debug({ key: entry.key, revision: entry.revision }, `${o.what} updated`);
  };
  const watcher = await o.kv.watch({ key: o.filter, include: KvWatchInclude.UpdatesOnly });
  for await (const key of await o.kv.keys(o.filter)) apply(await o.kv.get(key));
  const loop = (async () => {
    for await (const entry of watcher) apply(entry);
  })();
  return {
    current: () => values,
    async stop() {
      watcher.stop();
      await loop.catch((err: unknown) => o.log.error({ err }, `${o.what} watch ended with an error`));
    },
  };
}

/** Attempts at one compare-and-set before giving up (each retry lost a race to another writer). */
const CAS_ATTEMPTS = 50;

/**
 * Read-modify-write of one KV key with compare-and-set, retried when another writer got there
 * first, so concurrent replicas never lose each other's updates. `change` gets the current value
 * (`decode` of the entry, or of null when the key is absent or deleted) and returns the new one,
 * or undefined to write nothing. Returns what was written, or undefined.
 */
export async function updateKvKey<T>(kv: KV, key: string, decode: (value: unknown) => T, change: (current: T) => T | undefined): Promise<T | undefined> {
  for (let attempt = 1; ; attempt++) {
    const entry = await kv.get(key);
    let value: unknown = null;
    if (entry?.operation === "PUT") {
      try {
        value = entry.json();
      } catch {
        value = null;
      }
    }
    const next = change(decode(value));
    if (next === undefined) return undefined;
    try {
      if (entry) await kv.update(key, JSON.stringify(next), entry.revision);
      else await kv.create(key, JSON.stringify(next));
      return next;
    } catch (err) {
      if (attempt >= CAS_ATTEMPTS) throw err;
    }
  }
}
