/**
 * Model health, shared through KV so every selector replica stops routing to a broken model
 * within a second. Executors write it: a circuit breaker that opens puts the model here as
 * `open` until its cooldown ends (then the model is half-open: routable again, and the breaker
 * lets one probe through); a model whose provider has no credentials is `unavailable` for as
 * long as that lasts. A model absent from the snapshot is healthy.
 */
import type { KV } from "@nats-io/kv";
import { z } from "zod";
import { updateKvKey } from "./kv-view.js";

export const HEALTH_KV_KEY = "health";

export const ModelHealthEntry = z.object({
  state: z.enum(["open", "unavailable"]),
  /** For people: what failed, or which variable is missing. Never a secret. */
  reason: z.string(),
  since: z.iso.datetime(),
  /** `open` only: when the cooldown ends and the model may be probed again. */
  until: z.iso.datetime().optional(),
  /** The executor replica that wrote it. */
  by: z.string(),
});
export type ModelHealthEntry = z.infer<typeof ModelHealthEntry>;

export const HealthSnapshot = z.object({ v: z.literal(1), models: z.record(z.string(), ModelHealthEntry) });
export type HealthSnapshot = z.infer<typeof HealthSnapshot>;

export const EMPTY_HEALTH: HealthSnapshot = { v: 1, models: {} };

/** Why `spec` must not be routed to at `now`, or undefined when it may be. */
export function unhealthyReason(health: HealthSnapshot, spec: string, now: Date): string | undefined {
  const entry = Object.hasOwn(health.models, spec) ? health.models[spec] : undefined;
  if (!entry) return undefined;
  if (entry.state === "unavailable") return `unavailable (${entry.reason})`;
  if (entry.until !== undefined && Date.parse(entry.until) <= now.getTime()) return undefined; // half-open
  return `circuit open (${entry.reason})${entry.until === undefined ? "" : ` until ${entry.until}`}`;
}

/**
 * Change some models' entries (`undefined` removes one) with compare-and-set on the key, so
 * replicas writing at once never lose each other's updates. Returns the snapshot written.
 */
export async function updateHealth(kv: KV, change: (models: Record<string, ModelHealthEntry>) => void): Promise<HealthSnapshot> {
  const decode = (value: unknown): HealthSnapshot => HealthSnapshot.safeParse(value).data ?? EMPTY_HEALTH;
  const written = await updateKvKey(kv, HEALTH_KV_KEY, decode, (current) => {
    const models = { ...current.models };
    change(models);
    return { v: 1 as const, models };
  });
  return written ?? EMPTY_HEALTH;
}
