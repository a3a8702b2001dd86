import { describe, expect, it } from "vitest";
import { UsageError } from "./args.js";
import { demoCount, submissionOf } from "./submit-options.js";

describe("router submit's options", () => {
  it("puts checked constraints on the task", () => {
    expect(submissionOf("hi", { tenant: "acme", "min-quality": "0.7", "max-cost": "0", "local-only": true })).toEqual({
      prompt: "hi",
      tenant: "acme",
      constraints: { minQuality: 0.7, maxCostUsd: 0, localOnly: true },
    });
    expect(submissionOf("hi", {})).toEqual({ prompt: "hi", constraints: {} });
  });

  it("refuses a minimum quality outside 0..1 or not a number, naming the option and the value", () => {
    for (const raw of ["abc", "2", "-0.1", "", "0x1"]) {
      expect(() => submissionOf("hi", { "min-quality": raw }), raw).toThrow(UsageError);
    }
    expect(() => submissionOf("hi", { "min-quality": "abc" })).toThrow("--min-quality: expected a number from 0 to 1, got abc");
  });

  it("refuses a negative cost cap", () => {
    expect(() => submissionOf("hi", { "max-cost": "-1" })).toThrow("--max-cost: expected a cost in USD, 0 or more, got -1");
    expect(() => submissionOf("hi", { "max-cost": "Infinity" })).toThrow(UsageError);
  });

  it("refuses a task the pipeline would dead-letter, with the schema's reason", () => {
    // A tenant names budget scopes and KV keys: no control characters, at most 64 characters.
    expect(() => submissionOf("hi", { tenant: "a\u0007b" })).toThrow(/^not a valid task: tenant: tenant may not contain control characters$/);
    expect(() => submissionOf("hi", { tenant: "x".repeat(65) })).toThrow(/tenant: /);
    expect(() => submissionOf("hi", { tenant: "" })).toThrow(UsageError);
  });
});

describe("router demo --count", () => {
  it("takes a whole number of tasks, 1 or more", () => {
    expect(demoCount("5", 20)).toBe(5);
    expect(demoCount(undefined, 20)).toBe(20);
    for (const raw of ["abc", "0", "-3", "1.5", "", "1e400"]) expect(() => demoCount(raw, 20), raw).toThrow(UsageError);
    expect(() => demoCount("abc", 20)).toThrow("--count: expected a whole number of tasks, 1 or more, got abc");
  });
});
