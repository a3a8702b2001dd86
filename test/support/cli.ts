/**
 * Runs the repository's `npm run` tools (eval:routing, train:classifier) as a user does, on
 * routing-eval files written for the test.
 */
import { execFile } from "node:child_process";
import { mkdtemp, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { promisify } from "node:util";
import type { RoutingEvalRow } from "@llm-router/eval";

/** The repository root, where `npm run` runs the tools. */
export const ROOT = fileURLToPath(new URL("../..", import.meta.url));
/** tsx by its path, so that a tool also runs from a working directory outside the repository. */
const TSX = pathToFileURL(createRequire(import.meta.url).resolve("tsx")).href;

export interface RunToolOptions {
  /** Default: the repository root. */
  cwd?: string;
  /** Added to this process's environment. */
  env?: Record<string, string>;
  /** Modules (file URLs) node imports before the tool, after tsx. */
  imports?: readonly string[];
}

/**
 * Runs `script` (a path from the repository root) as its `npm run` script does: node with the
 * source condition and tsx. Resolves with stdout and stderr; rejects with `code`, `stdout` and
 * `stderr` when it exits non-zero.
 */
export function runTool(script: string, args: readonly string[], options: RunToolOptions = {}): Promise<{ stdout: string; stderr: string }> {
  const imports = [TSX, ...(options.imports ?? [])].flatMap((m) => ["--import", m]);
  return promisify(execFile)(process.execPath, ["--conditions=source", ...imports, join(ROOT, script), ...args], {
    cwd: options.cwd ?? ROOT,
    env: { ...process.env, ...options.env },
    maxBuffer: 16 * 1024 * 1024,
  });
}

/** Writes each entry's rows as a JSONL file into a new temporary directory. */
export async function jsonlFiles(entries: Record<string, readonly RoutingEvalRow[]>): Promise<{ dir: string; path: (name: string) => string }> {
  const dir = await mkdtemp(join(tmpdir(), "router-cli-"));
  for (const [name, rows] of Object.entries(entries)) await writeFile(join(dir, name), rows.map((row) => JSON.stringify(row)).join("\n"));
  return { dir, path: (name) => join(dir, name) };
}

/**
 * Rows with ids `<prefix>-<i>` and outcomes for "big" ($0.01) and "small" ($0.001): small fails
 * the proofs (every third row) and solves the greetings; `same` makes both succeed everywhere.
 */
export function proofRows(n: number, prefix: string, same = false): RoutingEvalRow[] {
  return Array.from({ length: n }, (_, i) => {
    const hard = i % 3 === 0;
    return {
      id: `${prefix}-${i}`,
      source: "test",
      category: hard ? "proof" : "greeting",
      prompt: hard ? `Prove lemma ${i} rigorously, step by step.` : `Say hello to friend ${i}.`,
      outcomes: { big: { score: 1, cost_usd: 0.01 }, small: { score: same || !hard ? 1 : 0, cost_usd: 0.001 } },
    };
  });
}
