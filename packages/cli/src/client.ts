/**
 * A small client for the pipeline: publish tasks on `task.submitted` (through JetStream, so
 * the publish is confirmed stored) and wait for their `task.completed`.
 */
import { randomUUID } from "node:crypto";
import { RequestError, type NatsConnection } from "@nats-io/transport-node";
import { jetstream } from "@nats-io/jetstream";
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

export function createRouterClient(nc: NatsConnection, subjects: Subjects): RouterClient {
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
      try {
        const subject = subjects["task.submitted"];
        for (const t of withIds) {
          try {
            await js.publish(subject, JSON.stringify(t), { msgID: t.id });
          } catch (err) {
            throw publishFailure(err, subject, nc.getServer());
          }
        }
        await collected;
      } finally {
        clearTimeout(timer);
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
