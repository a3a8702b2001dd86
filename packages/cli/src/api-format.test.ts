import { describe, expect, it } from "vitest";
import { PRICE_TABLE, type MetricsSummary, type ModelInfo } from "@llm-router/shared";
import { formatMetrics, formatModel, formatModels, formatTable } from "./api-format.js";
import { UsageError, decimal, parseSince } from "./args.js";

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

const model = (spec: string, over: Partial<ModelInfo> = {}): ModelInfo => ({
  spec,
  local: false,
  inputPerMtok: 0,
  outputPerMtok: 0,
  quality: 0.8,
  capabilities: ["chat"],
  contextWindow: 8192,
  typicalLatencyMs: 1000,
  provider: spec.split(":")[0] ?? "",
  health: { state: "healthy" },
  stats: { samples: 0, successRate: null, scored: 0, meanScore: null, meanCostUsd: null, latencyP50Ms: null, latencyP95Ms: null, buckets: [] },
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

  it("says where each model's price came from, and calls a cloud model without one unpriced rather than free", () => {
    const models = [
      model("ollama:llama3", { local: true, priceSource: "local" }),
      model("openai:gpt-4o", { inputPerMtok: 2.5, outputPerMtok: 10, priceSource: "config" }),
      model("anthropic:claude-sonnet-4-5", { inputPerMtok: 3, outputPerMtok: 15, cacheReadPerMtok: 0.3, cacheWritePerMtok: 3.75, priceSource: `${PRICE_TABLE} anthropic/claude-sonnet-4-5` }),
      model("vllm:mystery", { priceSource: "none" }),
      model("sim:cloud-mini", { inputPerMtok: 0.15, outputPerMtok: 0.6 }),
    ];
    const table = formatModels({ registryVersion: "r", policyVersion: "p", statsId: "empty", models }).split("\n");
    const priceOf = (spec: string): string | undefined => table.find((l) => l.startsWith(spec))?.split(/\s{2,}/)[3];
    expect(priceOf("ollama:llama3")).toBe("free");
    expect(priceOf("openai:gpt-4o")).toBe("$2.5/$10");
    expect(priceOf("anthropic:claude-sonnet-4-5")).toBe("$3/$15 listed");
    expect(priceOf("vllm:mystery")).toBe("unpriced");
    expect(priceOf("sim:cloud-mini")).toBe("$0.15/$0.6");

    const line = (m: ModelInfo): string | undefined => formatModel(m).split("\n").find((l) => l.startsWith("price:"));
    expect(line(models[1]!)).toBe("price:        $2.5/$10 per 1M tokens in/out (config)");
    expect(line(models[2]!)).toBe(`price:        $3/$15 per 1M tokens in/out (listed as anthropic/claude-sonnet-4-5 in ${PRICE_TABLE}); prompt cache read $0.3, written $3.75 per 1M tokens`);
    expect(line({ ...models[1]!, cacheReadPerMtok: 1.25 })).toBe("price:        $2.5/$10 per 1M tokens in/out (config); prompt cache read $1.25 per 1M tokens");
    expect(line(models[3]!)).toContain("$0/$0 per 1M tokens in/out (a cloud model with neither a configured nor a listed price");
    expect(line(models[4]!)).toBe("price:        $0.15/$0.6 per 1M tokens in/out");
  });

  it("shows a model's latency percentiles as what they are, the upper edges of histogram bins", () => {
    const m = model("openai:gpt-4o", { inputPerMtok: 2.5, outputPerMtok: 10, priceSource: "config" });
    const withLatency: ModelInfo = { ...m, stats: { ...m.stats, latencyP50Ms: 250, latencyP95Ms: 1000 } };
    expect(formatModel(withLatency)).toContain("latency p50 ≤ 250 ms, p95 ≤ 1000 ms (histogram bin edges)");
    expect(formatModels({ registryVersion: "r", policyVersion: "p", statsId: "empty", models: [withLatency] }).split("\n")[0]).toMatch(/p95 ≤$/);
  });

  it("reads a decimal as written, and nothing that Number() would stretch into one", () => {
    expect([decimal("0.3"), decimal("1e-3"), decimal(".5"), decimal(" 2 ")]).toEqual([0.3, 0.001, 0.5, 2]);
    for (const raw of ["", " ", "0x1", "1/2", "30%", "Infinity", "NaN"]) expect(decimal(raw), raw).toBeNaN();
  });
});
