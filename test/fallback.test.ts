import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DEFAULT_CONFIG_INPUT } from "@llm-router/shared";
import { createHarness, waitFor, type Harness } from "./support/harness.js";

describe("fallback when a provider fails", () => {
  let h: Harness;

  beforeAll(async () => {
    // The cheapest local model always fails: every task it is picked for must fall back.
    const models = DEFAULT_CONFIG_INPUT.models.map((m) => (m.spec === "sim:local-small" ? { ...m, sim: { latencyMs: 0, failureRate: 1 } } : m));
    h = await createHarness({ config: { models, executor: { retries: 1, backoffMs: 1, maxBackoffMs: 5 } } });
    await h.startAll();
  });
  afterAll(async () => {
    await h?.close();
  });

  it("answers with the fallback model and the ledger records the failed and the successful calls", async () => {
    h.publishRaw(h.topology.subjects["task.submitted"], JSON.stringify({ id: "fb-1", prompt: "Hi there!" }));
    const task = await waitFor(async () => (await h.query<{ status: string; model: string }>("SELECT * FROM tasks WHERE task_id = 'fb-1'"))[0], {
      what: "ledger row for fb-1",
    });
    const [decision] = await h.query<{ model: string; fallbacks: string[] }>("SELECT model, fallbacks FROM decisions WHERE task_id = 'fb-1'");
    expect(decision?.model).toBe("sim:local-small");
    expect(task.status).toBe("succeeded");
    expect(task.model).toBe(decision?.fallbacks[0]);

    const calls = await h.query<{ model: string; ok: boolean; error_code: string | null; attempt: number }>(
      "SELECT model, ok, error_code, attempt FROM model_calls WHERE task_id = 'fb-1' ORDER BY attempt",
    );
    // One retry of the failing model (503 is retryable), then the fallback answers.
    expect(calls.map((c) => [c.model, c.ok, c.error_code])).toEqual([
      ["sim:local-small", false, "PROVIDER_UNAVAILABLE"],
      ["sim:local-small", false, "PROVIDER_UNAVAILABLE"],
      [decision?.fallbacks[0], true, null],
    ]);
  });

  it("completes a task as failed, with the errors, when every model fails", async () => {
    // Only the failing model is allowed (provider + capability constraints would not isolate it; localOnly + quality do).
    h.publishRaw(
      h.topology.subjects["task.submitted"],
      JSON.stringify({ id: "fb-all", prompt: "Hi again", constraints: { localOnly: true, maxLatencyMs: 500 } }),
    );
    const task = await waitFor(async () => (await h.query<{ status: string; error_code: string }>("SELECT * FROM tasks WHERE task_id = 'fb-all'"))[0], {
      what: "ledger row for fb-all",
    });
    expect(task.status).toBe("failed");
    expect(task.error_code).toBe("ALL_MODELS_FAILED");
    const calls = await h.query("SELECT * FROM model_calls WHERE task_id = 'fb-all'");
    expect(calls).toHaveLength(2);
  });
});
