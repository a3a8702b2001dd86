import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { TaskCompleted, TaskDead } from "@llm-router/shared";
import { createHarness, waitFor, type Harness } from "./support/harness.js";

interface TaskRow {
  task_id: string;
  status: string;
  model: string | null;
  cost_usd: string;
  tenant: string;
  task_type: string;
  complexity: string;
}

describe("the pipeline, end to end against real NATS and Postgres", () => {
  let h: Harness;

  beforeAll(async () => {
    h = await createHarness();
    await h.startAll();
  });
  afterAll(async () => {
    await h?.close();
  });

  const taskRow = (id: string) => async () => (await h.query<TaskRow>("SELECT * FROM tasks WHERE task_id = $1", [id]))[0];

  it("turns a plain core-NATS publish of {prompt} into a ledger row with its decision, call and cost", async () => {
    const completions = h.collect(h.topology.subjects["task.completed"]);
    h.publishRaw(h.topology.subjects["task.submitted"], JSON.stringify({ id: "plain-1", prompt: "Hello! How are you today?" }));

    const row = await waitFor(taskRow("plain-1"), { what: "ledger row for plain-1" });
    expect(row.status).toBe("succeeded");
    expect(row.tenant).toBe("default");
    expect(row.model).toMatch(/^sim:/);

    const [decision] = await h.query<{ model: string; reason: string; ok: boolean }>("SELECT * FROM decisions WHERE task_id = $1", ["plain-1"]);
    expect(decision?.ok).toBe(true);
    expect(decision?.model).toBe(row.model);
    expect(decision?.reason.length).toBeGreaterThan(10);

    const calls = await h.query<{ call_id: string; ok: boolean; cost_usd: string; input_tokens: number; output_tokens: number; model: string }>(
      "SELECT * FROM model_calls WHERE task_id = $1",
      ["plain-1"],
    );
    expect(calls).toHaveLength(1);
    expect(calls[0]?.ok).toBe(true);
    expect(calls[0]?.input_tokens).toBeGreaterThan(0);
    expect(calls[0]?.output_tokens).toBeGreaterThan(0);

    // The completion event carries the same figures the ledger stored.
    const done = await waitFor(() => completions.json<TaskCompleted>().find((c) => c.task.id === "plain-1"));
    expect(done.result.status).toBe("succeeded");
    expect(Number(row.cost_usd)).toBeCloseTo(done.costUsd, 9);
    expect(done.result.status === "succeeded" && done.result.output).toContain("[simulated");
    completions.stop();
  });

  it("accepts {messages} and routes a cloud-class task to a cloud model with its cost billed", async () => {
    h.publishRaw(
      h.topology.subjects["task.submitted"],
      JSON.stringify({
        id: "messages-1",
        tenant: "acme",
        messages: [{ role: "user", content: "Explain how TCP congestion control reacts to packet loss." }],
        constraints: { minQuality: 0.9 },
      }),
    );
    const row = await waitFor(taskRow("messages-1"), { what: "ledger row for messages-1" });
    expect(row.tenant).toBe("acme");
    expect(row.model).toBe("sim:cloud-large");
    expect(Number(row.cost_usd)).toBeGreaterThan(0);
  });

  it("uses the Nats-Msg-Id header as the task id when the body has none", async () => {
    h.publishRaw(h.topology.subjects["task.submitted"], JSON.stringify({ prompt: "What is the capital of France?" }), "header-id-1");
    const row = await waitFor(taskRow("header-id-1"), { what: "ledger row for header-id-1" });
    expect(row.status).toBe("succeeded");
  });

  it("records the same task id published twice as one ledger entry, executed once", async () => {
    // Core subscribers see every publish, also those JetStream drops as duplicates: a second
    // execution of a task would show here as a second completion, whatever the ledger's keys keep out.
    const completions = h.collect(h.topology.subjects["task.completed"]);
    const body = JSON.stringify({ id: "dup-1", prompt: "Summarize: the cat sat on the mat." });
    h.publishRaw(h.topology.subjects["task.submitted"], body);
    h.publishRaw(h.topology.subjects["task.submitted"], body);
    h.publishRaw(h.topology.subjects["task.submitted"], JSON.stringify({ prompt: "same key, header form" }), "dup-2");
    h.publishRaw(h.topology.subjects["task.submitted"], JSON.stringify({ prompt: "same key, header form" }), "dup-2");
    await waitFor(taskRow("dup-1"));
    await waitFor(taskRow("dup-2"));
    // A later task that passed through every stage proves the duplicates had their chance.
    h.publishRaw(h.topology.subjects["task.submitted"], JSON.stringify({ id: "dup-sentinel", prompt: "hi" }));
    await waitFor(taskRow("dup-sentinel"));
    await new Promise((r) => setTimeout(r, 300));
    const rows = await h.query<{ n: string }>("SELECT count(*) AS n FROM tasks WHERE task_id IN ('dup-1','dup-2')");
    const calls = await h.query<{ n: string }>("SELECT count(*) AS n FROM model_calls WHERE task_id IN ('dup-1','dup-2')");
    expect(Number(rows[0]?.n)).toBe(2);
    expect(Number(calls[0]?.n)).toBe(2);
    const executed = completions.json<TaskCompleted>().map((c) => c.task.id).filter((id) => id.startsWith("dup-"));
    expect(executed.sort()).toEqual(["dup-1", "dup-2", "dup-sentinel"]);
    completions.stop();
  });

  it("dead-letters an invalid payload with a reason and keeps processing the next valid task", async () => {
    const dead = h.collect(h.topology.subjects["task.dead"]);
    h.publishRaw(h.topology.subjects["task.submitted"], "{not json");
    h.publishRaw(h.topology.subjects["task.submitted"], JSON.stringify({ id: "no-prompt" }));
    h.publishRaw(h.topology.subjects["task.submitted"], JSON.stringify({ id: "after-poison", prompt: "Translate 'good morning' into French." }));

    const row = await waitFor(taskRow("after-poison"), { what: "the valid task after the poison ones" });
    expect(row.status).toBe("succeeded");

    const letters = await waitFor(() => {
      const all = dead.json<TaskDead>();
      return all.length >= 2 ? all : undefined;
    });
    const undecodable = letters.find((d) => d.code === "MESSAGE_UNDECODABLE");
    const invalid = letters.find((d) => d.code === "MESSAGE_INVALID");
    expect(undecodable?.stage).toBe("classifier");
    expect(undecodable?.payload).toBe("{not json");
    expect(invalid?.reason).toMatch(/prompt/);
    expect(invalid?.taskId).toBe("no-prompt");

    // The ledger records dead letters too.
    const stored = await waitFor(async () => {
      const r = await h.query<{ code: string; stage: string }>("SELECT code, stage FROM dead_letters ORDER BY code");
      return r.length >= 2 ? r : undefined;
    });
    expect(stored.map((r) => r.code)).toEqual(["MESSAGE_INVALID", "MESSAGE_UNDECODABLE"]);
    dead.stop();
  });

  it("dead-letters invalid messages at every later stage too: selector, executor and ledger", async () => {
    const dead = h.collect(h.topology.subjects["task.dead"]);
    const stages = { selector: "task.classified", executor: "task.routed", ledger: "task.completed" } as const;
    for (const [stage, subject] of Object.entries(stages)) {
      h.publishRaw(h.topology.subjects[subject], "{not json");
      // Has a task id but is no message of its subject.
      h.publishRaw(h.topology.subjects[subject], JSON.stringify({ v: 1, task: { id: `bad-${stage}` } }));
    }
    const letters = await waitFor(() => {
      const all = dead.json<TaskDead>().filter((d) => d.stage !== "classifier");
      return all.length >= 6 ? all : undefined;
    });
    for (const stage of Object.keys(stages)) {
      const mine = letters.filter((d) => d.stage === stage);
      expect(mine.map((d) => d.code).sort(), stage).toEqual(["MESSAGE_INVALID", "MESSAGE_UNDECODABLE"]);
      expect(mine.every((d) => d.deliveryCount === 1), stage).toBe(true);
      expect(mine.find((d) => d.code === "MESSAGE_INVALID")?.taskId, stage).toBe(`bad-${stage}`);
    }
    const stored = await waitFor(async () => {
      const r = await h.query<{ stage: string; code: string }>("SELECT stage, code FROM dead_letters WHERE stage <> 'classifier' ORDER BY stage, code");
      return r.length >= 6 ? r : undefined;
    });
    expect(stored.map((r) => `${r.stage} ${r.code}`)).toEqual([
      "executor MESSAGE_INVALID",
      "executor MESSAGE_UNDECODABLE",
      "ledger MESSAGE_INVALID",
      "ledger MESSAGE_UNDECODABLE",
      "selector MESSAGE_INVALID",
      "selector MESSAGE_UNDECODABLE",
    ]);
    // Nothing of them reached the ledger as a task.
    expect(await h.query("SELECT 1 FROM tasks WHERE task_id LIKE 'bad-%'")).toHaveLength(0);
    dead.stop();
  });

  it("dead-letters at once, naming the task, what can never pass: an output over max_payload, metadata nested too deep, a blank request", async () => {
    const dead = h.collect(h.topology.subjects["task.dead"]);
    // Just under the server's 1 MiB max_payload: accepted, but the classified task it becomes is larger.
    const huge = JSON.stringify({ id: "too-big", prompt: "word ".repeat(209_660) });
    expect(Buffer.byteLength(huge)).toBeLessThan(1_048_576);
    h.publishRaw(h.topology.subjects["task.submitted"], huge);
    // 6,000 nested arrays: JSON.parse reads them, JSON.stringify (publishing them on) overflows the stack.
    h.publishRaw(h.topology.subjects["task.submitted"], `{"id":"too-deep","prompt":"hi","metadata":{"a":${"[".repeat(6000)}0${"]".repeat(6000)}}}`);
    h.publishRaw(h.topology.subjects["task.submitted"], JSON.stringify({ id: "blank", messages: [{ role: "user", content: " \n " }] }));

    const letters = await waitFor(() => {
      const all = dead.json<TaskDead>().filter((d) => ["too-big", "too-deep", "blank"].includes(d.taskId ?? ""));
      return all.length >= 3 ? all : undefined;
    });
    const byId = Object.fromEntries(letters.map((d) => [d.taskId, d]));
    expect(byId["too-big"]).toMatchObject({ code: "MESSAGE_TOO_LARGE", stage: "classifier", deliveryCount: 1 });
    expect(byId["too-big"]?.reason).toContain("max_payload");
    expect(byId["too-deep"]).toMatchObject({ code: "MESSAGE_INVALID", deliveryCount: 1 });
    expect(byId["too-deep"]?.reason).toContain("metadata: nests deeper than 32 levels");
    expect(byId["blank"]).toMatchObject({ code: "MESSAGE_INVALID" });
    expect(byId["blank"]?.reason).toContain("the last user message is empty or only whitespace");
    const stored = await waitFor(async () => {
      const r = await h.query<{ task_id: string }>("SELECT task_id FROM dead_letters WHERE task_id IN ('too-big', 'too-deep', 'blank') ORDER BY task_id");
      return r.length >= 3 ? r : undefined;
    });
    expect(stored.map((r) => r.task_id)).toEqual(["blank", "too-big", "too-deep"]);
    dead.stop();
  });
});
