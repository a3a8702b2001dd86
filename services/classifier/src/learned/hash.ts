/**
 * FNV-1a, 32-bit, over the UTF-8 bytes of a string (http://www.isthe.com/chongo/tech/comp/fnv/):
 * start from the offset basis 2166136261, then for each byte `h = (h ^ byte) * 16777619 mod 2^32`.
 * Stored weights are indexed by these hashes, so they must never change: a different hash (or
 * hashing UTF-16 code units instead of UTF-8 bytes) silently scrambles every trained model. The
 * test vectors in hash.test.ts pin the reference values.
 */

export const FNV_OFFSET_BASIS = 0x811c9dc5;
export const FNV_PRIME = 0x01000193;

function byte(h: number, b: number): number {
  return Math.imul(h ^ b, FNV_PRIME) >>> 0;
}

/** Feed one Unicode code point, as its UTF-8 bytes, into a running hash. */
export function fnv1aCodePoint(h: number, cp: number): number {
  if (cp < 0x80) return byte(h, cp);
  if (cp < 0x800) return byte(byte(h, 0xc0 | (cp >> 6)), 0x80 | (cp & 0x3f));
  if (cp < 0x10000) return byte(byte(byte(h, 0xe0 | (cp >> 12)), 0x80 | ((cp >> 6) & 0x3f)), 0x80 | (cp & 0x3f));
  return byte(
    byte(byte(byte(h, 0xf0 | (cp >> 18)), 0x80 | ((cp >> 12) & 0x3f)), 0x80 | ((cp >> 6) & 0x3f)),
    0x80 | (cp & 0x3f),
  );
}

/**
 * Continue a running hash over a string. `fnv1a32(b, fnv1a32(a))` equals `fnv1a32(a + b)`, so a
 * namespace prefix is hashed once and reused. A lone surrogate is hashed as U+FFFD, as
 * TextEncoder would encode it.
 */
export function fnv1a32(text: string, h: number = FNV_OFFSET_BASIS): number {
  for (const cp of codePointsOf(text)) h = fnv1aCodePoint(h, cp);
  return h;
}

const REPLACEMENT_CHARACTER = 0xfffd;

/** The text's code points; a lone surrogate becomes U+FFFD, as TextEncoder would encode it. */
export function codePointsOf(text: string): number[] {
  const codePoints: number[] = [];
  for (let i = 0; i < text.length; i++) {
    const cp = codePointAt(text, i);
    if (cp > 0xffff) i++;
    codePoints.push(cp);
  }
  return codePoints;
}

/** The code point at UTF-16 index `i` (two units when above U+FFFF); a lone surrogate is U+FFFD. */
export function codePointAt(text: string, i: number): number {
  const cp = text.codePointAt(i) ?? REPLACEMENT_CHARACTER;
  return cp >= 0xd800 && cp <= 0xdfff ? REPLACEMENT_CHARACTER : cp;
}

export { fmix32 } from "@llm-router/shared";

/**
 * mulberry32: a small seeded PRNG returning floats in [0, 1). Good enough to shuffle training
 * examples; not for anything that must be unpredictable.
 */
export function createRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
