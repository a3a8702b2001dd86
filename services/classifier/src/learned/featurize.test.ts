import { describe, expect, it } from "vitest";
import { featurize, FEATURIZER_VERSION, MAX_DIMS, MAX_NGRAM_CHARS, MIN_DIMS, RULE_FEATURE_KEYS, RULE_SLOTS } from "./featurize.js";
import { classifyRules } from "../classify-rules.js";
import { fmix32, fnv1a32 } from "./hash.js";
import type { SparseVector } from "./sparse-vector.js";

const DIMS = 2 ** 18;
const PROMPT = "Prove that the square root of 2 is irrational, step by step.";

const norm = (v: SparseVector): number => Math.sqrt(v.values.reduce((sum, x) => sum + x * x, 0));
/** The n-gram slots of a vector, without the rule slots. */
const ngrams = (v: SparseVector): SparseVector => {
  const first = v.indices.findIndex((index) => index >= RULE_SLOTS);
  const from = first === -1 ? v.indices.length : first;
  return { indices: v.indices.subarray(from), values: v.values.subarray(from) };
};
const asMap = (v: SparseVector): Map<number, number> => new Map(Array.from(v.indices, (index, i) => [index, v.values[i] ?? 0]));

describe("featurize", () => {
  it("returns the same vector for the same text on every call", () => {
    const a = featurize(PROMPT, DIMS);
    const b = featurize(PROMPT, DIMS);
    expect(Array.from(b.indices)).toEqual(Array.from(a.indices));
    expect(Array.from(b.values)).toEqual(Array.from(a.values));
  });

  it("puts each n-gram at the documented index, so weights trained anywhere line up", () => {
    const v = asMap(featurize("Hello world", DIMS));
    const slot = (gram: string): number => RULE_SLOTS + (fmix32(fnv1a32(gram)) % (DIMS - RULE_SLOTS));
    for (const gram of ["w:hello", "w:world", "b:hello world", "c: hel", "c:hell", "c:o wo", "c:rld "]) {
      expect(v.has(slot(gram)), gram).toBe(true);
    }
    // Pinned: if this fails the features changed, and FEATURIZER_VERSION must be bumped.
    expect(slot("w:hello")).toBe(48_560);
  });

  it("hashes the words, the word pairs and the character 4-grams of the padded text, and nothing else", () => {
    const slot = (gram: string): number => RULE_SLOTS + (fmix32(fnv1a32(gram)) % (DIMS - RULE_SLOTS));
    const padded = " hello world ";
    const fourGrams = Array.from({ length: padded.length - 3 }, (_, i) => `c:${padded.slice(i, i + 4)}`);
    const expected = ["w:hello", "w:world", "b:hello world", ...fourGrams].map(slot);
    const hashed = Array.from(featurize("Hello   world", DIMS).indices).filter((index) => index >= RULE_SLOTS);
    expect(hashed).toEqual([...new Set(expected)].sort((a, b) => a - b));
    // Pinned with the 4-grams (FEATURIZER_VERSION 1 also hashed 3- and 5-grams: "c: he",
    // "c:hello") and the raw rule slots outside the normalisation (version 2 scaled them into it).
    // Version 4 reads the text NFKC-normalised (version 3 hashed it as written); version 5 adds
    // the quantity features to the rule slots; versions 6 and 7 count risk matches under rules-4
    // (7: "production" only as a place, multiple-choice questions exempt).
    expect(FEATURIZER_VERSION).toBe("hashed-ngrams-rules-7");
  });

  it("counts only the risk matches that make a task critical (rules-4: none in a general-knowledge question)", () => {
    const at = RULE_FEATURE_KEYS.indexOf("riskMatches");
    const riskOf = (text: string): number => {
      const x = featurize(text, DIMS);
      const i = Array.from(x.indices).indexOf(at);
      return i < 0 ? 0 : x.values[i]!;
    };
    expect(riskOf("How does a payment gateway work?")).toBe(0);
    expect(riskOf("Write a haiku about deploying on Fridays.")).toBe(0);
    expect(riskOf("How does our payment service work?")).toBe(Math.fround(Math.log1p(1)));
  });

  it("puts every n-gram of a longer, mixed-script text at `fmix32(fnv1a32(gram)) % slots`", () => {
    // A reference written from the module comment, over code points, for a text with non-ASCII
    // letters, astral characters, a lone surrogate, runs of whitespace and repeated words.
    const text = "  Größe  und\tGRÖSSE: 𝒳 = 2² + 😀😀, naïve\ud800café — 日本語 _snake_case_ v2.0\n\nend end END ";
    const lower = text.normalize("NFKC").toLowerCase().replace(/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g, "\ufffd");
    const words = lower.match(/[\p{L}\p{N}_]+/gu) ?? [];
    const stream = Array.from(` ${lower.trim().replace(/\s+/gu, " ")} `);
    const grams = [
      ...words.map((w) => `w:${w}`),
      ...words.slice(1).map((w, i) => `b:${words[i]} ${w}`),
      ...stream.slice(3).map((_, i) => `c:${stream.slice(i, i + 4).join("")}`),
    ];
    for (const dims of [MIN_DIMS, 1000, DIMS, MAX_DIMS]) {
      const slot = (gram: string): number => RULE_SLOTS + (fmix32(fnv1a32(gram)) % (dims - RULE_SLOTS));
      const hashed = Array.from(featurize(text, dims).indices).filter((index) => index >= RULE_SLOTS);
      expect(hashed, `dims ${dims}`).toEqual([...new Set(grams.map(slot))].sort((a, b) => a - b));
    }
  });

  it("L2-normalises the n-grams, with sorted indices inside [0, dims)", () => {
    for (const text of [PROMPT, "hi", "```ts\nconst x = 1;\n```\nWhy does this fail?", "日本語で答えてください"]) {
      const v = featurize(text, DIMS);
      expect(norm(ngrams(v))).toBeCloseTo(1, 5);
      for (let i = 1; i < v.indices.length; i++) expect(v.indices[i]).toBeGreaterThan(v.indices[i - 1]!);
      expect(v.indices[v.indices.length - 1]).toBeLessThan(DIMS);
    }
  });

  it("gives different texts different vectors", () => {
    const a = asMap(ngrams(featurize("What is the capital of France?", DIMS)));
    const b = asMap(ngrams(featurize("Write a sonnet about the sea.", DIMS)));
    const dot = [...a].reduce((sum, [index, x]) => sum + x * (b.get(index) ?? 0), 0);
    expect(dot).toBeLessThan(0.5);
  });

  it("hashes compatibility forms as what they stand for: full-width letters, ligatures, superscripts", () => {
    const hashed = (text: string): number[] => Array.from(ngrams(featurize(text, DIMS)).indices);
    expect(hashed("ｄｅｐｌｏｙ ｔｏ ｐｒｏｄｕｃｔｉｏｎ")).toEqual(hashed("deploy to production"));
    expect(hashed("Open the ﬁle")).toEqual(hashed("Open the file"));
    expect(hashed("x² + y²")).toEqual(hashed("x2 + y2"));
    expect(hashed("Ｄｅｌｅｔｅ　ＡＬＬ")).toEqual(hashed("delete all"));
  });

  it("reads at most MAX_NGRAM_CHARS code units even where NFKC lengthens every character", () => {
    // U+FDFA is the longest NFKC expansion: one code unit becomes 18.
    const widest = featurize("\ufdfa".repeat(MAX_NGRAM_CHARS), DIMS);
    const cut = featurize("\ufdfa".repeat(MAX_NGRAM_CHARS).normalize("NFKC").slice(0, MAX_NGRAM_CHARS), DIMS);
    expect(Array.from(ngrams(widest).indices)).toEqual(Array.from(ngrams(cut).indices));
    expect(Array.from(ngrams(widest).values)).toEqual(Array.from(ngrams(cut).values));
  });

  it("relies on Unicode facts that every code point obeys: lowercasing at most doubles, \\s and trim agree", () => {
    // The scratch space holds 2 × MAX_NGRAM_CHARS lowercased units, and the 4-gram stream
    // collapses what \s matches as the reference (trim) strips it.
    const longer: string[] = [];
    const disagree: string[] = [];
    for (let cp = 0; cp <= 0x10ffff; cp++) {
      if (cp >= 0xd800 && cp <= 0xdfff) continue;
      const char = String.fromCodePoint(cp);
      if (char.toLowerCase().length > 2 * char.length) longer.push(cp.toString(16));
      if (/\s/u.test(char) !== (char.trim() === "")) disagree.push(cp.toString(16));
    }
    expect(longer).toEqual([]);
    expect(disagree).toEqual([]);
  });

  it("ignores case, since the text is lowercased", () => {
    expect(Array.from(featurize("HELLO THERE", DIMS).indices)).toEqual(Array.from(featurize("hello there", DIMS).indices));
  });

  it("carries the rule features in the reserved slots, longer prompts scoring higher on length", () => {
    const words = RULE_FEATURE_KEYS.indexOf("words");
    const short = asMap(featurize("Add 2 and 3.", DIMS));
    const long = asMap(featurize("Add 2 and 3, then explain each step of the addition to a child. ".repeat(20), DIMS));
    expect(RULE_FEATURE_KEYS.length).toBeLessThanOrEqual(RULE_SLOTS);
    expect(long.get(words) ?? 0).toBeGreaterThan(short.get(words) ?? 0);
    // log1p of the count, as it is: outside the n-grams' normalisation, not shrunk by them.
    const features = classifyRules({ messages: [{ role: "user", content: "Add 2 and 3." }] }).features;
    expect(short.get(words)).toBeCloseTo(Math.log1p(features.words ?? 0), 6);
    const numbers = RULE_FEATURE_KEYS.indexOf("numbers");
    expect(short.get(numbers)).toBeCloseTo(Math.log1p(2), 6);
    // A feature that is 0 has no slot (the trainer's standardisation puts its mean back).
    expect(short.has(RULE_FEATURE_KEYS.indexOf("codeBlocks"))).toBe(false);
    const hashed = [...long.keys()].filter((index) => index >= RULE_SLOTS);
    expect(hashed.length).toBeGreaterThan(50);
  });

  it("appends the quantity features after the version 4 slots, which keep their places", () => {
    const slot = (key: (typeof RULE_FEATURE_KEYS)[number]) => RULE_FEATURE_KEYS.indexOf(key);
    expect(slot("typeScore.translation")).toBe(28);
    expect(slot("distinctNumbers")).toBe(29);
    expect(RULE_FEATURE_KEYS).toHaveLength(39);
    const v = asMap(featurize("A pen costs $2.50 and a book 1,200 yen. How much more is the book?", DIMS));
    expect(v.get(slot("hasMoney"))).toBeCloseTo(Math.log1p(1), 6);
    expect(v.get(slot("hasDecimal"))).toBeCloseTo(Math.log1p(1), 6);
    expect(v.get(slot("largestNumber"))).toBeCloseTo(Math.log1p(1200), 6);
    expect(v.get(slot("largeNumbers"))).toBeCloseTo(Math.log1p(1), 6);
    expect(v.get(slot("sentences"))).toBeCloseTo(Math.log1p(2), 6);
    expect(v.get(slot("comparisonTerms"))).toBeCloseTo(Math.log1p(1), 6);
    expect(v.has(slot("hasFraction"))).toBe(false);
  });

  it("returns an empty vector for empty text rather than dividing by zero", () => {
    const v = featurize("", DIMS);
    expect(v.values.every((x) => Number.isFinite(x))).toBe(true);
  });

  it("rejects a dims too small to hold the reserved rule slots", () => {
    expect(() => featurize(PROMPT, MIN_DIMS - 1)).toThrow(RangeError);
    expect(() => featurize(PROMPT, 1.5 * MIN_DIMS + 0.5)).toThrow(RangeError);
  });

  it("rejects a dims above MAX_DIMS, and accepts the largest that does", () => {
    const before = featurize(PROMPT, DIMS);
    expect(() => featurize(PROMPT, MAX_DIMS + 1)).toThrow(/2\^22/);
    const v = featurize(PROMPT, MAX_DIMS);
    expect(Math.max(...v.indices)).toBeLessThan(MAX_DIMS);
    // The larger key space leaves the smaller one's answer unchanged (the slot table is cleared).
    expect(featurize(PROMPT, DIMS)).toEqual(before);
  });
});
