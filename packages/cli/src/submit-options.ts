/** The options of `router submit` and `router demo`, checked before anything is published. */
import { TaskSubmission, describeZodError } from "@llm-router/shared";
import { UsageError, numberOption } from "./args.js";

/** The parsed options `router submit` reads. */
export interface SubmitOptions {
  /** The task's id (submit only): the stream's idempotency key. */
  id?: string;
  tenant?: string;
  "min-quality"?: string;
  "max-cost"?: string;
  "local-only"?: boolean;
}

/**
 * The task `router submit` publishes.
 * @throws UsageError for an option out of range (naming it and its value) or a task the pipeline
 *   would refuse (with the schema's reason): refused here, it is not dead-lettered while we wait.
 */
export function submissionOf(prompt: string, o: SubmitOptions): TaskSubmission {
  const minQuality = o["min-quality"] === undefined ? undefined : numberOption("min-quality", o["min-quality"], "a number from 0 to 1", (q) => q >= 0 && q <= 1);
  const maxCost = o["max-cost"] === undefined ? undefined : numberOption("max-cost", o["max-cost"], "a cost in USD, 0 or more", (usd) => usd >= 0);
  const task = {
    ...(o.id === undefined ? {} : { id: o.id }),
    prompt,
    ...(o.tenant === undefined ? {} : { tenant: o.tenant }),
    constraints: {
      ...(minQuality === undefined ? {} : { minQuality }),
      ...(maxCost === undefined ? {} : { maxCostUsd: maxCost }),
      ...(o["local-only"] ? { localOnly: true } : {}),
    },
  };
  const parsed = TaskSubmission.safeParse(task);
  if (!parsed.success) throw new UsageError(`not a valid task: ${describeZodError(parsed.error)}`);
  return parsed.data;
}

/** `router demo --count N`: how many tasks to send, a whole number ≥ 1; `fallback` when not given. */
export function demoCount(raw: string | undefined, fallback: number): number {
  if (raw === undefined) return fallback;
  return numberOption("count", raw, "a whole number of tasks, 1 or more", (n) => Number.isInteger(n) && n >= 1);
}
