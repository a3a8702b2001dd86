import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Classification } from "@llm-router/shared";
import { categoryModel } from "../services/classifier/src/learned/category-model.js";
import { loadWeights, saveWeights } from "../services/classifier/src/learned/weights.js";
import { codingAndWritingHeads } from "../services/classifier/src/testing/category-heads.js";
import { createHarness, waitFor, type Harness } from "./support/harness.js";

// The bundled pFail model with a two-category head added, saved as the weights file the
// classifier service is configured with: what `train:classifier --categories` writes.
function weightsWithCategories(): string {
  const bundled = loadWeights(JSON.parse(readFileSync(new URL("../services/classifier/weights/default.json", import.meta.url), "utf8")));
  const file = join(mkdtempSync(join(tmpdir(), "router-categories-")), "weights.json");
  writeFileSync(
    file,
    saveWeights(bundled, {
      trainedOn: bundled.trainedOn,
      createdAt: new Date(bundled.createdAt),
      categories: { model: categoryModel(codingAndWritingHeads(bundled.dims), bundled.dims), rows: 2, termsPerCategory: 1, maxShare: 1 },
    }),
  );
  return file;
}

describe("a learned category, through the running pipeline", () => {
  let h: Harness;

  beforeAll(async () => {
    h = await createHarness({ config: { classifier: { weightsFile: weightsWithCategories() } } });
    await h.startAll();
  });
  afterAll(async () => {
    await h?.close();
  });

  it("reaches task.classified and the ledger's decision inputs when the configured weights have a category head", async () => {
    const classified = h.collect(h.topology.subjects["task.classified"]);
    h.publishRaw(h.topology.subjects["task.submitted"], JSON.stringify({ id: "cat-1", prompt: "Write a Python function that merges two sorted lists." }));
    h.publishRaw(h.topology.subjects["task.submitted"], JSON.stringify({ id: "cat-2", prompt: "Write a poem about the sea." }));

    const first = await waitFor(() => classified.json<{ task: { id: string }; classification: Classification }>().find((m) => m.task.id === "cat-1"));
    expect(first.classification.category).toBe("coding");
    expect(first.classification.signals).toContainEqual(expect.stringMatching(/^learned:category=coding /));
    classified.stop();

    const inputs = async (id: string) => (await h.query<{ inputs: { classification: Classification } }>("SELECT inputs FROM decisions WHERE task_id = $1", [id]))[0]?.inputs;
    expect((await waitFor(() => inputs("cat-1"), { what: "decision of cat-1" })).classification.category).toBe("coding");
    expect((await waitFor(() => inputs("cat-2"), { what: "decision of cat-2" })).classification.category).toBe("writing");
  });
});
