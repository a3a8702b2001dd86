import { describe, expect, it } from "vitest";
import { METADATA_MAX_DEPTH, nestsDeeperThan, RoutingDecision, TaskCompleted, TaskFeedback, TaskSubmission } from "./contracts.js";
import { SUBJECT_CATALOG, createSubjects } from "./subjects.js";
import { decodeJson } from "./worker.js";

const bytes = (s: string): Uint8Array => new TextEncoder().encode(s);

describe("the message contract", () => {
  it("accepts the smallest submissions: {prompt} or {messages}", () => {
    expect(TaskSubmission.safeParse({ prompt: "hi" }).success).toBe(true);
    expect(TaskSubmission.safeParse({ messages: [{ role: "user", content: "hi" }] }).success).toBe(true);
  });

  it("accepts every optional submission field", () => {
    const full = {
      v: 1,
      id: "task-1",
      prompt: "hi",
      system: "be brief",
      tenant: "acme",
      constraints: { maxCostUsd: 0.01, maxLatencyMs: 2000, minQuality: 0.7, provider: "ollama", requiredCapabilities: ["code"], localOnly: true },
      maxOutputTokens: 256,
      metadata: { team: "search" },
    };
    expect(TaskSubmission.parse(full)).toEqual(full);
  });

  it("rejects a submission with neither or both of prompt and messages", () => {
    expect(TaskSubmission.safeParse({}).success).toBe(false);
    expect(TaskSubmission.safeParse({ prompt: "a", messages: [{ role: "user", content: "b" }] }).success).toBe(false);
    expect(TaskSubmission.safeParse({ messages: [{ role: "system", content: "only system" }] }).success).toBe(false);
  });

  it("rejects ids that cannot be a message id and unknown versions", () => {
    expect(TaskSubmission.safeParse({ id: "has space", prompt: "x" }).success).toBe(false);
    expect(TaskSubmission.safeParse({ v: 2, prompt: "x" }).success).toBe(false);
  });

  it("requires a score or a success flag on feedback", () => {
    expect(TaskFeedback.safeParse({ taskId: "t1" }).success).toBe(false);
    expect(TaskFeedback.safeParse({ taskId: "t1", score: 0.8 }).success).toBe(true);
    expect(TaskFeedback.safeParse({ taskId: "t1", success: false, comment: "wrong" }).success).toBe(true);
    expect(TaskFeedback.safeParse({ taskId: "t1", score: 1.5 }).success).toBe(false);
  });

  it("models decisions as a discriminated union: an error or a model, never both", () => {
    const common = { reason: "r", policyVersion: "p", registryVersion: "g", statsId: "empty", budget: { state: "ok", revision: 0 }, decidedAt: "2026-01-01T00:00:00.000Z" };
    expect(RoutingDecision.safeParse({ ok: false, error: { code: "NO_ELIGIBLE_MODEL", message: "m" }, ...common }).success).toBe(true);
    expect(RoutingDecision.safeParse({ ok: true, error: { code: "X", message: "m" }, ...common }).success).toBe(false);
  });

  it("maps every subject to a schema and prefixes subjects for isolation", () => {
    expect(Object.keys(SUBJECT_CATALOG).sort()).toEqual(
      ["budget.exceeded", "budget.restored", "budget.soft_limit", "task.approval.denied", "task.approval.granted", "task.approval.requested", "task.classified", "task.completed", "task.dead", "task.feedback", "task.routed", "task.submitted"].sort(),
    );
    const s = createSubjects("t1.");
    expect(s["task.submitted"]).toBe("t1.task.submitted");
    expect(s.tasksWildcard).toBe("t1.task.>");
    expect(createSubjects()["budget.exceeded"]).toBe("budget.exceeded");
  });
});

describe("what a submission must say", () => {
  const nested = (depth: number): unknown => {
    let v: unknown = 1;
    for (let i = 0; i < depth; i++) v = i % 2 ? [v] : { v };
    return v;
  };

  it("refuses a blank prompt or a blank last user message, with the field", () => {
    for (const body of [{ prompt: "" }, { prompt: " \n\t" }, { messages: [{ role: "user", content: "  " }] }, { messages: [{ role: "user", content: "hi" }, { role: "assistant", content: "?" }, { role: "user", content: "" }] }]) {
      const r = TaskSubmission.safeParse(body);
      expect(r.success, JSON.stringify(body)).toBe(false);
    }
    // An empty earlier turn or system prompt is fine: the request is the last user message.
    expect(TaskSubmission.safeParse({ messages: [{ role: "user", content: "" }, { role: "assistant", content: "" }, { role: "user", content: "go on" }] }).success).toBe(true);
  });

  it("refuses a tenant with control characters: it names budget scopes and ledger rows", () => {
    expect(TaskSubmission.safeParse({ prompt: "hi", tenant: "acme-eu" }).success).toBe(true);
    for (const tenant of ["a\u0000b", "a\nb", "\u007f"]) expect(TaskSubmission.safeParse({ prompt: "hi", tenant }).success, JSON.stringify(tenant)).toBe(false);
  });

  it("refuses a tenant holding a lone surrogate, and takes one with a character beyond the BMP", () => {
    expect(TaskSubmission.safeParse({ prompt: "hi", tenant: "acme-\u{1F600}" }).success).toBe(true);
    for (const tenant of ["a\ud800", "\udc00b", "a\ude00\ud83d"]) {
      const parsed = TaskSubmission.safeParse({ prompt: "hi", tenant });
      expect(parsed.success, JSON.stringify(tenant)).toBe(false);
      expect(parsed.error?.issues[0]?.message).toContain("lone surrogate");
    }
  });

  it("refuses metadata nested deeper than METADATA_MAX_DEPTH, however deep, without recursing", () => {
    expect(nestsDeeperThan(nested(METADATA_MAX_DEPTH - 1), METADATA_MAX_DEPTH)).toBe(false);
    expect(nestsDeeperThan(nested(METADATA_MAX_DEPTH + 1), METADATA_MAX_DEPTH)).toBe(true);
    expect(nestsDeeperThan(nested(200_000), METADATA_MAX_DEPTH)).toBe(true);
    expect(TaskSubmission.safeParse({ prompt: "hi", metadata: { trace: nested(10) } }).success).toBe(true);
    const r = TaskSubmission.safeParse({ prompt: "hi", metadata: { trace: nested(100) } });
    expect(r.success).toBe(false);
    expect(JSON.stringify(r.error?.issues)).toContain("nests deeper than 32 levels");
  });
});

describe("decodeJson", () => {
  it("returns the parsed value for a valid message", () => {
    const d = decodeJson(TaskSubmission, bytes('{"prompt":"hi"}'));
    expect(d).toEqual({ ok: true, value: { prompt: "hi" } });
  });

  it("reports undecodable payloads with MESSAGE_UNDECODABLE", () => {
    expect(decodeJson(TaskSubmission, bytes("{nope"))).toMatchObject({ ok: false, code: "MESSAGE_UNDECODABLE" });
    expect(decodeJson(TaskSubmission, new Uint8Array([0xff, 0xfe, 0x00]))).toMatchObject({ ok: false, code: "MESSAGE_UNDECODABLE" });
  });

  it("reports schema violations with the field and the task id when there is one", () => {
    const d = decodeJson(TaskSubmission, bytes('{"id":"t-9","prompt":""}'));
    expect(d).toMatchObject({ ok: false, code: "MESSAGE_INVALID", taskId: "t-9" });
    expect(!d.ok && d.reason).toMatch(/^prompt:/);
  });

  it("finds the task id inside wrapped messages", () => {
    const d = decodeJson(TaskCompleted, bytes('{"v":1,"task":{"id":"inner-1"}}'));
    expect(d).toMatchObject({ ok: false, taskId: "inner-1" });
  });
});
