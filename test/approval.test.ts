/**
 * Execution strategies through the running pipeline on real NATS and Postgres: a critical task
 * runs as an ensemble, waits for a human on task.approval.*, and every sub-call reaches the ledger.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { TaskApprovalRequested } from "@llm-router/shared";
import { createApprover } from "../services/executor/src/approval.js";
import { createHarness, waitFor, type Harness } from "./support/harness.js";

describe("strategies and human approval", () => {
  let h: Harness;
  let requests: ReturnType<Harness["collect"]>;

  beforeAll(async () => {
    h = await createHarness({ config: { strategies: { ensemble: { size: 3, approval: { required: true, timeoutMs: 3000 } } } } });
    requests = h.collect(h.topology.subjects["task.approval.requested"]);
    await h.startAll();
  });
  afterAll(async () => {
    requests?.stop();
    await h?.close();
  });

  const submit = (id: string, prompt: string): void => h.publishRaw(h.topology.subjects["task.submitted"], JSON.stringify({ id, prompt }));
  const taskRow = (id: string) =>
    waitFor(async () => (await h.query<{ status: string; error_code: string | null; model: string | null }>("SELECT * FROM tasks WHERE task_id = $1", [id]))[0], {
      what: `ledger row for ${id}`,
    });
  const requestFor = (id: string) => waitFor(() => requests.json<TaskApprovalRequested>().find((r) => r.taskId === id), { what: `approval request for ${id}` });

  it("asks for approval of a critical task's ensemble answer and completes it once granted", async () => {
    submit("ap-1", "Deploy the new build to production and rotate the admin credentials.");
    const request = await requestFor("ap-1");
    expect(request.output.length).toBeGreaterThan(0);
    expect(Date.parse(request.expiresAt) - Date.parse(request.requestedAt)).toBe(3000);
    h.publishRaw(h.topology.subjects["task.approval.granted"], JSON.stringify({ taskId: "ap-1", by: "oncall" }));
    const task = await taskRow("ap-1");
    expect(task.status).toBe("succeeded");
    expect(task.model).toBe(request.model);
    const [decision] = await h.query<{ strategy: string }>("SELECT inputs->'decision'->>'strategy' AS strategy FROM decisions WHERE task_id = 'ap-1'");
    expect(decision?.strategy).toBe("ensemble");
    // Three members and a critic, each a billed call of its own, labelled with its step.
    const calls = await h.query<{ model: string; ok: boolean; step: string }>("SELECT model, ok, step FROM model_calls WHERE task_id = 'ap-1'");
    expect(calls).toHaveLength(4);
    expect(new Set(calls.map((c) => c.model)).size).toBe(3);
    expect(calls.map((c) => c.step).sort()).toEqual(["critic", "member", "member", "member"]);
  });

  it("fails the task with APPROVAL_DENIED when denied", async () => {
    submit("ap-2", "Delete the production database backups now.");
    await requestFor("ap-2");
    h.publishRaw(h.topology.subjects["task.approval.denied"], JSON.stringify({ taskId: "ap-2", by: "oncall", reason: "not during the freeze" }));
    const task = await taskRow("ap-2");
    expect(task).toMatchObject({ status: "failed", error_code: "APPROVAL_DENIED" });
  });

  it("fails the task with APPROVAL_TIMEOUT when nobody answers in time, ignoring other tasks' decisions", async () => {
    submit("ap-3", "Wire the payment credentials into the production deploy.");
    await requestFor("ap-3");
    h.publishRaw(h.topology.subjects["task.approval.granted"], JSON.stringify({ taskId: "some-other-task" }));
    const task = await taskRow("ap-3");
    expect(task).toMatchObject({ status: "failed", error_code: "APPROVAL_TIMEOUT" });
  });

  it("runs a moderate task as a plan-then-answer chain: two calls on the chosen model", async () => {
    submit("ch-1", "Compare two approaches to caching API responses, and explain which one you would choose for a small web service.");
    const task = await taskRow("ch-1");
    expect(task.status).toBe("succeeded");
    const calls = await h.query<{ model: string; step: string }>("SELECT model, step FROM model_calls WHERE task_id = 'ch-1' ORDER BY call_id");
    const [routed] = await h.query<{ model: string }>("SELECT model FROM decisions WHERE task_id = 'ch-1'");
    expect(calls.map((c) => c.model)).toEqual([routed?.model, routed?.model]);
    expect(calls.map((c) => c.step)).toEqual(["plan", "execute"]);
  });

  it("grants the answer the approver saw: a redelivery that produced another answer gets the first one back", async () => {
    const approve = createApprover({ js: h.js, topology: h.topology, log: h.log, now: () => new Date() });
    const ask = (output: string, signal: AbortSignal) => approve({ taskId: "ap-rerun", tenant: "default", model: "sim:cloud-large", output, costUsd: 0, timeoutMs: 5000 }, signal);
    // The first delivery asks about answer A, then its executor stops.
    const first = new AbortController();
    const asking = ask("answer A", first.signal);
    await requestFor("ap-rerun");
    first.abort(new Error("executor stopping"));
    await expect(asking).rejects.toThrow("executor stopping");
    // The redelivery ran the ensemble again (no journal) and has answer B; the stream still shows A.
    const second = ask("answer B", new AbortController().signal);
    await new Promise((r) => setTimeout(r, 200));
    h.publishRaw(h.topology.subjects["task.approval.granted"], JSON.stringify({ taskId: "ap-rerun", by: "oncall" }));
    expect(await second).toEqual({ granted: true, by: "oncall", reason: undefined, reviewed: { model: "sim:cloud-large", output: "answer A" } });
  });

  it("on a redelivery past the expiry, still finds a decision that was made in time, and ignores one made too late", async () => {
    const approve = createApprover({ js: h.js, topology: h.topology, log: h.log, now: () => new Date() });
    const ask = (taskId: string, signal: AbortSignal, timeoutMs = 2000) => approve({ taskId, tenant: "default", model: "sim:cloud-large", output: "o", costUsd: 0, timeoutMs }, signal);
    // A stop that comes before the wait has begun ends it too (not only after its timeout,
    // here an hour: the test's own 30 s limit would fail it).
    const stopped = new AbortController();
    stopped.abort(new Error("executor stopping"));
    await expect(ask("ap-stopped", stopped.signal, 3_600_000)).rejects.toThrow("executor stopping");
    for (const [taskId, decideAfterMs, expected] of [
      ["ap-late-ok", 100, { granted: true, by: "oncall" }],
      ["ap-late-no", 2300, { timedOut: true }],
    ] as const) {
      // The first delivery asks, then its executor stops before a decision arrives.
      const first = new AbortController();
      const asking = ask(taskId, first.signal);
      await requestFor(taskId);
      first.abort(new Error("executor stopping"));
      await expect(asking).rejects.toThrow("executor stopping");
      // Granted well before the expiry (2 s) or after it; the redelivery comes later still.
      await new Promise((r) => setTimeout(r, decideAfterMs));
      h.publishRaw(h.topology.subjects["task.approval.granted"], JSON.stringify({ taskId, by: "oncall" }));
      await new Promise((r) => setTimeout(r, 2600 - decideAfterMs));
      expect(await ask(taskId, new AbortController().signal)).toMatchObject(expected);
    }
  }, 30_000);
});
