/**
 * Text → sparse feature vector for the learned pFail model. Every index comes from a fixed,
 * documented hash, so a weights file trained on one machine scores identically on any other; any
 * change to what this file computes must bump FEATURIZER_VERSION, and weights.ts refuses weights
 * trained with another version (they would load fine and predict garbage).
 *
 * Layout of a `dims`-long vector:
 * - Slots 0..RULE_SLOTS-1: the rule classifier's features (`classifyRules(...).features`, in
 *   RULE_FEATURE_KEYS order), each `log1p(max(0, x))`, absent when 0. Absolute and outside every
 *   normalisation: a 2,000-word prompt must look longer than a 20-word one. The trainer fits on
 *   them standardised and folds the standardisation into the weights it saves (standardize.ts).
 * - Slots RULE_SLOTS..dims-1: hashed n-grams of the text NFKC-normalised and lowercased, at
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
 * - Then the n-gram slots together are L2-normalised (blocks that collide on an index add up).
 *   Version 2 normalised the rule slots with them, at `log1p(x) / 8`: a prompt's rule features
 *   then shrank as its n-grams grew, and the L2 penalty kept their weights near 0.
 * Version 3 hashed the text as written, not NFKC-normalised: a full-width "ｄｅｐｌｏｙ" or the
 * ligature in "ﬁle" fell in slots of their own, which no training prompt had filled.
 * Version 4 had no quantity features (QUANTITY_FEATURE_KEYS: distinct and large numbers, decimals,
 * fractions, percentages, money, sentences, rate and comparison words), which version 5 appends to
 * the rule slots: the n-grams see the characters of "2.50" and "$1,250", not that a problem has
 * decimals or money in it, or how large its numbers are.
 * Version 5 counted risk matches (`riskMatches`) under rules-3, which exempted fewer
 * general-knowledge questions ("what is the difference between …", "how does … work") and no
 * creative requests; seven of the MMLU file's 7,019 prompts read differently under rules-4.
 * Version 6 counted "production" alone as a risk (ATP production, a production function) and
 * did not exempt multiple-choice questions about a risky subject: 174 of MMLU's 194 critical
 * prompts, 12 of RouterBench's 15 and one of GSM8K's 6 are normal under version 7.
 */
import { classifyRules } from "../classify-rules.js";
import { compatibilityForm } from "../normalize-text.js";
import { QUANTITY_FEATURE_KEYS, TEXT_FEATURE_KEYS } from "../features.js";
import { codePointAt, fmix32, FNV_PRIME, fnv1a32, fnv1aCodePoint } from "./hash.js";
import type { CategoryModel } from "./category-model.js";
import type { SparseVector } from "./sparse-vector.js";

/** Stored in every weights file; bump on any change to the features. */
export const FEATURIZER_VERSION = "hashed-ngrams-rules-7";

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
  ...QUANTITY_FEATURE_KEYS,
] as const;

/** Slots reserved for rule features; more than RULE_FEATURE_KEYS so keys can be appended. */
export const RULE_SLOTS = 64;

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

/** The classes of the ASCII code points, looked up without the check for an unseen one. */
const ASCII_CLASSES = Uint8Array.from({ length: 0x80 }, (_, cp) => classOf(cp));

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
/**
 * The table's entries, ENTRY_STRIDE numbers each: the slot offset (slot - RULE_SLOTS) the entry
 * holds, -1 when it is empty, then the slot's count in each block (at ENTRY_COUNTS + block). One
 * array, so a probe and its count share a cache line.
 */
const ENTRY_STRIDE = 4;
const ENTRY_COUNTS = 1;
const table = new Int32Array(ENTRY_STRIDE * TABLE_SIZE);
for (let at = 0; at < table.length; at += ENTRY_STRIDE) table[at] = -1;
/** Where each entry in use starts in `table`, in the order their slots were first counted. */
const entries = new Int32Array(MAX_KEYS);
/** An n-gram as one number while it is counted: `offset × KEY_STRIDE + block`. */
const KEY_STRIDE = 4;
const KEY_SHIFT = 2;

/** Empty the first `inUse` entries of `entries`, which are all the table holds. */
function clearTable(inUse: number): void {
  for (let k = 0; k < inUse; k++) {
    const at = entries[k] ?? 0;
    table[at] = -1;
    table[at + ENTRY_COUNTS + UNIGRAMS] = 0;
    table[at + ENTRY_COUNTS + BIGRAMS] = 0;
    table[at + ENTRY_COUNTS + CHARS] = 0;
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

/** The n-grams found in one text, each as `offset × KEY_STRIDE + block`, sized for the longest. */
const keys = new Int32Array(MAX_KEYS);

/**
 * Append the key of every n-gram of the lowercased text to `keys`, in one pass over its code
 * points (a lone surrogate reads as U+FFFD); returns how many.
 * - Words are runs of WORD_CHARS: a word feeds three running hashes as it is read, its unigram
 *   ("w:" + word), its bigram with the word before ("b:" + previous + " " + word; fnv1a32
 *   continues a running hash, so the bigram continues the previous word's "b:" hash) and its own
 *   "b:" hash for the next bigram. Both keys are added where the word ends.
 * - Character 4-grams read the stream `" " + text + " "` with whitespace runs collapsed to one
 *   space and trimmed: c1..c3 hold the three code points before the current one, and a 4-gram
 *   is added for each stream position from the fourth on.
 * One pass instead of four (decode, build the stream, words, 4-grams), with no buffers between
 * them (290 KB of scratch space less); the time is the hashing's either way.
 */
function addNgramKeys(lower: string, slots: number): number {
  const inverse = 1 / slots;
  let count = 0;
  // The 4-gram window: the stream's last three code points, and how many have been seen.
  let c1 = 0;
  let c2 = 0;
  let c3 = SPACE;
  let streamLength = 1;
  let pendingSpace = false;
  // The word being read, and the "b:" hash of the one before it.
  let inWord = false;
  let hasPrevious = false;
  let previous = 0;
  let unigram = 0;
  let current = 0;
  let bigram = 0;
  for (let i = 0; i <= lower.length; i++) {
    let cp = SPACE; // after the last character: ends the last word, and closes the stream below
    let kind = SPACE_CHAR;
    if (i < lower.length) {
      cp = lower.charCodeAt(i);
      if (cp < 0x80) {
        kind = ASCII_CLASSES[cp] ?? OTHER;
      } else {
        cp = codePointAt(lower, i);
        if (cp > 0xffff) i++;
        kind = classOf(cp);
      }
    }
    if (kind === WORD_CHAR) {
      if (!inWord) {
        inWord = true;
        unigram = WORD_BASIS;
        current = BIGRAM_BASIS;
        bigram = step(previous, SPACE);
      }
      unigram = step(unigram, cp);
      current = step(current, cp);
      bigram = step(bigram, cp);
    } else if (inWord) {
      inWord = false;
      keys[count++] = offsetOf(unigram, slots, inverse) * KEY_STRIDE + UNIGRAMS;
      if (hasPrevious) keys[count++] = offsetOf(bigram, slots, inverse) * KEY_STRIDE + BIGRAMS;
      previous = current;
      hasPrevious = true;
    }
    const atEnd = i === lower.length;
    if (kind === SPACE_CHAR) {
      // A run between two non-spaces becomes one space; leading and trailing runs are trimmed.
      pendingSpace = streamLength > 1;
      if (!atEnd) continue;
    }
    // Onto the stream: the pending space, then this code point; at the end, the closing space
    // alone. One call site, so V8 inlines charKey.
    let next = pendingSpace || atEnd ? SPACE : cp;
    for (;;) {
      if (++streamLength >= CHAR_NGRAM) keys[count++] = charKey(c1, c2, c3, next, slots, inverse);
      c1 = c2;
      c2 = c3;
      c3 = next;
      if (atEnd) return count;
      if (!pendingSpace) break;
      pendingSpace = false;
      next = cp;
    }
  }
  return count;
}

/** The key of the character 4-gram c1 c2 c3 c4. */
function charKey(c1: number, c2: number, c3: number, c4: number, slots: number, inverse: number): number {
  // All ASCII (most 4-grams): four multiplications, no branches.
  const h =
    (c1 | c2 | c3 | c4) < 0x80
      ? Math.imul(Math.imul(Math.imul(Math.imul(CHAR_BASIS ^ c1, FNV_PRIME) ^ c2, FNV_PRIME) ^ c3, FNV_PRIME) ^ c4, FNV_PRIME)
      : charHash(c1, c2, c3, c4);
  return offsetOf(h, slots, inverse) * KEY_STRIDE + CHARS;
}

/** The hash of any 4-gram, apart from charKey so that it stays small enough to inline. */
function charHash(c1: number, c2: number, c3: number, c4: number): number {
  return step(step(step(step(CHAR_BASIS, c1), c2), c3), c4);
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
      const held = table[ENTRY_STRIDE * at] ?? -1;
      if (held === offset) break;
      if (held === -1) {
        table[ENTRY_STRIDE * at] = offset;
        entries[inUse++] = ENTRY_STRIDE * at;
        break;
      }
      at = (at + 1) & mask;
    }
    const counted = ENTRY_STRIDE * at + ENTRY_COUNTS + (key & (KEY_STRIDE - 1));
    table[counted] = (table[counted] ?? 0) + 1;
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
  return tallyKeys(addNgramKeys(lower, slots), tableShift(lower));
}

/**
 * The text the n-grams read: NFKC-normalised and lowercased, as the rules read it
 * (normalize-text.ts), and at most MAX_NGRAM_CHARS code units before lowercasing. Cut before the
 * normaliser runs, so its work stays bounded, and again after it: NFKC can lengthen a code
 * point up to 18 times (U+FDFA).
 */
function ngramText(text: string): string {
  const lower = compatibilityForm(text.slice(0, MAX_NGRAM_CHARS)).slice(0, MAX_NGRAM_CHARS).toLowerCase();
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
    const at = order[k] ?? 0;
    const unigram = weight(table[at + ENTRY_COUNTS + UNIGRAMS] ?? 0);
    const bigram = weight(table[at + ENTRY_COUNTS + BIGRAMS] ?? 0);
    const char = weight(table[at + ENTRY_COUNTS + CHARS] ?? 0);
    entryWeights[BLOCKS * k + UNIGRAMS] = unigram;
    entryWeights[BLOCKS * k + BIGRAMS] = bigram;
    entryWeights[BLOCKS * k + CHARS] = char;
    entrySlots[k] = RULE_SLOTS + (table[at] ?? 0);
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
  while ((table[ENTRY_STRIDE * at] ?? -1) !== offset) at = (at + 1) & mask;
  return ENTRY_STRIDE * at;
}

/** The rule slots in use and their values. */
const ruleSlots = new Uint32Array(RULE_SLOTS);
const ruleValues = new Float64Array(RULE_SLOTS);

/** Fill `ruleSlots` and `ruleValues` with the positive rule features; returns how many. */
function ruleBlock(features: Readonly<Record<string, number>>): number {
  let rules = 0;
  for (let slot = 0; slot < RULE_FEATURE_KEYS.length; slot++) {
    const x = features[RULE_FEATURE_KEYS[slot] ?? ""] ?? 0;
    if (x <= 0) continue;
    ruleSlots[rules] = slot;
    ruleValues[rules++] = Math.log1p(x);
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
 * The n-grams' norm is summed in ascending slot order, so the values are the same bits as the
 * weights were trained on.
 * @param dims vector length, an integer of at least MIN_DIMS (the bundled weights use 2^16).
 * @param ruleFeatures `classifyRules(...).features` for a conversation of one user message,
 *   `text`, when the caller has them already (a longer conversation's differ: turns, context
 *   size, risk in earlier turns). Default: computed here.
 */
export function featurize(text: string, dims: number, ruleFeatures?: Readonly<Record<string, number>>): SparseVector {
  checkDims(dims);
  const lower = ngramText(text);
  const distinct = countNgrams(lower, dims - RULE_SLOTS);
  for (let k = 0; k < distinct; k++) sortedOffsets[k] = table[entries[k] ?? 0] ?? 0;
  sortedOffsets.subarray(0, distinct).sort();
  const shift = tableShift(lower);
  for (let k = 0; k < distinct; k++) sortedEntries[k] = entryOf(sortedOffsets[k] ?? 0, shift);
  weighEntries(sortedEntries, distinct);
  clearTable(distinct);

  const rules = ruleBlock(ruleFeaturesOf(text, ruleFeatures));
  const indices = new Uint32Array(rules + distinct);
  const values = new Float32Array(rules + distinct);
  for (let r = 0; r < rules; r++) {
    indices[r] = ruleSlots[r] ?? 0;
    values[r] = ruleValues[r] ?? 0;
  }
  let sumSquares = 0;
  for (let k = 0; k < distinct; k++) {
    const v = entryValue(k);
    indices[rules + k] = entrySlots[k] ?? 0;
    unscaled[k] = v;
    sumSquares += v * v;
  }
  const scale = inverseNorm(sumSquares);
  for (let k = 0; k < distinct; k++) values[rules + k] = (unscaled[k] ?? 0) * scale;
  return { indices, values };
}

/**
 * Two linear scores of the prompt's feature vector without building it: `[w₀·x, w₁·x]` for
 * `weights` holding both models' weights interleaved (`w₀[i]` at 2i, `w₁[i]` at 2i + 1), as
 * float32. The same dot products as `featurize` then a dot with each, to within float32
 * rounding: featurize rounds each value to float32 and sums in slot order; this keeps float64
 * and sums in the order the n-grams were counted. It skips the sort and both allocations, and
 * reads the table once: an entry's value is `U·u + B·b + C·c` (its three block weights, each
 * block's scale), so a score is `U·Σw·u + B·Σw·b + C·Σw·c` and the squared norm expands the
 * same way, cross terms included (an n-gram of one block may share its slot with one of
 * another). The scales are known only after every count is, so these partial sums are what the
 * pass adds up, and each entry is cleared as it is read.
 * @param out receives the two scores.
 * @param categories a category model's heads, scored in the same pass the same way (each head's
 *   postings at the entry's slot): `logits` receives each head's `bias + w · x`.
 */
export function dotInterleaved(
  text: string,
  dims: number,
  weights: Float32Array,
  out: Float64Array,
  ruleFeatures?: Readonly<Record<string, number>>,
  categories?: { readonly model: CategoryModel; readonly logits: Float64Array },
  ruleMax?: Float64Array,
): void {
  checkDims(dims);
  if (weights.length !== 2 * dims) throw new RangeError(`${weights.length} interleaved weights for ${dims} dims`);
  const postings = categories?.model;
  if (postings !== undefined && postings.start.length !== dims + 1) throw new RangeError(`a category model for ${postings.start.length - 1} dims, scored at ${dims}`);
  // Per category: its dot with each block, then with the rule slots (CATEGORY_SUMS numbers each).
  const sums = postings === undefined ? categorySums : categorySumsFor(postings.heads.length);
  // Hoisted out of the loops: V8 reloads an object's fields after every typed-array store.
  const starts = postings?.start;
  const postingCategories = postings?.categories ?? NO_CATEGORIES;
  const postingWeights = postings?.weights ?? NO_WEIGHTS;
  const distinct = countNgrams(ngramText(text), dims - RULE_SLOTS);
  // Per block (u, b, c): sums of squares, cross products, and the dot with each head.
  let uu = 0, bb = 0, cc = 0, ub = 0, uc = 0, bc = 0;
  let firstU = 0, firstB = 0, firstC = 0, secondU = 0, secondB = 0, secondC = 0;
  for (let k = 0; k < distinct; k++) {
    const entry = entries[k] ?? 0;
    const counts = entry + ENTRY_COUNTS;
    const u = weight(table[counts + UNIGRAMS] ?? 0);
    const b = weight(table[counts + BIGRAMS] ?? 0);
    const c = weight(table[counts + CHARS] ?? 0);
    const slot = RULE_SLOTS + (table[entry] ?? 0);
    const at = 2 * slot;
    const w0 = weights[at] ?? 0;
    const w1 = weights[at + 1] ?? 0;
    if (starts !== undefined) {
      for (let p = starts[slot] ?? 0, end = starts[slot + 1] ?? 0; p < end; p++) {
        const sum = CATEGORY_SUMS * (postingCategories[p] ?? 0);
        const w = postingWeights[p] ?? 0;
        sums[sum + UNIGRAMS] = (sums[sum + UNIGRAMS] ?? 0) + w * u;
        sums[sum + BIGRAMS] = (sums[sum + BIGRAMS] ?? 0) + w * b;
        sums[sum + CHARS] = (sums[sum + CHARS] ?? 0) + w * c;
      }
    }
    table[entry] = -1;
    table[counts + UNIGRAMS] = 0;
    table[counts + BIGRAMS] = 0;
    table[counts + CHARS] = 0;
    uu += u * u;
    bb += b * b;
    cc += c * c;
    ub += u * b;
    uc += u * c;
    bc += b * c;
    firstU += w0 * u;
    firstB += w0 * b;
    firstC += w0 * c;
    secondU += w1 * u;
    secondB += w1 * b;
    secondC += w1 * c;
  }
  const scaleU = inverseNorm(uu);
  const scaleB = inverseNorm(bb);
  const scaleC = inverseNorm(cc);
  // The n-grams' squared norm: each block's own (1 after its scale, 0 when it is empty) plus the
  // cross terms of the slots two blocks share.
  const sumSquares =
    scaleU * scaleU * uu + scaleB * scaleB * bb + scaleC * scaleC * cc + 2 * (scaleU * scaleB * ub + scaleU * scaleC * uc + scaleB * scaleC * bc);
  const scale = inverseNorm(sumSquares);
  let first = (scaleU * firstU + scaleB * firstB + scaleC * firstC) * scale;
  let second = (scaleU * secondU + scaleB * secondB + scaleC * secondC) * scale;
  // The rule slots are outside the normalisation: their products add as they are.
  const rules = ruleBlock(ruleFeaturesOf(text, ruleFeatures));
  for (let r = 0; r < rules; r++) {
    const slot = ruleSlots[r] ?? 0;
    // Clipped to what training saw (PFailModel.ruleMax).
    const v = ruleMax !== undefined && slot < ruleMax.length ? Math.min(ruleValues[r] ?? 0, ruleMax[slot] ?? 0) : (ruleValues[r] ?? 0);
    const at = 2 * slot;
    first += (weights[at] ?? 0) * v;
    second += (weights[at + 1] ?? 0) * v;
    if (starts !== undefined) {
      for (let p = starts[slot] ?? 0, end = starts[slot + 1] ?? 0; p < end; p++) {
        const sum = CATEGORY_SUMS * (postingCategories[p] ?? 0) + RULE_SUM;
        sums[sum] = (sums[sum] ?? 0) + (postingWeights[p] ?? 0) * v;
      }
    }
  }
  out[0] = first;
  out[1] = second;
  if (postings === undefined || categories === undefined) return;
  postings.heads.forEach((head, k) => {
    const sum = CATEGORY_SUMS * k;
    const ngrams = scaleU * (sums[sum + UNIGRAMS] ?? 0) + scaleB * (sums[sum + BIGRAMS] ?? 0) + scaleC * (sums[sum + CHARS] ?? 0);
    categories.logits[k] = head.bias + ngrams * scale + (sums[sum + RULE_SUM] ?? 0);
  });
}

/** A category's sums in `categorySums`: one per n-gram block, then the rule slots'. */
const CATEGORY_SUMS = 4;
const RULE_SUM = 3;
let categorySums = new Float64Array(0);
const NO_CATEGORIES = new Uint16Array(0);
const NO_WEIGHTS = new Float64Array(0);

/** `categorySums` zeroed for `count` categories (grown when a model has more). */
function categorySumsFor(count: number): Float64Array {
  if (categorySums.length < CATEGORY_SUMS * count) categorySums = new Float64Array(CATEGORY_SUMS * count);
  else categorySums.fill(0, 0, CATEGORY_SUMS * count);
  return categorySums;
}
