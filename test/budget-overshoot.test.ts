/**
 * Hard limits under concurrency, end to end on real NATS and Postgres: 64 tasks in flight through
 * two selectors and two executors, all wanting a paid cloud model, against a small global
 * budget. Reservations let only what the limit covers reach the cloud; the rest fall back to the
 * local model; the spend the ledger records never passes the limit by more than one reservation.
 */
import { Registry } from "prom-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { callCostUsd, ModelConfig } from "@llm-router/shared";
import { createHarness, waitFor, type Harness } from "./support/harness.js";

const CLOUD = ModelConfig.parse({ spec: "sim:cloud-pro", inputPerMtok: 10, outputPerMtok: 40, quality: 0.95, capabilities: ["chat"], contextWindow: 128000 });
const LOCAL = ModelConfig.parse({ spec: "sim:local-small", local: true, quality: 0.5, capabilities: ["chat"], contextWindow: 8192 });
const LIMIT_USD = 0.02;
const MAX_OUTPUT_TOKENS = 60;
const TASKS = 64;

describe("budget reservations under concurrency", () => {
  let h: Harness;
  const executorRegistries = [new Registry(), new Registry()];

  beforeAll(async () => {
    h = await createHarness({
      config: {
        models: [CLOUD, LOCAL],
        budgets: [{ scope: "global", window: "day", limitUsd: LIMIT_USD }],
        // Everything single, and a fallback to the local model for refused cloud calls.
        strategies: { byTier: { simple: "single", moderate: "single", complex: "single", expert: "single", critical: "single" } },
        policy: { fallbacks: 1, exploration: { enabled: false } },
      },
    });
    await h.startClassifier();
    await h.startSelector();
    await h.startSelector();
    await h.startExecutor({ registry: executorRegistries[0] });
    await h.startExecutor({ registry: executorRegistries[1] });
    await h.startLedger();
  });
  afterAll(async () => {
    await h?.close();
  });

  it(`keeps ${TASKS} concurrent tasks within the limit plus one reservation, sending the rest to the local model`, async () => {
    for (let i = 0; i < TASKS; i++) {
      const body = { id: `over-${i}`, prompt: `Say hello to guest number ${i}.`, maxOutputTokens: MAX_OUTPUT_TOKENS, constraints: { minQuality: 0.9 } };
      h.publishRaw(h.topology.subjects["task.submitted"], JSON.stringify(body));
    }
    const rows = await waitFor(
      async () => {
        const r = await h.query<{ status: string; model: string }>("SELECT status, model FROM tasks WHERE task_id LIKE 'over-%'");
        return r.length === TASKS ? r : undefined;
      },
      { what: `${TASKS} ledger rows`, timeoutMs: 60_000 },
    );
    expect(rows.every((r) => r.status === "succeeded")).toBe(true);
    const cloud = rows.filter((r) => r.model === CLOUD.spec).length;
    const local = rows.filter((r) => r.model === LOCAL.spec).length;
    expect(cloud).toBeGreaterThan(0);
    expect(local).toBeGreaterThan(0);

    const [spend] = await h.query<{ total: string }>("SELECT coalesce(sum(cost_usd), 0)::text AS total FROM model_calls WHERE task_id LIKE 'over-%'");
    const spent = Number(spend?.total);
    // One reservation: the largest estimate of one call (input estimate + all its output tokens).
    const oneReservation = callCostUsd(CLOUD, 50, MAX_OUTPUT_TOKENS);
    expect(spent).toBeLessThanOrEqual(LIMIT_USD + oneReservation);
    // And the budget was really used, not left idle: within a few calls of the limit.
    expect(spent).toBeGreaterThan(LIMIT_USD / 2);

    // Refused calls are recorded as such and cost nothing.
    const refused = await h.query<{ n: string }>("SELECT count(*)::text AS n FROM model_calls WHERE task_id LIKE 'over-%' AND error_code = 'BUDGET_EXHAUSTED'");
    expect(Number(refused[0]?.n ?? 0)).toBe(0); // a refusal is not a call: nothing was sent, nothing billed

    // Every reservation settled: nothing held, exactly (not a float's remainder of the sums).
    for (const registry of executorRegistries) {
      const held = (await registry.getSingleMetric("router_budget_reserved_usd")?.get())?.values ?? [];
      expect(held.map((v) => [v.labels.scope, v.value])).toEqual([["global", 0]]);
    }
  });
});
