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
 * Largest `dims`: n-grams are counted as `offset × KEY_STRIDE + block` in an Int32Array, which
 * would allow 2^29; weights files this large (32 MB a head) are not a use anyone has.
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
 * Counting: a hash table from slot to its count in each block, filled from the n-grams found.
 * Open addressing with linear probing, sized per call to at least twice the n-grams the text can
 * have, so a 1 KB prompt's table (4,096 entries) stays in the L1 and L2 caches, where the
 * bitmaps over every slot this replaced missed them. `entries` lists the entries in use in the
 * order their slots were first seen; clearing walks it, so the table is all empty between calls.
 * Module constants sized for the longest text, not buffers grown on demand: V8 compiles a loop
 * over a constant typed array without reloading its length and data pointer at every access.
 * Sharing is safe because nothing here is asynchronous or calls back into it.
 */
const TABLE_SIZE = 2 ** Math.ceil(Math.log2(2 * MAX_KEYS));
/** The slot offset (slot - RULE_SLOTS) an entry holds, -1 when it is empty. */
const tableSlots = new Int32Array(TABLE_SIZE).fill(-1);
/** Per entry, its slot's count in each block, at COUNT_STRIDE × entry + block. */
const COUNT_STRIDE = 4;
const tableCounts = new Int32Array(COUNT_STRIDE * TABLE_SIZE);
const entries = new Int32Array(MAX_KEYS);
/** An n-gram as one number while it is counted: `offset × KEY_STRIDE + block`. */
const KEY_STRIDE = 4;
const KEY_SHIFT = 2;

/** Empty the first `inUse` entries of `entries`, which are all the table holds. */
function clearTable(inUse: number): void {
  for (let k = 0; k < inUse; k++) {
    const at = entries[k] ?? 0;
    tableSlots[at] = -1;
    tableCounts[COUNT_STRIDE * at + UNIGRAMS] = 0;
    tableCounts[COUNT_STRIDE * at + BIGRAMS] = 0;
    tableCounts[COUNT_STRIDE * at + CHARS] = 0;
  }
}

/** FNV-1a over one code point, the ASCII case inlined (hash.ts documents the hash). */
function step(h: number, cp: number): number {
  return cp < 0x80 ? Math.imul(h ^ cp, FNV_PRIME) : fnv1aCodePoint(h, cp);
}

/**
 * The slot offset of a hash: `fmix32(h) % slots`, exactly, by a multiplication instead of a
 * division. The quotient `floor(x · (1 / slots))` is off by at most one (x < 2^32, so the
 * product's relative error of 2^-52 moves it by far less than 1), and the remainder is corrected
 * back into [0, slots). The division this replaced was the longest step of every n-gram.
 * @param inverse `1 / slots`
 */
function offsetOf(h: number, slots: number, inverse: number): number {
  const mixed = fmix32(h);
  const r = mixed - Math.floor(mixed * inverse) * slots;
  return r < 0 ? r + slots : r >= slots ? r - slots : r;
}

/**
 * Scratch space for one text, sized for the longest: its code points and their classes, the
 * character stream the 4-grams read, and the n-grams found, each as `offset × 4 + block`.
 */
const codePoints = new Int32Array(MAX_LOWERCASE_UNITS);
const codePointClasses = new Uint8Array(MAX_LOWERCASE_UNITS);
/** What the character n-grams read: whitespace runs collapsed, trimmed, a space at each end. */
const charStream = new Int32Array(MAX_LOWERCASE_UNITS + 2);
const keys = new Int32Array(MAX_KEYS);

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

/** Append the unigram and bigram keys of the first `length` code points from `count` on; returns the new count. */
function addWordKeys(length: number, slots: number, count: number): number {
  const inverse = 1 / slots;
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
    keys[count++] = offsetOf(unigram, slots, inverse) * KEY_STRIDE + UNIGRAMS;
    if (hasPrevious) keys[count++] = offsetOf(bigram, slots, inverse) * KEY_STRIDE + BIGRAMS;
    previous = current;
    hasPrevious = true;
  }
}

/** Append the character 4-gram keys of the stream from `count` on; returns the new count. */
function addCharKeys(streamLength: number, slots: number, count: number): number {
  const inverse = 1 / slots;
  let c1 = charStream[0] ?? 0;
  let c2 = charStream[1] ?? 0;
  let c3 = charStream[2] ?? 0;
  for (let end = CHAR_NGRAM - 1; end < streamLength; end++) {
    const c4 = charStream[end] ?? 0;
    // All ASCII (most 4-grams): four multiplications, no branches.
    const h =
      (c1 | c2 | c3 | c4) < 0x80
        ? Math.imul(Math.imul(Math.imul(Math.imul(CHAR_BASIS ^ c1, FNV_PRIME) ^ c2, FNV_PRIME) ^ c3, FNV_PRIME) ^ c4, FNV_PRIME)
        : step(step(step(step(CHAR_BASIS, c1), c2), c3), c4);
    keys[count++] = offsetOf(h, slots, inverse) * KEY_STRIDE + CHARS;
    c1 = c2;
    c2 = c3;
    c3 = c4;
  }
  return count;
}

/** Count the first `count` keys into the table, sized by `shift`; returns the entries in use. */
function tallyKeys(count: number, shift: number): number {
  const mask = -1 >>> shift;
  let inUse = 0;
  for (let i = 0; i < count; i++) {
    const key = keys[i] ?? 0;
    const offset = key >> KEY_SHIFT;
    let at = Math.imul(offset, 0x9e3779b1) >>> shift; // Fibonacci hashing
    for (;;) {
      const held = tableSlots[at] ?? -1;
      if (held === offset) break;
      if (held === -1) {
        tableSlots[at] = offset;
        entries[inUse++] = at;
        break;
      }
      at = (at + 1) & mask;
    }
    const counted = COUNT_STRIDE * at + (key & (KEY_STRIDE - 1));
    tableCounts[counted] = (tableCounts[counted] ?? 0) + 1;
  }
  return inUse;
}

/** At most 2 × length + 2 n-grams: a table at least twice that (never below 16 entries), as a shift. */
function tableShift(lower: string): number {
  return 32 - Math.max(4, Math.ceil(Math.log2(2 * (2 * lower.length + 2))));
}

/**
 * Count every n-gram of the lowercased text into the table: words (runs of WORD_CHARS) as
 * unigrams and bigrams, and the character 4-grams of the stream. Returns the entries in use, which
 * `entries` lists in the order their slots were first counted.
 */
function countNgrams(lower: string, slots: number): number {
  const shift = tableShift(lower);
  const length = decode(lower);
  const streamLength = buildCharStream(length);
  const count = addCharKeys(streamLength, slots, addWordKeys(length, slots, 0));
  return tallyKeys(count, shift);
}

/** The text the n-grams read: at most MAX_NGRAM_CHARS code units, lowercased. */
function ngramText(text: string): string {
  const lower = text.slice(0, MAX_NGRAM_CHARS).toLowerCase();
  if (lower.length > MAX_LOWERCASE_UNITS) {
    // Unreachable unless a Unicode update lengthens some lowercase mapping; the test on every
    // code point fails first.
    throw new Error(`lowercasing ${MAX_NGRAM_CHARS} code units gave ${lower.length}, more than the scratch space holds`);
  }
  return lower;
}

function checkDims(dims: number): void {
  if (!Number.isInteger(dims) || dims < MIN_DIMS || dims > MAX_DIMS) {
    throw new RangeError(`dims must be an integer in [${MIN_DIMS}, 2^22], got ${dims}`);
  }
}

/** `1 + ln(count)` for small counts, computed once: the same expression, so the same bits. */
const WEIGHTS = Float64Array.from({ length: 256 }, (_, count) => (count === 0 ? 0 : 1 + Math.log(count)));

/** A count c weighs 1 + ln(c) (one repeated n-gram should not swamp the rest); 0 weighs 0. */
function weight(count: number): number {
  return count < WEIGHTS.length ? (WEIGHTS[count] ?? 0) : 1 + Math.log(count);
}

function inverseNorm(sumSquares: number): number {
  return sumSquares > 0 ? 1 / Math.sqrt(sumSquares) : 0;
}

/** 1 / each block's L2 norm over the counted entries, at UNIGRAMS, BIGRAMS and CHARS. */
const blockScales = new Float64Array(BLOCKS);
/** The k-th entry of the order `weighEntries` was given: its weight in each block, and its slot. */
const entryWeights = new Float64Array(BLOCKS * MAX_KEYS);
const entrySlots = new Uint32Array(MAX_KEYS);

/**
 * Weigh the counted entries in the order `order` lists them (each block's weight, 0 where the
 * slot has no n-gram of that block, into `entryWeights`, the slot into `entrySlots`), and each
 * block's scale into `blockScales`, its sum of squares added up in that order.
 */
function weighEntries(order: Int32Array, count: number): void {
  let unigramSquares = 0;
  let bigramSquares = 0;
  let charSquares = 0;
  for (let k = 0; k < count; k++) {
    const entry = order[k] ?? 0;
    const at = COUNT_STRIDE * entry;
    const unigram = weight(tableCounts[at + UNIGRAMS] ?? 0);
    const bigram = weight(tableCounts[at + BIGRAMS] ?? 0);
    const char = weight(tableCounts[at + CHARS] ?? 0);
    entryWeights[BLOCKS * k + UNIGRAMS] = unigram;
    entryWeights[BLOCKS * k + BIGRAMS] = bigram;
    entryWeights[BLOCKS * k + CHARS] = char;
    entrySlots[k] = RULE_SLOTS + (tableSlots[entry] ?? 0);
    // v * v, not v ** 2: Math.pow need not round as a product does.
    unigramSquares += unigram * unigram;
    bigramSquares += bigram * bigram;
    charSquares += char * char;
  }
  blockScales[UNIGRAMS] = inverseNorm(unigramSquares);
  blockScales[BIGRAMS] = inverseNorm(bigramSquares);
  blockScales[CHARS] = inverseNorm(charSquares);
}

/** The k-th weighed entry's value before the final normalisation: `unigrams + (bigrams + chars)`, each block scaled. */
function entryValue(k: number): number {
  const at = BLOCKS * k;
  return (
    (entryWeights[at + UNIGRAMS] ?? 0) * (blockScales[UNIGRAMS] ?? 0) +
    ((entryWeights[at + BIGRAMS] ?? 0) * (blockScales[BIGRAMS] ?? 0) + (entryWeights[at + CHARS] ?? 0) * (blockScales[CHARS] ?? 0))
  );
}

/** The table entry holding `offset`, which was counted. */
function entryOf(offset: number, shift: number): number {
  const mask = -1 >>> shift;
  let at = Math.imul(offset, 0x9e3779b1) >>> shift;
  while ((tableSlots[at] ?? -1) !== offset) at = (at + 1) & mask;
  return at;
}

/** The rule slots in use and their values, before the final normalisation. */
const ruleSlots = new Uint32Array(RULE_SLOTS);
const ruleValues = new Float64Array(RULE_SLOTS);

/** Fill `ruleSlots` and `ruleValues` with the positive rule features; returns how many. */
function ruleBlock(features: Readonly<Record<string, number>>): number {
  let rules = 0;
  for (let slot = 0; slot < RULE_FEATURE_KEYS.length; slot++) {
    const x = features[RULE_FEATURE_KEYS[slot] ?? ""] ?? 0;
    if (x <= 0) continue;
    ruleSlots[rules] = slot;
    ruleValues[rules++] = Math.log1p(x) / RULE_FEATURE_SCALE;
  }
  return rules;
}

function ruleFeaturesOf(text: string, given: Readonly<Record<string, number>> | undefined): Readonly<Record<string, number>> {
  return given ?? classifyRules({ messages: [{ role: "user", content: text }] }).features;
}

const sortedOffsets = new Int32Array(MAX_KEYS);
const sortedEntries = new Int32Array(MAX_KEYS);
const unscaled = new Float64Array(MAX_KEYS);

/**
 * The feature vector of one prompt (see the module comment for the layout). Deterministic and
 * identical across machines for the same `text` and `dims`; indices are sorted and below `dims`.
 * Every sum runs in ascending slot order, rule slots first, so the values are the same bits as
 * the weights were trained on.
 * @param dims vector length, an integer of at least MIN_DIMS (training uses 2^18).
 * @param ruleFeatures `classifyRules(...).features` for a conversation of one user message,
 *   `text`, when the caller has them already (a longer conversation's differ: turns, context
 *   size, risk in earlier turns). Default: computed here.
 */
export function featurize(text: string, dims: number, ruleFeatures?: Readonly<Record<string, number>>): SparseVector {
  checkDims(dims);
  const lower = ngramText(text);
  const distinct = countNgrams(lower, dims - RULE_SLOTS);
  for (let k = 0; k < distinct; k++) sortedOffsets[k] = tableSlots[entries[k] ?? 0] ?? 0;
  sortedOffsets.subarray(0, distinct).sort();
  const shift = tableShift(lower);
  for (let k = 0; k < distinct; k++) sortedEntries[k] = entryOf(sortedOffsets[k] ?? 0, shift);
  weighEntries(sortedEntries, distinct);
  clearTable(distinct);

  const rules = ruleBlock(ruleFeaturesOf(text, ruleFeatures));
  const indices = new Uint32Array(rules + distinct);
  let sumSquares = 0;
  for (let r = 0; r < rules; r++) {
    const v = ruleValues[r] ?? 0;
    indices[r] = ruleSlots[r] ?? 0;
    unscaled[r] = v;
    sumSquares += v * v;
  }
  for (let k = 0; k < distinct; k++) {
    const v = entryValue(k);
    indices[rules + k] = entrySlots[k] ?? 0;
    unscaled[rules + k] = v;
    sumSquares += v * v;
  }
  const scale = inverseNorm(sumSquares);
  const values = new Float32Array(rules + distinct);
  for (let i = 0; i < values.length; i++) values[i] = (unscaled[i] ?? 0) * scale;
  return { indices, values };
}

/**
 * Two linear scores of the prompt's feature vector without building it: `[w₀·x, w₁·x]` for
 * `weights` holding both models' weights interleaved (`w₀[i]` at 2i, `w₁[i]` at 2i + 1). The
 * same dot products as `featurize` then a dot with each, to within float32 rounding: featurize
 * rounds each value to float32 and sums in slot order; this keeps float64 and sums in the order
 * the n-grams were counted. It skips the sort and both allocations.
 * @param out receives the two scores.
 */
export function dotInterleaved(
  text: string,
  dims: number,
  weights: Float64Array,
  out: Float64Array,
  ruleFeatures?: Readonly<Record<string, number>>,
): void {
  checkDims(dims);
  if (weights.length !== 2 * dims) throw new RangeError(`${weights.length} interleaved weights for ${dims} dims`);
  const distinct = countNgrams(ngramText(text), dims - RULE_SLOTS);
  weighEntries(entries, distinct);
  clearTable(distinct);
  const rules = ruleBlock(ruleFeaturesOf(text, ruleFeatures));
  let sumSquares = 0;
  let first = 0;
  let second = 0;
  for (let r = 0; r < rules; r++) {
    const v = ruleValues[r] ?? 0;
    const at = 2 * (ruleSlots[r] ?? 0);
    sumSquares += v * v;
    first += (weights[at] ?? 0) * v;
    second += (weights[at + 1] ?? 0) * v;
  }
  for (let k = 0; k < distinct; k++) {
    const v = entryValue(k);
    const at = 2 * (entrySlots[k] ?? 0);
    sumSquares += v * v;
    first += (weights[at] ?? 0) * v;
    second += (weights[at + 1] ?? 0) * v;
  }
  const scale = inverseNorm(sumSquares);
  out[0] = first * scale;
  out[1] = second * scale;
}
