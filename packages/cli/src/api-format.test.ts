import { describe, expect, it } from "vitest";
import type { MetricsSummary } from "@llm-router/shared";
import { formatMetrics, formatTable } from "./api-format.js";
import { UsageError, parseSince } from "./args.js";

const summary = (over: Partial<MetricsSummary> = {}): MetricsSummary => ({
  tasks: 4,
  succeeded: 3,
  failed: 1,
  successRate: 0.75,
  costUsd: 0.001,
  referenceCostUsd: 0.004,
  savedUsd: 0.003,
  savedPercent: 75,
  latencyMeanMs: 120.4,
  latencyP95Ms: 300,
  models: [{ model: "sim:local-small", tasks: 3, share: 0.75, costUsd: 0 }],
  ...over,
});

describe("the API commands' text", () => {
  it("pads columns to their widest cell, numbers right-aligned", () => {
    expect(formatTable(["model", ">tasks"], [["sim:a", "7"], ["sim:long-name", "12"]]).split("\n")).toEqual([
      "model          tasks",
      "-------------  -----",
      "sim:a              7",
      "sim:long-name     12",
    ]);
  });

  it("prints the savings report with a row per group and dashes where there is nothing to measure", () => {
    const text = formatMetrics({
      filter: { tenant: "acme", groupBy: "tenant" },
      totals: summary(),
      groups: [{ key: "acme", ...summary({ successRate: null, savedPercent: null, latencyMeanMs: null, latencyP95Ms: null }) }],
    });
    expect(text).toContain("tenant acme");
    expect(text).toContain("saved:      $0.003000 (75.0%)");
    expect(text).toContain("latency:    mean 120 ms, p95 300 ms");
    expect(text).toMatch(/^acme\s+4\s+-\s+\$0\.001000\s+\$0\.003000\s+-\s+-\s+-$/m);
  });

  it("reads --since as ISO 8601 or a duration back from now, and refuses anything else", () => {
    const now = new Date("2026-04-02T12:00:00.000Z");
    expect(parseSince("6h", now).toISOString()).toBe("2026-04-02T06:00:00.000Z");
    expect(parseSince("2026-03-01T00:00:00Z", now).toISOString()).toBe("2026-03-01T00:00:00.000Z");
    expect(() => parseSince("yesterday", now)).toThrow(UsageError);
  });
});
