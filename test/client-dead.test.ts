/**
 * The CLI client on tasks that will never complete, and on resubmitted ones. A task a stage
 * dead-letters: the run says so at once, naming the task and why, instead of waiting out its
 * timeout and blaming the services; the other tasks of the batch are waited for and reported. A
 * task JetStream drops as a duplicate of an earlier submission with its id ends as that one did.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { TaskCompleted } from "@llm-router/shared";
import { RUN_ERROR_CODES, RunError, createRouterClient, type RouterClient } from "../packages/cli/src/client.js";
import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runTool } from "./support/cli.js";
import { completedTask } from "./support/completions.js";
import { createHarness, testConfigInput, type Harness, type Stoppable } from "./support/harness.js";

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
  let classifier: Stoppable;

  beforeAll(async () => {
    h = await createHarness();
    await h.startLedger();
    await h.startExecutor();
    await h.startSelector();
    classifier = await h.startClassifier();
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

  it("gives a resubmitted task (its id stored within the duplicate window) its first run's completion, read from the stream", async () => {
    const [first] = await client.run([{ id: "resubmitted", prompt: "Say hello." }], { timeoutMs: 20_000 });
    expect(first?.result.status).toBe("succeeded");

    const duplicates: [string, string, number][] = [];
    const started = Date.now();
    const [again] = await client.run([{ id: "resubmitted", prompt: "Say hello." }], { timeoutMs: 20_000, onDuplicate: (...d) => duplicates.push(d) });
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(again).toEqual(first);
    expect(duplicates).toEqual([["resubmitted", h.topology.stream, expect.any(Number)]]);

    // A resubmitted batch: one reading of the stream for all of them.
    const batch = [0, 1, 2].map((i) => ({ id: `resubmitted-batch-${i}`, prompt: `Say hello ${i} times.` }));
    const firsts = await client.run(batch, { timeoutMs: 20_000 });
    expect(await client.run(batch, { timeoutMs: 20_000 })).toEqual(firsts);

    // An older run's completion under an id, stored before that id's first submission in the
    // window (it fell out of the window, then came back), is not that submission's outcome, even
    // when the run's reading starts before it (at an earlier duplicate).
    const [a] = await client.run([{ id: "stale-a", prompt: "Say hello." }], { timeoutMs: 20_000 });
    const older = completedTask("stale-b", 0, new Date(Date.now() - 3_600_000));
    h.publishRaw(h.topology.subjects["task.completed"], JSON.stringify({ ...older, task: { ...older.task, messages: [{ role: "user", content: "An older question." }] } }));
    const [b] = await client.run([{ id: "stale-b", prompt: "Say hello twice." }], { timeoutMs: 20_000 });
    expect(await client.run([{ id: "stale-a", prompt: "Say hello." }, { id: "stale-b", prompt: "Say hello twice." }], { timeoutMs: 20_000 })).toEqual([a, b]);

    // Duplicates whose first submissions lie far apart (here more than the lookup's cap, 5, of
    // completions between them): each gets the cap after its own.
    const [far1] = await client.run([{ id: "far-1", prompt: "Say hello." }], { timeoutMs: 20_000 });
    await client.run([0, 1, 2, 3, 4, 5, 6].map((i) => ({ prompt: `Count to ${i}.` })), { timeoutMs: 20_000 });
    const [far2] = await client.run([{ id: "far-2", prompt: "Say hello." }], { timeoutMs: 20_000 });
    expect(await client.run([{ id: "far-1", prompt: "Say hello." }, { id: "far-2", prompt: "Say hello." }], { timeoutMs: 20_000, lookupMaxMessages: 5 })).toEqual([far1, far2]);

    // The same id on another task: the first one's answer is not this one's.
    const other = await runError(client.run([{ id: "resubmitted", prompt: "Say goodbye." }], { timeoutMs: 20_000 }));
    expect(other.code).toBe(RUN_ERROR_CODES.TASK_DUPLICATE);
    expect(other.outcomes).toEqual([{ status: "duplicate", taskId: "resubmitted", stream: h.topology.stream, seq: expect.any(Number), differs: true }]);
    expect(other.message).toContain("was already submitted with other content");
  });

  it("router submit --id twice: the second prints the first run's answer and says so", async () => {
    const dir = await mkdtemp(join(tmpdir(), "router-submit-id-"));
    const configFile = join(dir, "router.config.json");
    await writeFile(configFile, JSON.stringify(testConfigInput(h.id)));
    const env = { NATS_URL: h.natsUrl, ROUTER_CONFIG: configFile };
    const first = await runTool("packages/cli/src/main.ts", ["submit", "--id", "cli-resubmitted", "Say hello."], { env });
    expect(first.stdout).toMatch(/^task: {11}cli-resubmitted$/m);
    expect(first.stderr).toBe("");
    const second = await runTool("packages/cli/src/main.ts", ["submit", "--id", "cli-resubmitted", "Say hello."], { env });
    expect(second.stdout).toBe(first.stdout);
    expect(second.stderr).toMatch(new RegExp(`^task cli-resubmitted was already submitted \\(${h.topology.stream} #\\d+\\): this is that submission's outcome, not a new run`));
  }, 60_000);

  it("ends a resubmitted task as its first run ends: dead-lettered, or completing later while the client waits", async () => {
    await runError(client.run([{ id: "resubmitted-big", prompt: HUGE_PROMPT }], { timeoutMs: 45_000 }));
    const dead = await runError(client.run([{ id: "resubmitted-big", prompt: HUGE_PROMPT }], { timeoutMs: 20_000 }));
    expect(dead.code).toBe(RUN_ERROR_CODES.TASK_DEAD);
    expect(dead.outcomes).toEqual([expect.objectContaining({ status: "dead", taskId: "resubmitted-big", firstRun: { stream: h.topology.stream, seq: expect.any(Number) } })]);

    // The first submission is still queued (no classifier) when the same id comes again.
    await classifier.stop();
    h.publishRaw(h.topology.subjects["task.submitted"], JSON.stringify({ id: "resubmitted-late", prompt: "Say hello." }), "resubmitted-late");
    const waiting = client.run([{ id: "resubmitted-late", prompt: "Say hello." }], { timeoutMs: 30_000 });
    await new Promise((r) => setTimeout(r, 1000));
    classifier = await h.startClassifier();
    const [late] = await waiting;
    expect(late?.task.id).toBe("resubmitted-late");
    expect(late?.result.status).toBe("succeeded");
  }, 60_000);

  it("fails saying what to do when a resubmitted task's first run does not end in time", async () => {
    await classifier.stop();
    h.publishRaw(h.topology.subjects["task.submitted"], JSON.stringify({ id: "resubmitted-stuck", prompt: "Say hello." }), "resubmitted-stuck");
    const err = await runError(client.run([{ id: "resubmitted-stuck", prompt: "Say hello." }], { timeoutMs: 2_000 }));
    classifier = await h.startClassifier();
    expect(err.code).toBe(RUN_ERROR_CODES.TASK_DUPLICATE);
    expect(err.outcomes).toEqual([{ status: "duplicate", taskId: "resubmitted-stuck", stream: h.topology.stream, seq: expect.any(Number) }]);
    expect(err.message).toContain(`task resubmitted-stuck was already submitted: ${h.topology.stream} stored a task with this id`);
    expect(err.message).toContain("did not come within 2000 ms (it may still be running)");
    expect(err.message).toContain("submit it with a new id (or none)");
  });
});
