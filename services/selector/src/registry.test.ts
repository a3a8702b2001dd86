import { describe, expect, it } from "vitest";
import { BudgetLadder, DEFAULT_CONFIG_INPUT, ERROR_CODES, ModelConfig, PolicyConfig, StrategiesConfig } from "@llm-router/shared";
import { strategyCallCounts } from "./select-model.js";
import { createModelRegistry, policyVersion, referenceModel } from "./registry.js";

const defaults = (): ModelConfig[] => DEFAULT_CONFIG_INPUT.models.map((m) => ModelConfig.parse(m));

describe("createModelRegistry", () => {
  it("indexes models by spec and keeps configuration order", () => {
    const registry = createModelRegistry(defaults());
    expect(registry.models.map((m) => m.spec)).toEqual(["sim:local-small", "sim:local-coder", "sim:cloud-mini", "sim:cloud-large"]);
    expect(registry.bySpec.get("sim:cloud-mini")?.quality).toBe(0.75);
    expect(registry.version).toMatch(/^[0-9a-f]{12}$/);
  });

  it("changes the version when a model changes, not when the models are reordered", () => {
    const base = createModelRegistry(defaults()).version;
    expect(createModelRegistry(defaults().reverse()).version).toBe(base);
    const repriced = defaults().map((m) => (m.spec === "sim:cloud-mini" ? { ...m, outputPerMtok: 0.7 } : m));
    expect(createModelRegistry(repriced).version).not.toBe(base);
    expect(createModelRegistry(defaults().slice(1)).version).not.toBe(base);
  });

  it("keeps the version when only what routing never reads changes: simulator settings, cache prices, capability order", () => {
    const base = createModelRegistry(defaults()).version;
    const change = (f: (m: ModelConfig) => ModelConfig) => createModelRegistry(defaults().map((m) => (m.spec === "sim:cloud-large" ? f(m) : m))).version;
    expect(change((m) => ({ ...m, sim: { latencyMs: 5, failureRate: 0.2 } }))).toBe(base);
    expect(change((m) => ({ ...m, cacheReadPerMtok: 0.25 }))).toBe(base);
    expect(change((m) => ({ ...m, capabilities: [...m.capabilities].reverse() }))).toBe(base);
    expect(change((m) => ({ ...m, typicalLatencyMs: m.typicalLatencyMs + 1 }))).not.toBe(base);
    expect(change((m) => ({ ...m, capabilities: m.capabilities.slice(1) }))).not.toBe(base);
  });

  it("rejects duplicate specs and an empty registry", () => {
    const models = defaults();
    expect(() => createModelRegistry([...models, models[0]!])).toThrow(expect.objectContaining({ code: ERROR_CODES.CONFIG_INVALID }));
    expect(() => createModelRegistry([])).toThrow(expect.objectContaining({ code: ERROR_CODES.CONFIG_INVALID }));
  });
});

describe("policyVersion", () => {
  it("is stable for equal policies whatever their key order and changes when the policy does", () => {
    const base = policyVersion(PolicyConfig.parse({}));
    expect(base).toMatch(/^[0-9a-f]{12}$/);
    expect(policyVersion(PolicyConfig.parse({ fallbacks: 2, preferLocal: true }))).toBe(base);
    const reordered = Object.fromEntries(Object.entries(PolicyConfig.parse({})).reverse()) as PolicyConfig;
    expect(policyVersion(reordered)).toBe(base);
    expect(policyVersion(PolicyConfig.parse({ cloudAllowed: false }))).not.toBe(base);
    expect(policyVersion(PolicyConfig.parse({ minQuality: { expert: 0.9 } }))).not.toBe(base);
  });

  it("changes with the calls a strategy makes: they scale cost estimates and caps", () => {
    const policy = PolicyConfig.parse({});
    const versionOf = (strategies: Record<string, unknown>) => {
      const parsed = StrategiesConfig.parse(strategies);
      return policyVersion(policy, { strategyByTier: parsed.byTier, strategyCalls: strategyCallCounts(parsed), budgetLadder: BudgetLadder.parse({}) });
    };
    const base = versionOf({});
    expect(versionOf({})).toBe(base);
    expect(versionOf({ ensemble: { size: 8 } })).not.toBe(base);
    expect(versionOf({ byTier: { simple: "chain" } })).not.toBe(base);
  });
});

describe("referenceModel", () => {
  it("picks the most expensive model when none is configured", () => {
    expect(referenceModel(createModelRegistry(defaults())).spec).toBe("sim:cloud-large");
  });

  it("breaks price ties by quality", () => {
    const registry = createModelRegistry([
      ModelConfig.parse({ spec: "x:a", inputPerMtok: 1, outputPerMtok: 4, quality: 0.8 }),
      ModelConfig.parse({ spec: "x:b", inputPerMtok: 2, outputPerMtok: 3, quality: 0.9 }),
      ModelConfig.parse({ spec: "x:c", local: true, quality: 0.95 }),
    ]);
    expect(referenceModel(registry).spec).toBe("x:b");
  });

  it("honours the configured reference model and rejects an unknown one", () => {
    const registry = createModelRegistry(defaults());
    expect(referenceModel(registry, "sim:cloud-mini").spec).toBe("sim:cloud-mini");
    expect(() => referenceModel(registry, "sim:nope")).toThrow(expect.objectContaining({ code: ERROR_CODES.CONFIG_INVALID }));
  });
});
