/**
 * A client's submission as the pipeline's Task: shared by the classifier (each `task.submitted`)
 * and the `router.*` API (the classify and route dry runs), so both see the same task.
 */
import type { Task, TaskSubmission } from "./contracts.js";

export const DEFAULT_TENANT = "default";

/** The task for a submission: the prompt as a user message, the system prompt first, the default tenant. */
export function toTask(submission: TaskSubmission, id: string, submittedAt: Date): Task {
  const conversation = submission.messages ?? [{ role: "user" as const, content: submission.prompt ?? "" }];
  const messages = submission.system !== undefined ? [{ role: "system" as const, content: submission.system }, ...conversation] : conversation;
  return {
    v: 1,
    id,
    tenant: submission.tenant ?? DEFAULT_TENANT,
    messages,
    constraints: submission.constraints ?? {},
    ...(submission.maxOutputTokens !== undefined ? { maxOutputTokens: submission.maxOutputTokens } : {}),
    ...(submission.runId !== undefined ? { runId: submission.runId } : {}),
    ...(submission.metadata !== undefined ? { metadata: submission.metadata } : {}),
    submittedAt: submittedAt.toISOString(),
  };
}
