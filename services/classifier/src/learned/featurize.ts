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
import { codePointsOf, fmix32, fnv1a32, fnv1aCodePoint } from "./hash.js";
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
const WORD = /[\p{L}\p{N}_]+/gu;
const WHITESPACE = /\s+/gu;

/**
 * Features as parallel arrays, indices strictly increasing. Slots are collected into arrays and
 * sorted rather than counted in a Map: a 1 KB prompt has ~3,000 n-grams, and Map updates made
 * featurize about four times slower.
 */
interface Block {
  readonly indices: number[];
  readonly values: number[];
}

/** Hashed slots, repeats included → each distinct slot valued 1 + ln(count), at unit L2 norm. */
function normalisedBlock(slots: readonly number[]): Block {
  const sorted = Uint32Array.from(slots).sort();
  const indices: number[] = [];
  const values: number[] = [];
  let sumSquares = 0;
  for (let i = 0; i < sorted.length; ) {
    let j = i + 1;
    while (j < sorted.length && sorted[j] === sorted[i]) j++;
    const v = 1 + Math.log(j - i);
    indices.push(sorted[i] ?? 0);
    values.push(v);
    sumSquares += v * v;
    i = j;
  }
  const inverseNorm = sumSquares > 0 ? 1 / Math.sqrt(sumSquares) : 0;
  for (let k = 0; k < values.length; k++) values[k] = (values[k] ?? 0) * inverseNorm;
  return { indices, values };
}

/** The sum of two blocks: colliding indices add up. */
function merge(a: Block, b: Block): Block {
  const indices: number[] = [];
  const values: number[] = [];
  let i = 0;
  let j = 0;
  while (i < a.indices.length || j < b.indices.length) {
    const ai = a.indices[i] ?? Number.POSITIVE_INFINITY;
    const bj = b.indices[j] ?? Number.POSITIVE_INFINITY;
    if (ai <= bj) {
      indices.push(ai);
      values.push((a.values[i++] ?? 0) + (ai === bj ? (b.values[j++] ?? 0) : 0));
    } else {
      indices.push(bj);
      values.push(b.values[j++] ?? 0);
    }
  }
  return { indices, values };
}

function ruleFeatures(text: string): Block {
  const features = classifyRules({ messages: [{ role: "user", content: text }] }).features;
  const block: Block = { indices: [], values: [] };
  RULE_FEATURE_KEYS.forEach((key, slot) => {
    const x = features[key] ?? 0;
    if (x <= 0) return;
    block.indices.push(slot);
    block.values.push(Math.log1p(x) / RULE_FEATURE_SCALE);
  });
  return block;
}

function wordNgrams(lower: string, hashSlot: (h: number) => number, unigrams: number[], bigrams: number[]): void {
  let previous: string | undefined;
  for (const [word] of lower.matchAll(WORD)) {
    unigrams.push(hashSlot(fnv1a32(word, WORD_BASIS)));
    if (previous !== undefined) {
      // fnv1a32 continues a running hash, so this is fnv1a32("b:" + previous + " " + word).
      bigrams.push(hashSlot(fnv1a32(word, fnv1aCodePoint(fnv1a32(previous, BIGRAM_BASIS), SPACE))));
    }
    previous = word;
  }
}


function charNgrams(lower: string, hashSlot: (h: number) => number, slots: number[]): void {
  const codePoints = codePointsOf(` ${lower.replace(WHITESPACE, " ").trim()} `);
  for (let start = 0; start + CHAR_NGRAM_MIN <= codePoints.length; start++) {
    // FNV-1a hashes a prefix once: the 4-gram continues the 3-gram's hash, the 5-gram the 4-gram's.
    let h = CHAR_BASIS;
    for (let n = 1; n <= CHAR_NGRAM_MAX && start + n <= codePoints.length; n++) {
      h = fnv1aCodePoint(h, codePoints[start + n - 1] ?? 0);
      if (n >= CHAR_NGRAM_MIN) slots.push(hashSlot(h));
    }
  }
}

/**
 * The feature vector of one prompt (see the module comment for the layout). Deterministic and
 * identical across machines for the same `text` and `dims`; indices are sorted and below `dims`.
 * @param dims vector length, an integer of at least MIN_DIMS (training uses 2^18).
 */
export function featurize(text: string, dims: number): SparseVector {
  if (!Number.isInteger(dims) || dims < MIN_DIMS || dims > 2 ** 32) {
    throw new RangeError(`dims must be an integer in [${MIN_DIMS}, 2^32], got ${dims}`);
  }
  const hashedSlots = dims - RULE_SLOTS;
  const hashSlot = (h: number): number => RULE_SLOTS + (fmix32(h) % hashedSlots);
  const lower = text.slice(0, MAX_NGRAM_CHARS).toLowerCase();

  const unigrams: number[] = [];
  const bigrams: number[] = [];
  const chars: number[] = [];
  wordNgrams(lower, hashSlot, unigrams, bigrams);
  charNgrams(lower, hashSlot, chars);
  // Rule slots are all below RULE_SLOTS, so they never collide with the hashed blocks.
  const combined = merge(
    merge(ruleFeatures(text), normalisedBlock(unigrams)),
    merge(normalisedBlock(bigrams), normalisedBlock(chars)),
  );

  let sumSquares = 0;
  for (const v of combined.values) sumSquares += v * v;
  const inverseNorm = sumSquares > 0 ? 1 / Math.sqrt(sumSquares) : 0;
  return {
    indices: Uint32Array.from(combined.indices),
    values: Float32Array.from(combined.values, (v) => v * inverseNorm),
  };
}
