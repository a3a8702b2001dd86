/**
 * Text → sparse feature vector for the learned pFail model. Every index comes from a fixed,
 * documented hash, so a weights file trained on one machine scores identically on any other; any
 * change to what this file computes must bump FEATURIZER_VERSION, and weights.ts refuses weights
 * trained with another version (they would load fine and predict garbage).
 *
 * Layout of a `dims`-long vector:
 * - Slots 0..RULE_SLOTS-1: the rule classifier's features (`classifyRules(...).features`, in
 *   RULE_FEATURE_KEYS order), each `log1p(max(0, x)) / RULE_FEATURE_SCALE`. Absolute, not
 *   normalised within the block: a 2,000-word prompt must look longer than a 20-word one.
 * - Slots RULE_SLOTS..dims-1: hashed n-grams of the lowercased text, at
 *   `RULE_SLOTS + fmix32(fnv1a32(prefix + gram)) % (dims - RULE_SLOTS)` (see hash.ts), in three blocks:
 *   word unigrams (prefix "w:"), word bigrams ("b:", the two words joined by one space) and
 *   character 4-grams ("c:") over the text with whitespace runs collapsed to one space and a space
 *   added at each end. Words are runs of letters, digits and `_`. Only 4-grams, not 3- to 5-grams
 *   as version 1 had: 40% of the keys, so featurize costs about half as much (it was 48 of
 *   the 67 µs a task took in process), for a held-out AUC within 0.001 and routing figures within
 *   the noise of the evaluation split.
 *   A count c becomes 1 + ln(c) (one repeated word should not swamp the rest), and each block is
 *   L2-normalised on its own: a 1 KB prompt has ~1,000 character 4-grams and only ~150 words, so
 *   without this the character block would drown the words.
 * - Finally the whole vector is L2-normalised. Blocks that collide on an index add up.
 */
import { classifyRules } from "../classify-rules.js";
import { TEXT_FEATURE_KEYS } from "../features.js";
import { fmix32, FNV_PRIME, fnv1a32, fnv1aCodePoint } from "./hash.js";
import type { SparseVector } from "./sparse-vector.js";

/** Stored in every weights file; bump on any change to the features. */
export const FEATURIZER_VERSION = "hashed-ngrams-rules-2";

/** The rule features, in slot order. Append only: reordering moves every trained weight. */
export const RULE_FEATURE_KEYS = [
  ...TEXT_FEATURE_KEYS,
  "complexityScore",
  "riskMatches",
  "typeScore.chat",
  "typeScore.qa",
  "typeScore.summarization",
  "typeScore.code",
  "typeScore.reasoning",
  "typeScore.creative",
  "typeScore.extraction",
  "typeScore.translation",
] as const;

/** Slots reserved for rule features; more than RULE_FEATURE_KEYS so keys can be appended. */
export const RULE_SLOTS = 64;

/**
 * Divides the log1p-scaled rule features, so a typical prompt's rule block has a norm near 1,
 * like each n-gram block: log1p(2,000 chars) ≈ 7.6.
 */
export const RULE_FEATURE_SCALE = 8;

/** Only this many leading UTF-16 code units feed the n-grams: the cost per call stays bounded. */
export const MAX_NGRAM_CHARS = 16_384;

/** Smallest `dims`: the rule slots plus room for hashed n-grams. */
export const MIN_DIMS = 2 * RULE_SLOTS;

/** Characters in a character n-gram. */
const CHAR_NGRAM = 4;
const WORD_BASIS = fnv1a32("w:");
const BIGRAM_BASIS = fnv1a32("b:");
const CHAR_BASIS = fnv1a32("c:");
const SPACE = 32;
const REPLACEMENT_CHARACTER = 0xfffd;

/** The n-gram blocks, each L2-normalised on its own. */
const UNIGRAMS = 0;
const BIGRAMS = 1;
const CHARS = 2;
const BLOCKS = 3;
/**
 * Each n-gram is counted as one number, `key = (slot - RULE_SLOTS) * KEY_STRIDE + block`: sorting
 * the keys groups the n-grams by slot, ascending, and by block within a slot. MAX_DIMS keeps keys
 * below 2^31, so they live in an Int32Array and the sort and tally run on small integers.
 */
const KEY_STRIDE = 4;
const KEY_SHIFT = 2;

/**
 * Largest `dims`. Keys must stay below 2^31, and the bitmaps that count them take a bit per
 * key (2 MB each at this size; a call touches 32 KB of each at the default 2^16).
 */
export const MAX_DIMS = 2 ** 22;

/**
 * Code point classes, as the regexes that define them see them: words are runs of WORD_CHARS,
 * and SPACES are what the character n-grams collapse. A lone surrogate reads as U+FFFD (as the
 * hash does), which is neither. Each code point is classified once, then read from `classes`.
 */
const OTHER = 1;
const WORD_CHAR = 2;
const SPACE_CHAR = 3;
const WORD_CHARS = /[\p{L}\p{N}_]/u;
/** `\s` and String.prototype.trim strip the same characters (a test checks every code point). */
const SPACES = /\s/u;
/** 0 until a code point is first seen. */
const classes = new Uint8Array(0x110000);

function classOf(cp: number): number {
  const known = classes[cp] ?? 0;
  if (known !== 0) return known;
  const char = String.fromCodePoint(cp);
  const kind = SPACES.test(char) ? SPACE_CHAR : WORD_CHARS.test(char) ? WORD_CHAR : OTHER;
  classes[cp] = kind;
  return kind;
}

/**
 * `toLowerCase` turns a character into at most twice as many UTF-16 code units (only U+0130 "İ"
 * grows, into "i̇"; a test checks every code point), so the lowercased text is at most this long.
 */
const MAX_LOWERCASE_UNITS = 2 * MAX_NGRAM_CHARS;
/**
 * At most one character n-gram starts at each position of a stream two longer than the text,
 * and unigrams plus bigrams number at most one per code point (2 × words - 1, and words are
 * separated by at least one character).
 */
const MAX_KEYS = MAX_LOWERCASE_UNITS + 2 + MAX_LOWERCASE_UNITS;

/**
 * Scratch space, allocated once at the size the longest text needs: about 5 MB of address space,
 * of which a call touches only what its text needs. Module
 * constants rather than buffers grown on demand: V8 compiles a loop over a constant typed array
 * without reloading its length and data pointer at every access, which made the counting and
 * sorting loops twice as fast. Sharing is safe because featurize is synchronous and nothing it
 * calls calls it back.
 */
const codePoints = new Int32Array(MAX_LOWERCASE_UNITS);
const codePointClasses = new Uint8Array(MAX_LOWERCASE_UNITS);
/** What the character n-grams read: whitespace runs collapsed, trimmed, a space at each end. */
const charStream = new Int32Array(MAX_LOWERCASE_UNITS + 2);
const keys = new Int32Array(MAX_KEYS);
const distinctSlots = new Uint32Array(MAX_KEYS);
/** Per distinct slot, BLOCKS weights, 0 for a block without that slot. */
const distinctWeights = new Float64Array(BLOCKS * MAX_KEYS);
const unscaled = new Float64Array(RULE_SLOTS + MAX_KEYS);
const ruleSlots = new Uint32Array(RULE_SLOTS);

/** `1 + ln(count)` for small counts, computed once: the same expression, so the same bits. */
const WEIGHTS = Float64Array.from({ length: 256 }, (_, count) => (count === 0 ? 0 : 1 + Math.log(count)));

/** A count c weighs 1 + ln(c) (one repeated n-gram should not swamp the rest); 0 weighs 0. */
function weight(count: number): number {
  return count < WEIGHTS.length ? (WEIGHTS[count] ?? 0) : 1 + Math.log(count);
}

function inverseNorm(sumSquares: number): number {
  return sumSquares > 0 ? 1 / Math.sqrt(sumSquares) : 0;
}

/** The text's code points and their classes (a lone surrogate becomes U+FFFD); returns how many. */
function decode(lower: string): number {
  let length = 0;
  for (let i = 0; i < lower.length; i++) {
    let cp = lower.charCodeAt(i);
    if (cp >= 0xd800 && cp <= 0xdfff) {
      const next = lower.charCodeAt(i + 1);
      if (cp <= 0xdbff && next >= 0xdc00 && next <= 0xdfff) {
        cp = 0x10000 + ((cp - 0xd800) << 10) + (next - 0xdc00);
        i++;
      } else {
        cp = REPLACEMENT_CHARACTER;
      }
    }
    codePoints[length] = cp;
    codePointClasses[length++] = classOf(cp);
  }
  return length;
}

/** Fill `charStream` from the first `length` code points; returns its length. */
function buildCharStream(length: number): number {
  let streamLength = 0;
  charStream[streamLength++] = SPACE;
  let pendingSpace = false;
  for (let i = 0; i < length; i++) {
    if (codePointClasses[i] === SPACE_CHAR) {
      // A run between two non-spaces becomes one space; leading and trailing runs are trimmed.
      pendingSpace = streamLength > 1;
      continue;
    }
    if (pendingSpace) charStream[streamLength++] = SPACE;
    pendingSpace = false;
    charStream[streamLength++] = codePoints[i] ?? 0;
  }
  charStream[streamLength++] = SPACE;
  return streamLength;
}

/** FNV-1a over one code point, the ASCII case inlined (hash.ts documents the hash). */
function step(h: number, cp: number): number {
  return cp < 0x80 ? Math.imul(h ^ cp, FNV_PRIME) : fnv1aCodePoint(h, cp);
}

/**
 * The key of a hash in `block`. `x - floor(x / m) * m` is `x % m`, exactly (both are below 2^32,
 * so the quotient is never rounded up to the next integer), without the slow `%` V8 uses once a
 * number exceeds int32.
 */
function keyOf(h: number, hashedSlots: number, block: number): number {
  const mixed = fmix32(h);
  return (mixed - Math.floor(mixed / hashedSlots) * hashedSlots) * KEY_STRIDE + block;
}

/** Append the unigram and bigram keys of the first `length` code points from `count` on; returns the new count. */
function addWordKeys(length: number, hashedSlots: number, count: number): number {
  let previous = 0; // fnv1a32("b:" + the previous word)
  let hasPrevious = false;
  for (let i = 0; ; ) {
    while (i < length && codePointClasses[i] !== WORD_CHAR) i++;
    if (i === length) return count;
    // One pass over the word feeds three running hashes; fnv1a32 continues a running hash, so
    // `bigram` ends as fnv1a32("b:" + previous + " " + word).
    let unigram = WORD_BASIS;
    let current = BIGRAM_BASIS;
    let bigram = step(previous, SPACE);
    for (; i < length && codePointClasses[i] === WORD_CHAR; i++) {
      const cp = codePoints[i] ?? 0;
      unigram = step(unigram, cp);
      current = step(current, cp);
      bigram = step(bigram, cp);
    }
    keys[count++] = keyOf(unigram, hashedSlots, UNIGRAMS);
    if (hasPrevious) keys[count++] = keyOf(bigram, hashedSlots, BIGRAMS);
    previous = current;
    hasPrevious = true;
  }
}

/** Append the character 4-gram keys of the stream from `count` on; returns the new count. */
function addCharKeys(streamLength: number, hashedSlots: number, count: number): number {
  for (let start = 0; start + CHAR_NGRAM <= streamLength; start++) {
    // Unrolled for CHAR_NGRAM = 4: V8 kept an inner loop.
    const h = step(step(step(step(CHAR_BASIS, charStream[start] ?? 0), charStream[start + 1] ?? 0), charStream[start + 2] ?? 0), charStream[start + 3] ?? 0);
    keys[count++] = keyOf(h, hashedSlots, CHARS);
  }
  return count;
}

/**
 * Counting without sorting. `present` has a bit per key seen, and `presentWords` a bit per
 * non-zero word of `present`; reading the two bitmaps from the low bit up visits the keys in
 * ascending order, in time proportional to the keys plus one pass over `presentWords` (256 words
 * at 2^16 dims). Most n-grams occur once, so only repeats are counted, in a small open-addressing
 * table, and flagged in `repeated`: a dense count per key missed the cache on every access. The bucket and
 * insertion sort this replaced took twice as long. The bitmaps are all zero between calls
 * (reading a key clears it), the table all empty. The bitmaps are constants sized for MAX_DIMS,
 * like the scratch space above: as `let` bindings grown on demand they cost featurize 10%, because
 * V8 reloaded them at every access. A call touches only the words its `dims` needs, so most of
 * the 4 MB is never written and never becomes resident.
 */
const KEY_WORDS = (MAX_DIMS * KEY_STRIDE) / 32;
const present = new Int32Array(KEY_WORDS);
const presentWords = new Int32Array(KEY_WORDS / 32);
/** A bit per key seen more than once: only those are looked up in the table. */
const repeated = new Int32Array(KEY_WORDS);
/** Open addressing, linear probing: a repeated key, or -1 when the entry is empty. */
const repeatKeys = new Int32Array(2 ** Math.ceil(Math.log2(2 * MAX_KEYS))).fill(-1);
/** How many times the key in the same entry of `repeatKeys` occurs. */
const repeatCounts = new Int32Array(repeatKeys.length);
/** The table's size for the current text (a power of two, at least twice the keys), minus one. */
let repeatMask = 0;

/** Where `key` is in the repeats table, or the empty entry where it would go. */
function repeatEntry(key: number): number {
  let at = Math.imul(key, 0x9e3779b1) & repeatMask; // Fibonacci hashing
  for (;;) {
    const held = repeatKeys[at] ?? -1;
    if (held === key || held === -1) return at;
    at = (at + 1) & repeatMask;
  }
}

/** Mark the first `count` keys present and count the repeats. */
function countKeys(count: number): void {
  repeatMask = 2 ** Math.ceil(Math.log2(2 * count + 2)) - 1;
  for (let i = 0; i < count; i++) {
    const key = keys[i] ?? 0;
    const word = key >> 5;
    const bit = 1 << (key & 31);
    const bits = present[word] ?? 0;
    if ((bits & bit) === 0) {
      present[word] = bits | bit;
      presentWords[word >> 5] = (presentWords[word >> 5] ?? 0) | (1 << (word & 31));
      continue;
    }
    repeated[word] = (repeated[word] ?? 0) | bit;
    const at = repeatEntry(key);
    if (repeatKeys[at] === key) {
      repeatCounts[at] = (repeatCounts[at] ?? 0) + 1;
    } else {
      repeatKeys[at] = key;
      repeatCounts[at] = 2;
    }
  }
}

/**
 * Read the keys in ascending order and clear them: each distinct slot goes to `distinctSlots`,
 * ascending, and its weight in each block to `distinctWeights`. Returns how many.
 * @param groups how many words of `presentWords` the current `dims` can set.
 */
function tally(groups: number): number {
  let distinct = 0;
  let lastOffset = -1;
  for (let group = 0; group < groups; group++) {
    let words = presentWords[group] ?? 0;
    if (words === 0) continue;
    presentWords[group] = 0;
    while (words !== 0) {
      const lowWord = words & -words;
      words ^= lowWord;
      const word = (group << 5) | (31 - Math.clz32(lowWord));
      let bits = present[word] ?? 0;
      const repeats = repeated[word] ?? 0;
      present[word] = 0;
      repeated[word] = 0;
      while (bits !== 0) {
        const lowBit = bits & -bits;
        bits ^= lowBit;
        const key = (word << 5) | (31 - Math.clz32(lowBit));
        const run = (repeats & lowBit) === 0 ? 1 : (repeatCounts[repeatEntry(key)] ?? 0);
        const offset = key >> KEY_SHIFT;
        if (offset !== lastOffset) {
          distinctSlots[distinct] = RULE_SLOTS + offset;
          distinctWeights[BLOCKS * distinct + UNIGRAMS] = 0;
          distinctWeights[BLOCKS * distinct + BIGRAMS] = 0;
          distinctWeights[BLOCKS * distinct + CHARS] = 0;
          distinct++;
          lastOffset = offset;
        }
        distinctWeights[BLOCKS * (distinct - 1) + (key & (KEY_STRIDE - 1))] = weight(run);
      }
    }
  }
  repeatKeys.fill(-1, 0, repeatMask + 1);
  return distinct;
}

/**
 * The rule slots and the distinct n-gram slots as one L2-normalised vector, bit-identical to
 * adding up separately normalised blocks as the trained weights' featurizer did: every sum of
 * squares runs in ascending slot order (an absent block's 0 adds nothing, not even a rounding),
 * and a slot's value is `(rules or unigrams) + (bigrams + chars)`.
 */
function assemble(features: Readonly<Record<string, number>>, distinct: number): SparseVector {
  let unigramSquares = 0;
  let bigramSquares = 0;
  let charSquares = 0;
  for (let at = 0; at < BLOCKS * distinct; at += BLOCKS) {
    const unigram = distinctWeights[at + UNIGRAMS] ?? 0;
    const bigram = distinctWeights[at + BIGRAMS] ?? 0;
    const char = distinctWeights[at + CHARS] ?? 0;
    // v * v, not v ** 2: Math.pow need not round as a product does.
    unigramSquares += unigram * unigram;
    bigramSquares += bigram * bigram;
    charSquares += char * char;
  }
  const unigramScale = inverseNorm(unigramSquares);
  const bigramScale = inverseNorm(bigramSquares);
  const charScale = inverseNorm(charSquares);

  // Rule slots are all below RULE_SLOTS, so they never collide with the hashed blocks.
  let rules = 0;
  let sumSquares = 0;
  // A loop, not forEach: a closure would box `sumSquares` for the whole function.
  for (let slot = 0; slot < RULE_FEATURE_KEYS.length; slot++) {
    const x = features[RULE_FEATURE_KEYS[slot] ?? ""] ?? 0;
    if (x <= 0) continue;
    const v = Math.log1p(x) / RULE_FEATURE_SCALE;
    ruleSlots[rules] = slot;
    unscaled[rules++] = v;
    sumSquares += v * v;
  }
  for (let k = 0; k < distinct; k++) {
    const at = BLOCKS * k;
    const v =
      (distinctWeights[at + UNIGRAMS] ?? 0) * unigramScale +
      ((distinctWeights[at + BIGRAMS] ?? 0) * bigramScale + (distinctWeights[at + CHARS] ?? 0) * charScale);
    unscaled[rules + k] = v;
    sumSquares += v * v;
  }

  const scale = inverseNorm(sumSquares);
  const indices = new Uint32Array(rules + distinct);
  indices.set(ruleSlots.subarray(0, rules));
  indices.set(distinctSlots.subarray(0, distinct), rules);
  const values = new Float32Array(rules + distinct);
  for (let i = 0; i < values.length; i++) values[i] = (unscaled[i] ?? 0) * scale;
  return { indices, values };
}

/**
 * The feature vector of one prompt (see the module comment for the layout). Deterministic and
 * identical across machines for the same `text` and `dims`; indices are sorted and below `dims`.
 * @param dims vector length, an integer of at least MIN_DIMS (training uses 2^18).
 * @param ruleFeatures `classifyRules(...).features` for a conversation of one user message,
 *   `text`, when the caller has them already (a longer conversation's differ: turns, context
 *   size, risk in earlier turns). Default: computed here.
 */
export function featurize(text: string, dims: number, ruleFeatures?: Readonly<Record<string, number>>): SparseVector {
  if (!Number.isInteger(dims) || dims < MIN_DIMS || dims > MAX_DIMS) {
    throw new RangeError(`dims must be an integer in [${MIN_DIMS}, 2^22], got ${dims}`);
  }
  const hashedSlots = dims - RULE_SLOTS;
  const lower = text.slice(0, MAX_NGRAM_CHARS).toLowerCase();
  if (lower.length > MAX_LOWERCASE_UNITS) {
    // Unreachable unless a Unicode update lengthens some lowercase mapping; the test on every
    // code point fails first.
    throw new Error(`lowercasing ${MAX_NGRAM_CHARS} code units gave ${lower.length}, more than the scratch space holds`);
  }
  const length = decode(lower);
  const streamLength = buildCharStream(length);
  let count = addWordKeys(length, hashedSlots, 0);
  count = addCharKeys(streamLength, hashedSlots, count);
  countKeys(count);
  const distinct = tally(Math.ceil((hashedSlots * KEY_STRIDE) / 1024));
  return assemble(ruleFeatures ?? classifyRules({ messages: [{ role: "user", content: text }] }).features, distinct);
}
