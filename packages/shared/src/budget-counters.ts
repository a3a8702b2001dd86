/**
 * Reservations that make hard budget limits hold under concurrency, across replicas. Before a
 * paid call the executor reserves its estimated cost on every budget that applies to the task,
 * by compare-and-set on one KV counter per scope and window (`spend.<scope>.<window>.<start>`):
 * the reservation is refused when what was settled, plus what is reserved, plus this estimate
 * would pass the limit. When the call ends the reservation is settled to the actual cost (or
 * released). So spend can pass a limit only by what a call costs beyond its estimate — and the
 * estimate assumes the full `maxOutputTokens`.
 *
 * The counters are the executors' own account of the window, kept apart from the ledger's
 * (which records spend after the fact, for reporting and the ladder's state). A reservation left
 * by an executor that died mid-call stays until its window ends: the limit is then conservative
 * by that amount, never exceeded.
 */
import type { KV } from "@nats-io/kv";
import { z } from "zod";
import { budgetCounterKey, windowEnd, windowStart, type AppliedBudget } from "./budgets.js";
import { updateKvKey } from "./kv-view.js";

/**
 * `exhaustedAtLimitNanos`: set when a reservation was refused, to the limit in force then, and
 * `exhaustedNeedNanos` to the smallest estimate refused at that limit. While what the window has
 * left after settled spend does not cover that estimate, it is as good as spent for paid calls,
 * and the ledger reports the budget exceeded (`exhaustedFor`). Reservations settle below their
 * estimates, so the mark can lapse within the window. A call larger than the whole limit marks
 * it for the window: a budget smaller than the calls the router wants to make is spent for them.
 */
const Counter = z.object({
  settledNanos: z.string(),
  reservedNanos: z.string(),
  exhaustedAtLimitNanos: z.string().optional(),
  exhaustedNeedNanos: z.string().optional(),
});

export interface Reservation {
  /** The counters held, to settle or release. */
  readonly holds: readonly { key: string; nanos: bigint }[];
}

export type ReserveOutcome = { ok: true; reservation: Reservation } | { ok: false; scope: string; limitUsd: number; committedUsd: number };

interface Counts {
  settled: bigint;
  reserved: bigint;
  exhaustedAtLimit?: bigint;
  exhaustedNeed?: bigint;
}
type Wire = z.infer<typeof Counter>;

const decodeWire = (value: unknown): Wire => Counter.safeParse(value).data ?? { settledNanos: "0", reservedNanos: "0" };
const countsOf = (w: Wire): Counts => ({
  settled: BigInt(w.settledNanos),
  reserved: BigInt(w.reservedNanos),
  ...(w.exhaustedAtLimitNanos === undefined ? {} : { exhaustedAtLimit: BigInt(w.exhaustedAtLimitNanos) }),
  ...(w.exhaustedNeedNanos === undefined ? {} : { exhaustedNeed: BigInt(w.exhaustedNeedNanos) }),
});
const wireOf = (c: Counts): Wire => ({
  settledNanos: c.settled.toString(),
  reservedNanos: c.reserved.toString(),
  ...(c.exhaustedAtLimit === undefined ? {} : { exhaustedAtLimitNanos: c.exhaustedAtLimit.toString() }),
  ...(c.exhaustedNeed === undefined ? {} : { exhaustedNeedNanos: c.exhaustedNeed.toString() }),
});

/** Compare-and-set on one counter; `change` returns undefined to leave it alone. */
async function casUpdate(kv: KV, key: string, change: (c: Counts) => Counts | undefined): Promise<Counts | undefined> {
  const written = await updateKvKey(kv, key, decodeWire, (w) => {
    const next = change(countsOf(w));
    return next && wireOf(next);
  });
  return written && countsOf(written);
}

const toNanos = (usd: number): bigint => BigInt(Math.round(usd * 1e9));
const toUsd = (nanos: bigint): number => Number(nanos) / 1e9;

/**
 * Reserve `estimateUsd` on every budget in `budgets` (the task's, from `budgetsFor`) for the
 * window containing `at`, all or nothing: a refusal releases what was already reserved.
 */
export async function reserveBudget(kv: KV, budgets: readonly AppliedBudget[], estimateUsd: number, at: Date): Promise<ReserveOutcome> {
  const nanos = toNanos(estimateUsd);
  const holds: { key: string; nanos: bigint }[] = [];
  for (const { rule, scope } of budgets) {
    const key = budgetCounterKey(scope, rule.window, windowStart(rule.window, at));
    const limit = toNanos(rule.limitUsd);
    let committed = 0n;
    let refused = false;
    try {
      await casUpdate(kv, key, (c) => {
        committed = c.settled + c.reserved;
        refused = committed + nanos > limit;
        if (!refused) return { ...c, reserved: c.reserved + nanos };
        // Mark the window spent for calls of this estimate at this limit (the smallest refused).
        const need = c.exhaustedAtLimit === limit && c.exhaustedNeed !== undefined && c.exhaustedNeed <= nanos ? c.exhaustedNeed : nanos;
        return c.exhaustedAtLimit === limit && c.exhaustedNeed === need ? undefined : { ...c, exhaustedAtLimit: limit, exhaustedNeed: need };
      });
    } catch (err) {
      // A later scope's counter failed: what the earlier ones hold would stay reserved until
      // their windows end. Released (as far as the counters can be reached), then the error.
      await settleBudget(kv, { holds }, 0).catch(() => undefined);
      throw err;
    }
    if (refused) {
      // A refusal stands even when releasing the earlier holds fails: the call is not made.
      await settleBudget(kv, { holds }, 0).catch(() => undefined);
      return { ok: false, scope, limitUsd: rule.limitUsd, committedUsd: toUsd(committed) };
    }
    holds.push({ key, nanos });
  }
  return { ok: true, reservation: { holds } };
}

/**
 * Replace a reservation by the actual cost (0 releases it), on every counter it holds even when
 * one cannot be reached; rejects with the first failure after trying them all.
 */
export async function settleBudget(kv: KV, reservation: Reservation, actualUsd: number): Promise<void> {
  const actual = toNanos(actualUsd);
  let failure: Error | undefined;
  for (const { key, nanos } of reservation.holds) {
    try {
      await casUpdate(kv, key, (c) => ({ ...c, settled: c.settled + actual, reserved: c.reserved > nanos ? c.reserved - nanos : 0n }));
    } catch (err) {
      failure ??= err instanceof Error ? err : new Error(String(err));
    }
  }
  if (failure) throw failure;
}

/** What the counters of a scope's window hold, USD: for metrics and the router.budget answer. */
export async function readBudgetCounter(
  kv: KV,
  scope: string,
  window: AppliedBudget["rule"]["window"],
  at: Date,
): Promise<BudgetCounterReading> {
  const entry = await kv.get(budgetCounterKey(scope, window, windowStart(window, at)));
  const c = countsOf(decodeWire(entry?.operation === "PUT" ? entry.json() : null));
  return {
    settledUsd: toUsd(c.settled),
    reservedUsd: toUsd(c.reserved),
    ...(c.exhaustedAtLimit === undefined ? {} : { exhaustedAtLimitUsd: toUsd(c.exhaustedAtLimit) }),
    ...(c.exhaustedNeed === undefined ? {} : { exhaustedNeedUsd: toUsd(c.exhaustedNeed) }),
  };
}

export interface BudgetCounterReading {
  settledUsd: number;
  reservedUsd: number;
  /** The limit at which a reservation was refused this window, if one was. */
  exhaustedAtLimitUsd?: number;
  /** The smallest estimate refused at that limit (absent in counters written before it was kept). */
  exhaustedNeedUsd?: number;
}

/**
 * Whether an executor's refusal leaves the window spent for paid calls at `limitUsd`: one was
 * refused at this limit (a raised limit lifts it), and what is left after settled spend does not
 * cover the smallest estimate refused. Reservations in flight do not count: they settle at their
 * actual cost, below their estimates, and a burst of them is not a spent budget.
 */
export function exhaustedFor(counter: BudgetCounterReading, limitUsd: number): boolean {
  if (counter.exhaustedAtLimitUsd === undefined || counter.exhaustedAtLimitUsd < limitUsd) return false;
  // A counter from before the estimate was kept: spent for the rest of the window, as it then meant.
  if (counter.exhaustedNeedUsd === undefined) return true;
  return toNanos(limitUsd) - toNanos(counter.settledUsd) < toNanos(counter.exhaustedNeedUsd);
}

/** Counters kept past their window's end: longer than any call (a settle after the end finds its key). */
export const SPEND_COUNTER_GRACE_MS = 3_600_000;

/**
 * Purge the reservation counters of windows that ended more than `graceMs` ago: nothing reads
 * them (limits and reports look at the current window), and kept, they would grow the bucket by
 * one key per scope and window for ever. Returns how many were purged. Idempotent: replicas may
 * sweep at once.
 */
export async function pruneSpendCounters(kv: KV, now: Date, graceMs = SPEND_COUNTER_GRACE_MS): Promise<number> {
  let pruned = 0;
  const ended: string[] = [];
  for await (const key of await kv.keys("spend.>")) {
    const [, , window, start] = key.split(".");
    if ((window !== "hour" && window !== "day" && window !== "month") || !/^\d+$/.test(start ?? "")) continue;
    if (windowEnd(window, new Date(Number(start) * 1000)).getTime() + graceMs <= now.getTime()) ended.push(key);
  }
  for (const key of ended) {
    await kv.purge(key);
    pruned++;
  }
  return pruned;
}
