/**
 * Errors of the routing evaluation. Each has a stable UPPER_SNAKE `code` that tests and the CLI
 * match on. None is retryable: bad data or a bad argument fails the same way every time.
 */

export const EVAL_ERROR_CODES = {
  /** A routing-eval JSONL line is not JSON or does not match the v1 row schema. */
  EVAL_FILE_INVALID: "EVAL_FILE_INVALID",
  /** A row has no outcome for a model the evaluation needs. */
  EVAL_MODEL_MISSING: "EVAL_MODEL_MISSING",
  /** A metric was given input it cannot score (no rows, a non-finite router score, …). */
  EVAL_INPUT_INVALID: "EVAL_INPUT_INVALID",
  /** A file given on the command line cannot be read: missing, a directory, not permitted. */
  EVAL_FILE_UNREADABLE: "EVAL_FILE_UNREADABLE",
  /** Rows given twice: one file named twice, or one row id in two files. They would count double. */
  EVAL_ROWS_REPEATED: "EVAL_ROWS_REPEATED",
} as const;
export type EvalErrorCode = (typeof EVAL_ERROR_CODES)[keyof typeof EVAL_ERROR_CODES];

/** Base class of the evaluation's errors: `code` is stable, `message` is for people. */
export class EvalError extends Error {
  override readonly name: string = "EvalError";
  readonly code: EvalErrorCode;
  readonly retryable = false;

  constructor(code: EvalErrorCode, message: string, options: { cause?: unknown } = {}) {
    super(message, { cause: options.cause });
    this.code = code;
  }
}

/** An invalid line of a routing-eval file; `line` is 1-based, `field` a dotted path when known. */
export class RoutingEvalFileError extends EvalError {
  override readonly name = "RoutingEvalFileError";
  readonly source: string;
  readonly line: number;
  readonly field: string | undefined;

  constructor(source: string, line: number, field: string | undefined, problem: string, options: { cause?: unknown } = {}) {
    super(EVAL_ERROR_CODES.EVAL_FILE_INVALID, `${source}:${line}: ${field ?? "(row)"}: ${problem}`, options);
    this.source = source;
    this.line = line;
    this.field = field;
  }
}
