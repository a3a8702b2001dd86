/**
 * The routing-eval JSONL v1 format (see shared/data/README.md): one prompt a line with each
 * benchmark model's score and cost on it.
 */
import { z } from "zod";
import { RoutingEvalFileError } from "./eval-errors.js";

/** One model's result on one prompt. */
export const ModelOutcome = z.object({
  /** In [0, 1]: 1/0 correctness, or a judge's 1–10 rating divided by 10. */
  score: z.number().min(0).max(1),
  /** What answering this prompt cost, in USD. */
  cost_usd: z.number().min(0),
});
export type ModelOutcome = z.infer<typeof ModelOutcome>;

/**
 * One row of a routing-eval v1 file. Unknown keys are dropped, so a later minor revision that adds
 * fields still parses. `outcomes` defaults to `{}`: a prompts-only file (arena-hard) has none.
 */
export const RoutingEvalRow = z.object({
  id: z.string().min(1),
  source: z.string(),
  /** The benchmark's own label (MMLU domain, RouterBench task, Arena-Hard subcategory). */
  category: z.string(),
  prompt: z.string(),
  /** Model name → outcome on this prompt. */
  outcomes: z.record(z.string().min(1), ModelOutcome).default({}),
});
export type RoutingEvalRow = z.infer<typeof RoutingEvalRow>;

/**
 * Parses a routing-eval v1 JSONL text. Blank lines are skipped (a trailing newline is normal).
 *
 * @param source names the text in errors, usually its file path.
 * @throws RoutingEvalFileError (code `EVAL_FILE_INVALID`) at the first line that is not JSON,
 *   does not match {@link RoutingEvalRow}, or repeats an earlier row's `id` — a repeated id means
 *   files were concatenated twice and would count those prompts double. The error carries the
 *   1-based `line` and the dotted `field` path of the first problem.
 */
export function parseRoutingEvalJsonl(text: string, source: string): RoutingEvalRow[] {
  const rows: RoutingEvalRow[] = [];
  const firstLineOfId = new Map<string, number>();
  // An editor's byte-order mark is not part of the first row.
  const lines = text.replace(/^\uFEFF/, "").split("\n");
  for (let i = 0; i < lines.length; i++) {
    const raw = (lines[i] ?? "").trim();
    if (raw === "") continue;
    const lineNo = i + 1;
    let json: unknown;
    try {
      json = JSON.parse(raw);
    } catch (err) {
      throw new RoutingEvalFileError(source, lineNo, undefined, `not valid JSON (${(err as Error).message})`, { cause: err });
    }
    const parsed = RoutingEvalRow.safeParse(json);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      const field = issue && issue.path.length > 0 ? issue.path.map(String).join(".") : undefined;
      throw new RoutingEvalFileError(source, lineNo, field, issue?.message ?? "invalid row", { cause: parsed.error });
    }
    const earlier = firstLineOfId.get(parsed.data.id);
    if (earlier !== undefined) {
      throw new RoutingEvalFileError(source, lineNo, "id", `duplicate id "${parsed.data.id}" (first on line ${earlier})`);
    }
    firstLineOfId.set(parsed.data.id, lineNo);
    rows.push(parsed.data);
  }
  return rows;
}
