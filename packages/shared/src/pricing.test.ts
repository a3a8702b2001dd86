import { describe, expect, it } from "vitest";
import { callCostNanos, callCostUsd, decimalToNanos, estimateTokens, usdToDecimal } from "./pricing.js";

describe("pricing", () => {
  it("computes cost from per-million prices without float drift", () => {
    // 1,000 input tokens at $0.15/M + 500 output tokens at $0.60/M = $0.00015 + $0.0003
    expect(callCostUsd({ inputPerMtok: 0.15, outputPerMtok: 0.6 }, 1000, 500)).toBe(0.00045);
    // A million calls of one token each at $0.075/M adds up exactly in nano-dollars.
    const one = callCostNanos({ inputPerMtok: 0.075, outputPerMtok: 0 }, 1, 0);
    expect(one * 1_000_000n).toBe(75_000_000n);
  });

  it("charges nothing for local models", () => {
    expect(callCostUsd({ inputPerMtok: 0, outputPerMtok: 0 }, 10_000, 10_000)).toBe(0);
  });

  it("round-trips USD decimals through exact nano-dollars", () => {
    expect(decimalToNanos("12.000000001")).toBe(12_000_000_001n);
    expect(decimalToNanos("0.5")).toBe(500_000_000n);
    expect(decimalToNanos(usdToDecimal(0.00045))).toBe(450_000n);
  });

  it("estimates tokens from text length, never zero for text", () => {
    expect(estimateTokens("")).toBe(0);
    expect(estimateTokens("hi")).toBe(1);
    expect(estimateTokens("x".repeat(400))).toBe(100);
  });
});
