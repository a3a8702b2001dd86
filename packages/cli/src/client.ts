/**
 * A small client for the pipeline: publish tasks on `task.submitted` (through JetStream, so
 * the publish is confirmed stored) and wait for each to end: its `task.completed`, or its dead
 * letter on `task.dead`.
 */
import { randomUUID } from "node:crypto";
import { isDeepStrictEqual } from "node:util";
import { RequestError, type Msg, type NatsConnection, type Subscription } from "@nats-io/transport-node";
import { DeliverPolicy, jetstream, jetstreamManager, type JetStreamClient, type JsMsg, type PubAck } from "@nats-io/jetstream";
import { ERROR_CODES, RouterError, TaskCompleted, TaskDead, TaskSubmission, decodeJson, describeZodError, toTask, type Subjects, type Task } from "@llm-router/shared";

export interface RunOptions {
  /** How long to wait for every task to end, publishing included. Default 60000. */
  timeoutMs?: number;
  /** Told of each completion as it arrives, with how many have completed so far. */
  onCompleted?: (c: TaskCompleted, done: number) => void;
  /**
   * Told when a task JetStream dropped as a duplicate of an earlier submission with its id (stored
   * at `seq` of `stream`) ends with that submission's outcome (its completion or dead letter), not
   * a new run's.
   */
  onDuplicate?: (taskId: string, stream: string, seq: number) => void;
  /** The most messages of each subject read after a duplicate's first submission looking for its outcome. Default `LOOKUP_MAX_MESSAGES`. */
  lookupMaxMessages?: number;
}

export interface RouterClient {
  /**
   * Publish tasks and resolve with their completions (in submission order) once every task has
   * completed. A task JetStream drops as a duplicate of an earlier one with its id (a retry after
   * a lost publish ack, a resubmission within the duplicate window) ends as that one did: its
   * completion or dead letter is read from the stream, or awaited while it still runs. Rejects with
   * RunError (its `outcomes` say how every task ended) when any task did not complete: a stage
   * dead-lettered it (`TASK_DEAD`, without waiting out the timeout for it), a duplicate's first
   * submission had not completed by the timeout (`TASK_DUPLICATE`), or the timeout ran out
   * (`RUN_TIMEOUT`); the other tasks are waited for first.
   * Rejects with RouterError `MESSAGE_INVALID` before publishing anything when a task is not a valid
   * submission (the pipeline would dead-letter it) or two tasks share an id, and
   * `SERVICE_UNAVAILABLE` when no stream stores `task.submitted`.
   */
  run(tasks: readonly TaskSubmission[], options?: RunOptions): Promise<TaskCompleted[]>;
}

/** How one task of a run ended; `pending` when the run timed out before it did. */
export type TaskOutcome =
  /** `firstRun`: this submission was a duplicate; the completion (or dead letter) is the one of the submission stored there. */
  | { status: "completed"; taskId: string; completed: TaskCompleted; firstRun?: StoredAt }
  | { status: "dead"; taskId: string; dead: TaskDead; firstRun?: StoredAt }
  /**
   * Not published: `stream` already stored a task with this id (at `seq`) within its duplicate
   * window, and that one's outcome was neither in the stream nor arrived before the timeout —
   * or, `differs`, it completed a task with other content (messages, tenant, constraints…), which
   * is no answer to this one.
   */
  | { status: "duplicate"; taskId: string; stream: string; seq: number; differs?: true }
  | { status: "pending"; taskId: string };

/** Where JetStream stored a task. */
export interface StoredAt {
  stream: string;
  seq: number;
}

export const RUN_ERROR_CODES = {
  /** The run timed out with tasks that had not ended. Takes precedence: the whole timeout was spent. */
  RUN_TIMEOUT: "RUN_TIMEOUT",
  /** A stage dead-lettered a task: it will never complete. */
  TASK_DEAD: "TASK_DEAD",
  /** JetStream dropped a task as a duplicate of an earlier one with the same id, whose outcome did not come in time. */
  TASK_DUPLICATE: "TASK_DUPLICATE",
} as const;
export type RunErrorCode = (typeof RUN_ERROR_CODES)[keyof typeof RUN_ERROR_CODES];

/**
 * A run in which some task did not complete. Not retryable: running the same tasks again
 * publishes them again (or, with their ids, is dropped as a duplicate).
 */
export class RunError extends Error {
  override readonly name = "RunError";
  readonly code: RunErrorCode;
  readonly retryable = false;
  /** Every task's outcome, in submission order. */
  readonly outcomes: readonly TaskOutcome[];

  constructor(code: RunErrorCode, message: string, outcomes: readonly TaskOutcome[]) {
    super(message);
    this.code = code;
    this.outcomes = outcomes;
  }
}

/**
 * Each task, checked against the `task.submitted` schema, and its id unique in the batch (the
 * second would be dropped as a duplicate of the first).
 * @throws RouterError MESSAGE_INVALID naming the first invalid task.
 */
export function checkSubmissions(tasks: readonly TaskSubmission[]): void {
  const which = (i: number): string => (tasks.length > 1 ? `task ${i + 1} of ${tasks.length}` : "the task");
  const firstWithId = new Map<string, number>();
  tasks.forEach((t, i) => {
    const parsed = TaskSubmission.safeParse(t);
    if (!parsed.success) {
      throw new RouterError(ERROR_CODES.MESSAGE_INVALID, `${which(i)} is not a valid submission: ${describeZodError(parsed.error)}`);
    }
    if (t.id === undefined) return;
    const first = firstWithId.get(t.id);
    if (first !== undefined) throw new RouterError(ERROR_CODES.MESSAGE_INVALID, `${which(i)} has the id of task ${first + 1} (${t.id}): give each task its own id`);
    firstWithId.set(t.id, i);
  });
}

/**
 * What a failed JetStream publish on `subject` means. No responders is what nats.js reports as
 * "jetstream is not enabled", but it also means that no stream stores the subject — the router's
 * streams are not there (not started, another server, another subject prefix).
 */
export function publishFailure(err: unknown, subject: string, server: string): Error {
  for (let e: unknown = err; e instanceof Error; e = e.cause) {
    if (e instanceof RequestError && e.isNoResponders()) {
      return new RouterError(ERROR_CODES.SERVICE_UNAVAILABLE, `no stream stores ${subject} on ${server}: start the router (npm start), or check NATS_URL and the subject prefix`, {
        cause: err,
        retryable: true,
      });
    }
  }
  return err instanceof Error ? err : new Error(String(err));
}

export interface StallProbe {
  /** The stream that stores `task.submitted` (`nats.stream`), whose `classifier` consumer is looked at. */
  stream: string;
  /** Told once why the tasks may not move, when no classifier is asking for them. */
  onStall: (message: string) => void;
  /** How long after publishing to look. Default 5000. */
  afterMs?: number;
}

/**
 * What the `classifier` consumer of `stream` says: `missing` (the router never ran with this
 * config), `idle` (no pull request waiting: no classifier running, or every one busy; `queued`
 * tasks not yet handed out or not yet acked) or `asking` (a classifier waits for tasks).
 */
export type ClassifierState = { state: "missing" } | { state: "idle"; queued: number } | { state: "asking" };

/** The state of the `classifier` consumer of `stream`; undefined when JetStream cannot say. */
export async function classifierState(nc: NatsConnection, stream: string): Promise<ClassifierState | undefined> {
  try {
    const jsm = await jetstreamManager(nc);
    const info = await jsm.consumers.info(stream, "classifier").catch(() => undefined);
    if (!info) return { state: "missing" };
    return info.num_waiting > 0 ? { state: "asking" } : { state: "idle", queued: info.num_pending + info.num_ack_pending };
  } catch {
    return undefined;
  }
}

/**
 * Why tasks published on `stream` may not move, or undefined when a classifier is asking for
 * them or JetStream cannot say (the wait goes on and its timeout speaks).
 */
export async function stallReason(nc: NatsConnection, stream: string, waitingFor: number, timeoutMs: number): Promise<string | undefined> {
  const seconds = timeoutMs / 1000;
  const c = await classifierState(nc, stream);
  if (c?.state === "missing") return `stream ${stream} has no classifier consumer: the router has not run with this config (npm start); waiting up to ${seconds} s`;
  if (c?.state === "idle") {
    return `no classifier is asking for tasks (${c.queued} queued on ${stream}, ${waitingFor} of them yours): is the router running (npm start)? The tasks stay in the stream and run when it starts; waiting up to ${seconds} s`;
  }
  return undefined;
}

/** What is known about tasks still waiting at the timeout: only what the classifier's consumer said. */
function timeoutCause(stream: string | undefined, c: ClassifierState | undefined): string {
  if (stream === undefined || c === undefined) return "";
  switch (c.state) {
    case "missing":
      return `: stream ${stream} has no classifier consumer, the router has not run with this config (npm start); the tasks stay in the stream and run when it starts`;
    case "idle":
      return `: no classifier is asking for tasks (${c.queued} queued on ${stream}); is the router running (npm start)? The tasks stay in the stream and run when it starts`;
    case "asking":
      return ": a classifier is asking for tasks, so the router is up; these are still queued or running in a later stage (slow models, retries, or a stage stopped): wait longer (--timeout) or read the services' logs";
  }
}

/**
 * Why a run failed, one line per task that did not complete (pending ones together), after a
 * count of the completed when the run had several tasks and not only pending ones. `completedSubject` is where a duplicate's completion went.
 */
export function runFailureMessage(
  outcomes: readonly TaskOutcome[],
  o: { timeoutMs: number; completedSubject: string; stream?: string; classifier?: ClassifierState },
): string {
  const lines: string[] = [];
  let pending = 0;
  for (const out of outcomes) {
    if (out.status === "dead") {
      const d = out.dead;
      lines.push(`task ${out.taskId} was dead-lettered by the ${d.stage}: ${d.code}: ${d.reason}`);
    } else if (out.status === "duplicate" && out.differs) {
      lines.push(
        `task ${out.taskId} was already submitted with other content: ${out.stream} stored a task with this id (sequence ${out.seq}) within its duplicate window, so JetStream dropped this one, ` +
          `and that submission's outcome is that task's, not this one's: give each task its own id (or none)`,
      );
    } else if (out.status === "duplicate") {
      lines.push(
        `task ${out.taskId} was already submitted: ${out.stream} stored a task with this id (sequence ${out.seq}) within its duplicate window, so JetStream dropped this one, ` +
          `and that submission's outcome was not in the stream and did not come within ${o.timeoutMs} ms (it may still be running). ` +
          `Its completion goes to ${o.completedSubject} and the ledger's tasks table; to run the task again, submit it with a new id (or none)`,
      );
    } else if (out.status === "pending") {
      pending++;
    }
  }
  if (pending > 0) lines.push(`timed out after ${o.timeoutMs} ms waiting for ${pending} of ${outcomes.length} task(s)${timeoutCause(o.stream, o.classifier)}`);
  // The timeout line alone already counts the tasks.
  if (outcomes.length === 1 || (pending > 0 && lines.length === 1)) return lines.join("\n");
  const completed = outcomes.filter((out) => out.status === "completed").length;
  return [`${completed} of ${outcomes.length} tasks completed:`, ...lines.map((l) => `  ${l}`)].join("\n");
}

/** The subjects whose dead letters mean a task will not complete (a `task.completed` or `task.feedback` one does not). */
const PIPELINE_SUBJECTS = ["task.submitted", "task.classified", "task.routed"] as const;

/**
 * Whether `task` (a completion's) is what `submission` becomes in the pipeline: what it asks —
 * messages (role and content), tenant, constraints, output limit, run — not its time, version or
 * metadata, so a stage or a version that adds to a task does not make it another.
 */
export function sameTask(task: Task, submission: TaskSubmission): boolean {
  const what = (t: Task): unknown =>
    JSON.parse(
      JSON.stringify({
        messages: t.messages.map((m) => ({ role: m.role, content: m.content })),
        tenant: t.tenant,
        constraints: t.constraints,
        maxOutputTokens: t.maxOutputTokens,
        runId: t.runId,
      }),
    );
  try {
    return isDeepStrictEqual(what(toTask(TaskSubmission.parse(submission), task.id, new Date(0))), what(task));
  } catch {
    // Not a task's shape: nothing says it is another.
    return true;
  }
}

/**
 * Whether the task a dead letter carries is what `submission` becomes: undefined when the letter
 * cannot say (its payload cut, left out, or not a task). A `task.submitted` letter holds the
 * submission as sent; a later stage's holds the task under `task`.
 */
export function deadLetterOfSameTask(dead: TaskDead, submission: TaskSubmission, submittedSubject: string): boolean | undefined {
  let raw: unknown;
  try {
    raw = JSON.parse(dead.payload);
  } catch {
    return undefined;
  }
  if (dead.subject === submittedSubject) {
    const theirs = TaskSubmission.safeParse(raw);
    if (!theirs.success) return undefined;
    return sameTask(toTask(theirs.data, dead.taskId ?? "", new Date(0)), submission);
  }
  const task = (raw as { task?: Task } | null)?.task;
  return task && typeof task === "object" && Array.isArray(task.messages) ? sameTask(task, submission) : undefined;
}

/** A `task.completed` message as a task's outcome, or undefined when it is not one. */
function completedOutcome(data: Uint8Array): TaskOutcome | undefined {
  const d = decodeJson(TaskCompleted, data);
  return d.ok ? { status: "completed", taskId: d.value.task.id, completed: d.value } : undefined;
}

/** A `task.dead` message as a task's outcome: a dead letter of a pipeline stage that names its task (one of feedback or a completion is not). */
function deadOutcome(data: Uint8Array, pipelineSubjects: ReadonlySet<string>): TaskOutcome | undefined {
  const d = decodeJson(TaskDead, data);
  return d.ok && d.value.taskId !== undefined && pipelineSubjects.has(d.value.subject) ? { status: "dead", taskId: d.value.taskId, dead: d.value } : undefined;
}

/** The most completions (and, apart, dead letters) read from the stream looking for duplicates' first submissions' outcomes. */
export const LOOKUP_MAX_MESSAGES = 20_000;

/**
 * The outcomes of the tasks first stored at `firstRuns` (the duplicates of one run), read from
 * the stream after the earliest of them: each one's completion, or a pipeline stage's dead
 * letter, handed to `found` as it is read. One reading of each subject for the whole run (not one
 * per duplicate: a resubmitted batch would read the stream once per task), up to its end or
 * `LOOKUP_MAX_MESSAGES`. Through ordered push consumers into this connection's inbox: the client
 * user needs no pull rights. Rejects only when neither subject could be read.
 */
async function readFirstRuns(
  js: JetStreamClient,
  subjects: Subjects,
  pipelineSubjects: ReadonlySet<string>,
  firstRuns: ReadonlyMap<string, StoredAt>,
  found: (outcome: TaskOutcome) => void,
  resolved: (taskId: string) => boolean,
  signal: AbortSignal,
  maxMessages = LOOKUP_MAX_MESSAGES,
): Promise<void> {
  const waiting = new Map(firstRuns);
  const stream = [...firstRuns.values()][0]!.stream;
  const from = Math.min(...[...firstRuns.values()].map((at) => at.seq));
  const done = new AbortController();
  const stop = (): void => done.abort();
  signal.addEventListener("abort", stop, { once: true });
  /** Ids still looked for: not found here, nor come in live meanwhile. */
  const stillWaiting = (): number => {
    for (const id of waiting.keys()) if (resolved(id)) waiting.delete(id);
    if (waiting.size === 0) stop();
    return waiting.size;
  };
  const take = (outcome: TaskOutcome): boolean => {
    if (!waiting.delete(outcome.taskId)) return false;
    found(outcome);
    return stillWaiting() === 0;
  };
  /**
   * The task id a message is about when one still looked for, read cheaply (JSON, no schema) to
   * pass over the others; only after that id's own first submission (an outcome comes after its
   * task: one before is an older run's, under the same id outside the duplicate window).
   */
  const idOf = (m: JsMsg, read: (raw: Record<string, unknown>) => unknown): string | undefined => {
    try {
      const id = read(JSON.parse(new TextDecoder().decode(m.data)) as Record<string, unknown>);
      return typeof id === "string" && m.seq > (waiting.get(id)?.seq ?? Infinity) ? id : undefined;
    } catch {
      return undefined;
    }
  };
  /** The cap counts from the latest first submission still looked for: each gets `maxMessages` after its own. */
  const counts = (m: JsMsg): boolean => stillWaiting() > 0 && m.seq > Math.max(...[...waiting.values()].map((at) => at.seq));
  try {
    const reads = await Promise.allSettled([
      scanFrom(js, stream, from, subjects["task.completed"], done.signal, counts, maxMessages, (m) => {
        const outcome = idOf(m, (raw) => (raw.task as Record<string, unknown> | undefined)?.id) === undefined ? undefined : completedOutcome(m.data);
        return outcome !== undefined && take(outcome);
      }),
      scanFrom(js, stream, from, subjects["task.dead"], done.signal, counts, maxMessages, (m) => {
        const outcome = idOf(m, (raw) => raw.taskId) === undefined ? undefined : deadOutcome(m.data, pipelineSubjects);
        return outcome !== undefined && take(outcome);
      }),
    ]);
    if (reads.every((r) => r.status === "rejected")) throw (reads[0] as PromiseRejectedResult).reason;
  } finally {
    signal.removeEventListener("abort", stop);
  }
}

/**
 * Reads `subject` of `stream` from `seq` until `read` says it is done, the end, or `maxMessages`
 * messages that `counts`.
 */
async function scanFrom(
  js: JetStreamClient,
  stream: string,
  seq: number,
  subject: string,
  signal: AbortSignal,
  counts: (m: JsMsg) => boolean,
  maxMessages: number,
  read: (m: JsMsg) => boolean,
): Promise<void> {
  const consumer = await js.consumers.getPushConsumer(stream, { filter_subjects: subject, deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: seq });
  if ((await consumer.info(true)).num_pending === 0 || signal.aborted) return;
  const messages = await consumer.consume();
  const stop = (): void => void messages.stop();
  signal.addEventListener("abort", stop, { once: true });
  let n = 0;
  try {
    for await (const m of messages) {
      if (read(m) || (counts(m) && ++n >= maxMessages) || m.info.pending === 0) return;
    }
  } finally {
    signal.removeEventListener("abort", stop);
    stop();
  }
}

export function createRouterClient(nc: NatsConnection, subjects: Subjects, stall?: StallProbe): RouterClient {
  const js = jetstream(nc);
  const pipelineSubjects = new Set<string>(PIPELINE_SUBJECTS.map((s) => subjects[s]));
  return {
    async run(tasks, options = {}) {
      checkSubmissions(tasks);
      const withIds = tasks.map((t) => ({ ...t, id: t.id ?? randomUUID() }));
      /** Our tasks by id. */
      const submitted = new Map(withIds.map((t) => [t.id, t]));
      /** Tasks whose publish JetStream acked; another task's outcome under the id of one not yet acked waits in `held`. */
      const acked = new Set<string>();
      const held = new Map<string, TaskOutcome>();
      const outcomes = new Map<string, TaskOutcome>();
      /** The tasks JetStream dropped as duplicates, and where their first submissions are. */
      const firstRuns = new Map<string, StoredAt>();
      const lookups = new AbortController();
      let completedCount = 0;
      let settle!: () => void;
      let fail!: (err: unknown) => void;
      const settled = new Promise<void>((resolve, reject) => {
        settle = resolve;
        fail = reject;
      });
      const record = (found: TaskOutcome): void => {
        const mine = submitted.get(found.taskId);
        if (!mine || outcomes.has(found.taskId)) return;
        const firstRun = firstRuns.get(found.taskId);
        let outcome: TaskOutcome = firstRun && (found.status === "completed" || found.status === "dead") ? { ...found, firstRun } : found;
        // Another task under the same id: its outcome is not this one's. Before the publish ack
        // says whether this one was a duplicate, it is held: a duplicate of other content ends
        // with it; a task that runs waits for its own.
        const other =
          found.status === "completed" ? !sameTask(found.completed.task, mine) : found.status === "dead" && deadLetterOfSameTask(found.dead, mine, subjects["task.submitted"]) === false;
        if (other) {
          if (!acked.has(found.taskId)) held.set(found.taskId, found);
          if (!firstRun) return;
          outcome = { status: "duplicate", taskId: found.taskId, ...firstRun, differs: true };
        } else if (firstRun) {
          options.onDuplicate?.(found.taskId, firstRun.stream, firstRun.seq);
        }
        outcomes.set(outcome.taskId, outcome);
        if (outcome.status === "completed") options.onCompleted?.(outcome.completed, ++completedCount);
        if (outcomes.size === submitted.size) settle();
      };
      const recordIf = (outcome: TaskOutcome | undefined): void => {
        if (outcome) record(outcome);
      };
      const handler = (read: (m: Msg) => void) => (err: Error | null, m: Msg) => (err ? fail(err) : read(m));
      // Subscribe before publishing so no completion or dead letter can be missed.
      const subs: Subscription[] = [
        nc.subscribe(subjects["task.completed"], { callback: handler((m) => recordIf(completedOutcome(m.data))) }),
        nc.subscribe(subjects["task.dead"], { callback: handler((m) => recordIf(deadOutcome(m.data, pipelineSubjects))) }),
      ];
      const timeoutMs = options.timeoutMs ?? 60_000;
      const timer = setTimeout(settle, timeoutMs);
      let probe: ReturnType<typeof setTimeout> | undefined;
      let done = false;
      try {
        const subject = subjects["task.submitted"];
        for (const t of withIds) {
          let ack: PubAck;
          try {
            ack = await js.publish(subject, JSON.stringify(t), { msgID: t.id });
          } catch (err) {
            throw publishFailure(err, subject, nc.getServer());
          }
          // JetStream drops a message whose id it stored within the duplicate window: that
          // submission's outcome is this one's, read from the stream or awaited while it runs.
          if (ack.duplicate) firstRuns.set(t.id, { stream: ack.stream, seq: ack.seq });
          acked.add(t.id);
          const early = held.get(t.id);
          held.delete(t.id);
          if (early && ack.duplicate) record(early);
        }
        // What the first submissions ended with and the live subscriptions missed (it came before
        // this run subscribed). Not readable here (a user without the rights, the stream gone): an
        // outcome that comes live still counts.
        const unresolved = new Map([...firstRuns].filter(([id]) => !outcomes.has(id)));
        if (unresolved.size > 0) readFirstRuns(js, subjects, pipelineSubjects, unresolved, record, (id) => outcomes.has(id), lookups.signal, options.lookupMaxMessages).catch(() => undefined);
        if (stall) {
          probe = setTimeout(() => {
            const waitingFor = submitted.size - outcomes.size;
            if (waitingFor === 0) return;
            void stallReason(nc, stall.stream, waitingFor, timeoutMs).then((reason) => {
              if (reason !== undefined && !done) stall.onStall(reason);
            });
          }, stall.afterMs ?? 5000);
        }
        await settled;
      } finally {
        done = true;
        lookups.abort();
        clearTimeout(timer);
        clearTimeout(probe);
        for (const sub of subs) sub.unsubscribe();
      }
      const all = withIds.map((t): TaskOutcome => {
        const firstRun = firstRuns.get(t.id);
        return outcomes.get(t.id) ?? (firstRun ? { status: "duplicate", taskId: t.id, ...firstRun } : { status: "pending", taskId: t.id });
      });
      const completions = all.flatMap((out) => (out.status === "completed" ? [out.completed] : []));
      if (completions.length === all.length) return completions;
      const timedOut = all.some((out) => out.status === "pending");
      // Looked at now, not when the stall probe ran: what the timeout says must be true at the end.
      const classifier = timedOut && stall ? await classifierState(nc, stall.stream) : undefined;
      const code = timedOut ? RUN_ERROR_CODES.RUN_TIMEOUT : all.some((out) => out.status === "dead") ? RUN_ERROR_CODES.TASK_DEAD : RUN_ERROR_CODES.TASK_DUPLICATE;
      const message = runFailureMessage(all, {
        timeoutMs,
        completedSubject: subjects["task.completed"],
        ...(stall ? { stream: stall.stream } : {}),
        ...(classifier ? { classifier } : {}),
      });
      throw new RunError(code, message, all);
    },
  };
}
