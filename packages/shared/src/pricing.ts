/**
 * Cost arithmetic. Prices are USD per 1M tokens; costs are computed in integer nano-dollars so
 * sums do not drift, and rounded to 9 decimals when expressed in USD. The ledger stores them in
 * `numeric` columns and sums there.
 */

const NANOS_PER_USD = 1_000_000_000n;

/** Rough token count from text length (≈4 characters a token), never 0 for non-empty text. */
export function estimateTokens(text: string): number {
  return text.length === 0 ? 0 : Math.ceil(text.length / 4);
}

/** USD per 1M tokens → nano-USD per token, kept exact to 1/1000 of a nano-dollar. */
function pricePerTokenMilliNanos(perMtok: number): bigint {
  // perMtok USD / 1e6 tokens = perMtok * 1e3 nano-USD per token = perMtok * 1e6 milli-nano-USD.
  return BigInt(Math.round(perMtok * 1_000_000));
}

/**
 * A model's prices, USD per 1M tokens. Prompt tokens a provider served from its prompt cache
 * (`cacheReadPerMtok`) or wrote to it (`cacheWritePerMtok`) have their own prices where the
 * provider bills them apart; without one they cost `inputPerMtok`, as any input token.
 */
export interface TokenPrices {
  inputPerMtok: number;
  outputPerMtok: number;
  cacheReadPerMtok?: number | undefined;
  cacheWritePerMtok?: number | undefined;
}

/**
 * Of a call's input tokens, how many the provider read from its prompt cache and how many it
 * wrote to it. Both are among the call's input tokens, not in addition to them.
 */
export interface CachedTokens {
  cacheReadTokens?: number | undefined;
  cacheWriteTokens?: number | undefined;
}

/** The cached-token counts of `usage` that are above 0, alone, for spreading into a record. */
export function cachedTokens(usage: CachedTokens): { cacheReadTokens?: number; cacheWriteTokens?: number } {
  return {
    ...(usage.cacheReadTokens ? { cacheReadTokens: usage.cacheReadTokens } : {}),
    ...(usage.cacheWriteTokens ? { cacheWriteTokens: usage.cacheWriteTokens } : {}),
  };
}

/**
 * Cost of a call in nano-USD (rounded half up from exact milli-nano arithmetic). Cached tokens
 * are priced apart from the rest of the input; a provider that reports more cached tokens than
 * input tokens is taken at its input count (reads first).
 */
export function callCostNanos(price: TokenPrices, inputTokens: number, outputTokens: number, cached: CachedTokens = {}): bigint {
  const read = Math.min(cached.cacheReadTokens ?? 0, inputTokens);
  const written = Math.min(cached.cacheWriteTokens ?? 0, inputTokens - read);
  const milli =
    pricePerTokenMilliNanos(price.inputPerMtok) * BigInt(inputTokens - read - written) +
    pricePerTokenMilliNanos(price.cacheReadPerMtok ?? price.inputPerMtok) * BigInt(read) +
    pricePerTokenMilliNanos(price.cacheWritePerMtok ?? price.inputPerMtok) * BigInt(written) +
    pricePerTokenMilliNanos(price.outputPerMtok) * BigInt(outputTokens);
  return (milli + 500n) / 1000n;
}

export function nanosToUsd(nanos: bigint): number {
  return Number(nanos) / Number(NANOS_PER_USD);
}

/** USD as a decimal string with 9 places, the form the ledger's numeric columns take. */
export function usdToDecimal(usd: number): string {
  return usd.toFixed(9);
}

/** Parse a decimal USD string (from Postgres numeric) into exact nano-USD. */
export function decimalToNanos(decimal: string): bigint {
  const negative = decimal.startsWith("-");
  const [whole = "0", frac = ""] = (negative ? decimal.slice(1) : decimal).split(".");
  const nanos = BigInt(whole) * NANOS_PER_USD + BigInt((frac + "000000000").slice(0, 9));
  return negative ? -nanos : nanos;
}

/** Cost of a call in USD, exact to the nano-dollar. */
export function callCostUsd(price: TokenPrices, inputTokens: number, outputTokens: number, cached?: CachedTokens): number {
  return nanosToUsd(callCostNanos(price, inputTokens, outputTokens, cached));
}
