import type { ChatMessage } from "@llm-router/shared";
import { describe, expect, it } from "vitest";
import { countSecretValues, createTermCounter, extractFeatures, FEATURE_TERMS, lastUserIndex } from "./features.js";
import { normalizedLower } from "./normalize-text.js";

const countFeatureTerms = createTermCounter(FEATURE_TERMS);
const measure = (content: string, earlier: ChatMessage[] = []) =>
  extractFeatures([...earlier, { role: "user", content }], countFeatureTerms(normalizedLower(content)));

describe("createTermCounter", () => {
  const count = createTermCounter({ kill: ["kill"], prod: ["prod"], key: ["api key", "api keys"], cpp: ["c++"] });

  it("matches whole words only: 'skills' does not contain 'kill', 'prodigy' does not contain 'prod'", () => {
    expect(count("improve your skills").count("kill")).toBe(0);
    expect(count("kill -9 the process").count("kill")).toBe(1);
    expect(count("a chess prodigy").count("prod")).toBe(0);
    expect(count("push to prod-eu now").count("prod")).toBe(1);
  });

  it("prefers the longer phrase and counts a term that ends in a symbol", () => {
    expect(count("rotate both api keys").count("key")).toBe(1);
    expect(count("port it to c++ please").count("cpp")).toBe(1);
  });

  it("counts hits near either end separately from hits anywhere", () => {
    const text = `kill ${"filler ".repeat(100)}kill ${"filler ".repeat(100)}kill`;
    const counts = count(text, 50);
    expect(counts.count("kill")).toBe(3);
    expect(counts.windowCount("kill")).toBe(2);
  });

  it("gives a group's counts by the index the counter names, and refuses an unknown group", () => {
    const counts = count(`kill the prod api keys ${"x ".repeat(100)}kill`, 30);
    const at = count.index("kill");
    expect(counts.countAt(at)).toBe(counts.count("kill"));
    expect(counts.countAt(at)).toBe(2);
    expect(counts.windowCountAt(at)).toBe(counts.windowCount("kill"));
    expect(counts.countAt(count.index("key"))).toBe(1);
    expect(() => count.index("nope" as "kill")).toThrow(/no term group "nope"/);
  });

  it("gives the same counts on repeated calls (no regex state leaks between calls)", () => {
    expect(count("kill kill").count("kill")).toBe(2);
    expect(count("kill kill").count("kill")).toBe(2);
  });
});

describe("extractFeatures", () => {
  it("measures the shape of the request", () => {
    const f = measure("Is this right?\nI think so. Are you sure? Yes");
    expect(f).toMatchObject({ words: 10, lines: 2, questions: 2, turns: 1, nonAsciiShare: 0 });
  });

  it("counts the last line and a closing question mark like any other, and nothing in an empty text", () => {
    expect(measure("")).toMatchObject({ words: 0, lines: 0, codeLines: 0, questions: 0 });
    expect(measure("ok\n")).toMatchObject({ words: 1, lines: 2 });
    expect(measure("Why?")).toMatchObject({ words: 1, lines: 1, questions: 1 });
    expect(measure("run this\nx = f(1);")).toMatchObject({ lines: 2, codeLines: 1 });
    expect(measure("ends in a fence ```")).toMatchObject({ codeBlocks: 1, inlineCode: 0 });
    expect(measure("ends in ``")).toMatchObject({ codeBlocks: 0, inlineCode: 0 });
  });

  it("counts fenced blocks (an unclosed fence too), inline code and code-shaped lines", () => {
    expect(measure("```js\nlet a = 1;\n```\nand `b` and `c`\n```py\nprint(1)").codeBlocks).toBe(2);
    expect(measure("use `npm ci` not `npm i`").inlineCode).toBe(2);
    expect(measure("int main() {\n  return 0;\n}").codeLines).toBe(3);
  });

  it("counts multi-step markers, list items and constraints", () => {
    const f = measure("First parse the file, then validate it step by step.\n1. It must be UTF-8\n2. At least one row\n- exactly 3 columns");
    expect(f.multiStep).toBe(2); // "step by step" + "first ... then"
    expect(f.listItems).toBe(3);
    expect(f.constraints).toBe(3); // must, at least, exactly
  });

  it("counts reasoning and technical terms, maths and numbers", () => {
    const f = measure("Why does Raft need a quorum? Derive it, then check 3 + 4 and 2^10, and show x ≤ y for 5.5 nodes.");
    expect(f.reasoningTerms).toBe(2); // why, derive
    expect(f.technicalTerms).toBe(2); // raft, quorum
    expect(f.mathSymbols).toBe(3); // 3 + 4, 2^10, ≤
    expect(f.numbers).toBe(5); // 3, 4, 2, 10, 5.5
  });

  it("does not read dates and ranges as maths", () => {
    expect(measure("between 2020-2021 and on 1/2/2024").mathSymbols).toBe(0);
  });

  it("reads the quantities of a word problem: its numbers, their kinds and the words that relate them", () => {
    const f = measure("Janet sells 16 eggs a day at $2.50 each. She eats 3, gives 3/4 of the rest to 1,250 friends and keeps 3. What percent is left?");
    expect(f.distinctNumbers).toBe(5); // 16, 2.50, 3, 4, 1,250: the three 3s are one
    expect(f.largestNumber).toBe(1250);
    expect(f.largeNumbers).toBe(1);
    expect([f.hasDecimal, f.hasFraction, f.hasPercent, f.hasMoney]).toEqual([1, 1, 1, 1]);
    expect(f.sentences).toBe(3);
    expect(f.rateTerms).toBe(1); // each
    expect(f.comparisonTerms).toBe(2); // rest, left

    const plain = measure("Tom has 4 apples and buys 7 more");
    expect([plain.distinctNumbers, plain.largestNumber, plain.largeNumbers, plain.sentences]).toEqual([2, 7, 0, 0]);
    expect([plain.hasDecimal, plain.hasFraction, plain.hasPercent, plain.hasMoney]).toEqual([0, 0, 0, 0]);
    expect(measure("a 12% rise").hasPercent).toBe(1);
    expect(measure("twelve per cent").hasPercent).toBe(1);
    expect(measure("costs €40").hasMoney).toBe(1);
  });

  it("reads numbers as the numbers feature does: not inside words or versions, and an ID's digits are capped", () => {
    const f = measure("v2 of sha1 and build 3.14.15 on 10.0.0.1, order 123456789012345678901234567890");
    expect(f.distinctNumbers).toBe(f.numbers); // 3.14, 10.0, 123…: the version's and address's later parts join the first
    expect(f.largestNumber).toBe(1e15);
    expect(measure("a sentence end... and. a decimal point .5 is not one").sentences).toBe(2);
    expect(measure("").distinctNumbers).toBe(0);
  });

  it("reads at most 1,024 digit runs and six comma groups a literal, so a crafted request costs no more than a plain one", () => {
    expect(measure(Array.from({ length: 3000 }, (_, i) => i + 1).join(" ")).distinctNumbers).toBe(1024);
    const commas = measure("1,".repeat(50_000));
    expect(commas.distinctNumbers).toBe(1); // "1,1,1,1,1,1"; the rest follow a comma
    expect(commas.largestNumber).toBe(111111);
    expect(measure("12,345,678.5").largestNumber).toBe(12345678);
  });

  it("reports the non-ASCII share of a request in another script", () => {
    expect(measure("请把这段话翻译成英文").nonAsciiShare).toBe(1);
    expect(measure("café").nonAsciiShare).toBeCloseTo(0.25);
  });

  it("counts context over every message but content from the last user message", () => {
    const f = measure("short question?", [
      { role: "system", content: "one two three" },
      { role: "user", content: "four five" },
      { role: "assistant", content: "six" },
    ]);
    expect(f).toMatchObject({ words: 2, contextWords: 8, turns: 4 });
  });

  it("measures the request NFKC-normalised: full-width Latin is Latin text with its questions and numbers", () => {
    const wide = measure("Ｗｈｙ　ｉｓ　１２３　ｐｒｉｍｅ？");
    expect(wide).toEqual(measure("Why is 123 prime?"));
    expect(wide).toMatchObject({ questions: 1, numbers: 1, nonAsciiShare: 0, words: 4 });
    // The context is measured the same way.
    const earlier: ChatMessage[] = [{ role: "assistant", content: "ｓｅｅ　ａｂｏｖｅ" }];
    expect(measure("ok", earlier)).toMatchObject({ contextWords: 3, contextChars: "see above".length + 2 });
  });

  it("finds an upper-case secret whether or not the caller passes the request lowercased", () => {
    const content = "Use AKIAABCDEFGHIJKLMNOP for the upload";
    const messages: ChatMessage[] = [{ role: "user", content }];
    const terms = countFeatureTerms(content.toLowerCase());
    expect(extractFeatures(messages, terms).secretValues).toBe(1);
    expect(extractFeatures(messages, terms, content.toLowerCase())).toEqual(extractFeatures(messages, terms));
  });
});

describe("countSecretValues", () => {
  it("finds keys, tokens and assignments but not talk about them", () => {
    expect(countSecretValues("my key is sk-live-0123456789abcdefgh")).toBe(1);
    expect(countSecretValues("-----begin rsa private key-----")).toBe(1);
    expect(countSecretValues("db_password=hunter22")).toBe(1);
    expect(countSecretValues("how do i store an api key safely?")).toBe(0);
  });

  it("finds an assignment however the name is spelt and spaced, and not a short or missing value", () => {
    expect(countSecretValues("export my_db_password\t=  'hunter22'")).toBe(1);
    expect(countSecretValues("access token\u00a0:\u3000abcd1234")).toBe(1);
    expect(countSecretValues("config: x = 1, y: 2, stripe_apikey = abcdefgh")).toBe(1);
    expect(countSecretValues("password: ok")).toBe(0);
    expect(countSecretValues("the pass: go right")).toBe(0);
    expect(countSecretValues("password = ")).toBe(0);
  });

  it("counts what the patterns alone count: the literals checked first never hide a match", () => {
    // Every pattern, with no prefilter, as the reference (the JSON web token's as the plain regex
    // its linear scan stands for).
    const patterns = [
      /-----begin [a-z ]{0,40}private key-----/,
      /\b[spr]k[-_](?:live[-_]|test[-_]|proj[-_])?[a-z0-9]{16}/,
      /\bakia[0-9a-z]{16}\b/,
      /\bgh[pousr]_[a-z0-9]{30}/,
      /\bxox[abprs]-[a-z0-9-]{10}/,
      /\beyj[a-z0-9_-]{10,}\.[a-z0-9_-]{10,}\./,
      /(?:pass(?:word|wd)|pwd|secret|token|api_?key)\w{0,32}\s{0,8}[:=]\s{0,8}["']?[^\s"']{4}/,
    ];
    const parts = [
      "pass", "password", "passwd", "pwd", "secret", "token", "api", "apikey", "api_key", "db_", "x", "=", ":", " ", "\t", "\u00a0",
      "\u3000", "\n", "'", '"', "hunter22", "abcd", "-", "_", ".", "é", "sk-", "akia", "ghp_", "xoxb-", "eyj", "0123456789abcdefghij",
      "0123456789abcdefghij0123456789ab", "-----begin ", "rsa ", "private key-----",
    ];
    let seed = 3;
    const pick = (): string => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return parts[seed % parts.length] ?? "";
    };
    let found = 0;
    for (let k = 0; k < 20_000; k++) {
      const text = Array.from({ length: 1 + (k % 9) }, pick).join("");
      const expected = patterns.filter((re) => re.test(text)).length;
      found += expected;
      expect(countSecretValues(text), text).toBe(expected);
    }
    expect(found).toBeGreaterThan(1000);
  });
});

describe("lastUserIndex", () => {
  it("finds the last user turn and returns -1 when there is none", () => {
    expect(lastUserIndex([{ role: "user", content: "a" }, { role: "assistant", content: "b" }])).toBe(0);
    expect(lastUserIndex([{ role: "system", content: "a" }])).toBe(-1);
  });
});
