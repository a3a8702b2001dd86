import { describe, expect, it } from "vitest";
import { compatibilityForm, normalizedLower } from "./normalize-text.js";

describe("compatibilityForm", () => {
  it("returns the NFKC form of each text, whatever text was normalised before it", () => {
    const texts = ["ﬁle", "ｄｅｐｌｏｙ", "x²", "ﬁle", "plain ascii", "Ｘ²", "ｄｅｐｌｏｙ"];
    for (const text of texts) expect(compatibilityForm(text)).toBe(text.normalize("NFKC"));
  });

  it("hands ASCII text back as it is", () => {
    const text = "Deploy to production";
    expect(compatibilityForm(text)).toBe(text);
  });
});

describe("normalizedLower", () => {
  it("lowercases after normalising, so full-width capitals read as plain lower-case letters", () => {
    expect(normalizedLower("ＤＥＬＥＴＥ ﬁles")).toBe("delete files");
  });
});
