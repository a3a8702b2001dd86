/** Argument helpers shared by the CLI's commands. */

/** A command line that cannot work: printed with the usage, exit code 2. */
export class UsageError extends Error {
  override readonly name = "UsageError";
}

/** An ISO 8601 time, or a duration back from `now` like 30m, 6h, 7d. */
export function parseSince(raw: string, now: Date): Date {
  const duration = /^(\d+)([mhd])$/.exec(raw);
  if (duration) {
    const unit = { m: 60_000, h: 3_600_000, d: 86_400_000 }[duration[2] as "m" | "h" | "d"];
    return new Date(now.getTime() - Number(duration[1]) * unit);
  }
  const at = new Date(raw);
  if (Number.isNaN(at.getTime())) throw new UsageError(`not a time or a duration: ${raw} (use ISO 8601, or 30m, 6h, 7d)`);
  return at;
}

/** True for the error `util.parseArgs` throws on an unknown or malformed option. */
/**
 * A decimal number as written on a command line (`0.3`, `1e-3`, `.5`), or NaN for anything else:
 * `Number()` would read "" as 0 and "0x1" as 1.
 */
export function decimal(raw: string): number {
  return /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/.test(raw.trim()) ? Number(raw) : Number.NaN;
}

export function isParseArgsError(err: unknown): err is TypeError {
  return err instanceof TypeError && "code" in err && String(err.code).startsWith("ERR_PARSE_ARGS");
}

/**
 * Runs a command's `main` and exits with its code: a UsageError or a malformed option prints the
 * message and the usage (exit 2), any other error its message (exit 1).
 */
export function runCommand(name: string, usage: string, main: (argv: string[]) => Promise<number>): void {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err: unknown) => {
      if (err instanceof UsageError || isParseArgsError(err)) {
        console.error(`${name}: ${err.message}\n\n${usage}`);
        process.exit(2);
      }
      console.error(`${name}: ${err instanceof Error ? err.message : String(err)}`);
      process.exit(1);
    },
  );
}
