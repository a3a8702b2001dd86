/**
 * The CLI client on tasks that will never complete: one a stage dead-letters, and one JetStream
 * drops as a duplicate of an earlier submission with its id. The run says so at once, naming the
 * task and why, instead of waiting out its timeout and blaming the services; the other tasks of
 * the batch are waited for and reported.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { TaskCompleted } from "@llm-router/shared";
import { RUN_ERROR_CODES, RunError, createRouterClient, type RouterClient } from "../packages/cli/src/client.js";
import { createHarness, type Harness } from "./support/harness.js";

/** Just under the server's 1 MiB max_payload: stored, but the classified task it becomes is larger. */
const HUGE_PROMPT = "word ".repeat(209_660);

/** The run's rejection, which must be a RunError. */
async function runError(run: Promise<unknown>): Promise<RunError> {
  const err = await run.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(RunError);
  return err as RunError;
}

describe("the router client on tasks that will not complete", () => {
  let h: Harness;
  let client: RouterClient;

  beforeAll(async () => {
    h = await createHarness();
    await h.startAll();
    client = createRouterClient(h.nc, h.topology.subjects);
  });
  afterAll(async () => {
    await h?.close();
  });

  it("fails with the stage, code and reason when a stage dead-letters the task, long before the timeout", async () => {
    const started = Date.now();
    const err = await runError(client.run([{ id: "too-big", prompt: HUGE_PROMPT }], { timeoutMs: 45_000 }));
    expect(err.code).toBe(RUN_ERROR_CODES.TASK_DEAD);
    expect(err.message).toMatch(/^task too-big was dead-lettered by the classifier: MESSAGE_TOO_LARGE: .*max_payload/);
    expect(err.message).not.toContain("npm start");
    expect(err.outcomes).toEqual([expect.objectContaining({ status: "dead", taskId: "too-big", dead: expect.objectContaining({ stage: "classifier", code: "MESSAGE_TOO_LARGE" }) })]);
    expect(Date.now() - started).toBeLessThan(30_000);
  });

  it("waits for the rest of a batch and reports every task's outcome when one is dead-lettered", async () => {
    const seen: string[] = [];
    const err = await runError(
      client.run(
        [
          { id: "batch-ok", prompt: "What is the capital of France?" },
          { id: "batch-big", prompt: HUGE_PROMPT },
        ],
        { timeoutMs: 45_000, onCompleted: (c: TaskCompleted) => seen.push(c.task.id) },
      ),
    );
    expect(err.code).toBe(RUN_ERROR_CODES.TASK_DEAD);
    expect(err.outcomes.map((o) => [o.taskId, o.status])).toEqual([
      ["batch-ok", "completed"],
      ["batch-big", "dead"],
    ]);
    const [ok] = err.outcomes;
    expect(ok?.status === "completed" && ok.completed.result.status).toBe("succeeded");
    expect(seen).toEqual(["batch-ok"]);
    expect(err.message.split("\n")).toEqual(["1 of 2 tasks completed:", expect.stringMatching(/^ {2}task batch-big was dead-lettered by the classifier: MESSAGE_TOO_LARGE: /)]);
  });

  it("fails at once, saying what to do, when the task's id was already submitted within the duplicate window", async () => {
    const [first] = await client.run([{ id: "resubmitted", prompt: "Say hello." }], { timeoutMs: 20_000 });
    expect(first?.result.status).toBe("succeeded");

    const started = Date.now();
    const err = await runError(client.run([{ id: "resubmitted", prompt: "Say hello." }], { timeoutMs: 20_000 }));
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(err.code).toBe(RUN_ERROR_CODES.TASK_DUPLICATE);
    expect(err.outcomes).toEqual([{ status: "duplicate", taskId: "resubmitted", stream: h.topology.stream, seq: expect.any(Number) }]);
    expect(err.message).toContain(`task resubmitted was already submitted: ${h.topology.stream} stored a task with this id`);
    expect(err.message).toContain(`${h.topology.subjects["task.completed"]}`);
    expect(err.message).toContain("submit it with a new id (or none)");
    expect(err.message).not.toContain("timed out");
  });
});
