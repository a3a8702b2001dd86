/**
 * Counters a dashboard reads with increase() or rate() exist at 0 from the start: a series first
 * seen at 1 loses that increment (Prometheus has no earlier sample to count from), so the first
 * dead letter, failed task or failed call of a kind would never show.
 */
import { Registry } from "prom-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ERROR_CODES } from "@llm-router/shared";
import { createHarness, type Harness } from "./support/harness.js";

describe("counters at 0 before their first increment", () => {
  let h: Harness;
  const executor = new Registry();
  const ledger = new Registry();

  beforeAll(async () => {
    h = await createHarness({ config: { budgets: [{ scope: "tenant", window: "day", limitUsd: 1 }] } });
    await h.startExecutor({ registry: executor });
    await h.startLedger({ registry: ledger });
  });
  afterAll(async () => {
    await h?.close();
  });

  const series = async (registry: Registry, name: string): Promise<{ labels: Record<string, string | number>; value: number }[]> =>
    ((await registry.getSingleMetric(name)?.get())?.values ?? []) as { labels: Record<string, string | number>; value: number }[];
  const has = async (registry: Registry, name: string, labels: Record<string, string>): Promise<boolean> =>
    (await series(registry, name)).some((s) => s.value === 0 && Object.entries(labels).every(([k, v]) => s.labels[k] === v));

  it("has every stage outcome, dead-letter code, task status, call outcome, cost and refusal series before any task", async () => {
    for (const outcome of ["ok", "retry", "dead"]) expect(await has(executor, "router_stage_messages_total", { stage: "executor", outcome })).toBe(true);
    for (const code of [ERROR_CODES.MESSAGE_INVALID, ERROR_CODES.MAX_DELIVERIES_EXCEEDED, ERROR_CODES.INTERNAL]) {
      expect(await has(executor, "router_dead_letters_total", { stage: "executor", code })).toBe(true);
      expect(await has(ledger, "router_dead_letters_total", { stage: "ledger", code })).toBe(true);
    }
    expect(await has(executor, "router_redeliveries_total", { stage: "executor" })).toBe(true);
    for (const status of ["succeeded", "failed"]) {
      expect(await has(executor, "router_tasks_completed_total", { status })).toBe(true);
      expect(await has(ledger, "router_ledger_tasks_recorded_total", { status })).toBe(true);
    }
    for (const model of h.config.models.map((m) => m.spec)) {
      for (const outcome of ["ok", ERROR_CODES.PROVIDER_UNAVAILABLE, ERROR_CODES.RATE_LIMITED]) expect(await has(executor, "router_model_calls_total", { model, outcome })).toBe(true);
      expect(await has(executor, "router_model_cost_usd_total", { model })).toBe(true);
      expect(await has(executor, "router_retries_total", { model })).toBe(true);
    }
    expect(await has(executor, "router_budget_refusals_total", { scope: "tenant" })).toBe(true);
  });
});
