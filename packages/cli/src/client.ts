/**
 * A small client for the pipeline: publish tasks on `task.submitted` (through JetStream, so
 * the publish is confirmed stored) and wait for their `task.completed`.
 */
import { randomUUID } from "node:crypto";
import { RequestError, type NatsConnection } from "@nats-io/transport-node";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { ERROR_CODES, RouterError, TaskCompleted, TaskSubmission, decodeJson, describeZodError, type Subjects } from "@llm-router/shared";

export interface RouterClient {
  /**
   * Publish tasks and resolve with their completions (in submission order), or reject on timeout.
   * Rejects with RouterError `MESSAGE_INVALID` before publishing anything when a task is not a valid
   * submission (the pipeline would dead-letter it, and the wait would time out), and
   * `SERVICE_UNAVAILABLE` when no stream stores `task.submitted`.
   */
  run(tasks: readonly TaskSubmission[], options?: { timeoutMs?: number; onCompleted?: (c: TaskCompleted, done: number) => void }): Promise<TaskCompleted[]>;
}

/** Each task, checked against the `task.submitted` schema. @throws RouterError MESSAGE_INVALID naming the first invalid task. */
export function checkSubmissions(tasks: readonly TaskSubmission[]): void {
  tasks.forEach((t, i) => {
    const parsed = TaskSubmission.safeParse(t);
    if (!parsed.success) {
      const which = tasks.length > 1 ? `task ${i + 1} of ${tasks.length}` : "the task";
      throw new RouterError(ERROR_CODES.MESSAGE_INVALID, `${which} is not a valid submission: ${describeZodError(parsed.error)}`);
    }
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
 * Why tasks published on `stream` may not move, or undefined when a classifier is asking for
 * them: its consumer is missing (the router never ran with this config), or it has no pull
 * request waiting — no classifier running, or every one busy. Undefined as well when JetStream
 * cannot say (the wait goes on and its timeout speaks).
 */
export async function stallReason(nc: NatsConnection, stream: string, waitingFor: number, timeoutMs: number): Promise<string | undefined> {
  const seconds = timeoutMs / 1000;
  try {
    const jsm = await jetstreamManager(nc);
    const info = await jsm.consumers.info(stream, "classifier").catch(() => undefined);
    if (!info) return `stream ${stream} has no classifier consumer: the router has not run with this config (npm start); waiting up to ${seconds} s`;
    if (info.num_waiting > 0) return undefined;
    const queued = info.num_pending + info.num_ack_pending;
    return `no classifier is asking for tasks (${queued} queued on ${stream}, ${waitingFor} of them yours): is the router running (npm start)? The tasks stay in the stream and run when it starts; waiting up to ${seconds} s`;
  } catch {
    return undefined;
  }
}

export function createRouterClient(nc: NatsConnection, subjects: Subjects, stall?: StallProbe): RouterClient {
  const js = jetstream(nc);
  return {
    async run(tasks, options = {}) {
      checkSubmissions(tasks);
      const withIds = tasks.map((t) => ({ ...t, id: t.id ?? randomUUID() }));
      const waiting = new Map(withIds.map((t) => [t.id, t]));
      const results = new Map<string, TaskCompleted>();
      // Subscribe before publishing so no completion can be missed.
      const sub = nc.subscribe(subjects["task.completed"]);
      const collected = (async () => {
        for await (const m of sub) {
          const decoded = decodeJson(TaskCompleted, m.data);
          if (!decoded.ok || !waiting.has(decoded.value.task.id)) continue;
          waiting.delete(decoded.value.task.id);
          results.set(decoded.value.task.id, decoded.value);
          options.onCompleted?.(decoded.value, results.size);
          if (waiting.size === 0) break;
        }
      })();
      const timeoutMs = options.timeoutMs ?? 60_000;
      const timer = setTimeout(() => sub.unsubscribe(), timeoutMs);
      let probe: ReturnType<typeof setTimeout> | undefined;
      let settled = false;
      try {
        const subject = subjects["task.submitted"];
        for (const t of withIds) {
          try {
            await js.publish(subject, JSON.stringify(t), { msgID: t.id });
          } catch (err) {
            throw publishFailure(err, subject, nc.getServer());
          }
        }
        if (stall) {
          probe = setTimeout(() => {
            if (waiting.size === 0) return;
            void stallReason(nc, stall.stream, waiting.size, timeoutMs).then((reason) => {
              if (reason !== undefined && !settled) stall.onStall(reason);
            });
          }, stall.afterMs ?? 5000);
        }
        await collected;
      } finally {
        settled = true;
        clearTimeout(timer);
        clearTimeout(probe);
        sub.unsubscribe();
      }
      if (waiting.size > 0) {
        throw new Error(
          `timed out after ${timeoutMs} ms waiting for ${waiting.size} of ${withIds.length} task(s); are the four services running (npm start)?`,
        );
      }
      return withIds.map((t) => results.get(t.id) as TaskCompleted);
    },
  };
}
