import { featurize, RULE_SLOTS } from "../learned/featurize.js";
import type { CategoryHead } from "../learned/category-model.js";

/**
 * Two category heads for tests, "coding" and "writing", each with one strong weight on an n-gram
 * slot of "python" / "poem": a request naming one of them is classified into its category.
 */
export function codingAndWritingHeads(dims: number): CategoryHead[] {
  const slotOf = (word: string): number => featurize(word, dims).indices.find((i) => i >= RULE_SLOTS) ?? 0;
  return [
    { label: "coding", bias: -2, weights: [[slotOf("python"), 40]] },
    { label: "writing", bias: -2, weights: [[slotOf("poem"), 40]] },
  ];
}
