/**
 * The one text normalisation the rules and the learned model's n-grams share: NFKC, so
 * compatibility forms read as what they stand for — full-width "ｄｅｐｌｏｙ ｔｏ ｐｒｏｄｕｃｔｉｏｎ" as
 * "deploy to production", the ligature in "ﬁle" as "file", "x²" as "x2" — then lowercased.
 * Without it a rule misses the full-width word and the n-grams hash it into slots no training
 * prompt ever filled.
 */

const NON_ASCII = /[^\u0000-\u007f]/;

/**
 * The last text normalised and its form: one classification reads the same request in the
 * rules' patterns, their shape features and the n-grams, and NFKC costs about 5 µs for a
 * 700-character non-ASCII prompt. Nothing here is asynchronous, so one entry is enough.
 */
let lastText = "";
let lastForm = "";

/** NFKC of `text`; ASCII is its own NFKC form, so most prompts skip the normaliser's pass. */
export function compatibilityForm(text: string): string {
  if (!NON_ASCII.test(text)) return text;
  if (text !== lastText) {
    lastForm = text.normalize("NFKC");
    lastText = text;
  }
  return lastForm;
}

/** NFKC, then lowercased: what the rules' patterns and the learned model's n-grams read. */
export function normalizedLower(text: string): string {
  return compatibilityForm(text).toLowerCase();
}
