/**
 * Keeps spend against every configured budget (global, per tenant, per run; hour, day, month)
 * on the ladder ok → soft → exceeded. After every committed batch, and on a timer so a window
 * rolling over restores a budget without traffic, it reads each scope's spend in its current
 * window; on a change of state it writes the state to the KV bucket (`state.<scope>.<window>`,
 * which selectors read at start and watch) and publishes `budget.soft_limit`, `budget.exceeded`
 * or `budget.restored`, deduplicated by message id per scope, window, state and limit.
 */
import { and, eq, like } from "drizzle-orm";
import type { JetStreamClient } from "@nats-io/jetstream";
import type { KV } from "@nats-io/kv";
import {
  BUDGET_STATE_KEYS,
  BudgetState,
  budgetStateKey,
  decimalToNanos,
  exhaustedFor,
  ladderState,
  mapInBatches,
  nanosToUsd,
  overridden,
  publishMessage,
  readBudgetCounter,
  ruleOf,
  windowStart,
  type BudgetRule,
  type Logger,
  type Subjects,
} from "@llm-router/shared";
import type { LedgerDb } from "./db.js";
import { budgetSpend } from "./schema.js";

export interface BudgetTrackerOptions {
  db: LedgerDb;
  kv: KV;
  js: JetStreamClient;
  subjects: Subjects;
  /** `budgetRules(config)`. */
  rules: readonly BudgetRule[];
  log: Logger;
  now: () => Date;
  /** Called with every state of one evaluation, each with its rule (for metrics). */
  onEvaluated?: (states: readonly EvaluatedBudget[]) => void;
}

/** One scope's state in its current window under one configured budget. */
export interface EvaluatedBudget {
  rule: BudgetRule;
  state: BudgetState;
}

export interface BudgetTracker {
  /** Re-read spend and publish every change of state; resolves with every scope's state. Calls are serialised. */
  evaluate(): Promise<EvaluatedBudget[]>;
}

/** KV reads in flight at once: the executors' counters during an evaluation, the states at start. */
const COUNTER_READS_AT_ONCE = 64;

/** Every scope's published state (`state.<scope>.<window>` keys), by key: what the selectors route by. */
export async function readBudgetStates(kv: KV): Promise<Map<string, BudgetState>> {
  const keys: string[] = [];
  for await (const key of await kv.keys(BUDGET_STATE_KEYS)) keys.push(key);
  const states = new Map<string, BudgetState>();
  // A batch of reads at a time, not one after another: there may be a key per run.
  const entries = await mapInBatches(keys, COUNTER_READS_AT_ONCE, (key) => kv.get(key));
  entries.forEach((entry, i) => {
    const parsed = entry?.operation === "PUT" ? BudgetState.safeParse(entry.json()) : undefined;
    if (parsed?.success) states.set(keys[i]!, parsed.data);
  });
  return states;
}

/**
 * With no budget configured there is no tracker to purge the states earlier rules left: drop
 * them at start, so they do not stay in the bucket for ever. Returns how many were dropped.
 */
export async function dropAllBudgetStates(kv: KV, log: Logger): Promise<number> {
  const states = await readBudgetStates(kv);
  for (const [key, s] of states) {
    await kv.purge(key);
    log.info({ scope: s.scope, window: s.window, state: s.state }, "dropped the budget state of a rule no longer configured");
  }
  return states.size;
}



export function createBudgetTracker(o: BudgetTrackerOptions): BudgetTracker {
  const log = o.log.child({ component: "budget" });
  /** The last state written per KV key; loaded from KV on the first evaluation. */
  let published: Map<string, BudgetState> | undefined;
  let running: Promise<EvaluatedBudget[]> | undefined;
  let again = false;

  /**
   * The scopes a rule has in a window and what each spent, in one query: its own scope for global
   * and named tenants; for `tenant` and `run`, those that spent, and those an earlier window left
   * soft or exceeded (to be restored when it rolls over).
   */
  async function spendOf(rule: BudgetRule, start: string, known: Map<string, BudgetState>): Promise<Map<string, bigint>> {
    const generic = rule.scope === "tenant" || rule.scope === "run";
    const prefix = `${rule.scope}:`;
    const rows = await o.db
      .select({ scope: budgetSpend.scope, spent: budgetSpend.spentUsd })
      .from(budgetSpend)
      .where(and(generic ? like(budgetSpend.scope, `${prefix}%`) : eq(budgetSpend.scope, rule.scope), eq(budgetSpend.window, rule.window), eq(budgetSpend.windowStart, start)));
    const spend = new Map(rows.map((r) => [r.scope, decimalToNanos(r.spent)]));
    if (!generic) return new Map([[rule.scope, spend.get(rule.scope) ?? 0n]]);
    for (const s of known.values()) if (s.scope.startsWith(prefix) && s.window === rule.window && s.state !== "ok" && !spend.has(s.scope)) spend.set(s.scope, 0n);
    // A tenant with its own rule for this window is that rule's, not this one's.
    for (const scope of [...spend.keys()]) if (overridden(rule, scope, o.rules)) spend.delete(scope);
    return spend;
  }

  async function evaluateOnce(): Promise<EvaluatedBudget[]> {
    published ??= await readBudgetStates(o.kv);
    const known = published;
    const at = o.now();
    const states: EvaluatedBudget[] = [];
    const unread: string[] = [];
    const unpublished: string[] = [];
    for (const rule of o.rules) {
      const start = windowStart(rule.window, at).toISOString();
      const spend = [...(await spendOf(rule, start, known))];
      // The executors' counters, read a batch at a time rather than one scope after another.
      const counters = await mapInBatches(spend, COUNTER_READS_AT_ONCE, ([scope]) =>
        readBudgetCounter(o.kv, scope, rule.window, at).catch((err: unknown) => (err instanceof Error ? err : new Error(String(err)))),
      );
      for (const [k, [scope, nanos]] of spend.entries()) {
        const spent = nanosToUsd(nanos);
        const counter = counters[k]!;
        let level = ladderState(spent, rule);
        if (counter instanceof Error) {
          // Whether an executor found the budget exhausted is unknown: an "exceeded" of this
          // window stands (a read error must not send the selectors back to cloud models).
          unread.push(scope);
          const before = known.get(budgetStateKey(scope, rule.window));
          if (before?.state === "exceeded" && before.windowStart === start) level = "exceeded";
        } else if (exhaustedFor(counter, rule.limitUsd)) {
          // An executor refused a paid call at this limit, and what is left still does not cover it.
          level = "exceeded";
        }
        const state: BudgetState = { v: 1, scope, window: rule.window, windowStart: start, state: level, limitUsd: rule.limitUsd, spentUsd: spent, at: at.toISOString() };
        try {
          await publishChange(state, known);
        } catch (err) {
          // Not recorded as published: the next evaluation writes and announces it again.
          unpublished.push(scope);
          log.error({ err, scope, window: rule.window, state: level }, "could not publish a budget state change; retrying at the next evaluation");
        }
        states.push({ rule, state });
      }
    }
    if (unread.length > 0) log.warn({ scopes: unread.slice(0, 10), count: unread.length }, "could not read the executors' budget counters; exceeded states kept");
    await dropStaleStates(known, states, at);
    o.onEvaluated?.(states);
    if (unpublished.length > 0) throw new Error(`could not publish the budget state of ${unpublished.length} scope(s): ${unpublished.slice(0, 5).join(", ")}`);
    return states;
  }

  /**
   * States that tell the selectors nothing any more, purged so they do not stay in the bucket
   * for ever: a scope's "ok" from a window that has ended and not evaluated now (a scope with no
   * state is ok; kept, there would be one key for every run that ever spent, each read by every
   * selector at start), and any state no configured rule writes (its rule removed or its window
   * changed: an "exceeded" would otherwise hold the selectors' exceeded gauge and health at 1).
   */
  async function dropStaleStates(known: Map<string, BudgetState>, evaluated: readonly EvaluatedBudget[], at: Date): Promise<void> {
    const current = new Set(evaluated.map((e) => budgetStateKey(e.state.scope, e.state.window)));
    for (const [key, s] of known) {
      const endedOk = s.state === "ok" && !current.has(key) && Date.parse(s.windowStart) < windowStart(s.window, at).getTime();
      if (!endedOk && ruleOf(o.rules, s) !== undefined) continue;
      try {
        await o.kv.purge(key);
        known.delete(key);
        if (!endedOk) log.info({ scope: s.scope, window: s.window, state: s.state }, "dropped the budget state of a rule no longer configured");
      } catch (err) {
        log.warn({ err, scope: s.scope, window: s.window }, "could not drop a stale budget state; will retry");
      }
    }
  }

  async function publishChange(state: BudgetState, known: Map<string, BudgetState>): Promise<void> {
    const key = budgetStateKey(state.scope, state.window);
    const previous = known.get(key);
    const before = previous?.state;
    // The same state in the same window changes nothing. In a new window it does: selectors read
    // an ended window's state as ok, so an "exceeded" (or "soft") on both sides of a rollover
    // must be written, and announced, again for the new window. Two oks mean the same.
    if (state.state === before && (state.state === "ok" || previous?.windowStart === state.windowStart)) return;
    // KV first: it is the source of truth selectors read; the event is the notification. The
    // state counts as published only once both landed: if the event fails, the next evaluation
    // puts and announces it again (under the same message id, so a copy that did land is
    // deduplicated).
    await o.kv.put(key, JSON.stringify(state));
    // A first "ok" (no state was ever written) restores nothing: recorded, not announced.
    const announce = !(state.state === "ok" && before === undefined);
    if (announce) {
      const subject = state.state === "exceeded" ? "budget.exceeded" : state.state === "soft" ? "budget.soft_limit" : "budget.restored";
      const limitNanos = BigInt(Math.round(state.limitUsd * 1e9));
      await publishMessage(o.js, o.subjects, subject, state, `${state.scope}:${state.window}:${state.windowStart}:${state.state}:${limitNanos}`);
    }
    known.set(key, state);
    if (!announce) return;
    const message = state.state === "ok" ? "budget restored" : state.state === "soft" ? "budget past its soft limit" : "budget exceeded";
    log.warn({ scope: state.scope, state: state.state, spentUsd: state.spentUsd, limitUsd: state.limitUsd, window: state.window }, message);
  }

  function evaluate(): Promise<EvaluatedBudget[]> {
    // Coalesce: while one evaluation runs, further requests collapse into one follow-up.
    if (running) {
      again = true;
      return running;
    }
    running = evaluateOnce().finally(() => {
      running = undefined;
      if (again) {
        again = false;
        evaluate().catch((err: unknown) => log.error({ err }, "budget evaluation failed"));
      }
    });
    return running;
  }

  return { evaluate };
}
