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

/** Cost of a call in nano-USD (rounded half up from exact milli-nano arithmetic). */
export function callCostNanos(price: { inputPerMtok: number; outputPerMtok: number }, inputTokens: number, outputTokens: number): bigint {
  const milli =
    pricePerTokenMilliNanos(price.inputPerMtok) * BigInt(inputTokens) + pricePerTokenMilliNanos(price.outputPerMtok) * BigInt(outputTokens);
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
export function callCostUsd(price: { inputPerMtok: number; outputPerMtok: number }, inputTokens: number, outputTokens: number): number {
  return nanosToUsd(callCostNanos(price, inputTokens, outputTokens));
}
