/**
 * An approval wait through rolling restarts of the executor: each stopping executor hands the
 * waiting task to the next one without using up one of its deliveries (JetStream counts each),
 * and the next one replays the ensemble from the call journal instead of paying for it again.
 */
import { Registry } from "prom-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { TaskApprovalRequested } from "@llm-router/shared";
import { createHarness, waitFor, type Harness, type Stoppable } from "./support/harness.js";

describe("an approval wait through executor restarts", () => {
  let h: Harness;
  let requests: ReturnType<Harness["collect"]>;

  beforeAll(async () => {
    // Two deliveries at most: before hand-offs, the third restart dead-lettered the task.
    h = await createHarness({ config: { nats: { maxDeliver: 2 }, strategies: { ensemble: { size: 3, approval: { required: true, timeoutMs: 60_000 } } } } });
    requests = h.collect(h.topology.subjects["task.approval.requested"]);
    await h.startLedger();
    await h.startSelector();
    await h.startClassifier();
  });
  afterAll(async () => {
    requests?.stop();
    await h?.close();
  });

  const asked = (id: string): number => requests.json<TaskApprovalRequested>().filter((r) => r.taskId === id).length;

  it("survives more restarts than maxDeliver, pays for the ensemble once, and completes on the grant", async () => {
    // Each executor's own metrics: the model calls all of them made.
    const registries: Registry[] = [];
    const startExecutor = (): Promise<Stoppable> => {
      const registry = new Registry();
      registries.push(registry);
      return h.startExecutor({ shutdownGraceMs: 100, registry });
    };
    const modelCalls = async (): Promise<number> => {
      let n = 0;
      for (const r of registries) for (const v of (await r.getSingleMetric("router_model_calls_total")?.get())?.values ?? []) n += v.value;
      return n;
    };
    let executor = await startExecutor();
    h.publishRaw(h.topology.subjects["task.submitted"], JSON.stringify({ id: "handoff-1", prompt: "Deploy the new build to production and rotate the admin credentials." }));
    await waitFor(() => asked("handoff-1") === 1, { what: "the first approval request" });
    for (let restart = 1; restart <= 3; restart++) {
      await executor.stop();
      executor = await startExecutor();
      // Every delivery asks again (the stream keeps the first request; its expiry and answer stand).
      await waitFor(() => asked("handoff-1") === restart + 1, { what: `the wait taken over after restart ${restart}` });
    }
    h.publishRaw(h.topology.subjects["task.approval.granted"], JSON.stringify({ taskId: "handoff-1", by: "oncall" }));
    const task = await waitFor(async () => (await h.query<{ status: string; error_code: string | null }>("SELECT status, error_code FROM tasks WHERE task_id = 'handoff-1'"))[0], {
      what: "the task in the ledger",
    });
    expect(task).toEqual({ status: "succeeded", error_code: null });
    // Three members and a critic, called once: the takers-over replayed them from the journal.
    expect(await modelCalls()).toBe(4);
    const calls = await h.query<{ step: string }>("SELECT step FROM model_calls WHERE task_id = 'handoff-1'");
    expect(calls.map((c) => c.step).sort()).toEqual(["critic", "member", "member", "member"]);
    expect(await h.query("SELECT 1 FROM dead_letters WHERE task_id = 'handoff-1'")).toHaveLength(0);
  }, 60_000);
});
