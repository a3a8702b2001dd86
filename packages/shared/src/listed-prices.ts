/**
 * Model prices from a maintained table: `@pydantic/genai-prices` (MIT), whose price data ships in
 * the package — nothing is fetched at run time. A cloud model configured without `inputPerMtok` /
 * `outputPerMtok` gets its listed price, so budgets, the ledger and savings see what calls cost
 * instead of $0; prices in the config always win.
 */
import { calcPrice, findProvider } from "@pydantic/genai-prices";

/** The price table's package and version, recorded with every price taken from it. */
export const PRICE_TABLE = "@pydantic/genai-prices@0.1.8";

export interface ListedPrice {
  inputPerMtok: number;
  outputPerMtok: number;
  /** USD per 1M prompt tokens read from the provider's prompt cache, where the table lists a price for them. */
  cacheReadPerMtok?: number;
  /** USD per 1M prompt tokens written to the prompt cache (Anthropic's five-minute cache), where listed. */
  cacheWritePerMtok?: number;
  /** Which of the table's providers and models matched, e.g. `openai/gpt-4o-mini`. */
  listedAs: string;
}

/** Where a provider's calls go, as far as the price table can tell. */
export interface PricedProvider {
  type: string;
  baseUrl?: string;
}

/** Prices per 1,000 tokens, scaled up: below any volume tier that a 1M-token call would enter. */
const SAMPLE_TOKENS = 1000;

/** Round away float noise (0.24000000000000002) without touching real digits. */
const tidy = (x: number): number => Number(x.toPrecision(12));

/**
 * The listed price of `model` at `provider`: Anthropic by type, an OpenAI-compatible provider by
 * its base URL (OpenAI, OpenRouter, Groq, Together, …; a local server matches nothing). Undefined
 * when the table does not know the provider or the model.
 */
export function listedPrice(provider: PricedProvider, model: string): ListedPrice | undefined {
  const found =
    provider.type === "anthropic"
      ? findProvider({ providerId: "anthropic" })
      : provider.type === "openai-compatible" && provider.baseUrl
        ? findProvider({ providerApiUrl: provider.baseUrl })
        : undefined;
  if (!found) return undefined;
  const input = calcPrice({ input_tokens: SAMPLE_TOKENS, output_tokens: 0 }, model, { provider: found });
  const output = calcPrice({ input_tokens: 0, output_tokens: SAMPLE_TOKENS }, model, { provider: found });
  if (!input || !output) return undefined;
  // The table's input count holds the cached tokens, as the providers' do: all of them cached.
  const cached = (kind: "cache_read" | "cache_write"): number | undefined => {
    // A number, or tiers by volume (calcPrice reads them; the sample is below every tier).
    if (input.model_price[`${kind}_mtok`] === undefined) return undefined;
    const price = calcPrice({ input_tokens: SAMPLE_TOKENS, [`${kind}_tokens`]: SAMPLE_TOKENS, output_tokens: 0 }, model, { provider: found });
    return price ? tidy((price.input_price * 1e6) / SAMPLE_TOKENS) : undefined;
  };
  const cacheReadPerMtok = cached("cache_read");
  const cacheWritePerMtok = cached("cache_write");
  return {
    inputPerMtok: tidy((input.input_price * 1e6) / SAMPLE_TOKENS),
    outputPerMtok: tidy((output.output_price * 1e6) / SAMPLE_TOKENS),
    ...(cacheReadPerMtok === undefined ? {} : { cacheReadPerMtok }),
    ...(cacheWritePerMtok === undefined ? {} : { cacheWritePerMtok }),
    listedAs: `${found.id}/${input.model.id}`,
  };
}
