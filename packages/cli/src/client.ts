/**
 * A small client for the pipeline: publish tasks on `task.submitted` (through JetStream, so
 * the publish is confirmed stored) and wait for their `task.completed`.
 */
import { randomUUID } from "node:crypto";
import type { NatsConnection } from "@nats-io/transport-node";
import { jetstream } from "@nats-io/jetstream";
import { TaskCompleted, decodeJson, type Subjects, type TaskSubmission } from "@llm-router/shared";

export interface RouterClient {
  /** Publish tasks and resolve with their completions (in submission order), or reject on timeout. */
  run(tasks: readonly TaskSubmission[], options?: { timeoutMs?: number; onCompleted?: (c: TaskCompleted, done: number) => void }): Promise<TaskCompleted[]>;
}

export function createRouterClient(nc: NatsConnection, subjects: Subjects): RouterClient {
  const js = jetstream(nc);
  return {
    async run(tasks, options = {}) {
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
        for (const t of withIds) await js.publish(subjects["task.submitted"], JSON.stringify(t), { msgID: t.id });
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
