import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { ConfigError } from "./errors.js";
import { duplicateWindowMs, topologyFromConfig } from "./nats.js";
import { DEFAULT_CONFIG_INPUT, capableReferenceModel, loadConfig, parseConfig, referenceModelOf } from "./config.js";

describe("config", () => {
  it("fills every nested default when a section is omitted", () => {
    const { config } = parseConfig({ models: [{ spec: "sim:a", quality: 0.5 }] });
    expect(config.policy.minQuality).toEqual({ simple: 0.3, moderate: 0.5, complex: 0.7, expert: 0.85 });
    expect(config.policy.defaultMaxOutputTokens).toBe(1024);
    expect(config.nats.stream).toBe("TASKS");
    expect(config.nats.url).toBe("nats://127.0.0.1:4222");
    expect(config.executor.concurrency).toBe(64);
    expect(config.ledger.batchSize).toBe(200);
    expect(config.models[0]?.local).toBe(false);
  });

  it("takes NATS_URL from the environment over the file", () => {
    const { config } = parseConfig(DEFAULT_CONFIG_INPUT, { NATS_URL: "nats://10.0.0.1:4222" });
    expect(config.nats.url).toBe("nats://10.0.0.1:4222");
  });

  it("rejects a bad config with a message that names the field", () => {
    expect(() => parseConfig({ models: [{ spec: "no-colon", quality: 2 }] })).toThrow(/models\.0\.spec.*provider:model/);
    expect(() => parseConfig({ models: [{ spec: "sim:a", quality: 2 }] })).toThrow(/models\.0\.quality/);
    expect(() => parseConfig({ models: [{ spec: "openai:gpt-4o", quality: 0.9 }] })).toThrow(/models\.0\.spec: provider "openai" is not defined/);
    expect(() => parseConfig({ models: [] })).toThrow(ConfigError);
    expect(() => parseConfig({ models: [] })).toThrow(expect.objectContaining({ code: "CONFIG_INVALID" }) as Error);
    expect(() => parseConfig({ ...DEFAULT_CONFIG_INPUT, nats: { ackWaitMs: 100 } })).toThrow(/nats\.ackWaitMs/);
    expect(() => parseConfig({ ...DEFAULT_CONFIG_INPUT, nats: { maxAgeMs: 1000 } })).toThrow(/nats\.maxAgeMs/);
  });

  it("refuses two budgets for one scope and window, the legacy global budget included", () => {
    const day = { scope: "global", window: "day", limitUsd: 1 };
    expect(() => parseConfig({ ...DEFAULT_CONFIG_INPUT, budgets: [day, { ...day, limitUsd: 2 }] })).toThrow(/budgets\.1: a second day budget for scope global \(budgets\.0 is the first\)/);
    expect(() => parseConfig({ ...DEFAULT_CONFIG_INPUT, budgets: [day], budget: { limitUsd: 5, window: "day" } })).toThrow(/budget: a second day budget for scope global/);
    expect(() => parseConfig({ ...DEFAULT_CONFIG_INPUT, budgets: [day, { ...day, window: "month" }, { scope: "tenant:acme", window: "day", limitUsd: 1 }, { scope: "tenant", window: "day", limitUsd: 1 }] })).not.toThrow();
  });

  it("derives the task stream's duplicate window from redeliveries, and the approval wait when approvals are required", () => {
    const plain = topologyFromConfig(parseConfig(DEFAULT_CONFIG_INPUT).config);
    expect(duplicateWindowMs(plain)).toBe(30_000 * 6 * 2); // ackWait × (maxDeliver + 1) × 2: 6 min
    const approvals = topologyFromConfig(parseConfig({ ...DEFAULT_CONFIG_INPUT, strategies: { ensemble: { approval: { required: true } } } }).config);
    expect(duplicateWindowMs(approvals)).toBe(30_000 * 6 * 2 + 15 * 60_000);
    expect(duplicateWindowMs({ ...approvals, maxAgeMs: 10 * 60_000 })).toBe(10 * 60_000);
  });

  it("refuses keys no schema knows, naming each path, rather than ignoring a misspelling", () => {
    expect(() => parseConfig({ polcy: { fallbacks: 9 }, executor: { retrys: 3 }, models: [{ spec: "sim:a", quality: 0.5, qualty: 1 }], providers: { sim: { type: "simulator" } } })).toThrow(
      /unknown keys polcy, executor\.retrys, models\.0\.qualty/,
    );
    // Maps keep their own keys: provider names and headers are not unknown.
    expect(() => parseConfig({ providers: { sim: { type: "simulator" }, or: { type: "openai-compatible", baseUrl: "https://openrouter.ai/api/v1", headers: { "X-Title": "router" } } }, models: [{ spec: "sim:a", quality: 0.5 }] })).not.toThrow();
  });

  it("refuses credentials in a provider's baseUrl, without echoing them", () => {
    for (const type of ["openai-compatible", "anthropic", "ollama"]) {
      const input = { providers: { p: { type, baseUrl: "http://admin:hunter2@127.0.0.1:11434/v1" } }, models: [{ spec: "p:m", quality: 0.5 }] };
      let message = "";
      try {
        parseConfig(input);
      } catch (err) {
        message = (err as Error).message;
      }
      expect(message, type).toMatch(/providers\.p\.baseUrl: must not hold credentials \(user:password@\): put the key in apiKeyEnv or headers/);
      expect(message).not.toContain("hunter2");
    }
  });

  it("reports that the built-in registry is simulator-only", () => {
    const loaded = loadConfig({ cwd: "/nonexistent-dir-for-test" });
    expect(loaded.source).toBe("built-in");
    expect(loaded.simulatorOnly).toBe(true);
  });

  it("fails clearly when an explicit config file does not exist", () => {
    expect(() => loadConfig({ path: "/nope/router.config.yaml" })).toThrow(/config file not found/);
  });

  it("accepts the shipped router.config.yaml", () => {
    const loaded = loadConfig({ path: fileURLToPath(new URL("../../../router.config.yaml", import.meta.url)) });
    expect(loaded.config.models.length).toBeGreaterThan(0);
    expect(loaded.config.budget).toEqual({ limitUsd: 5, window: "day", softRatio: 0.8 });
  });

  it("refuses a key written where the name of its environment variable goes, without echoing it", () => {
    const key = "sk-or-v1-5f3c9a7e21d84b6fa0c2e9d1b7a34c58";
    for (const type of ["openai-compatible", "anthropic"]) {
      const input = { providers: { p: { type, baseUrl: "http://127.0.0.1:8000/v1", apiKeyEnv: key } }, models: [{ spec: "p:m", quality: 0.5 }] };
      let message = "";
      try {
        parseConfig(input);
      } catch (err) {
        message = (err as Error).message;
      }
      expect(message, type).toMatch(/providers\.p\.apiKeyEnv: must be the NAME of the environment variable that holds the key/);
      expect(message).not.toContain(key);
    }
    expect(parseConfig({ providers: { p: { type: "openai-compatible", baseUrl: "http://127.0.0.1:8000/v1", apiKeyEnv: "OPENROUTER_API_KEY" } }, models: [{ spec: "p:m", quality: 0.5 }] }).config.providers.p).toMatchObject({ apiKeyEnv: "OPENROUTER_API_KEY" });
  });

  it("fills the Anthropic and Ollama provider defaults", () => {
    const { config } = parseConfig({
      providers: { anthropic: { type: "anthropic" }, ollama: { type: "ollama" } },
      models: [
        { spec: "anthropic:claude-3-5-haiku-latest", quality: 0.8 },
        { spec: "ollama:qwen3:1.7b", local: true, quality: 0.5 },
      ],
    });
    expect(config.providers.anthropic).toMatchObject({ baseUrl: "https://api.anthropic.com", apiKeyEnv: "ANTHROPIC_API_KEY", version: "2023-06-01" });
    expect(config.providers.ollama).toMatchObject({ baseUrl: "http://127.0.0.1:11434", timeoutMs: 120_000 });
    expect(() => parseConfig({ providers: { x: { type: "bedrock" } }, models: [{ spec: "x:m", quality: 0.5 }] })).toThrow(/providers\.x\.type/);
  });

  it("uses the most expensive model as the savings reference unless one is configured", () => {
    const { config } = parseConfig(DEFAULT_CONFIG_INPUT);
    expect(referenceModelOf(config.models).spec).toBe("sim:cloud-large");
    expect(referenceModelOf(config.models, "sim:cloud-mini").spec).toBe("sim:cloud-mini");
  });

  it("measures a task's savings against the most expensive model that could have taken it", () => {
    const { config } = parseConfig({
      ...DEFAULT_CONFIG_INPUT,
      models: [
        ...DEFAULT_CONFIG_INPUT.models,
        { spec: "sim:vision-xl", inputPerMtok: 30, outputPerMtok: 60, quality: 0.95, capabilities: ["chat", "vision"], contextWindow: 16000 },
      ],
    });
    expect(referenceModelOf(config.models).spec).toBe("sim:vision-xl");
    // A code task cannot go to the vision model: cloud-large is its reference.
    expect(capableReferenceModel(config.models, { capabilities: ["code"], contextTokens: 1000 }).spec).toBe("sim:cloud-large");
    // Nor can a prompt bigger than its window.
    expect(capableReferenceModel(config.models, { capabilities: [], contextTokens: 50_000 }).spec).toBe("sim:cloud-large");
    expect(capableReferenceModel(config.models, { capabilities: [], contextTokens: 1000 }).spec).toBe("sim:vision-xl");
    // Nothing capable: the most expensive overall; a configured reference always wins.
    expect(capableReferenceModel(config.models, { capabilities: ["audio"], contextTokens: 1 }).spec).toBe("sim:vision-xl");
    expect(capableReferenceModel(config.models, { capabilities: ["code"], contextTokens: 1 }, "sim:cloud-mini").spec).toBe("sim:cloud-mini");
  });
});
