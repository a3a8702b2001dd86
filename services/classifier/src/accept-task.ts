/**
 * Turns what a client published on `task.submitted` into the pipeline's Task. Clients may be
 * any NATS client: the body may be as small as `{"prompt": "..."}` with no id and no version.
 */
import type { JsMsg } from "@nats-io/jetstream";
import { type Task, TaskId, TaskSubmission, decodeJson, deriveMessageId, toTask, type Decoded } from "@llm-router/shared";

// Moved to @llm-router/shared (the router.* API builds tasks too); re-exported for existing callers.
export { DEFAULT_TENANT, toTask } from "@llm-router/shared";

/**
 * The task id, in order of preference: the body's `id`, the `Nats-Msg-Id` header (the
 * client's own idempotency key), else an id derived from the stream message so that a
 * redelivery of the same message keeps the same id.
 */
export function taskIdFor(submission: TaskSubmission, headerMsgId: string | undefined, derived: () => string): string {
  if (submission.id !== undefined) return submission.id;
  if (headerMsgId !== undefined && TaskId.safeParse(headerMsgId).success) return headerMsgId;
  return derived();
}

/** Decode and normalise a `task.submitted` message; never throws. */
export function decodeSubmission(msg: JsMsg, stream: string): Decoded<Task> {
  const decoded = decodeJson(TaskSubmission, msg.data);
  if (!decoded.ok) return decoded;
  const id = taskIdFor(decoded.value, msg.headers?.get("Nats-Msg-Id") || undefined, () => deriveMessageId(msg, stream));
  // The stream's timestamp, not the clock: a redelivery yields the same task.
  return { ok: true, value: toTask(decoded.value, id, new Date(msg.info.timestampNanos / 1e6)) };
}
