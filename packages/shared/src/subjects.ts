/**
 * The subject catalog: every subject the pipeline uses, mapped to its schema. A deployment
 * may prefix every subject (tests use this to isolate themselves on a shared server).
 */
import type { z } from "zod";
import {
  BudgetState,
  TaskApprovalDecision,
  TaskApprovalRequested,
  TaskClassified,
  TaskCompleted,
  TaskDead,
  TaskFeedback,
  TaskRouted,
  TaskSubmission,
} from "./contracts.js";

export const SUBJECT_CATALOG = {
  "task.submitted": TaskSubmission,
  "task.classified": TaskClassified,
  "task.routed": TaskRouted,
  "task.completed": TaskCompleted,
  "task.feedback": TaskFeedback,
  "task.dead": TaskDead,
  "task.approval.requested": TaskApprovalRequested,
  "task.approval.granted": TaskApprovalDecision,
  "task.approval.denied": TaskApprovalDecision,
  "budget.soft_limit": BudgetState,
  "budget.exceeded": BudgetState,
  "budget.restored": BudgetState,
} as const;

export type SubjectName = keyof typeof SUBJECT_CATALOG;
export type SubjectPayload<S extends SubjectName> = z.infer<(typeof SUBJECT_CATALOG)[S]>;

/** Subject names resolved against a prefix (`""` in production, `"t_ab12."` in a test). */
export type Subjects = { readonly [S in SubjectName]: string } & {
  readonly prefix: string;
  /** Wildcard captured by the TASKS stream. */
  readonly tasksWildcard: string;
  /** Wildcard captured by the BUDGET stream. */
  readonly budgetWildcard: string;
};

export function createSubjects(prefix = ""): Subjects {
  const out: Record<string, string> = { prefix, tasksWildcard: `${prefix}task.>`, budgetWildcard: `${prefix}budget.>` };
  for (const name of Object.keys(SUBJECT_CATALOG)) out[name] = `${prefix}${name}`;
  return out as unknown as Subjects;
}
