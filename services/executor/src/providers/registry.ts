/**
 * Maps each `ProviderConfig["type"]` to its factory. Adding a provider is one adapter file and
 * one line in `FACTORIES` (plus its config schema in the shared `ProviderConfig` union); the
 * executor's loop never changes. The mapped type makes a missing factory a compile error.
 */
import { ConfigError, providerKey, type ProviderConfig, type RouterConfig, type RouterEnv } from "@llm-router/shared";
import { anthropicProvider } from "./anthropic.js";
import { ollamaProvider } from "./ollama.js";
import { openAICompatibleProvider } from "./openai-compatible.js";
import type { ModelProvider, ProviderDeps, ProviderFactory } from "./provider.js";
import { simulatorProvider } from "./simulator.js";

type FactoryTable = { [T in ProviderConfig["type"]]: ProviderFactory<Extract<ProviderConfig, { type: T }>> };

const FACTORIES: FactoryTable = {
  simulator: simulatorProvider,
  "openai-compatible": openAICompatibleProvider,
  anthropic: anthropicProvider,
  ollama: ollamaProvider,
};

/**
 * Build one provider per configured key. Each provider receives the registry's models of its
 * own key (`config.models`), which replaces `deps.models`.
 */
export function createProviders(
  config: Pick<RouterConfig, "providers" | "models">,
  deps: ProviderDeps,
): Map<string, ModelProvider> {
  const providers = new Map<string, ModelProvider>();
  for (const [key, providerConfig] of Object.entries(config.providers)) {
    const models = config.models.filter((m) => providerKey(m.spec) === key);
    providers.set(key, createProvider(key, providerConfig, { ...deps, models }));
  }
  return providers;
}

function createProvider(key: string, config: ProviderConfig, deps: ProviderDeps): ModelProvider {
  // TypeScript cannot correlate `FACTORIES[config.type]` with `config`'s variant; the mapped
  // table type above guarantees each entry accepts exactly its own config.
  const factory = FACTORIES[config.type] as ProviderFactory | undefined;
  // Unreachable for a zod-validated config; guards configs built by hand.
  if (!factory) throw new ConfigError(`providers.${key}.type: unknown provider type "${String(config.type)}"`);
  return factory.create(key, config, deps);
}

/**
 * Models that cannot be called with this configuration and environment, and why: a provider
 * that is not configured, or whose API key variable is not set. The executor publishes them as
 * `unavailable` model health, so the selector never routes to them; nothing crashes.
 */
export function unavailableModels(config: Pick<RouterConfig, "providers" | "models">, env: RouterEnv): Map<string, string> {
  const unavailable = new Map<string, string>();
  for (const model of config.models) {
    const key = providerKey(model.spec);
    const provider = Object.hasOwn(config.providers, key) ? config.providers[key] : undefined;
    const missing = provider && missingKey(provider, env);
    if (!provider) unavailable.set(model.spec, `no provider "${key}" is configured`);
    else if (missing) unavailable.set(model.spec, missing);
  }
  return unavailable;
}

/** Why a provider cannot be called in this environment — its API key variable is not set — or undefined. */
export function missingKey(provider: ProviderConfig, env: RouterEnv): string | undefined {
  return "apiKeyEnv" in provider && provider.apiKeyEnv !== undefined && !env[provider.apiKeyEnv] ? `environment variable ${provider.apiKeyEnv} is not set` : undefined;
}
