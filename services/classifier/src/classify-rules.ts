/**
 * The rule-based classifier: a pure function from a conversation to a Classification, so the
 * selector can route each task to the smallest model that does it well. No I/O; every pattern is
 * compiled at module load, and all vocabulary is counted in one regex pass per user turn (see
 * ./features.ts), because this runs on every task.
 *
 * - Task type: weighted rules over the last user message. Highest score wins; ties go to the more
 *   specific type (TYPE_PRECEDENCE); `chat` when nothing matches.
 * - Complexity: a weighted sum of the features, cut by the *_AT thresholds.
 * - Risk: `critical` when a user turn asks to act on something dangerous (deploy, production,
 *   deleting data, payments, credentials, ...) or carries a secret-looking value; a short
 *   general-knowledge question ("what is a password?", "how does a payment gateway work?") is
 *   exempt, and so is a creative request that only names such a subject ("a haiku about
 *   deploying on Fridays"). Risk words never add to complexity: "deploy this to production" is
 *   simple and critical.
 * - Confidence: how decisive the evidence was (see `confidenceFrom`).
 */
import type { ChatMessage, Classification, Complexity, TaskType } from "@llm-router/shared";
import { countSecretValues, createTermCounter, extractFeatures, FEATURE_TERMS, lastUserIndex } from "./features.js";
import type { TermCounts, TextFeatures } from "./features.js";
import { readsAsForeign } from "./language.js";
import { normalizedLower } from "./normalize-text.js";

export const RULES_STRATEGY_VERSION = "rules-4";

/** Complexity score from which a task is `moderate`: a code request with a fenced block lands here. */
export const MODERATE_AT = 2;
/** From here `complex`: several of long, multi-step, constrained, analytical, technical. */
export const COMPLEX_AT = 5;
/** From here `expert`: long multi-part design, proof or architecture requests. */
export const EXPERT_AT = 9;

/** Up to this many words length adds nothing; each doubling beyond adds a point, at most MAX_LENGTH_POINTS. */
const FREE_WORDS = 50;
const MAX_LENGTH_POINTS = 4;
/** Scripts without spaces (Chinese, Japanese) are one "word" a sentence; size falls back to chars / this. */
const CHARS_PER_WORD = 8;
/** In a longer request, type cues count only this close to either end: the instruction wraps the
 * payload, and a summarised article that mentions a poem must not become creative writing. */
const INSTRUCTION_WINDOW_CHARS = 400;
/** A greeting decides the type only in a message this short ("hi, what is X?" is a question). */
const CHAT_MAX_WORDS = 8;
const CODE_LINES_MIN = 3;
/** This many analysis words ("design", "trade-offs", "justify") make reasoning, even phrased as "explain". */
const DENSE_REASONING_TERMS = 3;
/** A type-score margin this large (one strong rule, unopposed) is full evidence. */
const TYPE_MARGIN_FULL = 3;
/** A complexity score this far from the nearest threshold is full evidence. */
const COMPLEXITY_MARGIN_FULL = 2;
const MIN_CONFIDENCE = 0.3;
const MAX_CONFIDENCE = 0.99;

/** Tie-break order, most specific first: "translate this question into French" is a translation. */
const TYPE_PRECEDENCE: readonly TaskType[] = ["translation", "summarization", "extraction", "code", "creative", "reasoning", "qa", "chat"];

const cross = (a: readonly string[], b: readonly string[]): string[] => a.flatMap((x) => b.map((y) => `${x} ${y}`));

/** Type cues, counted near the ends of the request. */
const TYPE_CUES = {
  translate: ["translate", "translated", "translating", "translation"],
  sayIn: ["how do you say", "how do i say", "how to say"],
  summarize: ["summarize", "summarise", "summarized", "summarised", "summarizing", "summarising", "summary", "summaries", "tl;dr", "tldr"],
  condense: ["condense", "recap", "gist", "key points", "key takeaways", "main points", "main ideas", "shorten", "in a nutshell"],
  extract: ["extract", "extracts", "extracted", "extracting", "extraction"],
  pullOut: ["pull out", "list all", "list every", "find all", "identify all", "get all"],
  structured: ["as json", "into json", "in json", "as csv", "into csv", "as yaml", "as a table", "into a table", "key-value pairs"],
  fields: ["named entities", "entities", "email addresses", "phone numbers", "fields"],
  codeVerb: ["write", "implement", "create", "build", "fix", "debug", "refactor", "optimize", "optimise"],
  codeNoun: ["function", "method", "class", "script", "program", "module", "regex", "regexp", "query", "endpoint", "unit test", "unit tests", "component", "cli"],
  debug: ["bug", "bugs", "stack trace", "stacktrace", "traceback", "exception", "compile error", "compiler error", "segfault", "null pointer", "syntax error", "typeerror", "doesn't compile"],
  language: ["python", "javascript", "typescript", "java", "rust", "golang", "kotlin", "swift", "ruby", "php", "bash", "powershell", "sql", "html", "css", "react", "node.js", "nodejs", "c++", "c#"],
  // Operations requests produce commands and config. Not "deploy": a critical word sets risk,
  // not difficulty, and as a code cue it added the code type's complexity point ("Deploy `v2` to
  // `web-1`" was moderate where "Roll out `v2` to `web-1`" is simple).
  ops: ["kubectl", "terraform", "helm chart", "dockerfile", "docker", "ci/cd", "nginx", "systemd", "crontab", "shell command"],
  codeWord: ["code", "coding", "compile", "functions"],
  genre: ["poem", "poems", "poetry", "haiku", "haikus", "limerick", "sonnet", "lyrics", "song", "songs", "story", "stories", "fairy tale", "fable", "screenplay", "fiction", "joke", "jokes", "slogan", "tagline"],
  style: ["creative", "imaginative", "whimsical", "rhyme", "rhymes", "rhyming", "in the style of", "once upon a time"],
  proof: ["prove", "proof", "disprove", "theorem", "lemma", "derive", "derivation", "by induction"],
  howMany: ["how many"],
  solve: ["solve", "calculate", "compute", "simplify", "integrate", "differentiate", "factorize", "factorise"],
  logic: ["puzzle", "riddle", "logic", "deduce", "if and only if", "contradiction"],
  analysis: ["analyze", "analyse", "trade-off", "trade-offs", "tradeoff", "tradeoffs", "design", "architecture", "optimize", "optimise", "compare", "justify", "pros and cons"],
  think: ["step by step", "step-by-step", "reason through", "think through", "think it through"],
  explain: ["explain", "define", "definition of", "meaning of", "tell me about", "difference between"],
  smallTalk: ["how are you", "how's it going", "what's up", "how have you been", "nice to meet you", "who are you", "what can you do"],
} as const satisfies Record<string, readonly string[]>;

/**
 * Risk terms, counted anywhere in any user turn; the key is the signal label ("risk:deploy").
 * Everyday words are narrowed to their dangerous senses: "a secret garden" and "how many tokens"
 * are normal, "the client secret" and "an access token" are not.
 */
const ADMINS = ["admin", "administrator", "root", "superuser"];
const RISK_TERMS = {
  deploy: ["deploy", "deploys", "deployed", "deploying", "deployment", "deployments", "redeploy", "redeployed", "redeploying"],
  // "Production" alone is mostly not a place: ATP production, a production function, the
  // production of corn (112 of MMLU's prompts, 12 of RouterBench's). The place is "prod", "to
  // production" or a production *something* an operator runs.
  production: [
    "prod", "to production", "into production", "on production", "against production",
    ...cross(["production"], ["environment", "environments", "env", "server", "servers", "database", "databases", "db", "cluster", "clusters", "traffic", "data", "deploy", "deploys", "deployment", "deployments", "branch", "build", "release", "instance", "instances", "config", "configuration", "credentials", "secrets", "keys", "key", "api", "site", "website", "machine", "machines", "box", "host", "hosts", "logs", "outage", "incident", "stack", "account", "accounts", "workload", "workloads", "namespace", "bucket", "buckets", "users", "system", "systems", "app", "service", "services", "network"]),
    "live site", "live server", "live servers", "live database", "live db", "live environment", "live system", "live traffic",
  ],
  "rm-rf": ["rm -rf", "rm -fr", "rm -r"],
  // Infrastructure commands that destroy what they name, whatever follows them.
  "destructive-command": ["terraform destroy", "terraform apply -destroy", "kubectl delete", "helm uninstall", "helm delete", "docker system prune", "chmod -r 777", "chmod 777 /", "mkfs."],
  "force-push": ["force push", "force-push", "force pushed", "force-pushed", "force pushing", "git push -f", "git push --force"],
  "privileged-access": [
    ...cross(ADMINS, ["access", "privileges", "rights", "account", "password", "shell", "role", "permissions"]),
    "as root", "sudo", "privilege escalation",
  ],
  payment: ["payment", "payments", "billing", "refund", "refunds", "refunded", "chargeback", "chargebacks", "payout", "payouts", "wire transfer", "wire transfers", "bank transfer", "credit card", "credit cards", "bank account", "bank accounts", "iban", "invoice", "invoices"],
  credential: ["credential", "credentials", "ssh key", "ssh keys"],
  password: ["password", "passwords", "passwd", "passphrase", "passcode", ...cross(ADMINS, ["password"])],
  secret: [
    ...cross(["client", "api", "app", "aws", "jwt", "webhook", "signing", "shared", "encryption", "kubernetes", "k8s", "github", "oauth"], ["secret", "secrets"]),
    "secret key", "secret keys", "secret token", "secret value", "secrets manager", "secret manager", "secret store",
  ],
  "api-key": ["api key", "api keys", "api-key", "apikey", "api_key"],
  "private-key": ["private key", "private keys", "private-key"],
  token: cross(["access", "refresh", "bearer", "auth", "session", "oauth", "personal access"], ["token", "tokens"]),
} as const satisfies Record<string, readonly string[]>;
type RiskTermGroup = keyof typeof RISK_TERMS;
const RISK_TERM_GROUPS = Object.keys(RISK_TERMS) as RiskTermGroup[];
/**
 * The groups that name a subject rather than an act: a poem may be about a deploy or a password
 * without anyone deploying or handing one over. Commands (rm -rf, terraform destroy, a force
 * push), privileged access, the verb-and-object rules and secret values are acts wherever they appear.
 */
const SUBJECT_RISKS: ReadonlySet<string> = new Set<RiskTermGroup>(["deploy", "production", "payment", "credential", "password", "secret", "api-key", "private-key", "token"]);

/** Verbs that are harmless alone ("delete the word 'very'"); RISK_RULES look for their object. */
const RISK_VERBS = {
  destroyVerb: ["delete", "deleting", "drop", "truncate", "wipe", "purge", "erase", "destroy", "remove", "removing"],
  // "admin" alone is not a request ("build an admin page"); PRIVILEGE_GRANT looks for who gets it.
  adminWord: ["admin", "admins", "administrator", "administrators", "superuser", "superusers"],
  revokeVerb: ["revoke", "revoking", "revocation", "rotate", "rotating"],
  disableVerb: ["disable", "turn off", "bypass"],
  // A force push written with its options anywhere after the remote: "git push origin main --force".
  gitPush: ["git push"],
  sqlDelete: ["delete from"],
} as const satisfies Record<string, readonly string[]>;

type CueGroup = keyof typeof FEATURE_TERMS | keyof typeof TYPE_CUES | RiskTermGroup | keyof typeof RISK_VERBS;
const countTerms = createTermCounter<CueGroup>({ ...FEATURE_TERMS, ...TYPE_CUES, ...RISK_TERMS, ...RISK_VERBS });

const LANGUAGES = "english|french|german|spanish|italian|portuguese|dutch|russian|chinese|mandarin|japanese|korean|arabic|hindi|turkish|polish|swedish|norwegian|danish|finnish|greek|hebrew|vietnamese|thai|indonesian|ukrainian|czech|romanian|hungarian|persian|urdu|swahili|latin";
// Natural languages only: "translate this into python" is a code task.
const TRANSLATE_INTO = new RegExp(`translat(?:e|ed|ing|ion)\\b[\\s\\S]{0,200}?\\b(?:in)?to (?:${LANGUAGES})\\b`);
// Porting code is a code task: "translate this function into Python".
const PORT_TO =
  /\b(?:translat\w*|convert\w*|port|rewrite)\b[\s\S]{0,200}?\b(?:in)?to (?:python|javascript|typescript|java|rust|go|golang|kotlin|swift|ruby|php|bash|sql|c\+\+|c#)(?![a-z0-9_])/;
const SAY_IN = new RegExp(`how (?:do (?:you|i)|to) say\\b[\\s\\S]{0,80}?\\bin (?:${LANGUAGES})\\b`);
const INTERROGATIVE = /^\W*(?:(?:hi|hello|hey)\W+)?(?:who|what(?:'s)?|when|where|which|whose|why|how|is|are|was|were|does|do|did|can|could|should|will|would)\b/;
const GREETING = /^\W*(?:hi|hello|hey|hiya|howdy|yo|good (?:morning|afternoon|evening)|greetings|thanks|thank you|thx|cheers|bye|goodbye)\b/;
/** A destructive verb with a data store or an account as its object within six words, in the
 * same sentence: "drop table users", "delete all rows from users", "delete my account"; not
 * "delete the word 'very'". */
const DATA_DELETION =
  /\b(?:delete|deleting|drop|truncate|wipe|purge|erase|destroy)\b(?: from)?\s+(?:[^\s.!?]{1,40}\s+){0,6}?(?:tables?|databases?|db|schemas?|collections?|rows|records|users?|accounts?|customer data|user data|all data|the data|files|backups?|buckets?|volumes?|clusters?|namespaces?|branch(?:es)?|repo(?:s|sitory|sitories)?)\b(?!')/;
/** "Remove" mostly filters ("remove outliers from the data", "remove duplicates"), so only
 * accounts and everything of a kind count: "remove all users", "remove her account". */
const ACCOUNT_REMOVAL = /\bremov(?:e|ing)\b\s+(?:[^\s.!?]{1,40}\s+){0,4}?(?:users?|accounts?|all (?:the )?(?:files|records|rows|data))\b(?!')/;
/** Admin rights given to someone or used: "grant me admin", "make bob an admin", "promote her to
 * superuser", "log into the admin panel"; not "add an admin page" or "what does an admin do". */
const PRIVILEGE_GRANT =
  /\b(?:grant|give)\b[^.!?\n]{0,30}?\b(?:admin|administrator|superuser)s?\b|\b(?:make|makes|made|promote|promoted|elevate|add|added|set)\b[^.!?\n]{0,30}?\b(?:as|to|an?) (?:admin|administrator|superuser)s?\b(?! (?:page|pages|panel|panels|dashboard|ui|interface|view|views|screen|route|routes|template|component|site|section|menu|form))|\blog(?:ged|ging)? ?(?:in|on)(?:to| to| as)?\b[^.!?\n]{0,20}?\b(?:admin|administrator|superuser)s?\b/;
/**
 * `git push` forcing anywhere in its own command: `git push origin main --force`, `-f`, `-fu`,
 * `+main`; not a `-f` of the next command (`git push && tail -f log`, "git push, then tail -f").
 */
const GIT_FORCE_PUSH = /\bgit push\b[^\n;&|,]{0,120}?(?:\s--force(?:-with-lease)?\b|\s-[a-z]*f[a-z]*\b|\s\+[a-z0-9_])/;
/**
 * SQL's DELETE FROM a named table, any table, in SQL's own shape: a `;`, or a WHERE comparing a
 * column (`delete from customers where id = 3`); not "delete from a list where the value is 3".
 */
const SQL_DELETE = /\bdelete from [a-z_"`][a-z0-9_."`]{0,64}(?:\s*;|\s+where\s+[a-z_"`][a-z0-9_."`]{0,64}\s*(?:=|<>|!=|<=|>=|<|>|\bin\b|\blike\b|\bis\b))/;
const REVOCATION = /\b(?:revok|revocation|rotat)\w*\b[^.!?\n]{0,30}?\b(?:tokens?|keys?|credentials?|certificates?|certs?)\b/;
const SECURITY_CONTROL = /\b(?:disable|turn off|bypass)\b[^.!?\n]{0,20}?\b(?:2fa|mfa|firewall|authentication|auth|encryption|tls|ssl|audit logs?|audit logging)\b/;
/**
 * Words that make a question about a real thing, the asker's own or a procedure: "the root
 * password", "my deploy", "deploy this", "how do I", "a good way to", "the steps to".
 */
const NOT_GENERAL = String.raw`\b(?:the|my|our|your|their|his|her|its|this|that|these|those|all|every|i|we|me|us|how to|ways? to|steps? (?:to|for))\b`;
/** One short clause (1–80 characters) in which no NOT_GENERAL word starts. */
const GENERAL_CLAUSE = String.raw`(?:(?!${NOT_GENERAL})[^.!?\n;]){1,80}`;
/**
 * "What is a password?", "what's the difference between a deploy and a release?" and "how does
 * a payment gateway work?" ask for general knowledge; "what is the root password?", "what is a
 * good way to deploy this?", "how do refunds work when I issue one?" and "what is a password?
 * reset mine" do not: one short clause opening with a definition, a difference or (ending with)
 * how something works, and no word in it that points at a real thing, the asker or a procedure
 * (NOT_GENERAL; for how something works, not "you" either: "how do you rotate an API key").
 */
const DEFINITIONAL = new RegExp(
  String.raw`^\W*(?:(?:what(?:'s| is| are)|define|explain(?: what)?|meaning of)\s+${GENERAL_CLAUSE}|(?:what(?:'s| is| are) )?the differences? between\s+${GENERAL_CLAUSE}|how (?:does|do|is|are)\s+(?!you\b)${GENERAL_CLAUSE}\bworks?)[.?]?\s*$`,
);

/**
 * A multiple-choice question: options "a." / "a)" / "(a)", "b." and "c." starting three lines in
 * a row. A quiz tests knowledge of its subject ("balance of payments", "a production server");
 * nothing it answers is done. Two options ("deploy now? a) yes b) no") are a decision, not a
 * quiz. Each attempt starts at a line start and reads three lines.
 */
const QUIZ_OPTIONS = /(?:^|\n)[ \t]*\(?a[.)][ \t]+[^\n]+\n[ \t]*\(?b[.)][ \t]+[^\n]+\n[ \t]*\(?c[.)][ \t]+\S/;
/** The asker in a quiz's question ("which server should I deploy to?"): a decision of theirs, not a quiz. */
const ASKER = /\b(?:i|we|me|us|my|our)\b/;

/** Whether `lower` is a multiple-choice question whose stem does not speak of the asker. */
function isQuiz(lower: string): boolean {
  const options = QUIZ_OPTIONS.exec(lower);
  return options !== null && !ASKER.test(lower.slice(0, options.index));
}

/** What a rule sees: term counts (whole text and near its ends), the lowercased text, the features. */
type Cues = { terms: TermCounts<CueGroup>; lower: string; f: TextFeatures };
type RiskCues = { terms: TermCounts<CueGroup>; lower: string; secretValues: number };
type TypeRule = { readonly type: TaskType; readonly tag: string; readonly weight: number; readonly when: (c: Cues) => boolean };
// The group's index is looked up once, here, not by name on every task.
const near = (group: CueGroup): ((c: Cues) => boolean) => {
  const at = countTerms.index(group);
  return (c) => c.terms.windowCountAt(at) > 0;
};
const anywhere = (group: CueGroup): ((c: RiskCues) => boolean) => {
  const at = countTerms.index(group);
  return (c) => c.terms.countAt(at) > 0;
};
/** Both tests, the cheap one (a term count) first. */
const both =
  <C>(first: (c: C) => boolean, second: (c: C) => boolean) =>
  (c: C): boolean =>
    first(c) && second(c);

// Weights: 4-5 names the task outright, 2-3 is strong evidence, 1-1.5 a hint.
const TYPE_RULES: readonly TypeRule[] = [
  { type: "translation", tag: "translate-into", weight: 5, when: both(near("translate"), (c) => TRANSLATE_INTO.test(c.lower)) },
  { type: "translation", tag: "translate", weight: 2, when: near("translate") },
  { type: "translation", tag: "say-in", weight: 4, when: both(near("sayIn"), (c) => SAY_IN.test(c.lower)) },
  { type: "summarization", tag: "summarize", weight: 4, when: near("summarize") },
  { type: "summarization", tag: "condense", weight: 2, when: near("condense") },
  { type: "extraction", tag: "extract", weight: 4, when: near("extract") },
  { type: "extraction", tag: "pull-out", weight: 2, when: near("pullOut") },
  { type: "extraction", tag: "structured-output", weight: 2, when: near("structured") },
  { type: "extraction", tag: "fields", weight: 1, when: near("fields") },
  // Structure counts over the whole request: the window may cut a fenced block in half.
  { type: "code", tag: "fence", weight: 3, when: (c) => c.f.codeBlocks > 0 },
  { type: "code", tag: "code-lines", weight: 2, when: (c) => c.f.codeBlocks === 0 && c.f.codeLines >= CODE_LINES_MIN },
  { type: "code", tag: "write-code", weight: 3, when: both(near("codeVerb"), near("codeNoun")) },
  { type: "code", tag: "port", weight: 4, when: both(near("language"), (c) => PORT_TO.test(c.lower)) },
  { type: "code", tag: "debug", weight: 2, when: near("debug") },
  { type: "code", tag: "language", weight: 1.5, when: near("language") },
  { type: "code", tag: "ops", weight: 1.5, when: near("ops") },
  { type: "code", tag: "code-word", weight: 1, when: near("codeWord") },
  { type: "creative", tag: "genre", weight: 3, when: near("genre") },
  { type: "creative", tag: "style", weight: 1, when: near("style") },
  { type: "reasoning", tag: "proof", weight: 4, when: near("proof") },
  { type: "reasoning", tag: "how-many", weight: 3, when: near("howMany") },
  { type: "reasoning", tag: "math", weight: 3, when: (c) => c.f.mathSymbols > 0 },
  { type: "reasoning", tag: "solve", weight: 2.5, when: near("solve") },
  { type: "reasoning", tag: "logic", weight: 2, when: near("logic") },
  { type: "reasoning", tag: "analysis", weight: 2, when: near("analysis") },
  { type: "reasoning", tag: "dense-analysis", weight: 2, when: (c) => c.f.reasoningTerms >= DENSE_REASONING_TERMS },
  { type: "reasoning", tag: "think", weight: 1, when: near("think") },
  { type: "qa", tag: "interrogative", weight: 2, when: (c) => INTERROGATIVE.test(c.lower) },
  { type: "qa", tag: "question-mark", weight: 1, when: (c) => c.lower.trimEnd().endsWith("?") },
  { type: "qa", tag: "explain", weight: 2, when: near("explain") },
  { type: "chat", tag: "small-talk", weight: 3, when: near("smallTalk") },
  { type: "chat", tag: "greeting", weight: 2.5, when: (c) => c.f.words <= CHAT_MAX_WORDS && GREETING.test(c.lower) },
];

/** Risks that need a verb and its object together, checked only when the verb occurs at all. */
const RISK_RULES: readonly { readonly label: string; readonly when: (c: RiskCues) => boolean }[] = [
  // "delete from" is its own term (the longest match hides "delete"): either opens the check.
  {
    label: "data-deletion",
    when: both(
      (c) => anywhere("destroyVerb")(c) || anywhere("sqlDelete")(c),
      (c) => DATA_DELETION.test(c.lower) || ACCOUNT_REMOVAL.test(c.lower) || SQL_DELETE.test(c.lower),
    ),
  },
  { label: "privilege-grant", when: both(anywhere("adminWord"), (c) => PRIVILEGE_GRANT.test(c.lower)) },
  { label: "revocation", when: both(anywhere("revokeVerb"), (c) => REVOCATION.test(c.lower)) },
  { label: "security-control", when: both(anywhere("disableVerb"), (c) => SECURITY_CONTROL.test(c.lower)) },
  // Not when the force-push phrase already counted it ("git push --force" is in RISK_TERMS).
  { label: "force-push", when: both(anywhere("gitPush"), (c) => c.terms.countAt(FORCE_PUSH_TERMS) === 0 && GIT_FORCE_PUSH.test(c.lower)) },
];

function clamp(x: number, lo: number, hi: number): number {
  return Math.min(hi, Math.max(lo, x));
}

/** The type rules with their signal built once, not on every match. */
const SIGNALLED_TYPE_RULES: readonly (TypeRule & { readonly signal: string })[] = TYPE_RULES.map((rule) => ({ ...rule, signal: `type:${rule.type}(${rule.tag})` }));

function scoreTaskTypes(cues: Cues, signals: string[]): Record<TaskType, number> {
  const scores: Record<TaskType, number> = { chat: 0, qa: 0, summarization: 0, code: 0, reasoning: 0, creative: 0, extraction: 0, translation: 0 };
  for (const rule of SIGNALLED_TYPE_RULES) {
    if (!rule.when(cues)) continue;
    scores[rule.type] += rule.weight;
    signals.push(rule.signal);
  }
  return scores;
}

function pickTaskType(scores: Record<TaskType, number>): { taskType: TaskType; best: number; second: number } {
  // What a stable sort by score, descending, would put first and second, without the sort: the
  // first type in TYPE_PRECEDENCE with the highest score, and the highest score among the others.
  let first: TaskType = "chat";
  let best = Number.NEGATIVE_INFINITY;
  let second = Number.NEGATIVE_INFINITY;
  for (const type of TYPE_PRECEDENCE) {
    const score = scores[type];
    if (score > best) {
      second = best;
      best = score;
      first = type;
    } else if (score > second) {
      second = score;
    }
  }
  return { taskType: best > 0 ? first : "chat", best, second };
}

/** Weighted feature sum; each part is capped so one noisy feature cannot decide alone. */
function scoreComplexity(f: TextFeatures, taskType: TaskType, signals: string[]): number {
  const size = Math.max(f.contextWords, f.contextChars / CHARS_PER_WORD);
  const fenced = f.codeBlocks > 0 ? 2 + 0.5 * Math.min(f.codeBlocks - 1, 2) : f.codeLines >= CODE_LINES_MIN ? 1.5 : 0;
  // Each part with its signal, written out whole: a template literal per part allocates a string.
  const parts: readonly (readonly [string, number])[] = [
    ["complexity:length", clamp(Math.log2(size / FREE_WORDS), 0, MAX_LENGTH_POINTS)],
    ["complexity:code", fenced + 0.5 * Math.min(f.inlineCode, 2)],
    // Writing code or reasoning needs a capable model even when the request is short.
    ["complexity:task-type", taskType === "code" || taskType === "reasoning" ? 1 : 0],
    ["complexity:multi-step", Math.min(f.multiStep + Math.floor(f.listItems / 2), 4)],
    ["complexity:constraints", 0.5 * Math.min(f.constraints, 4)],
    ["complexity:reasoning", Math.min(f.reasoningTerms, 5)],
    ["complexity:technical", 0.5 * Math.min(f.technicalTerms, 6)],
    ["complexity:multi-question", 0.5 * Math.min(Math.max(f.questions - 1, 0), 3)],
    ["complexity:math", 0.25 * Math.min(f.mathSymbols, 4)],
  ];
  let score = 0;
  for (const [signal, points] of parts) {
    if (points <= 0) continue;
    score += points;
    signals.push(signal);
  }
  return Math.round(score * 1000) / 1000;
}

function complexityFrom(score: number): Complexity {
  if (score >= EXPERT_AT) return "expert";
  if (score >= COMPLEX_AT) return "complex";
  if (score >= MODERATE_AT) return "moderate";
  return "simple";
}

const FORCE_PUSH_TERMS = countTerms.index("force-push");
const RISK_TERM_INDICES: readonly (readonly [RiskTermGroup, number])[] = RISK_TERM_GROUPS.map((group) => [group, countTerms.index(group)]);

/** What the patterns read: NFKC-normalised, then lowercased (normalize-text.ts says why). */
const rulesText = normalizedLower;

function riskCuesOf(content: string): RiskCues {
  const lower = rulesText(content);
  return { terms: countTerms(lower), lower, secretValues: countSecretValues(lower) };
}

/**
 * Risk labels of one user turn, and why the turn is exempt, if it is: a general-knowledge
 * question (`definitional`), or, when its every label is a subject, not an act, a creative
 * request (`creative`, the request only: earlier turns are not typed) or a multiple-choice
 * question (`quiz`).
 */
function turnRisks(c: RiskCues, creative: boolean): { labels: string[]; exempt: "definitional" | "creative" | "quiz" | undefined } {
  const labels: string[] = [];
  for (const [group, at] of RISK_TERM_INDICES) if (c.terms.countAt(at) > 0) labels.push(group);
  for (const rule of RISK_RULES) if (rule.when(c)) labels.push(rule.label);
  if (c.secretValues > 0) return { labels: [...labels, "secret-value"], exempt: undefined };
  if (labels.length === 0) return { labels, exempt: undefined };
  if (DEFINITIONAL.test(c.lower)) return { labels, exempt: "definitional" };
  if (!labels.every((l) => SUBJECT_RISKS.has(l))) return { labels, exempt: undefined };
  if (creative) return { labels, exempt: "creative" };
  return { labels, exempt: isQuiz(c.lower) ? "quiz" : undefined };
}

/**
 * Number of risk matches; critical when above 0. Every user turn counts ("go ahead" after "deploy
 * to prod?" is still a deploy); the system prompt does not, because operators put boilerplate like
 * "never reveal passwords" there. Two exemptions, per turn (turnRisks), neither for a turn with a
 * secret-looking value: a short general-knowledge question ("what is a private key?", "how do
 * wire transfers work?"; not "what is the root password?"), and a creative request or a
 * multiple-choice question about a risky subject ("a limerick about a failed deploy", "which of
 * these shifts the balance of payments? A. … B. …"; not one that names an act, "a poem, then rm -rf /").
 */
function assessRisk(messages: readonly ChatMessage[], last: number, request: RiskCues, creative: boolean, signals: string[]): number {
  let matches = 0;
  messages.forEach((m, i) => {
    if (m.role !== "user" || i > last) return;
    const { labels, exempt } = i === last ? turnRisks(request, creative) : turnRisks(riskCuesOf(m.content), false);
    const where = i === last ? "" : "(earlier-turn)";
    for (const label of labels) signals.push(exempt ? `risk-exempt:${label}(${exempt})` : `risk:${label}${where}`);
    if (!exempt) matches += labels.length;
  });
  return matches;
}

/**
 * Evidence in [0, 1] mapped onto [MIN_CONFIDENCE, MAX_CONFIDENCE]: mostly the margin between the
 * best and second-best task type, partly how far the complexity score sits from its nearest
 * threshold. Scaled down by how foreign the request reads — its non-ASCII share, or all the way
 * when its first function words are another language's (language.ts) — because the vocabulary is English. A score of 0
 * with no task type matched is no evidence of anything ("hmm", "asdf", a question in a language
 * the vocabulary lacks): MIN_CONFIDENCE, below the cascade's default `escalateBelow`, rather than
 * confidence in "simple" from how far 0 sits from the first threshold.
 */
function confidenceFrom(best: number, second: number, complexityScore: number, foreignShare: number): number {
  const typeEvidence = clamp((best - second) / TYPE_MARGIN_FULL, 0, 1);
  const distance = Math.min(Math.abs(complexityScore - MODERATE_AT), Math.abs(complexityScore - COMPLEX_AT), Math.abs(complexityScore - EXPERT_AT));
  const measured = best > 0 || complexityScore > 0;
  const complexityEvidence = measured ? clamp(distance / COMPLEXITY_MARGIN_FULL, 0, 1) : 0;
  const evidence = (0.7 * typeEvidence + 0.3 * complexityEvidence) * (1 - 0.5 * foreignShare);
  const confidence = MIN_CONFIDENCE + (MAX_CONFIDENCE - MIN_CONFIDENCE) * evidence;
  return Math.round(clamp(confidence, MIN_CONFIDENCE, MAX_CONFIDENCE) * 1000) / 1000;
}

/** Classify a conversation by its last user message; see the module comment for the rules. */
export function classifyRules(input: { messages: readonly ChatMessage[] }): Classification {
  const { messages } = input;
  const last = lastUserIndex(messages);
  const lower = rulesText(messages[last]?.content ?? "");
  const terms = countTerms(lower, INSTRUCTION_WINDOW_CHARS);
  const f = extractFeatures(messages, terms, lower);
  const cues: Cues = { terms, lower, f };
  const signals: string[] = [];

  const scores = scoreTaskTypes(cues, signals);
  const { taskType, best, second } = pickTaskType(scores);
  const complexityScore = scoreComplexity(f, taskType, signals);
  const riskMatches = assessRisk(messages, last, { terms, lower, secretValues: f.secretValues }, taskType === "creative", signals);
  const foreign = readsAsForeign(lower);
  if (foreign) signals.push("language:not-english");

  // Extend the fresh features object with constant-key stores: in V8, object spread and
  // computed keys here cost 5-25 µs a call (dictionary-mode objects); constant keys cost nanoseconds.
  const features: Record<string, number> = f;
  features.complexityScore = complexityScore;
  features.riskMatches = riskMatches;
  features["typeScore.chat"] = scores.chat;
  features["typeScore.qa"] = scores.qa;
  features["typeScore.summarization"] = scores.summarization;
  features["typeScore.code"] = scores.code;
  features["typeScore.reasoning"] = scores.reasoning;
  features["typeScore.creative"] = scores.creative;
  features["typeScore.extraction"] = scores.extraction;
  features["typeScore.translation"] = scores.translation;

  return {
    complexity: complexityFrom(complexityScore),
    risk: riskMatches > 0 ? "critical" : "normal",
    taskType,
    confidence: confidenceFrom(best, second, complexityScore, foreign ? 1 : f.nonAsciiShare),
    strategy: "rules",
    strategyVersion: RULES_STRATEGY_VERSION,
    features,
    signals,
  };
}
