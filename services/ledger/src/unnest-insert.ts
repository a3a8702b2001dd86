/**
 * `INSERT … SELECT FROM unnest($1::t1[], $2::t2[], …) ON CONFLICT DO NOTHING`: a batch of any
 * size is one statement with one array parameter per column. drizzle's builder spent most of
 * the ledger's CPU assembling per-row parameter lists (see README › Benchmark); this keeps
 * drizzle for everything else and works the same on node-postgres and PGlite.
 */
import { sql, type SQL } from "drizzle-orm";
import type { LedgerDb } from "./db.js";

/** A column, its Postgres type, and how to read it from a row (JSON must come as a string). */
export interface UnnestColumn<R> {
  name: string;
  type: "text" | "boolean" | "integer" | "bigint" | "double precision" | "numeric" | "timestamptz" | "jsonb";
  value: (row: R) => string | number | boolean | null;
}

const IDENTIFIER = /^[a-z_][a-z0-9_]*$/;

/**
 * Postgres text and jsonb cannot hold NUL, and one NUL from a client (a tenant, metadata) or a
 * provider (an error message) would fail the whole batch, again at every retry: it becomes U+FFFD,
 * in text as the character and in JSON as its escape. The message itself stays in the stream.
 * jsonb also refuses a lone UTF-16 surrogate, which JSON.stringify writes as an escape (`\ud800`):
 * it becomes U+FFFD too. (In text, node-postgres already encodes one as U+FFFD.)
 */
export function withoutNul(value: string, type: UnnestColumn<unknown>["type"]): string {
  if (type === "jsonb") return value.includes("\\") ? value.replace(JSON_ESCAPE, jsonbSafeEscape) : value;
  return value.includes("\u0000") ? value.replaceAll("\u0000", "\uFFFD") : value;
}

/**
 * One escape of JSON text, taken left to right so an escaped backslash is never read as the start
 * of another escape: a surrogate pair (kept), a lone surrogate (`$3`), or any other escape.
 */
const JSON_ESCAPE = /\\(?:u([dD][89abAB][0-9a-fA-F]{2})\\u([dD][c-fC-F][0-9a-fA-F]{2})|u([dD][89a-fA-F][0-9a-fA-F]{2})|u0000|[\s\S])/g;

function jsonbSafeEscape(escape: string, high?: string, _low?: string, lone?: string): string {
  if (high !== undefined) return escape;
  return lone !== undefined || escape === "\\u0000" ? "\\ufffd" : escape;
}

export async function insertUnnest<R>(
  db: LedgerDb,
  table: string,
  columns: readonly UnnestColumn<R>[],
  rows: readonly R[],
  returning?: string,
): Promise<string[]> {
  if (rows.length === 0) return [];
  for (const name of [table, ...columns.map((c) => c.name), ...(returning ? [returning] : [])]) {
    if (!IDENTIFIER.test(name)) throw new Error(`insertUnnest: not a plain identifier: ${name}`);
  }
  // jsonb travels as text[] and is cast per element: array literals cannot nest JSON objects.
  const valuesOf = (c: UnnestColumn<R>) =>
    rows.map((row) => {
      const v = c.value(row);
      return typeof v === "string" && (c.type === "text" || c.type === "jsonb") ? withoutNul(v, c.type) : v;
    });
  const arrays = columns.map((c) => sql`${sql.param(valuesOf(c))}::${sql.raw(c.type === "jsonb" ? "text" : c.type)}[]`);
  const selected = columns.map((c) => sql.raw(c.type === "jsonb" ? `${c.name}::jsonb` : c.name));
  const names = sql.raw(columns.map((c) => c.name).join(", "));
  const query: SQL = sql`INSERT INTO ${sql.raw(table)} (${names}) SELECT ${sql.join(selected, sql`, `)} FROM unnest(${sql.join(arrays, sql`, `)}) AS u(${names}) ON CONFLICT DO NOTHING${returning ? sql.raw(` RETURNING ${returning}`) : sql``}`;
  const result = (await db.execute<Record<string, unknown>>(query)) as { rows: Record<string, unknown>[] };
  return returning ? result.rows.map((r) => String(r[returning])) : [];
}
