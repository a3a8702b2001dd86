/**
 * Reads a classifying model's answer: one JSON object `{complexity, risk, taskType, confidence}`.
 * Small models rarely reply with the bare object, so the object may sit in a ```json fence, among
 * prose, or after a `<think>` block; the first balanced `{...}` that parses as JSON and has the
 * answer's fields is the answer.
 * Messages name what was wrong and never quote the output, which may echo the user's prompt.
 */
import { Complexity, Risk, TaskType, describeZodError } from "@llm-router/shared";
import { z } from "zod";

/** Models capitalise labels ("Simple", "CRITICAL"); case and surrounding spaces carry no meaning. */
const label = <T extends z.ZodType>(schema: T) =>
  z.preprocess((value) => (typeof value === "string" ? value.trim().toLowerCase() : value), schema);

/**
 * A confidence as models write it, as a probability: `0.8`, `"0.8"`, `80` or `"80%"` (a
 * percentage from 2 up) are 0.8; an overshoot such as 1.2 still means "sure" and is 1; anything
 * else is clamped to [0, 1], because the cascade's confidence must stay a probability.
 */
const confidence = z.preprocess(
  (value) => {
    if (typeof value !== "string") return value;
    const m = /^\s*([+-]?(?:\d+\.?\d*|\.\d+))\s*(%?)\s*$/.exec(value);
    if (!m) return value;
    return m[2] === "%" ? Number(m[1]) / 100 : Number(m[1]);
  },
  z.number().transform((c) => (c >= 2 && c <= 100 ? c / 100 : Math.min(1, Math.max(0, c)))),
);

export const LlmAnswer = z.object({
  complexity: label(Complexity),
  risk: label(Risk),
  taskType: label(TaskType),
  confidence,
});
export type LlmAnswer = z.infer<typeof LlmAnswer>;

export type ParsedAnswer = { ok: true; answer: LlmAnswer } | { ok: false; message: string };

const CLOSED_THINK = /<think>[\s\S]*?<\/think>/gi;
/**
 * How much of the answer is searched, and from how many opening braces: the object is about 100
 * characters and comes early. Each brace is scanned to its match, so an unbounded answer (a raised
 * maxOutputTokens, a server ignoring it, an echoed JSON-heavy request) would cost time quadratic
 * in its length, on the service's one thread, past the call's deadline.
 */
const MAX_ANSWER_CHARS = 8192;
const MAX_OBJECT_STARTS = 64;
const OPEN_THINK = /<think>/i;

export function parseLlmAnswer(output: string): ParsedAnswer {
  // A reasoning block may hold draft objects; only what follows it is the answer.
  const closed = output.replace(CLOSED_THINK, "");
  const open = closed.search(OPEN_THINK);
  const objects = jsonObjects((open < 0 ? closed : closed.slice(0, open)).slice(0, MAX_ANSWER_CHARS));
  // The first object that is an answer: prose may quote other JSON first ("the request mentions
  // {"user": 1}"), and some models wrap the answer ({"classification": {...}}).
  for (const candidate of objects) {
    const parsed = LlmAnswer.safeParse(candidate);
    if (parsed.success) return { ok: true, answer: parsed.data };
  }
  const json = objects[0];
  if (json === undefined) {
    // A model that thinks past its token budget ends inside the block: say how to fix it.
    const why =
      open < 0
        ? `no JSON object in the model output (${output.length} characters)`
        : "the model output ended inside a <think> block before any JSON; raise classifier.llm.maxOutputTokens or turn the model's thinking off";
    return { ok: false, message: why };
  }
  const parsed = LlmAnswer.safeParse(json);
  if (!parsed.success) {
    return { ok: false, message: `the model's JSON is not {complexity, risk, taskType, confidence}: ${describeZodError(parsed.error)}` };
  }
  return { ok: true, answer: parsed.data };
}

/** Every `{...}` span that parses as JSON, one per opening brace (the first MAX_OBJECT_STARTS), nested ones included, in order. */
function jsonObjects(text: string): unknown[] {
  const found: unknown[] = [];
  let starts = 0;
  for (let start = text.indexOf("{"); start >= 0 && starts++ < MAX_OBJECT_STARTS; start = text.indexOf("{", start + 1)) {
    const end = matchingBrace(text, start);
    if (end < 0) continue;
    try {
      found.push(JSON.parse(text.slice(start, end + 1)) as unknown);
    } catch {
      // Balanced but not JSON (prose such as "{simple}"): the answer may start at a later brace.
    }
  }
  return found;
}

/** The index of the brace closing the one at `start`, or -1; braces inside JSON strings do not count. */
function matchingBrace(text: string, start: number): number {
  let depth = 0;
  let inString = false;
  for (let i = start; i < text.length; i++) {
    const ch = text[i];
    if (inString) {
      if (ch === "\\") i++;
      else if (ch === '"') inString = false;
    } else if (ch === '"') inString = true;
    else if (ch === "{") depth++;
    else if (ch === "}" && --depth === 0) return i;
  }
  return -1;
}
