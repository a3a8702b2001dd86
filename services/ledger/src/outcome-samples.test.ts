import { describe, expect, it } from "vitest";
import { ERROR_CODES } from "@llm-router/shared";
import { callSample, feedbackSample } from "./outcome-samples.js";

const bucket = { taskType: "code", complexity: "simple" } as const;

describe("what the ledger teaches the outcome statistics", () => {
  it("counts a call that answered as reliable, with its cost and latency, and no score", () => {
    expect(callSample({ model: "sim:a", ok: true, costUsd: 0.002, latencyMs: 120 }, bucket)).toEqual({
      kind: "call",
      ok: true,
      model: "sim:a",
      taskType: "code",
      complexity: "simple",
      costUsd: 0.002,
      latencyMs: 120,
    });
  });

  it("charges a failure to the model only when it is the model's fault", () => {
    const failed = (errorCode: string) => callSample({ model: "sim:a", ok: false, errorCode, costUsd: 0, latencyMs: 900 }, bucket);
    for (const code of [ERROR_CODES.PROVIDER_UNAVAILABLE, ERROR_CODES.PROVIDER_TIMEOUT, ERROR_CODES.MALFORMED_RESPONSE, ERROR_CODES.RATE_LIMITED]) {
      expect(failed(code)).toMatchObject({ kind: "call", ok: false, modelsFault: true });
    }
    for (const code of [ERROR_CODES.DEADLINE_EXCEEDED, ERROR_CODES.BAD_REQUEST, ERROR_CODES.CONTENT_FILTERED, ERROR_CODES.OUTPUT_TRUNCATED, ERROR_CODES.PROVIDER_NOT_CONFIGURED, ERROR_CODES.CALL_INTERRUPTED]) {
      expect(failed(code)).toMatchObject({ kind: "call", ok: false, modelsFault: false });
    }
    expect(failed(ERROR_CODES.PROVIDER_UNAVAILABLE)).not.toHaveProperty("score");
  });

  it("turns feedback into a score: its own, else 1 or 0 from success", () => {
    const b = { task_type: "code", complexity: "simple", model: "sim:a" };
    expect(feedbackSample({ score: 0.25, success: null }, b)).toMatchObject({ kind: "feedback", score: 0.25 });
    expect(feedbackSample({ score: null, success: true }, b)).toMatchObject({ kind: "feedback", score: 1 });
    expect(feedbackSample({ score: null, success: false }, b)).toMatchObject({ kind: "feedback", score: 0 });
  });
});
