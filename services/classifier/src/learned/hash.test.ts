import { describe, expect, it } from "vitest";
import { createRandom, fmix32, FNV_OFFSET_BASIS, fnv1a32 } from "./hash.js";

/** The textbook definition over Node's own UTF-8 encoding, to check the inlined encoder against. */
function referenceFnv1a(text: string): number {
  let h = FNV_OFFSET_BASIS;
  for (const b of Buffer.from(text, "utf8")) h = Math.imul(h ^ b, 0x01000193) >>> 0;
  return h;
}

describe("fnv1a32", () => {
  it("matches the published FNV-1a 32-bit test vectors", () => {
    expect(fnv1a32("")).toBe(0x811c9dc5);
    expect(fnv1a32("a")).toBe(0xe40c292c);
    expect(fnv1a32("foobar")).toBe(0xbf9cf968);
  });

  it("hashes the UTF-8 bytes of non-ASCII text, astral characters and lone surrogates included", () => {
    for (const text of ["café", "日本語のテキスト", "emoji 🚀 and 𝔸", "lone \ud800 surrogate"]) {
      expect(fnv1a32(text)).toBe(referenceFnv1a(text));
    }
  });

  it("continues a running hash, so a hashed prefix can be reused", () => {
    expect(fnv1a32("token", fnv1a32("w:"))).toBe(fnv1a32("w:token"));
  });
});

describe("fmix32", () => {
  it("matches MurmurHash3's finaliser on reference values", () => {
    expect(fmix32(0)).toBe(0);
    expect(fmix32(1)).toBe(0x514e28b7);
    expect(fmix32(0xffffffff)).toBe(0x81f16f39);
  });
});

describe("createRandom", () => {
  it("repeats its sequence for a seed and differs between seeds, always within [0, 1)", () => {
    const draw = (seed: number) => {
      const random = createRandom(seed);
      return Array.from({ length: 1000 }, () => random());
    };
    const a = draw(7);
    expect(draw(7)).toEqual(a);
    expect(draw(8)).not.toEqual(a);
    expect(a.every((x) => x >= 0 && x < 1)).toBe(true);
  });
});
