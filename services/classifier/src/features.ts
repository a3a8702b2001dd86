/**
 * Numeric features of a request, measured from plain strings. The rule-based classifier decides
 * from them and returns them for replay and for training a learned model later, so the key names
 * are part of the output: rename one and old ledger rows stop lining up.
 *
 * This runs on every task, and a regex pass costs 1-10 µs per KB, so the number of passes does not
 * grow with the number of rules: one loop over the characters (`shape`), one combined regex over
 * every vocabulary term (`createTermCounter`), and a few small regexes (lists, maths, secrets).
 */
import type { ChatMessage } from "@llm-router/shared";
import { compatibilityForm } from "./normalize-text.js";

/** A type alias, not an interface, so it is assignable to `Record<string, number>`. */
export type TextFeatures = {
  /** Words (runs of non-whitespace) in the last user message. */
  words: number;
  /** UTF-16 code units in the last user message. */
  chars: number;
  lines: number;
  /** Words and characters over every message, system prompt included: the model reads them all. */
  contextWords: number;
  contextChars: number;
  /** Messages in the conversation. */
  turns: number;
  /** ``` fenced blocks; an unclosed fence (a truncated paste) still counts as one. */
  codeBlocks: number;
  /** `inline code` spans. */
  inlineCode: number;
  /** Lines that end in `;`, `{` or `}` or start with `}`: C-family code pasted without a fence. */
  codeLines: number;
  /** Question marks that end a clause (not `a?.b` or `x ? y : z`). */
  questions: number;
  /** "step by step", "and then", "finally", "first ... then", ... */
  multiStep: number;
  /** Numbered or bulleted list lines. */
  listItems: number;
  /** "must", "should", "without", "at least", "exactly", ... */
  constraints: number;
  /** Engineering and domain vocabulary (distributed systems, ML, maths, law, medicine). */
  technicalTerms: number;
  /** "prove", "derive", "analyze", "optimize", "trade-off", "design", "architecture", "why", ... */
  reasoningTerms: number;
  /** Arithmetic between numbers, exponents and maths glyphs. */
  mathSymbols: number;
  numbers: number;
  /** Share of non-ASCII code units, 0..1: a hint that the request is not in English. */
  nonAsciiShare: number;
  /** Values that look like live secrets: API keys, private keys, JWTs, `password=...`. */
  secretValues: number;
  // The quantities of a word problem (featurizer version 5): what the arithmetic asks, beside how
  // much of it there is (`numbers`, `mathSymbols`). The learned model reads them; the rules do not.
  /** Different number literals ("3 apples and 3 pears" has one). */
  distinctNumbers: number;
  /** The largest number literal's value, its integer part, at most 1e15. */
  largestNumber: number;
  /** Number literals of 1,000 or more. */
  largeNumbers: number;
  /** 1 when a number has a decimal part (2.50). */
  hasDecimal: number;
  /** 1 when a number is divided by another without spaces (3/4). */
  hasFraction: number;
  /** 1 for a `%` or the word percent / percentage. */
  hasPercent: number;
  /** 1 for a currency sign ($, €, £, ¥). */
  hasMoney: number;
  /** Sentence ends: `.`, `!` or `?` before a space or the end. */
  sentences: number;
  /** "times", "each", "per", "twice", "half", … : rates and multiples. */
  rateTerms: number;
  /** "more", "less", "fewer", "than", "left", "remaining", "rest": differences. */
  comparisonTerms: number;
};

/** The keys of `TextFeatures`, in a stable order. */
export const TEXT_FEATURE_KEYS = [
  "words", "chars", "lines", "contextWords", "contextChars", "turns", "codeBlocks", "inlineCode", "codeLines",
  "questions", "multiStep", "listItems", "constraints", "technicalTerms", "reasoningTerms", "mathSymbols", "numbers",
  "nonAsciiShare", "secretValues",
] as const satisfies readonly (keyof TextFeatures)[];

/** The rest of `TextFeatures`' keys, added with featurizer version 5 (the learned model's rule slots append them). */
export const QUANTITY_FEATURE_KEYS = [
  "distinctNumbers", "largestNumber", "largeNumbers", "hasDecimal", "hasFraction", "hasPercent", "hasMoney", "sentences",
  "rateTerms", "comparisonTerms",
] as const satisfies readonly (keyof TextFeatures)[];

/** Hit counts per term group, over the whole text and near its ends. */
export type TermCounts<G extends string> = {
  count(group: G): number;
  /** Hits within `windowChars` of either end of the text. */
  windowCount(group: G): number;
  /** The same by the group's index (the counter's `index(group)`), without looking the name up. */
  countAt(index: number): number;
  windowCountAt(index: number): number;
};

/** Counts the terms of a text; `index(group)` is where a group's counts are, for `countAt`. */
export type TermCounter<G extends string> = ((lower: string, windowChars?: number) => TermCounts<G>) & { index(group: G): number };

/** One text's counts: methods on a prototype, not closures made per text. */
class Counts<G extends string> implements TermCounts<G> {
  constructor(
    private readonly indexOf: ReadonlyMap<G, number>,
    private readonly all: readonly number[],
    private readonly window: readonly number[],
  ) {}
  count(group: G): number {
    return this.all[this.indexOf.get(group) ?? -1] ?? 0;
  }
  windowCount(group: G): number {
    return this.window[this.indexOf.get(group) ?? -1] ?? 0;
  }
  countAt(index: number): number {
    return this.all[index] ?? 0;
  }
  windowCountAt(index: number): number {
    return this.window[index] ?? 0;
  }
}

function escapeRegExp(term: string): string {
  return term.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
}

/**
 * Compile groups of lowercase terms (words or phrases) into one regex with word boundaries:
 * "skills" does not contain "kill" and "prodigy" does not contain "prod". Terms are literal, so
 * every inflection is listed ("deploy", "deployed"; "undeployable" is not). Longer terms are
 * tried first, so "api keys" wins over "api key". A term may sit in several groups. The counter
 * expects lowercased text.
 */
export function createTermCounter<G extends string>(groups: Readonly<Record<G, readonly string[]>>): TermCounter<G> {
  const names = Object.keys(groups) as G[];
  const indexOf = new Map(names.map((name, i) => [name, i]));
  const groupsOf = new Map<string, number[]>();
  names.forEach((name, i) => {
    for (const term of groups[name]) groupsOf.set(term, [...(groupsOf.get(term) ?? []), i]);
  });
  const alternation = [...groupsOf.keys()].sort((a, b) => b.length - a.length).map(escapeRegExp).join("|");
  // ASCII boundaries (the vocabulary is English); `\b` first is faster than a lookbehind, and the
  // lookahead (not `\b`) lets a term end in a symbol ("c++").
  const re = new RegExp(`\\b(?:${alternation})(?![a-z0-9_])`, "g");

  const counter = (lower: string, windowChars = Number.POSITIVE_INFINITY): TermCounts<G> => {
    // Plain arrays: allocating a typed array costs about a microsecond, more than the counting.
    const all: number[] = new Array<number>(names.length).fill(0);
    const window: number[] = new Array<number>(names.length).fill(0);
    const tailStart = lower.length - windowChars;
    // An exec loop on the shared regex: `matchAll` clones the regex, recompiling every term per call.
    re.lastIndex = 0;
    for (let m = re.exec(lower); m !== null; m = re.exec(lower)) {
      const near = m.index < windowChars || m.index >= tailStart;
      for (const i of groupsOf.get(m[0]) ?? []) {
        all[i] = (all[i] ?? 0) + 1;
        if (near) window[i] = (window[i] ?? 0) + 1;
      }
    }
    return new Counts(indexOf, all, window);
  };
  const index = (group: G): number => {
    const i = indexOf.get(group);
    if (i === undefined) throw new RangeError(`no term group "${group}"`);
    return i;
  };
  return Object.assign(counter, { index });
}

/** The vocabulary behind the term features; the classifier counts them in its own single pass. */
export const FEATURE_TERMS = {
  constraint: [
    "must", "should", "shouldn't", "without", "at least", "at most", "exactly", "no more than", "no less than",
    "fewer than", "never", "ensure", "guarantee", "require", "required", "requires", "requirement", "requirements",
    "avoid", "within",
  ],
  // Risk vocabulary (deploy, production, password, ...) is deliberately absent: a risky request is
  // not a harder one ("deploy this to production" is simple and critical).
  technical: [
    "algorithm", "algorithms", "latency", "throughput", "concurrency", "concurrent", "distributed", "microservice",
    "microservices", "kubernetes", "docker", "consensus", "replication", "replicated", "replica", "replicas",
    "shard", "shards", "sharding", "partition", "partitions", "partitioning", "cache", "caching", "queue", "queues",
    "database", "databases", "index", "indexes", "schema", "schemas", "protocol", "protocols", "encryption",
    "compiler", "runtime", "thread", "threads", "mutex", "async", "asynchronous", "recursion", "recursive",
    "big-o", "neural", "gradient", "gradients", "tensor", "tensors", "embedding", "embeddings", "transformer",
    "http", "tcp", "dns", "sql", "graphql", "grpc", "kafka", "nats", "redis", "postgres", "postgresql",
    "consistency", "availability", "fault tolerance", "fault-tolerant", "idempotent", "idempotency",
    "load balancer", "load balancing", "scalable", "scalability", "raft", "paxos", "byzantine", "quorum",
    "leader election", "event sourcing", "cqrs", "rebalancing", "eventual consistency", "eventually consistent",
    "multi-region", "eigenvalue", "eigenvalues", "integral", "derivative", "differential", "matrix", "matrices",
    "bayesian", "regression", "probability", "statistical", "p-value", "jurisdiction", "liability", "statute",
    "diagnosis", "clinical", "pharmacokinetics", "dosage",
  ],
  reasoning: [
    "prove", "proof", "disprove", "derive", "derivation", "analyze", "analyse", "analyzing", "analysing", "analysis",
    "optimize", "optimise", "optimizing", "optimising", "optimization", "optimisation", "trade-off", "trade-offs",
    "tradeoff", "tradeoffs", "design", "architecture", "architect", "why", "justify", "evaluate", "compare",
    "comparison", "implications", "rigorous", "rigorously", "formally", "theorem", "lemma", "invariant",
    "invariants", "reason about",
  ],
  multiStep: ["step by step", "step-by-step", "and then", "after that", "finally", "secondly", "thirdly", "lastly"],
  // "first ... then" counts once, anywhere in the request: proximity would cost another regex pass.
  firstStep: ["first", "firstly"],
  thenStep: ["then", "next", "afterwards"],
  rateWords: ["times", "each", "per", "twice", "half", "thrice", "double", "triple", "quarter", "third"],
  comparisonWords: ["more", "less", "fewer", "than", "left", "remaining", "rest"],
  percentWords: ["percent", "percentage", "per cent"],
} as const satisfies Record<string, readonly string[]>;
export type FeatureTermGroup = keyof typeof FEATURE_TERMS;

/**
 * Each pattern with a literal every match contains: `includes` finds it (or not) far faster than
 * the regex scans, and most texts have none of them, so most patterns never run. `includes`
 * skips ahead to its needle's first character, so a needle starting with a rare one is cheaper:
 * "kia" rather than "akia", "yj" rather than "eyj" (0.07 and 0.13 µs on a 700-character prompt,
 * against 0.36 and 0.44).
 */
const SECRET_VALUES: readonly { readonly needs: readonly string[]; readonly re: RegExp | ((lower: string) => boolean) }[] = [
  { needs: ["-----begin"], re: /-----begin [a-z ]{0,40}private key-----/ },
  { needs: ["k-", "k_"], re: /\b[spr]k[-_](?:live[-_]|test[-_]|proj[-_])?[a-z0-9]{16}/ },
  { needs: ["kia"], re: /\bakia[0-9a-z]{16}\b/ },
  { needs: ["_"], re: /\bgh[pousr]_[a-z0-9]{30}/ },
  { needs: ["xox"], re: /\bxox[abprs]-[a-z0-9-]{10}/ },
  { needs: ["yj"], re: hasJwt },
];

const isBase64Url = (c: number): boolean => (c >= 97 && c <= 122) || (c >= 48 && c <= 57) || c === 45 || c === 95;
const isWordChar = (c: number): boolean => (c >= 97 && c <= 122) || (c >= 48 && c <= 57) || c === 95;

/**
 * A JSON web token (lowercased): `eyj` at a word boundary, then base64url, a dot, at least ten
 * more, a dot — `/\beyj[a-z0-9_-]{10,}\.[a-z0-9_-]{10,}\./` without its cost: the regex rescans
 * the rest of a base64url run from every `eyj` in it (quadratic: 2.4 s on 64 KB of "eyj-"); here
 * every `eyj` of one run shares the run's end, found once.
 */
function hasJwt(lower: string): boolean {
  let runEnd = -1;
  for (let i = lower.indexOf("eyj"); i !== -1; i = lower.indexOf("eyj", i + 1)) {
    // A later eyj of a run already judged: a shorter first segment, the same second one.
    if (i < runEnd) continue;
    if (i > 0 && isWordChar(lower.charCodeAt(i - 1))) continue;
    runEnd = i;
    while (runEnd < lower.length && isBase64Url(lower.charCodeAt(runEnd))) runEnd++;
    if (runEnd - i < 13 || lower.charCodeAt(runEnd) !== 46) continue; // eyj + 10, then "."
    let end = runEnd + 1;
    while (end < lower.length && isBase64Url(lower.charCodeAt(end))) end++;
    if (end - runEnd - 1 >= 10 && lower.charCodeAt(end) === 46) return true;
  }
  return false;
}
/** `password = hunter22`, `DB_API_KEY: abcd...`. Its leading alternation scans slowly (2-3 µs/KB),
 * so it runs only on a text where `mayAssignSecret` finds what every match has. */
const SECRET_ASSIGNMENT = /(?:pass(?:word|wd)|pwd|secret|token|api_?key)\w{0,32}\s{0,8}[:=]\s{0,8}["']?[^\s"']{4}/;
/** A literal from each alternative of SECRET_ASSIGNMENT's name. */
const SECRET_NAMES = ["pass", "pwd", "secret", "token", "api"];

const containsAny = (text: string, needles: readonly string[]): boolean => needles.some((needle) => text.includes(needle));

const isAsciiWord = (c: number): boolean => (c >= 97 && c <= 122) || (c >= 48 && c <= 57) || c === 95 || (c >= 65 && c <= 90);
const isSpaceOrBeyondAscii = (c: number): boolean => c <= 32 || c >= 0x80;

/**
 * Whether some `:` or `=` in the text has, before it and any spaces, a run of `\w` holding one
 * of SECRET_NAMES, as every SECRET_ASSIGNMENT match has. Only the few `:` and `=` are visited
 * (`indexOf` skips to them), where the regex tries its alternation at every position. The spaces
 * skipped are every code unit up to U+0020 or beyond ASCII: all that `\s` matches, and no `\w`.
 */
function mayAssignSecret(lower: string): boolean {
  let colon = lower.indexOf(":");
  let equals = lower.indexOf("=");
  while (colon !== -1 || equals !== -1) {
    let at: number;
    if (equals === -1 || (colon !== -1 && colon < equals)) {
      at = colon;
      colon = lower.indexOf(":", at + 1);
    } else {
      at = equals;
      equals = lower.indexOf("=", at + 1);
    }
    let end = at;
    while (end > 0 && isSpaceOrBeyondAscii(lower.charCodeAt(end - 1))) end--;
    let start = end;
    while (start > 0 && isAsciiWord(lower.charCodeAt(start - 1))) start--;
    if (start < end && containsAny(lower.slice(start, end), SECRET_NAMES)) return true;
  }
  return false;
}

/** How many kinds of secret-looking value a lowercased text carries (0 when none). */
export function countSecretValues(lower: string): number {
  let kinds = 0;
  for (const { needs, re } of SECRET_VALUES) if (containsAny(lower, needs) && (typeof re === "function" ? re(lower) : re.test(lower))) kinds++;
  if (mayAssignSecret(lower) && SECRET_ASSIGNMENT.test(lower)) kinds++;
  return kinds;
}

const LIST_ITEM = /^[ \t]*(?:\d{1,2}[.)]|[-*•])[ \t]+\S/gm;
// Unspaced hyphens and slashes are ranges and dates (2020-2021, 1/2/2024), so those need spaces.
const MATH = /\d ?(?:[+*^×÷=<>]| [-/] ) ?\d|\^ ?\d|[≤≥≠∑∫√π∞±∀∃∈⊂∂]/g;

type Shape = Pick<TextFeatures, "words" | "lines" | "codeBlocks" | "inlineCode" | "codeLines" | "questions" | "numbers"> & {
  nonAscii: number;
  /** `.` and `!` that end a clause, as `questions` counts `?`. */
  stops: number;
};

// Above the space character only two code units count (most characters are letters: two compares).
const isSpace = (c: number): boolean => (c > 32 ? c === 0xa0 || c === 0x3000 : c === 32 || (c >= 9 && c <= 13));
const isDigit = (c: number): boolean => c >= 48 && c <= 57;
// Characters after which a digit continues a token rather than starting a number: v2, 3.14, 1,000.
const isNumberJoiner = (c: number): boolean => isDigit(c) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 95 || c === 46 || c === 44;
const NEWLINE = 10;
const BACKTICK = 96;
const QUESTION_MARK = 63;
const PERIOD = 46;
const EXCLAMATION_MARK = 33;
const COMMA = 44;
const SLASH = 47;
/** Larger number literals count as this much: a 40-digit run is not a quantity but an ID. */
const LARGEST_NUMBER = 1e15;
/** A line whose first non-blank character is `}` or whose last is `;`, `{` or `}` looks like code. */
const looksLikeCode = (first: number, last: number): boolean => first === 125 || last === 59 || last === 123 || last === 125;

/**
 * One loop over the characters instead of seven regex passes. Counts live in locals, not in the
 * result object, and whether the previous character was a space is remembered rather than
 * recomputed: V8 keeps locals in registers, and this loop runs over every character of every task.
 *
 * The last line and a closing `?` are added after the loop as `+= 0 or 1`, which runs on every
 * call, not as an increment that runs only for some texts: V8 compiled the loop before such an
 * increment had ever run, then deoptimised it at every prompt whose last line looks like code,
 * again and again: in two runs of three, 16 times a pass over the data files for as long as the
 * process ran, and about a sixth of the rules' time (`node --trace-deopt` showed it).
 */
function shape(text: string): Shape {
  let words = 0;
  let lines = text.length > 0 ? 1 : 0;
  let codeLines = 0;
  let questions = 0;
  let stops = 0;
  let numbers = 0;
  let nonAscii = 0;
  let fences = 0;
  let singleTicks = 0;
  let previous = NEWLINE;
  let previousSpace = true;
  let lineFirst = -1; // first and last non-blank character of the current line
  let lineLast = -1;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c > 127) nonAscii++;
    if (isSpace(c)) {
      if (c === NEWLINE) {
        lines++;
        if (looksLikeCode(lineFirst, lineLast)) codeLines++;
        lineFirst = lineLast = -1;
      }
      if (previous === QUESTION_MARK) questions++;
      else if (previous === PERIOD || previous === EXCLAMATION_MARK) stops++;
      previousSpace = true;
    } else {
      if (previousSpace) words++;
      if (lineFirst === -1) lineFirst = c;
      lineLast = c;
      if (isDigit(c) && !isNumberJoiner(previous)) numbers++;
      if (c === BACKTICK) {
        let run = 1;
        while (text.charCodeAt(i + run) === BACKTICK) run++;
        if (run >= 3) fences++;
        else if (run === 1) singleTicks++;
        i += run - 1;
      }
      previousSpace = false;
    }
    previous = c;
  }
  questions += previous === QUESTION_MARK ? 1 : 0;
  stops += previous === PERIOD || previous === EXCLAMATION_MARK ? 1 : 0;
  codeLines += looksLikeCode(lineFirst, lineLast) ? 1 : 0;
  return { words, lines, codeBlocks: Math.ceil(fences / 2), inlineCode: Math.floor(singleTicks / 2), codeLines, questions, stops, numbers, nonAscii };
}

type Quantities = Pick<TextFeatures, "distinctNumbers" | "largestNumber" | "largeNumbers" | "hasDecimal" | "hasFraction" | "hasMoney"> & {
  /** 1 for a `%`; `hasPercent` also takes the word. */
  percentSign: number;
};

/** A number literal: digits with digit-separating commas, then a decimal part ("1,250.75"). */
const NUMBER_LITERAL = /\d+(?:,\d+){0,5}(?:\.\d+)?/g;
/**
 * Digit runs read at most: a word problem has a dozen; a megabyte of "1 1 1 …" took 40 ms more
 * without a cap. The comma groups are capped too: a megabyte of "1,1,1,…" as one match took 80 ms.
 */
const MAX_DIGIT_RUNS = 1024;
/** Characters of a literal kept to tell it from others. */
const LITERAL_KEY_CHARS = 32;

/**
 * The number literals of a text and whether it has a `%` or a currency sign. A literal counts
 * where `shape` counts a number (its first digit not after a letter, digit, `_`, `.` or `,`), and
 * the regex runs only when `shape` found one. Native scans (`includes`, a regex), not another loop
 * over the characters: a loop here cost the rules about 2 µs of their 13 for a mean prompt; the
 * sentence ends come from `shape`'s loop.
 */
function quantities(text: string, numbers: number): Quantities {
  let largeNumbers = 0;
  let largestNumber = 0;
  let hasDecimal = 0;
  let hasFraction = 0;
  let literals: Set<string> | undefined;
  let runs = 0;
  NUMBER_LITERAL.lastIndex = 0;
  for (let m = numbers > 0 ? NUMBER_LITERAL.exec(text) : null; m !== null && runs++ < MAX_DIGIT_RUNS; m = NUMBER_LITERAL.exec(text)) {
    const start = m.index;
    if (start > 0 && isNumberJoiner(text.charCodeAt(start - 1))) continue;
    const literal = m[0];
    const end = start + literal.length;
    // Digits until the decimal point or the cap: past 1e15 the rest cannot change the value.
    let value = 0;
    for (let i = 0; i < literal.length && value < LARGEST_NUMBER; i++) {
      const d = literal.charCodeAt(i);
      if (d === PERIOD) break;
      if (d !== COMMA) value = Math.min(LARGEST_NUMBER, value * 10 + (d - 48));
    }
    if (literal.includes(".")) hasDecimal = 1;
    if (end + 1 < text.length && text.charCodeAt(end) === SLASH && isDigit(text.charCodeAt(end + 1))) hasFraction = 1;
    if (value >= 1000) largeNumbers++;
    if (value > largestNumber) largestNumber = value;
    (literals ??= new Set()).add(literal.length > LITERAL_KEY_CHARS ? literal.slice(0, LITERAL_KEY_CHARS) : literal);
  }
  return {
    distinctNumbers: literals?.size ?? 0,
    largestNumber,
    largeNumbers,
    hasDecimal,
    hasFraction,
    percentSign: text.includes("%") ? 1 : 0,
    hasMoney: text.includes("$") || text.includes("€") || text.includes("£") || text.includes("¥") ? 1 : 0,
  };
}

/** Index of the last user message, -1 when there is none. */
export function lastUserIndex(messages: readonly ChatMessage[]): number {
  for (let i = messages.length - 1; i >= 0; i--) {
    if (messages[i]?.role === "user") return i;
  }
  return -1;
}

/**
 * Measure a conversation. Content features come from the last user message (the request);
 * context features count every message, because the whole conversation is the model's input.
 * `terms` are the request's counts from a counter built over (at least) FEATURE_TERMS.
 * Every message is measured NFKC-normalised (normalize-text.ts), as the rules' patterns read it.
 * @param requestLower the last user message NFKC-normalised and lowercased, when the caller has it
 *   (the term counter needed it); default: computed here.
 */
export function extractFeatures(messages: readonly ChatMessage[], terms: TermCounts<FeatureTermGroup>, requestLower?: string): TextFeatures {
  const last = lastUserIndex(messages);
  // Measured as the patterns read it, NFKC-normalised: full-width "ｗｈｙ？" is a question in
  // Latin letters, not a non-ASCII text without one.
  const request = compatibilityForm(messages[last]?.content ?? "");
  const own = shape(request);

  let contextWords = 0;
  let contextChars = 0;
  messages.forEach((m, i) => {
    const content = i === last ? request : compatibilityForm(m.content);
    contextWords += i === last ? own.words : shape(content).words;
    contextChars += content.length;
  });

  const firstThen = terms.count("firstStep") > 0 && terms.count("thenStep") > 0 ? 1 : 0;
  const { percentSign, ...q } = quantities(request, own.numbers);
  return {
    words: own.words,
    chars: request.length,
    lines: own.lines,
    contextWords,
    contextChars,
    turns: messages.length,
    codeBlocks: own.codeBlocks,
    inlineCode: own.inlineCode,
    codeLines: own.codeLines,
    questions: own.questions,
    multiStep: terms.count("multiStep") + firstThen,
    listItems: request.match(LIST_ITEM)?.length ?? 0,
    constraints: terms.count("constraint"),
    technicalTerms: terms.count("technical"),
    reasoningTerms: terms.count("reasoning"),
    mathSymbols: request.match(MATH)?.length ?? 0,
    numbers: own.numbers,
    nonAsciiShare: request.length === 0 ? 0 : own.nonAscii / request.length,
    secretValues: countSecretValues(requestLower ?? request.toLowerCase()),
    ...q,
    hasPercent: percentSign === 1 || terms.count("percentWords") > 0 ? 1 : 0,
    sentences: own.questions + own.stops,
    rateTerms: terms.count("rateWords"),
    comparisonTerms: terms.count("comparisonWords"),
  };
}
