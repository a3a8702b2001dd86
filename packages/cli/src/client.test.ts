import { describe, expect, it } from "vitest";
import { NoRespondersError, RequestError } from "@nats-io/transport-node";
import { ERROR_CODES, RouterError, toTask, type Task, type TaskCompleted, type TaskDead } from "@llm-router/shared";
import { checkSubmissions, deadLetterOfSameTask, publishFailure, runFailureMessage, sameTask, type TaskOutcome } from "./client.js";

const dead = (taskId: string): TaskOutcome => ({
  status: "dead",
  taskId,
  dead: { v: 1, stage: "selector", code: "NO_ELIGIBLE_MODEL", reason: "no model has the json capability", subject: "dev.task.classified", stream: "TASKS", streamSeq: 7, deliveryCount: 1, payload: "", payloadBytes: 0, taskId, at: "2026-03-01T00:00:00.000Z" } satisfies TaskDead,
});
const completed = (taskId: string): TaskOutcome => ({ status: "completed", taskId, completed: {} as TaskCompleted });
const message = (outcomes: TaskOutcome[], o: Partial<Parameters<typeof runFailureMessage>[1]> = {}): string =>
  runFailureMessage(outcomes, { timeoutMs: 60_000, completedSubject: "dev.task.completed", ...o });

describe("the router client", () => {
  it("refuses an invalid task before publishing anything, with the schema's reason", () => {
    expect(() => checkSubmissions([{ prompt: "fine" }, { prompt: "   " }])).toThrow(
      expect.objectContaining({ code: ERROR_CODES.MESSAGE_INVALID, message: "task 2 of 2 is not a valid submission: prompt: is empty or only whitespace" }),
    );
    expect(() => checkSubmissions([{ prompt: "x", constraints: { minQuality: 2 } }])).toThrow(expect.objectContaining({ code: ERROR_CODES.MESSAGE_INVALID }));
    expect(() => checkSubmissions([{ prompt: "fine", tenant: "acme" }])).not.toThrow();
  });

  it("refuses a batch in which two tasks share an id: the second would be dropped as a duplicate", () => {
    expect(() => checkSubmissions([{ id: "a", prompt: "one" }, { id: "b", prompt: "two" }, { id: "a", prompt: "three" }])).toThrow(
      expect.objectContaining({ code: ERROR_CODES.MESSAGE_INVALID, message: "task 3 of 3 has the id of task 1 (a): give each task its own id" }),
    );
  });

  it("tells a resubmission of the same task from another task under the same id", () => {
    const first = toTask({ prompt: "Say hello.", tenant: "acme" }, "t1", new Date("2026-12-02T06:00:00Z"));
    const stored = JSON.parse(JSON.stringify(first)) as Task;
    expect(sameTask(stored, { id: "t1", prompt: "Say hello.", tenant: "acme" })).toBe(true);
    expect(sameTask(stored, { id: "t1", messages: [{ role: "user", content: "Say hello." }], tenant: "acme" })).toBe(true);
    expect(sameTask(stored, { id: "t1", prompt: "Say goodbye.", tenant: "acme" })).toBe(false);
    expect(sameTask(stored, { id: "t1", prompt: "Say hello." })).toBe(false);
    expect(sameTask(stored, { id: "t1", prompt: "Say hello.", tenant: "acme", constraints: { localOnly: true } })).toBe(false);
    // What it asks, not how it is labelled or what a stage adds to it.
    expect(sameTask({ ...stored, metadata: { source: "retry" } }, { id: "t1", prompt: "Say hello.", tenant: "acme" })).toBe(true);
    expect(sameTask({ ...stored, v: 1, extra: true } as Task, { id: "t1", prompt: "Say hello.", tenant: "acme" })).toBe(true);
  });

  it("reads from a dead letter whether it was the same task, when its payload can say", () => {
    const letter = (subject: string, payload: string): TaskDead => ({ ...(dead("t1") as { dead: TaskDead }).dead, subject, payload });
    const mine = { id: "t1", prompt: "Say hello." };
    expect(deadLetterOfSameTask(letter("dev.task.submitted", JSON.stringify({ id: "t1", prompt: "Say hello." })), mine, "dev.task.submitted")).toBe(true);
    expect(deadLetterOfSameTask(letter("dev.task.submitted", JSON.stringify({ id: "t1", prompt: "Say goodbye." })), mine, "dev.task.submitted")).toBe(false);
    const classified = { task: JSON.parse(JSON.stringify(toTask({ prompt: "Say goodbye." }, "t1", new Date("2026-12-02T06:00:00Z")))) as Task };
    expect(deadLetterOfSameTask(letter("dev.task.classified", JSON.stringify(classified)), mine, "dev.task.submitted")).toBe(false);
    // Cut or left out: it cannot say.
    expect(deadLetterOfSameTask(letter("dev.task.submitted", '{"id": "t1", "prompt": "Say hel'), mine, "dev.task.submitted")).toBeUndefined();
    expect(deadLetterOfSameTask(letter("dev.task.routed", ""), mine, "dev.task.submitted")).toBeUndefined();
  });

  it("names a dead-lettered task with the stage, code and reason", () => {
    expect(message([dead("t1")])).toBe("task t1 was dead-lettered by the selector: NO_ELIGIBLE_MODEL: no model has the json capability");
  });

  it("says a duplicate was dropped, that its first run's outcome did not come, where it goes, and to submit with a new id", () => {
    expect(message([{ status: "duplicate", taskId: "t1", stream: "TASKS", seq: 42 }])).toBe(
      "task t1 was already submitted: TASKS stored a task with this id (sequence 42) within its duplicate window, so JetStream dropped this one, " +
        "and that submission's outcome was not in the stream and did not come within 60000 ms (it may still be running). " +
        "Its completion goes to dev.task.completed and the ledger's tasks table; to run the task again, submit it with a new id (or none)",
    );
  });

  it("blames the services on a timeout only when no classifier was asking for tasks", () => {
    const pending: TaskOutcome[] = [{ status: "pending", taskId: "t1" }, { status: "pending", taskId: "t2" }];
    expect(message(pending)).toBe("timed out after 60000 ms waiting for 2 of 2 task(s)");
    expect(message(pending, { stream: "TASKS", classifier: { state: "asking" } })).not.toContain("npm start");
    expect(message(pending, { stream: "TASKS", classifier: { state: "asking" } })).toMatch(/^timed out after 60000 ms waiting for 2 of 2 task\(s\): a classifier is asking for tasks, so the router is up;/);
    expect(message(pending, { stream: "TASKS", classifier: { state: "idle", queued: 5 } })).toBe(
      "timed out after 60000 ms waiting for 2 of 2 task(s): no classifier is asking for tasks (5 queued on TASKS); is the router running (npm start)? The tasks stay in the stream and run when it starts",
    );
    expect(message(pending, { stream: "TASKS", classifier: { state: "missing" } })).toContain("stream TASKS has no classifier consumer");
  });

  it("reports every task of a batch: how many completed, then each that did not", () => {
    expect(message([completed("ok"), dead("gone"), { status: "pending", taskId: "slow" }])).toBe(
      ["1 of 3 tasks completed:", "  task gone was dead-lettered by the selector: NO_ELIGIBLE_MODEL: no model has the json capability", "  timed out after 60000 ms waiting for 1 of 3 task(s)"].join("\n"),
    );
  });

  it("says that no stream stores task.submitted when JetStream has no responder for it", () => {
    // What js.publish throws then: "jetstream is not enabled", caused by a no-responders request error.
    const subject = "dev.task.submitted";
    const thrown = new Error("jetstream is not enabled", { cause: new RequestError("no responders", { cause: new NoRespondersError(subject) }) });
    const err = publishFailure(thrown, subject, "127.0.0.1:4222");
    expect(err).toBeInstanceOf(RouterError);
    expect(err).toMatchObject({ code: ERROR_CODES.SERVICE_UNAVAILABLE, cause: thrown });
    expect(err.message).toBe("no stream stores dev.task.submitted on 127.0.0.1:4222: start the router (npm start), or check NATS_URL and the subject prefix");
    const other = new Error("connection closed");
    expect(publishFailure(other, subject, "127.0.0.1:4222")).toBe(other);
  });
});
