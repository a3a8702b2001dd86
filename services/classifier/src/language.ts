/**
 * Whether a request is written in English, the language of the rules' vocabulary. Their one
 * language signal used to be the share of non-ASCII characters, which sees Chinese or Russian but
 * not Spanish, French or German: "¿Puedes escribir un poema sobre el mar?" matched nothing but its
 * question mark and came out qa/simple at confidence 0.66, so the cascade never asked the LLM.
 *
 * Function words decide: the most frequent words of a language, which every sentence uses and
 * no rule keys on. Only words that are not also English words, abbreviations or names are listed
 * ("die", "come", "per", "also", "was", "y", "os", "des", "est", "et", "los", "las", "com" are
 * left out, and so are articles that open names: "le", "el", "il", "der", "das", as in Le
 * Chatelier, El Niño, Das Boot): an English text with a foreign name or phrase in it stays English.
 */

const ENGLISH = new Set([
  "the", "a", "an", "is", "are", "was", "were", "be", "been", "to", "of", "and", "in", "on", "for", "with", "this",
  "that", "these", "those", "it", "its", "what", "how", "why", "when", "where", "which", "who", "can", "could",
  "would", "should", "will", "you", "your", "please", "i", "my", "me", "we", "our", "do", "does", "from", "by",
  "at", "or", "if", "not", "have", "has", "there", "about", "into", "than", "then", "all", "any", "some",
]);

const OTHER = new Set([
  // Spanish
  "que", "por", "para", "una", "sobre", "cómo", "qué", "puedes", "esta", "este", "pero", "muy", "también",
  "dónde", "cuál", "porque", "más",
  // French
  "les", "une", "pour", "qui", "dans", "vous", "nous", "cette", "avec", "sont", "être", "je", "mais",
  "comment", "pourquoi", "peux", "pouvez",
  // German
  "und", "ist", "nicht", "ein", "eine", "zu", "mit", "sie", "ich", "auf", "für", "wie",
  "warum", "kannst", "können", "bitte", "diesen", "diese", "dieser", "einen", "sich", "auch", "oder", "wir",
  // Italian
  "è", "della", "sono", "puoi", "perché", "questo", "questa", "gli", "nel", "alla", "anche",
  // Portuguese
  "não", "você", "uma", "isso", "está", "são",
]);

/** Only the request's first words are read: the language shows at once, and the cost stays bounded. */
const WORDS_READ = 64;
/** Function words of one side that decide, whichever side reaches it first. */
const DECIDING = 2;
const WORD = /\p{L}+/gu;

/**
 * Whether the request reads as written in another language than English: among its first
 * WORDS_READ words, DECIDING foreign function words come before DECIDING English ones. The
 * first words decide because they carry the instruction: "Translate the following into
 * English: ¿Dónde está …" is an English request about a Spanish text. An English text stops the
 * scan after its second "the", "a" or "of", a few words in.
 * @param lower the request NFKC-normalised and lowercased
 */
export function readsAsForeign(lower: string): boolean {
  let english = 0;
  let foreign = 0;
  let read = 0;
  WORD.lastIndex = 0;
  for (let m = WORD.exec(lower); m !== null && read < WORDS_READ; m = WORD.exec(lower), read++) {
    const word = m[0];
    if (ENGLISH.has(word)) {
      if (++english === DECIDING) return false;
    } else if (OTHER.has(word) && ++foreign === DECIDING) {
      return true;
    }
  }
  return false;
}
