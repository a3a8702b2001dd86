import { describe, expect, it } from "vitest";
import { Task } from "@llm-router/shared";
import { taskIdFor, toTask } from "./accept-task.js";

const AT = new Date("2026-11-22T10:00:00.000Z");

describe("accepting a submission", () => {
  it("normalises {prompt} to a user message with the default tenant", () => {
    const task = toTask({ prompt: "hello" }, "t1", AT);
    expect(Task.parse(task)).toEqual({
      v: 1,
      id: "t1",
      tenant: "default",
      messages: [{ role: "user", content: "hello" }],
      constraints: {},
      submittedAt: "2026-11-22T10:00:00.000Z",
    });
  });

  it("puts the system prompt first and keeps the conversation", () => {
    const task = toTask(
      { system: "terse", messages: [{ role: "user", content: "a" }, { role: "assistant", content: "b" }, { role: "user", content: "c" }], tenant: "acme" },
      "t2",
      AT,
    );
    expect(task.messages.map((m) => m.role)).toEqual(["system", "user", "assistant", "user"]);
    expect(task.tenant).toBe("acme");
  });

  it("prefers the body id, then a valid Nats-Msg-Id header, then a derived id", () => {
    const derived = (): string => "derived";
    expect(taskIdFor({ id: "body", prompt: "x" }, "header", derived)).toBe("body");
    expect(taskIdFor({ prompt: "x" }, "header", derived)).toBe("header");
    expect(taskIdFor({ prompt: "x" }, "not a valid id", derived)).toBe("derived");
    expect(taskIdFor({ prompt: "x" }, undefined, derived)).toBe("derived");
  });
});
