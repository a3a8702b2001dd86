/**
 * The call journal: what each strategy step of a task has done so far, kept in KV while the task
 * runs. Heartbeats keep a running task's message from being redelivered; the journal covers an
 * executor that dies (after some calls, before `task.completed` is published and the message
 * acked): the next delivery replays the steps that finished instead of calling — and paying for
 * — their models again, and records a call that was cut off as CALL_INTERRUPTED.
 *
 * One KV value per task, the whole journal, rewritten as it changes: before a model call starts
 * (awaited, so no call runs unjournaled), when a call fails and when a step ends. Writes are best
 * effort: one that fails is reported and the task goes on. The value is only read on a
 * redelivery, and deleted once the task's completion is published.
 */
import type { KV } from "@nats-io/kv";
import { z } from "zod";
import { ErrorData, ModelCall } from "@llm-router/shared";

/** A call that had started and not ended when the journal was written. */
export const InFlightCall = z.object({
  spec: z.string().min(1),
  step: z.string().min(1),
  startedAt: z.iso.datetime(),
  /**
   * What the call was admitted at (its cost and token estimates): the provider may have billed
   * it, so a delivery that finds it interrupted holds these against the task's caps.
   */
  estimateUsd: z.number().nonnegative().optional(),
  estimateTokens: z.number().int().nonnegative().optional(),
});
export type InFlightCall = z.infer<typeof InFlightCall>;

const JournaledResponse = z.object({
  output: z.string(),
  inputTokens: z.number().int().nonnegative(),
  outputTokens: z.number().int().nonnegative(),
  costUsd: z.number().nonnegative().optional(),
  simulated: z.boolean(),
  timeToFirstTokenMs: z.number().nonnegative().optional(),
  // The reference cost of a replayed single call prices its prompt-cache hits as the first delivery did.
  cacheReadTokens: z.number().int().nonnegative().optional(),
  cacheWriteTokens: z.number().int().nonnegative().optional(),
});

const JournaledOutcome = z.discriminatedUnion("ok", [
  z.object({ ok: z.literal(true), spec: z.string().min(1), response: JournaledResponse }),
  z.object({ ok: z.literal(false), error: ErrorData }),
]);

/** One strategy step: its calls so far (across deliveries), then either a call in flight or its outcome. */
export const JournalStep = z.object({
  calls: z.array(ModelCall),
  inFlight: InFlightCall.optional(),
  outcome: JournaledOutcome.optional(),
});
export type JournalStep = z.infer<typeof JournalStep>;

/** A task's journal: its steps by `stepKey`. */
export const TaskJournal = z.object({ v: z.literal(1), steps: z.record(z.string(), JournalStep) });
export type TaskJournal = z.infer<typeof TaskJournal>;

/** Where journals are kept. Any method may reject: the executor reports it and goes on. */
export interface CallJournal {
  /** The journal an earlier delivery of the task left, or undefined. */
  load(taskId: string): Promise<TaskJournal | undefined>;
  save(taskId: string, journal: TaskJournal): Promise<void>;
  remove(taskId: string): Promise<void>;
}

/** What the journal did, for logs and metrics. */
export type JournalEvent = { kind: "replayed"; step: string } | { kind: "failed"; op: "load" | "save" | "remove"; err: unknown };

/**
 * The task's KV key. KV keys allow only `-/_=.a-zA-Z0-9` and task ids may hold `:`, `@` or
 * anything else, so the id is base64url-encoded (no padding): distinct ids, distinct keys.
 */
export function journalKey(taskId: string): string {
  return Buffer.from(taskId, "utf8").toString("base64url");
}

/** The journal in a KV bucket (`nats.journalBucket`), one key per task. */
export function createKvJournal(kv: KV): CallJournal {
  return {
    async load(taskId) {
      const entry = await kv.get(journalKey(taskId));
      if (!entry || entry.operation !== "PUT") return undefined;
      return TaskJournal.parse(entry.json());
    },
    async save(taskId, journal) {
      await kv.put(journalKey(taskId), JSON.stringify(journal));
    },
    async remove(taskId) {
      await kv.delete(journalKey(taskId));
    },
  };
}

/** The identity of a step within its task: deterministic across deliveries. */
export function stepKey(name: string, specs: readonly string[], occurrence: number): string {
  const key = `${name}@${specs.join(",")}`;
  return occurrence > 1 ? `${key}#${occurrence}` : key;
}

/**
 * The journal of one delivery of a task: what the earlier deliveries left, and the writes of
 * this one, coalesced and in order (parallel steps write the same value).
 */
export interface RunJournal {
  /** The step as an earlier delivery left it. */
  earlier(key: string): JournalStep | undefined;
  /** The highest call number an earlier delivery journaled (0 for none): new calls number on from it. */
  readonly lastCallN: number;
  /** Journal a step's state. Resolves once it (or a later state) is stored, or the write failed. */
  write(key: string, step: JournalStep): Promise<void>;
  /** Resolves when no write is pending: none may land after the key is deleted. */
  flush(): Promise<void>;
}

export interface OpenJournalOptions {
  taskId: string;
  /** False on a first delivery: no earlier delivery can have written one, so it is not read. */
  redelivered: boolean;
  onEvent: (event: JournalEvent) => void;
}

export async function openRunJournal(store: CallJournal, o: OpenJournalOptions): Promise<RunJournal> {
  let loaded: TaskJournal | undefined;
  if (o.redelivered) {
    try {
      loaded = await store.load(o.taskId);
    } catch (err) {
      o.onEvent({ kind: "failed", op: "load", err });
    }
  }
  const earlier = loaded?.steps ?? {};
  const state: TaskJournal = { v: 1, steps: { ...earlier } };
  const lastCallN = Object.values(earlier).reduce((max, s) => s.calls.reduce((m, c) => Math.max(m, c.attempt), max), 0);

  let dirty = false;
  let writing: Promise<void> | undefined;
  const drain = async (): Promise<void> => {
    while (dirty) {
      dirty = false;
      try {
        // Always asynchronous (a store that throws is reported as one that rejects), so `writing`
        // is set before this loop can end.
        await Promise.resolve().then(() => store.save(o.taskId, state));
      } catch (err) {
        o.onEvent({ kind: "failed", op: "save", err });
      }
    }
    writing = undefined;
  };
  return {
    earlier: (key) => earlier[key],
    lastCallN,
    write(key, step) {
      state.steps[key] = step;
      dirty = true;
      writing ??= drain();
      return writing;
    },
    flush: () => writing ?? Promise.resolve(),
  };
}
