import { describe, expect, it } from "vitest";
import { parseRetryAfterMs } from "./retry-after.js";

describe("parseRetryAfterMs", () => {
  it("prefers retry-after-ms over retry-after", () => {
    expect(parseRetryAfterMs(new Headers({ "retry-after-ms": "250", "retry-after": "7" }))).toBe(250);
  });

  it("reads retry-after as seconds", () => {
    expect(parseRetryAfterMs(new Headers({ "retry-after": "2" }))).toBe(2000);
    expect(parseRetryAfterMs(new Headers({ "retry-after": "1.5" }))).toBe(1500);
  });

  it("reads retry-after as an HTTP date relative to now", () => {
    const now = Date.parse("2025-01-01T00:00:00Z");
    expect(parseRetryAfterMs(new Headers({ "retry-after": "Wed, 01 Jan 2025 00:00:03 GMT" }), now)).toBe(3000);
    expect(parseRetryAfterMs(new Headers({ "retry-after": "Tue, 31 Dec 2024 23:59:00 GMT" }), now)).toBe(0);
  });

  it("ignores absent or garbage hints", () => {
    expect(parseRetryAfterMs(new Headers())).toBeUndefined();
    expect(parseRetryAfterMs(new Headers({ "retry-after": "soon" }))).toBeUndefined();
    expect(parseRetryAfterMs(new Headers({ "retry-after-ms": "-5" }))).toBeUndefined();
  });
});
