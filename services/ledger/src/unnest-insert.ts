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
  const arrays = columns.map((c) => sql`${sql.param(rows.map(c.value))}::${sql.raw(c.type === "jsonb" ? "text" : c.type)}[]`);
  const selected = columns.map((c) => sql.raw(c.type === "jsonb" ? `${c.name}::jsonb` : c.name));
  const names = sql.raw(columns.map((c) => c.name).join(", "));
  const query: SQL = sql`INSERT INTO ${sql.raw(table)} (${names}) SELECT ${sql.join(selected, sql`, `)} FROM unnest(${sql.join(arrays, sql`, `)}) AS u(${names}) ON CONFLICT DO NOTHING${returning ? sql.raw(` RETURNING ${returning}`) : sql``}`;
  const result = (await db.execute<Record<string, unknown>>(query)) as { rows: Record<string, unknown>[] };
  return returning ? result.rows.map((r) => String(r[returning])) : [];
}
