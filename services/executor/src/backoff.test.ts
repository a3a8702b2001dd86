import { describe, expect, it } from "vitest";
import { MAX_RETRY_DELAY_MS, backoffDelayMs } from "./backoff.js";

const opts = { baseMs: 100, maxMs: 1000 };
const top = () => 0.999_999;

describe("backoffDelayMs", () => {
  it("stays within zero and the exponential bound (full jitter)", () => {
    for (const r of [0, 0.25, 0.5, 0.999]) {
      const delay = backoffDelayMs(1, { ...opts, random: () => r });
      expect(delay).toBeGreaterThanOrEqual(0);
      expect(delay).toBeLessThan(100);
    }
    expect(backoffDelayMs(1, { ...opts, random: () => 0 })).toBe(0);
  });

  it("doubles the bound with every retry", () => {
    expect([1, 2, 3, 4].map((a) => backoffDelayMs(a, { ...opts, random: () => 0.5 }))).toEqual([50, 100, 200, 400]);
  });

  it("caps the bound at maxMs however many retries came before", () => {
    expect(backoffDelayMs(5, { ...opts, random: top })).toBe(999);
    expect(backoffDelayMs(2000, { ...opts, random: top })).toBe(999);
  });

  it("never waits less than the provider's Retry-After", () => {
    expect(backoffDelayMs(1, { ...opts, retryAfterMs: 3000, random: () => 0 })).toBe(3000);
    expect(backoffDelayMs(1, { ...opts, retryAfterMs: 1.2, random: () => 0 })).toBe(2);
  });

  it("keeps the jittered delay when it is already longer than Retry-After", () => {
    expect(backoffDelayMs(4, { ...opts, retryAfterMs: 10, random: () => 0.5 })).toBe(400);
  });

  it("caps an excessive Retry-After at the sane maximum", () => {
    expect(backoffDelayMs(1, { ...opts, retryAfterMs: 3_600_000, random: () => 0 })).toBe(MAX_RETRY_DELAY_MS);
  });

  it("caps a misconfigured maxMs at the sane maximum", () => {
    // Full jitter under the cap: the top of the range is just below it, not 10,000 s.
    expect(backoffDelayMs(30, { baseMs: 100, maxMs: 10_000_000, random: top })).toBe(MAX_RETRY_DELAY_MS - 1);
  });
});
