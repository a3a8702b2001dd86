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
 *   character 3-, 4- and 5-grams ("c:") over the text with whitespace runs collapsed to one space
 *   and a space added at each end. Words are runs of letters, digits and `_`.
 *   A count c becomes 1 + ln(c) (one repeated word should not swamp the rest), and each block is
 *   L2-normalised on its own: a 1 KB prompt has ~3,000 character n-grams and only ~150 words, so
 *   without this the character block would drown the words.
 * - Finally the whole vector is L2-normalised. Blocks that collide on an index add up.
 */
import { classifyRules } from "../classify-rules.js";
import { TEXT_FEATURE_KEYS } from "../features.js";
import { fmix32, fnv1a32, fnv1aCodePoint } from "./hash.js";
import type { SparseVector } from "./sparse-vector.js";

/** Stored in every weights file; bump on any change to the features. */
export const FEATURIZER_VERSION = "hashed-ngrams-rules-1";

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

const CHAR_NGRAM_MIN = 3;
const CHAR_NGRAM_MAX = 5;
const WORD_BASIS = fnv1a32("w:");
const BIGRAM_BASIS = fnv1a32("b:");
const CHAR_BASIS = fnv1a32("c:");
const SPACE = 32;
const REPLACEMENT_CHARACTER = 0xfffd;

/** The n-gram blocks, each L2-normalised on its own; also the column of a slot's count. */
const UNIGRAMS = 0;
const BIGRAMS = 1;
const CHARS = 2;
const BLOCKS = 3;

/**
 * Code point classes, as the regexes that define them see them: words are runs of WORD_CHARS,
 * and SPACES are what the character n-grams collapse. A lone surrogate reads as U+FFFD (as the
 * hash does), which is neither. Each class is looked up once per code point and cached: a regex
 * match over the text was a fifth of featurize's time.
 */
const OTHER = 1;
const WORD_CHAR = 2;
const SPACE_CHAR = 3;
const WORD_CHARS = /[\p{L}\p{N}_]/u;
const SPACES = /\s/u;
/** 0 until a code point is first seen. 1.1 MB, mostly never touched. */
const classes = new Uint8Array(0x110000);

function classOf(cp: number): number {
  const known = classes[cp] ?? OTHER;
  if (known !== 0) return known;
  const char = String.fromCodePoint(cp);
  const kind = SPACES.test(char) ? SPACE_CHAR : WORD_CHARS.test(char) ? WORD_CHAR : OTHER;
  classes[cp] = kind;
  return kind;
}

/**
 * Scratch space reused by every call, grown on demand and never shrunk: allocating arrays per
 * call (and sorting every n-gram rather than the distinct ones) made featurize ten times slower.
 * Safe because featurize is synchronous and nothing it calls calls it back.
 */
let codePoints = new Int32Array(1024);
let codePointClasses = new Uint8Array(1024);
/** The text the character n-grams read: whitespace runs collapsed, trimmed, a space at each end. */
let charStream = new Int32Array(1024);
let sortedSlots = new Uint32Array(1024);
let sortedEntries = new Int32Array(1024);
let merged = new Float64Array(1024);

function grow<T extends Int32Array | Uint8Array | Uint32Array | Float64Array>(array: T, length: number, create: (length: number) => T): T {
  return array.length >= length ? array : create(Math.max(length, 2 * array.length));
}

/**
 * How often each hashed slot occurs in each block: an open-addressing table from slot to entry,
 * with the entries' slots and counts in dense arrays. Counting distinct slots and sorting only
 * those is several times faster than sorting every n-gram.
 */
class SlotCounts {
  /** Slot per bucket, 0 for an empty bucket: hashed slots are all ≥ RULE_SLOTS. */
  private buckets = new Uint32Array(0);
  private bucketEntries = new Int32Array(0);
  private mask = 0;
  /** Distinct slots, in first-seen order. */
  slots = new Uint32Array(0);
  /** `counts[BLOCKS * entry + block]`. */
  counts = new Uint32Array(0);
  size = 0;

  /** Empty the table, sized for at most `maxDistinct` distinct slots. */
  reset(maxDistinct: number): void {
    // At most half full, so probe runs stay short.
    let capacity = 16;
    while (capacity < 2 * maxDistinct) capacity *= 2;
    if (this.buckets.length < capacity) {
      this.buckets = new Uint32Array(capacity);
      this.bucketEntries = new Int32Array(capacity);
    } else {
      this.buckets.fill(0, 0, capacity);
    }
    this.slots = grow(this.slots, maxDistinct, (n) => new Uint32Array(n));
    this.counts = grow(this.counts, BLOCKS * maxDistinct, (n) => new Uint32Array(n));
    this.mask = capacity - 1;
    this.size = 0;
  }

  add(slot: number, block: number): void {
    // Slots are fmix32-mixed, so their low bits spread evenly over the buckets.
    for (let b = slot & this.mask; ; b = (b + 1) & this.mask) {
      const occupant = this.buckets[b];
      if (occupant === slot) {
        const at = BLOCKS * (this.bucketEntries[b] ?? 0) + block;
        this.counts[at] = (this.counts[at] ?? 0) + 1;
        return;
      }
      if (occupant === 0) {
        const entry = this.size++;
        this.buckets[b] = slot;
        this.bucketEntries[b] = entry;
        this.slots[entry] = slot;
        const at = BLOCKS * entry;
        this.counts[at + UNIGRAMS] = 0;
        this.counts[at + BIGRAMS] = 0;
        this.counts[at + CHARS] = 0;
        this.counts[at + block] = 1;
        return;
      }
    }
  }

  /** The entry of a slot that was added. */
  entryOf(slot: number): number {
    let b = slot & this.mask;
    while (this.buckets[b] !== slot) b = (b + 1) & this.mask;
    return this.bucketEntries[b] ?? 0;
  }
}

const slotCounts = new SlotCounts();

function slotOf(h: number, hashedSlots: number): number {
  return RULE_SLOTS + (fmix32(h) % hashedSlots);
}

/**
 * Decode the text into `codePoints` and their classes (a lone surrogate becomes U+FFFD, as in
 * hash.ts); returns how many.
 */
function decode(lower: string): number {
  codePoints = grow(codePoints, lower.length, (n) => new Int32Array(n));
  codePointClasses = grow(codePointClasses, lower.length, (n) => new Uint8Array(n));
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

function countWords(length: number, hashedSlots: number): void {
  let previous = 0; // fnv1a32("b:" + the previous word)
  let hasPrevious = false;
  for (let i = 0; ; ) {
    while (i < length && codePointClasses[i] !== WORD_CHAR) i++;
    if (i === length) return;
    // One pass over the word feeds three running hashes; fnv1a32 continues a running hash, so
    // `bigram` ends as fnv1a32("b:" + previous + " " + word).
    let unigram = WORD_BASIS;
    let current = BIGRAM_BASIS;
    let bigram = hasPrevious ? fnv1aCodePoint(previous, SPACE) : 0;
    for (; i < length && codePointClasses[i] === WORD_CHAR; i++) {
      const cp = codePoints[i] ?? 0;
      unigram = fnv1aCodePoint(unigram, cp);
      current = fnv1aCodePoint(current, cp);
      if (hasPrevious) bigram = fnv1aCodePoint(bigram, cp);
    }
    slotCounts.add(slotOf(unigram, hashedSlots), UNIGRAMS);
    if (hasPrevious) slotCounts.add(slotOf(bigram, hashedSlots), BIGRAMS);
    previous = current;
    hasPrevious = true;
  }
}

function countCharNgrams(length: number, hashedSlots: number): void {
  charStream = grow(charStream, length + 2, (n) => new Int32Array(n));
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

  for (let start = 0; start + CHAR_NGRAM_MIN <= streamLength; start++) {
    // FNV-1a hashes a prefix once: the 4-gram continues the 3-gram's hash, the 5-gram the 4-gram's.
    let h = CHAR_BASIS;
    for (let n = 1; n <= CHAR_NGRAM_MAX && start + n <= streamLength; n++) {
      h = fnv1aCodePoint(h, charStream[start + n - 1] ?? 0);
      if (n >= CHAR_NGRAM_MIN) slotCounts.add(slotOf(h, hashedSlots), CHARS);
    }
  }
}

/** A count c weighs 1 + ln(c). */
function weight(count: number): number {
  return count === 1 ? 1 : 1 + Math.log(count);
}

function inverseNorm(sumSquares: number): number {
  return sumSquares > 0 ? 1 / Math.sqrt(sumSquares) : 0;
}

/**
 * The rule slots and the counted n-grams as one L2-normalised vector. Bit-identical to summing
 * separately normalised blocks: every sum of squares runs in ascending slot order, and a slot's
 * value is `(rules or unigrams) + (bigrams + chars)`, as the trained weights' featurizer added them.
 */
function assemble(features: Readonly<Record<string, number>>): SparseVector {
  const distinct = slotCounts.size;
  const { counts } = slotCounts;
  sortedSlots = grow(sortedSlots, distinct, (n) => new Uint32Array(n));
  sortedEntries = grow(sortedEntries, distinct, (n) => new Int32Array(n));
  merged = grow(merged, RULE_FEATURE_KEYS.length + distinct, (n) => new Float64Array(n));
  const sorted = sortedSlots.subarray(0, distinct);
  sorted.set(slotCounts.slots.subarray(0, distinct));
  sorted.sort();

  const sumSquares = [0, 0, 0];
  for (let k = 0; k < distinct; k++) {
    const entry = slotCounts.entryOf(sorted[k] ?? 0);
    sortedEntries[k] = entry;
    for (let block = 0; block < BLOCKS; block++) {
      const count = counts[BLOCKS * entry + block] ?? 0;
      if (count > 0) {
        const v = weight(count);
        sumSquares[block] = (sumSquares[block] ?? 0) + v * v;
      }
    }
  }
  const unigramScale = inverseNorm(sumSquares[UNIGRAMS] ?? 0);
  const bigramScale = inverseNorm(sumSquares[BIGRAMS] ?? 0);
  const charScale = inverseNorm(sumSquares[CHARS] ?? 0);

  // Rule slots are all below RULE_SLOTS, so they never collide with the hashed blocks.
  const ruleSlots: number[] = [];
  let total = 0;
  RULE_FEATURE_KEYS.forEach((key, slot) => {
    const x = features[key] ?? 0;
    if (x <= 0) return;
    const v = Math.log1p(x) / RULE_FEATURE_SCALE;
    merged[ruleSlots.length] = v;
    ruleSlots.push(slot);
    total += v * v;
  });
  const rules = ruleSlots.length;
  for (let k = 0; k < distinct; k++) {
    const at = BLOCKS * (sortedEntries[k] ?? 0);
    const unigrams = counts[at + UNIGRAMS] ?? 0;
    const bigrams = counts[at + BIGRAMS] ?? 0;
    const chars = counts[at + CHARS] ?? 0;
    // An absent block adds 0, which leaves the sum's bits unchanged.
    const v =
      (unigrams > 0 ? weight(unigrams) * unigramScale : 0) +
      ((bigrams > 0 ? weight(bigrams) * bigramScale : 0) + (chars > 0 ? weight(chars) * charScale : 0));
    merged[rules + k] = v;
    total += v * v;
  }

  const scale = inverseNorm(total);
  const indices = new Uint32Array(rules + distinct);
  const values = new Float32Array(rules + distinct);
  indices.set(ruleSlots);
  indices.set(sorted, rules);
  for (let i = 0; i < values.length; i++) values[i] = (merged[i] ?? 0) * scale;
  return { indices, values };
}

/**
 * The feature vector of one prompt (see the module comment for the layout). Deterministic and
 * identical across machines for the same `text` and `dims`; indices are sorted and below `dims`.
 * @param dims vector length, an integer of at least MIN_DIMS (training uses 2^18).
 * @param ruleFeatures `classifyRules(...).features` of a conversation whose only message is `text`
 *   from the user, when the caller has them already; default: computed here.
 */
export function featurize(text: string, dims: number, ruleFeatures?: Readonly<Record<string, number>>): SparseVector {
  if (!Number.isInteger(dims) || dims < MIN_DIMS || dims > 2 ** 32) {
    throw new RangeError(`dims must be an integer in [${MIN_DIMS}, 2^32], got ${dims}`);
  }
  const hashedSlots = dims - RULE_SLOTS;
  const lower = text.slice(0, MAX_NGRAM_CHARS).toLowerCase();
  const length = decode(lower);
  // Each code point starts at most one word, one bigram and three character n-grams (the stream
  // adds two spaces).
  slotCounts.reset(Math.min(hashedSlots, 5 * length + 6));
  countWords(length, hashedSlots);
  countCharNgrams(length, hashedSlots);
  return assemble(ruleFeatures ?? classifyRules({ messages: [{ role: "user", content: text }] }).features);
}
