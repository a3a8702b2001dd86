import { describe, expect, it } from "vitest";
import { MAX_TIMEOUT_MS, UsageError, numberOption, parseSince, parseWindow, timeoutOption } from "./args.js";

const NOW = new Date("2026-04-02T12:00:00.000Z");

/** The UsageError `f` throws (failing the test when it throws nothing or something else). */
function usageError(f: () => unknown): UsageError {
  try {
    f();
  } catch (err) {
    if (err instanceof UsageError) return err;
    throw err;
  }
  throw new Error("expected a UsageError, got none");
}

describe("--since and --until", () => {
  it("reads ISO 8601 dates and timestamps, and durations back from now", () => {
    expect(parseSince("2026-03-01", NOW).toISOString()).toBe("2026-03-01T00:00:00.000Z");
    expect(parseSince("2026-03-01T12:30:00+02:00", NOW).toISOString()).toBe("2026-03-01T10:30:00.000Z");
    // No zone: UTC, as a bare date and every report are, whatever the machine's time zone.
    const tz = process.env.TZ;
    process.env.TZ = "America/New_York";
    try {
      expect(parseSince("2026-03-01T00:00:00", NOW).toISOString()).toBe("2026-03-01T00:00:00.000Z");
      expect(parseSince("2026-03-01T12:30", NOW).toISOString()).toBe("2026-03-01T12:30:00.000Z");
    } finally {
      if (tz === undefined) delete process.env.TZ;
      else process.env.TZ = tz;
    }
    expect(parseSince("7d", NOW).toISOString()).toBe("2026-03-26T12:00:00.000Z");
  });

  it("refuses a bare number, which new Date() reads as a year in 2001 or 2026", () => {
    for (const raw of ["5", "2026", "5-6", "1e3", "20260301"]) expect(() => parseSince(raw, NOW), raw).toThrow(UsageError);
  });

  it("refuses a day the month does not have rather than rolling it over", () => {
    expect(() => parseSince("2026-02-30", NOW)).toThrow(UsageError);
    expect(() => parseSince("2026-13-01", NOW)).toThrow(UsageError);
    expect(parseSince("2028-02-29", NOW).toISOString()).toBe("2028-02-29T00:00:00.000Z");
  });

  it("refuses a window that ends before it starts, naming both ends", () => {
    const err = usageError(() => parseWindow({ since: "1d", until: "7d" }, NOW));
    expect(err.message).toContain("--since 1d");
    expect(err.message).toContain("--until 7d");
    expect(parseWindow({ since: "7d", until: "1d" }, NOW)).toEqual({ since: new Date("2026-03-26T12:00:00.000Z"), until: new Date("2026-04-01T12:00:00.000Z") });
    expect(parseWindow({ until: "2026-03-01" }, NOW)).toEqual({ since: undefined, until: new Date("2026-03-01T00:00:00.000Z") });
  });
});

describe("number options", () => {
  it("refuses what Number() would stretch into a number, naming the option and the value", () => {
    const accept = (n: number): boolean => n >= 0 && n <= 1;
    expect(usageError(() => numberOption("score", "", "a number from 0 to 1", accept)).message).toBe('--score: expected a number from 0 to 1, got ""');
    expect(usageError(() => numberOption("score", "0x1", "a number from 0 to 1", accept)).message).toBe("--score: expected a number from 0 to 1, got 0x1");
    for (const raw of ["Infinity", "1.5", "-0.1"]) expect(() => numberOption("score", raw, "a number from 0 to 1", accept), raw).toThrow(UsageError);
    // 1e400 is written as a decimal but is Infinity, which "≥ 0" alone would accept.
    expect(() => numberOption("max-cost", "1e400", "a cost in USD, 0 or more", (n) => n >= 0)).toThrow(UsageError);
    expect(numberOption("score", "0.25", "a number from 0 to 1", accept)).toBe(0.25);
  });

  it("takes --timeout as whole milliseconds that setTimeout can wait, not 30s, 0 or NaN", () => {
    expect(usageError(() => timeoutOption("30s", 60_000)).message).toMatch(/^--timeout: expected milliseconds, .*, got 30s$/);
    for (const raw of ["0", "-5", "1.5", "abc", "", String(MAX_TIMEOUT_MS + 1)]) expect(() => timeoutOption(raw, 60_000), raw).toThrow(UsageError);
    expect(timeoutOption("2500", 60_000)).toBe(2500);
    expect(timeoutOption(undefined, 60_000)).toBe(60_000);
  });
});
