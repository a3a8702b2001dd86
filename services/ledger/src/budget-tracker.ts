/**
 * Keeps the global spend against the configured budget. After every committed batch (and on
 * a timer, so a window rolling over restores the budget without traffic) it compares the
 * window's spend with the limit; on a change of state it writes the state to the KV bucket
 * (which selectors read at start and watch) and publishes `budget.exceeded` or
 * `budget.restored`, deduplicated by message id per scope, window and limit.
 */
import { and, eq } from "drizzle-orm";
import type { JetStreamClient } from "@nats-io/jetstream";
import type { KV } from "@nats-io/kv";
import {
  BudgetState,
  decimalToNanos,
  nanosToUsd,
  publishMessage,
  type BudgetConfig,
  type Logger,
  type Subjects,
} from "@llm-router/shared";
import type { LedgerDb } from "./db.js";
import { budgetSpend } from "./schema.js";
import { GLOBAL_SCOPE } from "./ledger-writer.js";
import { windowStart } from "./windows.js";

export interface BudgetTrackerOptions {
  db: LedgerDb;
  kv: KV;
  js: JetStreamClient;
  subjects: Subjects;
  budget: BudgetConfig;
  log: Logger;
  now: () => Date;
  /** Called with every evaluated state (for metrics). */
  onState?: (state: BudgetState) => void;
}

export interface BudgetTracker {
  /** Re-read spend and publish a state change if there is one. Calls are serialised. */
  evaluate(): Promise<BudgetState>;
}

export function createBudgetTracker(o: BudgetTrackerOptions): BudgetTracker {
  const log = o.log.child({ component: "budget", scope: GLOBAL_SCOPE });
  const limitNanos = BigInt(Math.round(o.budget.limitUsd * 1e9));
  let published: BudgetState["state"] | undefined;
  let running: Promise<BudgetState> | undefined;
  let again = false;

  async function readPublished(): Promise<BudgetState["state"] | undefined> {
    const entry = await o.kv.get(GLOBAL_SCOPE);
    if (!entry || entry.operation !== "PUT") return undefined;
    const parsed = BudgetState.safeParse(entry.json());
    return parsed.success ? parsed.data.state : undefined;
  }

  async function evaluateOnce(): Promise<BudgetState> {
    published ??= await readPublished();
    const at = o.now();
    const start = windowStart(o.budget.window, at).toISOString();
    const rows = await o.db
      .select({ spent: budgetSpend.spentUsd })
      .from(budgetSpend)
      .where(and(eq(budgetSpend.scope, GLOBAL_SCOPE), eq(budgetSpend.window, o.budget.window), eq(budgetSpend.windowStart, start)));
    const spentNanos = rows[0] ? decimalToNanos(rows[0].spent) : 0n;
    const state: BudgetState = {
      v: 1,
      scope: GLOBAL_SCOPE,
      window: o.budget.window,
      windowStart: start,
      state: spentNanos >= limitNanos ? "exceeded" : "ok",
      limitUsd: o.budget.limitUsd,
      spentUsd: nanosToUsd(spentNanos),
      at: at.toISOString(),
    };
    if (state.state !== published) {
      // KV first: it is the source of truth selectors read; the event is the notification.
      await o.kv.put(GLOBAL_SCOPE, JSON.stringify(state));
      // A first "ok" (no state was ever written) restores nothing: recorded, not announced.
      if (state.state === "exceeded" || published === "exceeded") {
        const subject = state.state === "exceeded" ? "budget.exceeded" : "budget.restored";
        await publishMessage(o.js, o.subjects, subject, state, `${GLOBAL_SCOPE}:${state.window}:${state.windowStart}:${state.state}:${limitNanos}`);
        log.warn({ state: state.state, spentUsd: state.spentUsd, limitUsd: state.limitUsd, window: state.window }, `budget ${state.state === "exceeded" ? "exceeded" : "restored"}`);
      }
      published = state.state;
    }
    o.onState?.(state);
    return state;
  }

  function evaluate(): Promise<BudgetState> {
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
