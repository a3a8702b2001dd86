/**
 * The routing-eval JSONL v1 format (see shared/data/README.md): one prompt a line with each
 * benchmark model's score and cost on it.
 */
import { readFile } from "node:fs/promises";
import { resolve } from "node:path";
import { z } from "zod";
import { EVAL_ERROR_CODES, EvalError, RoutingEvalFileError } from "./eval-errors.js";

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

/** Where {@link readRoutingEvalFiles} reads from. */
export interface ReadRoutingEvalFilesOptions {
  /** The command-line option that named the files (`--train`, `--data`): errors name it with the path. */
  option: string;
  /** Called with "read N rows from FILE" after each file. Default: nothing. */
  progress?: (line: string) => void;
}

/**
 * Reads routing-eval files given together as one set of rows, each file's rows apart. The same
 * file twice (by any relative path) or a row id in two files is refused before the rows are used:
 * those rows would count twice, and could sit on both sides of a held-out split.
 *
 * @throws EvalError `EVAL_ROWS_REPEATED` for a file named twice (checked before reading any) or a
 *   row id in two files; `EVAL_FILE_UNREADABLE` naming the option and the path for a file that
 *   cannot be read (missing, a directory); RoutingEvalFileError for an invalid line.
 */
export async function readRoutingEvalFiles(files: readonly string[], options: ReadRoutingEvalFilesOptions): Promise<{ file: string; rows: RoutingEvalRow[] }[]> {
  const { option, progress } = options;
  const repeated = files.find((f, i) => files.findIndex((g) => resolve(g) === resolve(f)) !== i);
  if (repeated !== undefined) throw new EvalError(EVAL_ERROR_CODES.EVAL_ROWS_REPEATED, `${option} ${repeated} is given twice: its rows would count twice`);
  const fileOf = new Map<string, string>();
  const read: { file: string; rows: RoutingEvalRow[] }[] = [];
  for (const file of files) {
    let text: string;
    try {
      text = await readFile(file, "utf8");
    } catch (err) {
      throw new EvalError(EVAL_ERROR_CODES.EVAL_FILE_UNREADABLE, `${option} ${file}: cannot read ${resolve(file)} (${(err as Error).message})`, { cause: err });
    }
    const rows = parseRoutingEvalJsonl(text, file);
    progress?.(`read ${rows.length} rows from ${file}`);
    for (const r of rows) {
      const earlier = fileOf.get(r.id);
      if (earlier !== undefined) throw new EvalError(EVAL_ERROR_CODES.EVAL_ROWS_REPEATED, `row id "${r.id}" is in both ${earlier} and ${file}: give each row once`);
      fileOf.set(r.id, file);
    }
    read.push({ file, rows });
  }
  return read;
}
