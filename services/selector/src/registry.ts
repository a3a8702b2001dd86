/**
 * The model registry as the selector sees it: the configured models, indexed by spec, plus a
 * content hash. Decisions carry that hash (and the policy's) so a decision can be replayed
 * against exactly the configuration that produced it.
 */
import { createHash } from "node:crypto";
import { ConfigError, compareStrings, referenceModelOf } from "@llm-router/shared";
import type { BudgetLadder, ExecutionStrategy, ModelConfig, PolicyConfig, StrategiesConfig } from "@llm-router/shared";

export interface ModelRegistry {
  /** The models in configuration order. */
  readonly models: readonly ModelConfig[];
  readonly bySpec: ReadonlyMap<string, ModelConfig>;
  /** First 12 hex digits of the sha256 of the canonical JSON of what routing reads of the models (`routingView`). */
  readonly version: string;
}

/** Throws `ConfigError` on an empty list or a duplicate spec: `bySpec` would silently drop one. */
export function createModelRegistry(models: readonly ModelConfig[]): ModelRegistry {
  if (models.length === 0) throw new ConfigError("models: the registry needs at least one model");
  const bySpec = new Map<string, ModelConfig>();
  for (const model of models) {
    if (bySpec.has(model.spec)) throw new ConfigError(`models: duplicate model ${model.spec}`);
    bySpec.set(model.spec, model);
  }
  // Hash the models sorted by spec: their order never changes a decision (the ranking ends on
  // the spec), so reordering the config file must not look like a new registry.
  const sorted = [...models].sort((a, b) => compareStrings(a.spec, b.spec));
  return { models: [...models], bySpec, version: contentVersion(sorted.map(routingView)) };
}

/**
 * What a decision reads of a model: a change to anything else (the simulator's settings, cache
 * prices — a routing estimate counts no cache hits —, the order of its capabilities) routes
 * nothing differently, so it must not look like a new registry to `router replay`.
 */
function routingView(m: ModelConfig): Record<string, unknown> {
  return {
    spec: m.spec,
    local: m.local,
    inputPerMtok: m.inputPerMtok,
    outputPerMtok: m.outputPerMtok,
    quality: m.quality,
    capabilities: [...m.capabilities].sort(compareStrings),
    contextWindow: m.contextWindow,
    typicalLatencyMs: m.typicalLatencyMs,
  };
}

/**
 * Content hash of what decides routing besides the registry: the policy, and the rest of the
 * configuration the selector applies when given (strategy per tier, the calls each strategy
 * makes — they scale cost estimates and caps —, the budget ladder).
 */
export function policyVersion(
  policy: PolicyConfig,
  more?: { strategyByTier: StrategiesConfig["byTier"]; strategyCalls: Record<ExecutionStrategy, number>; budgetLadder: BudgetLadder },
): string {
  return contentVersion(more === undefined ? policy : { policy, ...more });
}

/**
 * The model savings are measured against: the configured one, else the most expensive (by
 * outputPerMtok + inputPerMtok, ties by quality, then spec). Throws `ConfigError` when the
 * configured spec is not in the registry — savings against an unknown model would be invented.
 */
export function referenceModel(registry: ModelRegistry, configured?: string): ModelConfig {
  return referenceModelOf(registry.models, configured);
}

function contentVersion(value: unknown): string {
  return createHash("sha256").update(canonicalJson(value)).digest("hex").slice(0, 12);
}

/** JSON with object keys sorted at every level, so equal configs hash equally whatever their key order. */
function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  if (value !== null && typeof value === "object") {
    const entries = Object.entries(value)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => compareStrings(a, b));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(",")}}`;
  }
  // JSON.stringify(undefined) is undefined; inside arrays JSON writes null for it.
  return JSON.stringify(value) ?? "null";
}
