import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { auc } from "./evaluate.js";
import { featurize } from "./featurize.js";
import { createRandom } from "./hash.js";
import { labelRow, splitRows } from "./labels.js";
import { predict, train } from "./logistic.js";
import { parseRoutingEvalJsonl } from "@llm-router/eval";

// The development data beside the repository (../shared/data), present on every dev and CI machine.
const GSM8K = fileURLToPath(new URL("../../../../../shared/data/gsm8k.dev.jsonl", import.meta.url));
const PAIR = { strong: "gpt-4-1106-preview", weak: "mixtral-8x7b-instruct-v0.1" };
const DIMS = 2 ** 16;

describe("training on GSM8K outcomes", () => {
  it("ranks held-out prompts the weak model fails above those it solves (AUC > 0.5)", () => {
    const rows = parseRoutingEvalJsonl(readFileSync(GSM8K, "utf8"), GSM8K).slice(0, 400);
    const labelled = rows.flatMap((row) => {
      const result = labelRow(row, PAIR);
      return result.labelled ? [{ id: row.id, features: featurize(row.prompt, DIMS), label: result.label }] : [];
    });
    const { train: trainRows, test } = splitRows(labelled, { testFraction: 0.25, seed: 1 });
    const model = train(trainRows, { dims: DIMS, epochs: 10, random: createRandom(1) });
    const heldOut = auc(test.map((row) => ({ p: predict(model, row.features), label: row.label })));
    expect(test.length).toBeGreaterThan(50);
    expect(heldOut).toBeGreaterThan(0.5);
  });
});
