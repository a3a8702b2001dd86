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

  it("prices cached prompt tokens apart from the rest of the input", () => {
    const price = { inputPerMtok: 3, outputPerMtok: 15, cacheReadPerMtok: 0.3, cacheWritePerMtok: 3.75 };
    // 10,000 input tokens of which 8,000 read from the cache and 1,000 written to it, 100 output:
    // 1,000 × $3/M + 8,000 × $0.30/M + 1,000 × $3.75/M + 100 × $15/M.
    expect(callCostUsd(price, 10_000, 100, { cacheReadTokens: 8_000, cacheWriteTokens: 1_000 })).toBe(0.003 + 0.0024 + 0.00375 + 0.0015);
    // No cached tokens reported: every input token at the input price.
    expect(callCostUsd(price, 10_000, 100)).toBe(callCostUsd({ inputPerMtok: 3, outputPerMtok: 15 }, 10_000, 100));
  });

  it("charges cached tokens at the input price when the model has no cache prices", () => {
    const price = { inputPerMtok: 2.5, outputPerMtok: 10 };
    expect(callCostNanos(price, 5_000, 0, { cacheReadTokens: 4_096 })).toBe(callCostNanos(price, 5_000, 0));
    // Only a read price: writes still at the input price.
    const reads = { ...price, cacheReadPerMtok: 1.25 };
    expect(callCostUsd(reads, 5_000, 0, { cacheReadTokens: 4_000, cacheWriteTokens: 1_000 })).toBe(0.005 + 0.0025);
  });

  it("never counts more cached tokens than the call had input tokens", () => {
    const price = { inputPerMtok: 1, outputPerMtok: 0, cacheReadPerMtok: 0.1, cacheWritePerMtok: 2 };
    // A provider that over-reports: 3,000 reads of 1,000 input tokens are 1,000 reads, and no writes fit.
    expect(callCostNanos(price, 1_000, 0, { cacheReadTokens: 3_000, cacheWriteTokens: 500 })).toBe(callCostNanos(price, 1_000, 0, { cacheReadTokens: 1_000 }));
    expect(callCostUsd(price, 1_000, 0, { cacheReadTokens: 3_000 })).toBe(0.0001);
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
