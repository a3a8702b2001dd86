/**
 * Builds the configured classifier at start: loads the learned model's weights (the bundled
 * file unless `classifier.weightsFile` says otherwise) and the escalation strategy (the LLM when
 * `classifier.llm` is set, else embedding centroids when `classifier.embedding` is set).
 * Everything that can be wrong with the configuration fails here, at start, with a ConfigError
 * naming the field — not on the first task.
 */
import { readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { createEmbedder, createProviders } from "@llm-router/executor";
import { ConfigError, providerKey, sleep, type Logger, type RouterConfig, type RouterEnv } from "@llm-router/shared";
import { createClassifier, type Classifier, type EscalationStrategy } from "./classify.js";
import { buildCentroids, createEmbeddingClassifier, loadExamples } from "./embedding/classify-embedding.js";
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
 * (`llm`, `embedding`), or for `cascade` the LLM when configured, else the embedding centroids.
 */
async function escalationFor(config: RouterConfig, env: RouterEnv, log: Logger): Promise<EscalationStrategy | undefined> {
  const { strategy } = config.classifier;
  if (strategy === "rules" || strategy === "learned") return undefined;
  const llm = strategy === "embedding" ? undefined : config.classifier.llm;
  const embedding = strategy === "llm" ? undefined : config.classifier.embedding;
  if (llm) {
    const key = providerKey(llm.model);
    const providerConfig = config.providers[key];
    if (!providerConfig) throw new ConfigError(`classifier.llm.model: provider "${key}" is not defined under providers (known: ${Object.keys(config.providers).join(", ")})`);
    const provider = createProviders({ providers: { [key]: providerConfig }, models: [] }, { env, models: [], sleep }).get(key)!;
    log.info({ model: llm.model, timeoutMs: llm.timeoutMs }, "classifier escalates to an LLM");
    return createLlmClassifier({ provider, spec: llm.model, timeoutMs: llm.timeoutMs, maxOutputTokens: llm.maxOutputTokens });
  }
  if (embedding) {
    const providerConfig = config.providers[embedding.provider];
    if (!providerConfig) throw new ConfigError(`classifier.embedding.provider: "${embedding.provider}" is not defined under providers`);
    const embedder = createEmbedder(embedding.provider, providerConfig, env);
    const examples = await loadExamples(embedding.examplesFile);
    const started = performance.now();
    const centroids = await buildCentroids(embedder, embedding.model, examples, { timeoutMs: embedding.timeoutMs });
    log.info({ provider: embedding.provider, model: embedding.model, examples: examples.length, ms: Math.round(performance.now() - started) }, "embedding centroids built");
    return createEmbeddingClassifier({ embedder, model: embedding.model, centroids, timeoutMs: embedding.timeoutMs });
  }
  return undefined;
}

export async function buildClassifier(config: RouterConfig, env: RouterEnv, log: Logger): Promise<Classifier> {
  const { strategy, weightsFile } = config.classifier;
  const learned = strategy === "rules" ? undefined : await loadLearnedModel(weightsFile);
  if (learned) log.info({ weights: weightsFile ?? "bundled", version: learned.version, trainedOn: learned.trainedOn.files }, "learned pFail model loaded");
  const escalation = await escalationFor(config, env, log);
  if ((strategy === "llm" && !config.classifier.llm) || (strategy === "embedding" && !config.classifier.embedding)) {
    throw new ConfigError(`classifier.strategy: "${strategy}" needs classifier.${strategy} to be configured`);
  }
  return createClassifier({ config: config.classifier, learned, escalation });
}
