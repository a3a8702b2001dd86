import { describe, expect, it } from "vitest";
import { bestCategory, categoryModel, predictCategory, trainCategories, type CategoryHead } from "./category-model.js";
import { featurize, RULE_SLOTS } from "./featurize.js";
import { createRandom } from "./hash.js";
import { splitRows } from "./labels.js";
import { predictPFailText, type PFailModel } from "./pfail-model.js";

// Three kinds of request with their own words, over shared filler, so a category is learnable.
const VOCAB = {
  billing: ["invoice", "refund", "charged", "payment", "receipt", "subscription", "billing", "card"],
  infra: ["kubernetes", "pod", "deployment", "cluster", "helm", "node", "container", "ingress"],
  poetry: ["poem", "rhyme", "verse", "stanza", "sonnet", "metaphor", "haiku", "lyrical"],
} as const;
const FILLER = ["please", "help", "me", "with", "this", "the", "a", "my", "today", "thanks", "quick", "question", "about", "how", "do", "i"];

function rows(count: number, seed: number): { id: string; prompt: string; category: string }[] {
  const random = createRandom(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)] as T;
  const labels = Object.keys(VOCAB) as (keyof typeof VOCAB)[];
  return Array.from({ length: count }, (_, i) => {
    const category = labels[i % labels.length] ?? "billing";
    const words = Array.from({ length: 12 }, (_, w) => (w % 4 === 0 ? pick(VOCAB[category]) : pick(FILLER)));
    return { id: `row-${seed}-${i}`, prompt: words.join(" "), category };
  });
}

describe("trainCategories", () => {
  const data = rows(600, 1);
  const trained = trainCategories(data, { dims: 4096, testFraction: 0.25, seed: 1, termsPerCategory: 64, maxShare: 0.3 });

  it("learns the rows' own categories and measures them on held-out rows", () => {
    expect(trained.model.heads.map((h) => h.label)).toEqual(["billing", "infra", "poetry"]);
    expect(trained.heldOut?.rows).toBeGreaterThan(100);
    expect(trained.heldOut?.accuracy).toBeGreaterThan(0.95);
    expect(predictCategory(trained.model, featurize("my kubernetes pod keeps restarting in the cluster", 4096)).category).toBe("infra");
    expect(predictCategory(trained.model, featurize("write a short sonnet with a rhyme about rain", 4096)).category).toBe("poetry");
  });

  it("keeps at most termsPerCategory weights per head, on slots few prompts have", () => {
    const { train } = splitRows(data, { testFraction: 0.25, seed: 1 });
    const documentFrequency = new Map<number, number>();
    for (const r of train) for (const slot of featurize(r.prompt, 4096).indices) documentFrequency.set(slot, (documentFrequency.get(slot) ?? 0) + 1);
    for (const head of trained.model.heads) {
      expect(head.weights.length).toBeLessThanOrEqual(64);
      for (const [slot] of head.weights) expect(documentFrequency.get(slot) ?? 0).toBeLessThanOrEqual(0.3 * train.length);
    }
  });

  it("trains on no prompt it holds out under another id, so its held-out accuracy scores unseen prompts", () => {
    // Every prompt twice, under two ids: the split puts some copies on each side.
    const twice = [...data, ...data.map((r) => ({ ...r, id: `copy-${r.id}` }))];
    const { train, test } = splitRows(twice, { testFraction: 0.25, seed: 1 });
    const heldOut = new Set(test.map((r) => r.prompt));
    const seenTwice = train.filter((r) => heldOut.has(r.prompt)).length;
    expect(seenTwice).toBeGreaterThan(50);
    const t = trainCategories(twice, { dims: 4096, testFraction: 0.25, seed: 1, termsPerCategory: 64, maxShare: 0.3 });
    expect(t.trainRows).toBe(train.length - seenTwice);
  });

  it("is deterministic given the rows and the seed", () => {
    const again = trainCategories(data, { dims: 4096, testFraction: 0.25, seed: 1, termsPerCategory: 64, maxShare: 0.3 });
    expect(again.model.heads).toEqual(trained.model.heads);
  });

  it("leaves out rows without a category and categories under minRows, and needs two categories", () => {
    const extra = [...data, { id: "x1", prompt: "no label here", category: "" }, { id: "x2", prompt: "a rare one", category: "rare" }];
    const t = trainCategories(extra, { dims: 4096, testFraction: 0, seed: 1, termsPerCategory: 16, minRows: 2 });
    expect(t.excluded).toEqual({ uncategorised: 1, rareCategory: 1 });
    expect(t.model.heads.map((h) => h.label)).not.toContain("rare");
    expect(t.heldOut).toBeUndefined();
    expect(() => trainCategories(data.filter((r) => r.category === "infra"), { dims: 4096, testFraction: 0, seed: 1 })).toThrow(/at least 2 categories/);
  });
});

describe("categoryModel", () => {
  it("rejects a slot outside dims and unsorted slots", () => {
    const ok: CategoryHead = { label: "a", bias: 0, weights: [[1, 1]] };
    expect(() => categoryModel([ok, { label: "b", bias: 0, weights: [[9, 1]] }], 8)).toThrow(/outside/);
    expect(() => categoryModel([ok, { label: "b", bias: 0, weights: [[3, 1], [2, 1]] }], 8)).toThrow(/increasing/);
    expect(() => categoryModel([ok], 8)).toThrow(/2 to/);
  });

  it("picks the highest logit and reports that head's probability", () => {
    const model = categoryModel([{ label: "a", bias: 0, weights: [] }, { label: "b", bias: 0, weights: [] }], 8);
    expect(bestCategory(model, [0, 2])).toEqual({ category: "b", probability: 1 / (1 + Math.exp(-2)) });
  });
});

describe("category scoring in the fused pass", () => {
  // Random heads over a small space (collisions between blocks included), rule slots among them.
  const dims = 1024;
  const random = createRandom(11);
  const dense = () => ({ dims, bias: random() - 0.5, weights: Float64Array.from({ length: dims }, () => 2 * (random() - 0.5)) });
  const pfail: PFailModel = { dims, weak: dense(), strong: dense(), calibration: { scale: 2, offset: -1 } };
  const heads: CategoryHead[] = ["x", "y", "z", "w"].map((label) => {
    const slots = [...new Set(Array.from({ length: 150 }, () => Math.floor(random() * dims)))].sort((a, b) => a - b);
    return { label, bias: random() - 0.5, weights: slots.map((slot) => [slot, 3 * (random() - 0.5)] as const) };
  });
  const model = categoryModel(heads, dims);

  it("gives each head the logit a dot with featurize's vector gives", () => {
    expect(heads.some((h) => h.weights.some(([slot]) => slot < RULE_SLOTS))).toBe(true);
    const texts = ["", "Prove that the square root of 2 is irrational, step by step.", "日本語 and 😀 emoji, x = f(1);", "word ".repeat(3000)];
    for (const text of texts) {
      const logits = new Float64Array(heads.length);
      predictPFailText(pfail, text, undefined, { model, logits });
      const x = featurize(text, dims);
      heads.forEach((head, k) => {
        let expected = head.bias;
        for (const [slot, w] of head.weights) {
          const at = x.indices.indexOf(slot);
          if (at !== -1) expected += w * (x.values[at] ?? 0);
        }
        // featurize rounds each value to float32; the fused pass keeps float64.
        expect(Math.abs((logits[k] ?? 0) - expected), `${head.label} of ${JSON.stringify(text.slice(0, 20))}`).toBeLessThan(1e-5);
      });
      expect(bestCategory(model, logits).category).toBe(predictCategory(model, x).category);
    }
  });

  it("refuses a category model built for other dims", () => {
    const other = categoryModel(heads.map((h) => ({ ...h, weights: [] })), 2048);
    expect(() => predictPFailText(pfail, "hi", undefined, { model: other, logits: new Float64Array(4) })).toThrow(/2048 dims, scored at 1024/);
  });
});
