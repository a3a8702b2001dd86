import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { pairBaselines, toPairOutcomes } from "./pair-metrics.js";
import { devDataFile } from "./dev-data.js";
import { parseRoutingEvalJsonl } from "./routing-eval-file.js";

// The development data (../shared/data, or ROUTER_DATA_DIR); a missing file fails saying where it looked.
const GSM8K = devDataFile("gsm8k.dev.jsonl");

const near = (actual: number | null, expected: number): void => {
  expect(actual).not.toBeNull();
  expect(Math.abs((actual as number) - expected), `${actual} vs ${expected}`).toBeLessThan(0.001);
};

describe("baselines on gsm8k.dev", () => {
  it("match the data README's table", () => {
    const rows = parseRoutingEvalJsonl(readFileSync(GSM8K, "utf8"), GSM8K);
    expect(rows).toHaveLength(654);
    const b = pairBaselines(toPairOutcomes(rows, { strong: "gpt-4-1106-preview", weak: "mixtral-8x7b-instruct-v0.1" }));
    near(b.always_strong.quality, 0.859);
    near(b.always_weak.quality, 0.635);
    near(b.oracle.quality, 0.931);
    // "strong-call share a random router needs for 95% of strong": 80.9%.
    near(b.random.strong_share_at_95, 0.809);
  });
});
