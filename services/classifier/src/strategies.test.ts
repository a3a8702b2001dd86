import { mkdtemp, readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { createLogger, parseConfig, type Task } from "@llm-router/shared";
import { useOpenAIEmbeddingServer } from "../../executor/src/testing/embedding-wire-servers.js";
import { ollamaChat, useOllamaWireServer } from "../../executor/src/testing/ollama-wire-server.js";
import { completion, useWireServer } from "../../executor/src/testing/openai-wire-server.js";
import { RULES_STRATEGY_VERSION } from "./classify-rules.js";
import { BUNDLED_WEIGHTS_FILE, buildClassifier, loadLearnedModel } from "./strategies.js";

const log = createLogger({ service: "test", level: "silent" });
const llmServer = useWireServer();
const embeddingServer = useOpenAIEmbeddingServer();
const ollamaServer = useOllamaWireServer();
const models = [{ spec: "sim:small", local: true, quality: 0.5 }];

const task = (content: string): Task => ({
  v: 1,
  id: "t1",
  tenant: "default",
  messages: [{ role: "user", content }],
  constraints: {},
  submittedAt: "2026-01-01T00:00:00.000Z",
});
// Nothing for the rules to go on: the lowest confidence (0.3), below the default escalateBelow (0.5).
const VAGUE = "hmm";

/** An examples file of these labelled texts, and the config escalating to centroids built from it. */
async function embeddingSetup(examples: Record<string, string>[]) {
  const dir = await mkdtemp(join(tmpdir(), "router-examples-"));
  const examplesFile = join(dir, "examples.jsonl");
  await writeFile(examplesFile, examples.map((e) => JSON.stringify(e)).join("\n"));
  const { config } = parseConfig({
    providers: { sim: { type: "simulator" }, emb: { type: "openai-compatible", baseUrl: embeddingServer().baseUrl } },
    models,
    classifier: { embedding: { provider: "emb", model: "nomic-embed-text", examplesFile } },
  });
  return { examplesFile, config };
}

describe("buildClassifier", () => {
  it("by default runs rules plus the bundled learned model and never calls out", async () => {
    const { config } = parseConfig({ models });
    const c = await (await buildClassifier(config, {}, log)).classify(task(VAGUE));
    expect(c.strategy).toBe("rules+learned");
    expect(c.strategyVersion).toBe(`${RULES_STRATEGY_VERSION}+${(await loadLearnedModel()).version}`);
    expect(c.pFail).toBeGreaterThan(0);
  });

  it("refuses to start an LLM or embedding strategy whose provider's key variable is not set, naming it", async () => {
    const { config: llm } = parseConfig({
      providers: { sim: { type: "simulator" }, openai: { type: "openai-compatible", baseUrl: llmServer().baseUrl, apiKeyEnv: "OPENAI_API_KEY" } },
      models,
      classifier: { llm: { model: "openai:gpt-4o-mini", local: false } },
    });
    await expect(buildClassifier(llm, {}, log)).rejects.toThrow(/classifier\.llm\.model: openai:gpt-4o-mini cannot be asked: environment variable OPENAI_API_KEY is not set in the classifier's environment/);
    const { config: embedding } = await embeddingSetup([]);
    const keyed = { ...embedding, providers: { ...embedding.providers, emb: { ...embedding.providers.emb!, apiKeyEnv: "EMB_KEY" } } } as typeof embedding;
    await expect(buildClassifier(keyed, {}, log)).rejects.toThrow(/classifier\.embedding\.provider: emb cannot be asked: environment variable EMB_KEY is not set/);
  });

  it("asks a registered Ollama model with the registry's context window, as the executor does, so Ollama does not reload it between them", async () => {
    const { config } = parseConfig({
      providers: { ollama: { type: "ollama", baseUrl: ollamaServer().baseUrl, stream: false } },
      models: [{ spec: "ollama:qwen3:1.7b", local: true, quality: 0.5, contextWindow: 32768 }],
      classifier: { llm: { model: "ollama:qwen3:1.7b" } },
    });
    ollamaServer().enqueue({ body: ollamaChat('{"complexity":"complex","risk":"normal","taskType":"reasoning","confidence":0.7}') });
    const c = await (await buildClassifier(config, {}, log)).classify(task(VAGUE));
    expect(c.strategy).toBe("llm");
    expect(ollamaServer().requests[0]?.body).toMatchObject({ model: "qwen3:1.7b", options: { num_ctx: 32768 } });
  });

  it("cascade with an LLM: escalates a low-confidence task to the model over its wire format", async () => {
    const { config } = parseConfig({
      providers: { sim: { type: "simulator" }, vllm: { type: "openai-compatible", baseUrl: llmServer().baseUrl, stream: false } },
      models,
      classifier: { llm: { model: "vllm:qwen3" } },
    });
    llmServer().enqueue({ body: completion('{"complexity":"complex","risk":"normal","taskType":"reasoning","confidence":0.7}') });
    const c = await (await buildClassifier(config, {}, log)).classify(task(VAGUE));
    expect(c).toMatchObject({ strategy: "llm", complexity: "complex", taskType: "reasoning", confidence: 0.7 });
    expect(llmServer().requests).toHaveLength(1);
  });

  it("cascade with embeddings: builds the centroids at start from the examples file and escalates to them", async () => {
    const { examplesFile, config } = await embeddingSetup([
      { text: "write a python function to sort a list", taskType: "code", complexity: "simple" },
      { text: "implement a typescript class with unit tests", taskType: "code", complexity: "moderate" },
      { text: "translate this sentence into french please", taskType: "translation", complexity: "simple" },
      { text: "translate the paragraph to german", taskType: "translation", complexity: "simple" },
    ]);
    const classifier = await buildClassifier(config, {}, log);
    expect(embeddingServer().requests).toHaveLength(1); // the examples, one batch
    const c = await classifier.classify(task("this sentence into french")); // no cue the rules know: chat at 0.3
    expect(c.strategy).toBe("embedding");
    expect(c.taskType).toBe("translation");
    expect(embeddingServer().requests).toHaveLength(2);

    // strategy: embedding asks the centroids for every task even when an LLM is configured too
    // (the cascade would ask the LLM first).
    const { config: both } = parseConfig({
      providers: { sim: { type: "simulator" }, emb: { type: "openai-compatible", baseUrl: embeddingServer().baseUrl }, vllm: { type: "openai-compatible", baseUrl: llmServer().baseUrl, stream: false } },
      models,
      classifier: { strategy: "embedding", llm: { model: "vllm:qwen3" }, embedding: { provider: "emb", model: "nomic-embed-text", examplesFile } },
    });
    const embeddingOnly = await buildClassifier(both, {}, log);
    const e = await embeddingOnly.classify(task("Translate this paragraph into German, please."));
    expect(e.strategy).toBe("embedding");
    expect(llmServer().requests).toHaveLength(0);
  });

  it("starts while the embedding server is down, decides in process meanwhile, and uses the centroids once they are built", async () => {
    const { config } = await embeddingSetup([
      { text: "write a python function to sort a list", taskType: "code" },
      { text: "translate this sentence into french please", taskType: "translation" },
    ]);
    // The first attempt at the centroids fails; the next (after 1 s) gets the fake model's answer.
    embeddingServer().enqueue({ status: 503, body: { error: { message: "model is loading", type: "server_error" } } });
    const classifier = await buildClassifier(config, {}, log);
    const meanwhile = await classifier.classify(task("this sentence into french"));
    expect(meanwhile.strategy).toBe("rules+learned");
    expect(meanwhile.signals).toContain("embedding:fallback(unavailable)");
    await new Promise((r) => setTimeout(r, 1500));
    const later = await classifier.classify(task("this sentence into french"));
    expect(later).toMatchObject({ strategy: "embedding", taskType: "translation" });
    classifier.close();
  });

  it("refuses a classifier model that is not local when the policy allows no cloud model, unless it is declared local", async () => {
    const cloud = { type: "openai-compatible", baseUrl: "https://api.openai.com/v1", apiKeyEnv: "OPENAI_API_KEY" };
    const { config } = parseConfig({ providers: { sim: { type: "simulator" }, openai: cloud }, models, policy: { cloudAllowed: false }, classifier: { llm: { model: "openai:gpt-4o-mini" } } });
    await expect(buildClassifier(config, { OPENAI_API_KEY: "k" }, log)).rejects.toThrow(/classifier.llm: not a local model and policy.cloudAllowed is false/);
    const { config: declared } = parseConfig({
      providers: { sim: { type: "simulator" }, openai: cloud },
      models,
      policy: { cloudAllowed: false },
      classifier: { llm: { model: "openai:gpt-4o-mini", local: true } },
    });
    await expect(buildClassifier(declared, { OPENAI_API_KEY: "k" }, log)).resolves.toBeDefined();
    // With cloud allowed it starts, and withholds local-only tasks from that model.
    const { config: allowed } = parseConfig({
      providers: { sim: { type: "simulator" }, vllm: { type: "openai-compatible", baseUrl: llmServer().baseUrl.replace("127.0.0.1", "localhost"), stream: false } },
      models,
      classifier: { llm: { model: "vllm:qwen3", local: false } },
    });
    const c = await (await buildClassifier(allowed, {}, log)).classify({ ...task(VAGUE), constraints: { localOnly: true } });
    expect(c.signals).toContain("llm:fallback(withheld)");
    expect(llmServer().requests).toHaveLength(0);
  });

  it("fails at start, naming the field, for a strategy without its configuration or an unknown provider", async () => {
    const { config: llmless } = parseConfig({ models, classifier: { strategy: "llm" } });
    await expect(buildClassifier(llmless, {}, log)).rejects.toThrow(/classifier.strategy: "llm" needs classifier.llm/);
    const { config: unknown } = parseConfig({ models, classifier: { llm: { model: "nope:m" } } });
    await expect(buildClassifier(unknown, {}, log)).rejects.toThrow(/classifier.llm.model: provider "nope" is not defined/);
  });

  it("refuses an unreadable or tampered weights file", async () => {
    await expect(loadLearnedModel("/nonexistent/weights.json")).rejects.toThrow(/classifier.weightsFile: cannot read/);
    // A byte-order mark from an editor is not an error; a cut-off file says where JSON broke.
    const bundled = await readFile(BUNDLED_WEIGHTS_FILE, "utf8");
    const edited = await mkdtemp(join(tmpdir(), "router-weights-"));
    await writeFile(join(edited, "bom.json"), `\uFEFF${bundled}`);
    expect((await loadLearnedModel(join(edited, "bom.json"))).version).toBe((await loadLearnedModel()).version);
    await writeFile(join(edited, "cut.json"), bundled.slice(0, 1000));
    await expect(loadLearnedModel(join(edited, "cut.json"))).rejects.toThrow(/is not JSON \(.+\)/);
    const dir = await mkdtemp(join(tmpdir(), "router-weights-"));
    const tampered = JSON.parse(await readFile(BUNDLED_WEIGHTS_FILE, "utf8")) as { calibration: { scale: number } };
    tampered.calibration.scale += 1;
    await writeFile(join(dir, "w.json"), JSON.stringify(tampered));
    await expect(loadLearnedModel(join(dir, "w.json"))).rejects.toThrow(/does not match the content/);
  });
});
