/**
 * Builds the configured classifier at start: loads the learned model's weights (the bundled
 * file unless `classifier.weightsFile` says otherwise) and the escalation strategy (the LLM when
 * `classifier.llm` is set, else embedding centroids when `classifier.embedding` is set).
 * Everything that can be wrong with the configuration fails here, at start, with a ConfigError
 * naming the field — not on the first task.
 */
import { readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { createCallGate, createEmbedder, createProviders, missingKey } from "@llm-router/executor";
import { ConfigError, providerKey, sleep, type Logger, type ProviderConfig, type RouterConfig, type RouterEnv } from "@llm-router/shared";
import { createClassifier, type Classifier, type EscalationStrategy } from "./classify.js";
import { buildCentroidsInBackground, checkExampleLabels, createEmbeddingClassifier, lazyEmbeddingClassifier, loadExamples } from "./embedding/classify-embedding.js";
import { gateConfig, guardEscalation, isLocal } from "./escalation-guard.js";
import { loadWeights, type LoadedWeights } from "./learned/weights.js";
import { createLlmClassifier } from "./llm/classify-llm.js";

/** The weights the default config uses; `npm run train:classifier` (README › Classifier) wrote them. */
export const BUNDLED_WEIGHTS_FILE = fileURLToPath(new URL("../weights/default.json", import.meta.url));

export async function loadLearnedModel(file: string = BUNDLED_WEIGHTS_FILE): Promise<LoadedWeights> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (err) {
    throw new ConfigError(`classifier.weightsFile: cannot read ${file}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
  let json: unknown;
  try {
    // An editor's byte-order mark is not part of the JSON.
    json = JSON.parse(text.replace(/^\uFEFF/, ""));
  } catch (err) {
    throw new ConfigError(`classifier.weightsFile: ${file} is not JSON (${err instanceof Error ? err.message : String(err)})`, { cause: err });
  }
  try {
    return loadWeights(json);
  } catch (err) {
    throw new ConfigError(`classifier.weightsFile: ${file}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
}

/**
 * The strategy asked beyond the rules and the learned model: the one `classifier.strategy` names
 * (`llm`, `embedding`), or for `cascade` the LLM when configured, else the embedding centroids —
 * behind the escalation guard (locality, the provider's concurrency, a circuit breaker).
 */
async function escalationFor(config: RouterConfig, env: RouterEnv, log: Logger): Promise<Escalation | undefined> {
  const { strategy } = config.classifier;
  if (strategy === "rules" || strategy === "learned") return undefined;
  const llm = strategy === "embedding" ? undefined : config.classifier.llm;
  const embedding = strategy === "llm" ? undefined : config.classifier.embedding;
  if (llm) {
    const key = providerKey(llm.model);
    const providerConfig = config.providers[key];
    if (!providerConfig) throw new ConfigError(`classifier.llm.model: provider "${key}" is not defined under providers (known: ${Object.keys(config.providers).join(", ")})`);
    // Started without it, every escalation would fall back without a word.
    const missing = missingKey(providerConfig, env);
    if (missing) throw new ConfigError(`classifier.llm.model: ${llm.model} cannot be asked: ${missing} in the classifier's environment`);
    const local = localityOf(config, "classifier.llm", llm.local, providerConfig, config.models.find((m) => m.spec === llm.model), log);
    // The registry's models, so a model both the classifier and the executor call is sent the
    // same settings (Ollama's num_ctx: a value that changes between calls reloads the model).
    const provider = createProviders({ providers: { [key]: providerConfig }, models: config.models }, { env, models: [], sleep }).get(key)!;
    log.info({ model: llm.model, timeoutMs: llm.timeoutMs, local }, "classifier escalates to an LLM");
    const inner = createLlmClassifier({ provider, spec: llm.model, timeoutMs: llm.timeoutMs, maxOutputTokens: llm.maxOutputTokens });
    const gate = createCallGate({ config: gateConfig(config, key, providerConfig), now: Date.now });
    return { strategy: guardEscalation(inner, { local, spec: llm.model, gate, timeoutMs: llm.timeoutMs }), close: () => undefined };
  }
  if (embedding) {
    const providerConfig = config.providers[embedding.provider];
    if (!providerConfig) throw new ConfigError(`classifier.embedding.provider: "${embedding.provider}" is not defined under providers`);
    const missing = missingKey(providerConfig, env);
    if (missing) throw new ConfigError(`classifier.embedding.provider: ${embedding.provider} cannot be asked: ${missing} in the classifier's environment`);
    const local = localityOf(config, "classifier.embedding", embedding.local, providerConfig, undefined, log);
    const embedder = createEmbedder(embedding.provider, providerConfig, env);
    const examples = await loadExamples(embedding.examplesFile);
    checkExampleLabels(examples, embedding.examplesFile);
    const spec = `${embedding.provider}:${embedding.model}`;
    const gate = createCallGate({ config: gateConfig(config, embedding.provider, providerConfig), now: Date.now });
    const pending = buildCentroidsInBackground(embedder, embedding.model, examples, { timeoutMs: embedding.timeoutMs, log });
    // Usually built before the first task; a server that is down or slow to load does not hold the start.
    const waited = new AbortController();
    await Promise.race([pending.firstAttempt, sleep(CENTROIDS_AT_START_MS, waited.signal).catch(() => undefined)]);
    waited.abort();
    const inner = lazyEmbeddingClassifier(pending, (centroids) => createEmbeddingClassifier({ embedder, model: embedding.model, centroids, timeoutMs: embedding.timeoutMs }));
    return { strategy: guardEscalation(inner, { local, spec, gate, timeoutMs: embedding.timeoutMs }), close: () => pending.stop() };
  }
  return undefined;
}

/** How long the start waits for the first attempt at the embedding centroids. */
const CENTROIDS_AT_START_MS = 10_000;

interface Escalation {
  strategy: EscalationStrategy;
  /** Stops work the strategy does in the background (building centroids). */
  close(): void;
}

/**
 * `isLocal` for a classifier strategy's model; refuses one that is not local when the policy
 * allows no cloud model (the classifier would send prompts where the selector never would), and
 * warns about it otherwise: its calls reach a cloud provider and are not charged to any budget.
 */
function localityOf(config: RouterConfig, field: string, explicit: boolean | undefined, provider: ProviderConfig, registered: { local: boolean } | undefined, log: Logger): boolean {
  const local = isLocal(explicit, provider, registered);
  if (local) return true;
  if (!config.policy.cloudAllowed) {
    throw new ConfigError(`${field}: not a local model and policy.cloudAllowed is false: the classifier would send prompts to a cloud provider (set ${field}.local: true if it runs on your own machines)`);
  }
  log.warn({ field }, "the classifier escalates to a model that is not local: low-confidence prompts go to a cloud provider (local-only tasks and requests holding a secret value are withheld), and these calls are not charged to any budget");
  return false;
}

export async function buildClassifier(config: RouterConfig, env: RouterEnv, log: Logger): Promise<Classifier> {
  const { strategy, weightsFile } = config.classifier;
  const learned = strategy === "rules" ? undefined : await loadLearnedModel(weightsFile);
  if (learned) log.info({ weights: weightsFile ?? "bundled", version: learned.version, trainedOn: learned.trainedOn.files }, "learned pFail model loaded");
  const escalation = await escalationFor(config, env, log);
  if ((strategy === "llm" && !config.classifier.llm) || (strategy === "embedding" && !config.classifier.embedding)) {
    throw new ConfigError(`classifier.strategy: "${strategy}" needs classifier.${strategy} to be configured`);
  }
  return createClassifier({ config: config.classifier, learned, ...(escalation ? { escalation: escalation.strategy, onClose: () => escalation.close() } : {}) });
}
