import { describe, expect, it } from "vitest";
import { DEFAULT_CONFIG_INPUT, parseConfig } from "./config.js";
import { listedPrice, PRICE_TABLE } from "./listed-prices.js";

describe("listedPrice", () => {
  it("finds a hosted API's listed price by provider type or base URL", () => {
    // Figures of the pinned table version (PRICE_TABLE), USD per 1M tokens.
    // With the prompt cache's prices where the table lists them: OpenAI reads only, Anthropic both.
    expect(listedPrice({ type: "openai-compatible", baseUrl: "https://api.openai.com/v1" }, "gpt-4o-mini")).toEqual({ inputPerMtok: 0.15, outputPerMtok: 0.6, cacheReadPerMtok: 0.075, listedAs: "openai/gpt-4o-mini" });
    expect(listedPrice({ type: "anthropic", baseUrl: "https://api.anthropic.com" }, "claude-3-5-haiku-latest")).toEqual({ inputPerMtok: 0.8, outputPerMtok: 4, cacheReadPerMtok: 0.08, cacheWritePerMtok: 1, listedAs: "anthropic/claude-3-5-haiku-latest" });
    // A cache price tiered by volume, as the input price is: the tier a call starts in.
    expect(listedPrice({ type: "openai-compatible", baseUrl: "https://api.openai.com/v1" }, "gpt-5.5")).toMatchObject({ inputPerMtok: 5, cacheReadPerMtok: 0.5 });
    // No cache price listed (this OpenRouter model): none given.
    expect(listedPrice({ type: "openai-compatible", baseUrl: "https://openrouter.ai/api/v1" }, "meta-llama/llama-3.3-70b-instruct")).not.toHaveProperty("cacheReadPerMtok");
    // Float noise rounded away (the table gives 0.24000000000000002).
    expect(listedPrice({ type: "openai-compatible", baseUrl: "https://openrouter.ai/api/v1" }, "meta-llama/llama-3.3-70b-instruct")?.outputPerMtok).toBe(0.24);
  });

  it("knows nothing of a local server, a native Ollama, the simulator or an unknown model", () => {
    expect(listedPrice({ type: "openai-compatible", baseUrl: "http://127.0.0.1:8000/v1" }, "qwen3")).toBeUndefined();
    expect(listedPrice({ type: "ollama", baseUrl: "http://127.0.0.1:11434" }, "llama3.1")).toBeUndefined();
    expect(listedPrice({ type: "simulator" }, "cloud-large")).toBeUndefined();
    expect(listedPrice({ type: "openai-compatible", baseUrl: "https://api.openai.com/v1" }, "no-such-model")).toBeUndefined();
  });
});

describe("parseConfig prices", () => {
  const providers = {
    openai: { type: "openai-compatible", baseUrl: "https://api.openai.com/v1", apiKeyEnv: "OPENAI_API_KEY" },
    vllm: { type: "openai-compatible", baseUrl: "http://127.0.0.1:8000/v1" },
    anthropic: { type: "anthropic" },
  };

  it("gives a cloud model without a price its listed one, keeps configured prices (0 included), and names every source", () => {
    const loaded = parseConfig({
      providers,
      models: [
        { spec: "openai:gpt-4o-mini", quality: 0.75 },
        { spec: "openai:gpt-4.1", quality: 0.9, inputPerMtok: 1.5, outputPerMtok: 6 },
        { spec: "anthropic:claude-3-5-haiku-latest", quality: 0.8, inputPerMtok: 0 },
        { spec: "vllm:qwen3", quality: 0.6, local: true },
      ],
    });
    const price = (spec: string) => loaded.config.models.find((m) => m.spec === spec)!;
    expect(price("openai:gpt-4o-mini")).toMatchObject({ inputPerMtok: 0.15, outputPerMtok: 0.6 });
    expect(price("openai:gpt-4.1")).toMatchObject({ inputPerMtok: 1.5, outputPerMtok: 6 });
    // A price given (even 0) is the operator's: never replaced; the one left out is the table's.
    expect(price("anthropic:claude-3-5-haiku-latest")).toMatchObject({ inputPerMtok: 0, outputPerMtok: 4 });
    expect(loaded.priceSources).toEqual({
      "openai:gpt-4o-mini": `${PRICE_TABLE} openai/gpt-4o-mini`,
      "openai:gpt-4.1": "config",
      "anthropic:claude-3-5-haiku-latest": `config and ${PRICE_TABLE} anthropic/claude-3-5-haiku-latest`,
      "vllm:qwen3": "local",
    });
    expect(loaded.unpricedCloudModels).toEqual([]);
  });

  it("fills cache prices from the table, scaled to a configured input price, else Anthropic's multiples; configured ones win", () => {
    const loaded = parseConfig({
      providers,
      models: [
        { spec: "openai:gpt-4o-mini", quality: 0.75 },
        // A negotiated input price: the listed model's cache discount (a quarter) applied to it.
        { spec: "openai:gpt-4.1", quality: 0.9, inputPerMtok: 1.6, outputPerMtok: 6 },
        { spec: "openai:my-fine-tune", quality: 0.7, inputPerMtok: 3, outputPerMtok: 12 },
        { spec: "anthropic:claude-3-5-haiku-latest", quality: 0.8 },
        { spec: "anthropic:claude-next-unlisted", quality: 0.9, inputPerMtok: 3, outputPerMtok: 15 },
        { spec: "anthropic:claude-3-5-haiku-latest-priced", quality: 0.8, inputPerMtok: 1, outputPerMtok: 5, cacheReadPerMtok: 0.5 },
        { spec: "vllm:qwen3", quality: 0.6, local: true },
      ],
    });
    const cache = (spec: string) => {
      const m = loaded.config.models.find((x) => x.spec === spec)!;
      return { read: m.cacheReadPerMtok, write: m.cacheWritePerMtok };
    };
    expect(cache("openai:gpt-4o-mini")).toEqual({ read: 0.075, write: undefined });
    expect(cache("openai:gpt-4.1")).toEqual({ read: 0.4, write: undefined });
    // Unknown to the table, not Anthropic: cached tokens stay at the input price.
    expect(cache("openai:my-fine-tune")).toEqual({ read: undefined, write: undefined });
    expect(cache("anthropic:claude-3-5-haiku-latest")).toEqual({ read: 0.08, write: 1 });
    expect(cache("anthropic:claude-next-unlisted")).toEqual({ read: 0.3, write: 3.75 });
    expect(cache("anthropic:claude-3-5-haiku-latest-priced")).toEqual({ read: 0.5, write: 1.25 });
    expect(cache("vllm:qwen3")).toEqual({ read: undefined, write: undefined });
  });

  it("refuses a cloud model given one of its two prices that the table does not list, naming the missing one", () => {
    expect(() => parseConfig({ providers, models: [{ spec: "openai:my-fine-tune", quality: 0.7, inputPerMtok: 3 }] })).toThrow(
      /models\.0\.outputPerMtok: openai:my-fine-tune has an input price but no output price, and the price table does not list it: set both/,
    );
    expect(() => parseConfig({ providers, models: [{ spec: "openai:my-fine-tune", quality: 0.7, outputPerMtok: 12 }] })).toThrow(/models\.0\.inputPerMtok: /);
  });

  it("lists a cloud model the table does not know and the config does not price", () => {
    const loaded = parseConfig({ providers, models: [{ spec: "vllm:qwen3", quality: 0.6 }, { spec: "openai:my-fine-tune", quality: 0.7 }] });
    expect(loaded.unpricedCloudModels).toEqual(["vllm:qwen3", "openai:my-fine-tune"]);
    expect(loaded.config.models.map((m) => m.inputPerMtok + m.outputPerMtok)).toEqual([0, 0]);
  });

  it("leaves the built-in simulator registry's own prices alone", () => {
    const loaded = parseConfig(DEFAULT_CONFIG_INPUT);
    expect(Object.values(loaded.priceSources).every((s) => s === "config" || s === "local")).toBe(true);
    expect(loaded.unpricedCloudModels).toEqual([]);
  });
});
