import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createEmbedder, type Embedder } from "@llm-router/executor";
import { ConfigError, ERROR_CODES, ProviderError, type ChatMessage, type Task } from "@llm-router/shared";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  errorBody,
  openAIEmbeddings,
  useOllamaEmbeddingServer,
  useOpenAIEmbeddingServer,
} from "../../../executor/src/testing/embedding-wire-servers.js";
import type { StrategyOutcome } from "../strategy.js";
import {
  buildCentroids,
  createEmbeddingClassifier,
  EMBEDDING_STRATEGY_VERSION,
  loadExamples,
  MAX_EMBED_TEXT_CHARS,
  parseExamples,
  type Centroids,
  type LabelledExample,
} from "./classify-embedding.js";

const openAIWire = useOpenAIEmbeddingServer();
const ollamaWire = useOllamaEmbeddingServer();

const MODEL = "embed-small";
const TIMEOUT_MS = 2000;

function openAIEmbedder(): Embedder {
  return createEmbedder("openai", { type: "openai-compatible", baseUrl: openAIWire().baseUrl, timeoutMs: 60_000, headers: {}, stream: false }, {});
}

function ollamaEmbedder(): Embedder {
  return createEmbedder("ollama", { type: "ollama", baseUrl: ollamaWire().baseUrl, timeoutMs: 120_000, headers: {}, stream: false }, {});
}

function task(messages: ChatMessage[]): Task {
  return { v: 1, id: "t-1", tenant: "default", messages, constraints: {}, submittedAt: "2025-06-01T12:00:00.000Z" };
}

const ask = (text: string): Task => task([{ role: "user", content: text }]);

function verdictOf(outcome: StrategyOutcome) {
  if (!outcome.ok) throw new Error(`expected a verdict, got ${outcome.failure.reason}: ${outcome.failure.message}`);
  return outcome.verdict;
}

function failureOf(outcome: StrategyOutcome) {
  if (outcome.ok) throw new Error(`expected a failure, got ${JSON.stringify(outcome.verdict)}`);
  return outcome.failure;
}

/** Labelled so that each label's examples share words no other label uses. */
const EXAMPLES: LabelledExample[] = [
  { text: "write a python function that parses json", taskType: "code", complexity: "moderate", risk: "normal" },
  { text: "fix the bug in this python function", taskType: "code", complexity: "moderate", risk: "normal" },
  { text: "refactor the python class and add unit tests", taskType: "code", complexity: "moderate", risk: "normal" },
  { text: "translate this sentence into french", taskType: "translation", complexity: "simple", risk: "normal" },
  { text: "translate the greeting into german", taskType: "translation", complexity: "simple", risk: "normal" },
  { text: "translate into spanish", taskType: "translation", complexity: "simple", risk: "normal" },
  { text: "what dosage of insulin should the patient receive", taskType: "qa", complexity: "complex", risk: "critical" },
  { text: "is this medication dosage safe for the patient", taskType: "qa", complexity: "complex", risk: "critical" },
];

async function centroidsFrom(embedder: Embedder, examples = EXAMPLES): Promise<Centroids> {
  return buildCentroids(embedder, MODEL, examples, { timeoutMs: TIMEOUT_MS });
}

describe("parseExamples", () => {
  it("reads one labelled example per line and skips blank lines", () => {
    const jsonl = [
      '{"text": "write a sort function", "taskType": "code", "complexity": "moderate"}',
      "",
      '{"text": "is this dosage safe?", "risk": "critical"}',
      "   ",
    ].join("\n");
    expect(parseExamples(jsonl, "examples.jsonl")).toEqual([
      { text: "write a sort function", taskType: "code", complexity: "moderate" },
      { text: "is this dosage safe?", risk: "critical" },
    ]);
  });

  it.each([
    ["a line that is not JSON", '{"text": "ok", "risk": "normal"}\n{"text": oops}', "examples.jsonl:2", "not JSON"],
    ["a label outside the vocabulary", '{"text": "ok", "taskType": "poetry"}', "examples.jsonl:1", "taskType"],
    ["a misspelt label key", '{"text": "ok", "risk": "normal", "tasktype": "code"}', "examples.jsonl:1", "tasktype"],
    ["an example without any label", '{"text": "ok"}', "examples.jsonl:1", "at least one of"],
    ["an empty text", '{"text": "  ", "risk": "normal"}', "examples.jsonl:1", "text"],
  ])("rejects %s with a ConfigError naming the file and line", (_case, jsonl, where, detail) => {
    let err: unknown;
    try {
      parseExamples(jsonl, "examples.jsonl");
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as Error).message).toContain(`${where}:`);
    expect((err as Error).message).toContain(detail);
  });

  it("rejects a file with no examples", () => {
    expect(() => parseExamples("\n\n", "empty.jsonl")).toThrow(/empty\.jsonl: no examples/);
  });
});

describe("loadExamples", () => {
  let dir = "";
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "embedding-examples-"));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("reads and parses the examples file", async () => {
    const file = join(dir, "examples.jsonl");
    await writeFile(file, '{"text": "translate into french", "taskType": "translation"}\n');
    await expect(loadExamples(file)).resolves.toEqual([{ text: "translate into french", taskType: "translation" }]);
  });

  it("rejects a missing file with a ConfigError naming it", async () => {
    const file = join(dir, "missing.jsonl");
    await expect(loadExamples(file)).rejects.toMatchObject({ code: ERROR_CODES.CONFIG_INVALID, message: expect.stringContaining(file) });
  });
});

describe("buildCentroids", () => {
  it("normalises each example before averaging, so a long example weighs no more than a short one", async () => {
    openAIWire().enqueue({ body: openAIEmbeddings([[2, 0, 0], [0, 3, 0], [0, 0, 5]]) });
    const examples: LabelledExample[] = [
      { text: "a", complexity: "simple" },
      { text: "b", complexity: "simple" },
      { text: "c", complexity: "expert" },
    ];

    const centroids = await buildCentroids(openAIEmbedder(), MODEL, examples, { timeoutMs: TIMEOUT_MS });

    expect(centroids.dims).toBe(3);
    expect(centroids.complexity.map((c) => [c.label, c.examples])).toEqual([
      ["simple", 2],
      ["expert", 1],
    ]);
    const [simple, expert] = centroids.complexity;
    // mean([1,0,0], [0,1,0]) renormalised; without the first normalisation it would be [0.55, 0.83, 0].
    Array.from(simple!.vector).forEach((x, i) => expect(x).toBeCloseTo([Math.SQRT1_2, Math.SQRT1_2, 0][i]!, 6));
    expect(Array.from(expert!.vector)).toEqual([0, 0, 1]);
    // Labels without examples get no centroid.
    expect(centroids.taskType).toEqual([]);
    expect(centroids.risk).toEqual([]);
  });

  it("embeds the examples in batches of batchSize, in file order", async () => {
    await buildCentroids(openAIEmbedder(), MODEL, EXAMPLES.slice(0, 5), { timeoutMs: TIMEOUT_MS, batchSize: 2 });
    const requests = openAIWire().requests;
    expect(requests.map((r) => (r.body as { input: string[] }).input)).toEqual([
      [EXAMPLES[0]!.text, EXAMPLES[1]!.text],
      [EXAMPLES[2]!.text, EXAMPLES[3]!.text],
      [EXAMPLES[4]!.text],
    ]);
    expect(requests.every((r) => (r.body as { model: string }).model === MODEL)).toBe(true);
  });

  it("rejects with MALFORMED_RESPONSE when two batches come back with different vector lengths", async () => {
    openAIWire().enqueue({ body: openAIEmbeddings([[1, 0]]) }, { body: openAIEmbeddings([[1, 0, 0]]) });
    const examples: LabelledExample[] = [
      { text: "a", risk: "normal" },
      { text: "b", risk: "critical" },
    ];
    const err: unknown = await buildCentroids(openAIEmbedder(), MODEL, examples, { timeoutMs: TIMEOUT_MS, batchSize: 1 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ProviderError);
    expect(err).toMatchObject({ code: ERROR_CODES.MALFORMED_RESPONSE });
  });

  it("rejects with a ConfigError when no dimension has two labels to tell apart", async () => {
    const examples: LabelledExample[] = [
      { text: "write code", taskType: "code", risk: "normal" },
      { text: "more code", taskType: "code" },
    ];
    await expect(centroidsFrom(openAIEmbedder(), examples)).rejects.toBeInstanceOf(ConfigError);
  });

  it("rejects with the provider's coded error when an embeddings request fails", async () => {
    openAIWire().enqueue({ status: 401, body: errorBody("invalid api key") });
    await expect(centroidsFrom(openAIEmbedder())).rejects.toMatchObject({ code: ERROR_CODES.AUTH_FAILED });
  });
});

describe.each([
  { name: "openai-compatible", wire: openAIWire, embedder: openAIEmbedder },
  { name: "ollama", wire: ollamaWire, embedder: ollamaEmbedder },
])("embedding classifier over $name", ({ wire, embedder }) => {
  it.each([
    ["write a python function that reverses a list", { taskType: "code", complexity: "moderate", risk: "normal" }],
    ["translate this menu into italian", { taskType: "translation", complexity: "simple", risk: "normal" }],
    ["the patient asks whether this insulin dosage is safe", { taskType: "qa", complexity: "complex", risk: "critical" }],
  ])("puts %j on the centroids of the examples it shares words with", async (text, expected) => {
    const classifier = createEmbeddingClassifier({ embedder: embedder(), model: MODEL, centroids: await centroidsFrom(embedder()), timeoutMs: TIMEOUT_MS });

    const verdict = verdictOf(await classifier.classify(ask(text)));

    expect(verdict).toMatchObject(expected);
    expect(verdict.signals).toHaveLength(3);
    expect(verdict.signals[1]).toMatch(new RegExp(`^centroid:taskType=${expected.taskType}\\(\\d\\.\\d\\d\\)$`));
    expect(wire().requests.at(-1)?.body).toEqual({ model: MODEL, input: [text] });
  });
});

describe("embedding classifier", () => {
  /** Centroids simple = [1,1,0]/√2 and expert = [0,0,1], built through the wire like the real ones. */
  async function handCentroids(): Promise<Centroids> {
    openAIWire().enqueue({ body: openAIEmbeddings([[2, 0, 0], [0, 3, 0], [0, 0, 5]]) });
    return buildCentroids(
      openAIEmbedder(),
      MODEL,
      [
        { text: "a", complexity: "simple" },
        { text: "b", complexity: "simple" },
        { text: "c", complexity: "expert" },
      ],
      { timeoutMs: TIMEOUT_MS },
    );
  }

  async function classifier(centroids?: Centroids, timeoutMs = TIMEOUT_MS) {
    return createEmbeddingClassifier({ embedder: openAIEmbedder(), model: MODEL, centroids: centroids ?? (await centroidsFrom(openAIEmbedder())), timeoutMs });
  }

  it("names itself and its version for the cascade", async () => {
    const c = await classifier();
    expect({ name: c.name, version: c.version }).toEqual({ name: "embedding", version: EMBEDDING_STRATEGY_VERSION });
  });

  it("scores confidence as the margin between the two nearest centroids over 0.2, and judges only labelled dimensions", async () => {
    const c = await classifier(await handCentroids());
    // [1,1,1.5]/|·|: cos to simple = 1.4142/2.0616 = 0.6860, to expert = 1.5/2.0616 = 0.7276.
    openAIWire().enqueue({ body: openAIEmbeddings([[1, 1, 1.5]]) });

    const verdict = verdictOf(await c.classify(ask("anything")));

    expect(verdict.complexity).toBe("expert");
    expect(verdict.confidence).toBeCloseTo((0.727607 - 0.685994) / 0.2, 4);
    expect(verdict).not.toHaveProperty("taskType");
    expect(verdict).not.toHaveProperty("risk");
    expect(verdict.signals).toEqual(["centroid:complexity=expert(0.73)"]);
  });

  it("caps confidence at 1 once the margin reaches 0.2", async () => {
    const c = await classifier(await handCentroids());
    openAIWire().enqueue({ body: openAIEmbeddings([[1, 1, 0.1]]) });
    const verdict = verdictOf(await c.classify(ask("anything")));
    expect(verdict).toMatchObject({ complexity: "simple", confidence: 1 });
  });

  it("is less confident of a text that shares words with two labels than of one squarely on a label", async () => {
    const c = await classifier();
    const clear = verdictOf(await c.classify(ask("translate into french")));
    const mixed = verdictOf(await c.classify(ask("translate the python function into french")));
    expect(clear.confidence).toBe(1);
    expect(mixed.confidence).toBeGreaterThan(0);
    expect(mixed.confidence).toBeLessThan(0.9);
  });

  it("returns an unavailable outcome for a text equally near every centroid, rather than the first label by position", async () => {
    const c = await classifier();
    // The fake embedding of words no example uses shares no dimension with any centroid.
    const failure = failureOf(await c.classify(ask("hello there")));
    expect(failure.reason).toBe("unavailable");
  });

  it("embeds the user messages only, joined, leaving the system prompt and the model's answers out", async () => {
    const c = await classifier();
    await c.classify(
      task([
        { role: "system", content: "You are a helpful assistant." },
        { role: "user", content: "translate into french" },
        { role: "assistant", content: "Traduire en français" },
        { role: "user", content: "and into german" },
      ]),
    );
    expect(openAIWire().requests.at(-1)?.body).toEqual({ model: MODEL, input: ["translate into french\n\nand into german"] });
  });

  it("bounds a long text to its head and tail", async () => {
    const c = await classifier();
    const text = `translate ${"x".repeat(3 * MAX_EMBED_TEXT_CHARS)} into french`;
    await c.classify(ask(text));
    const [sent] = (openAIWire().requests.at(-1)?.body as { input: string[] }).input;
    expect(sent!.length).toBeLessThanOrEqual(MAX_EMBED_TEXT_CHARS);
    expect(sent!.startsWith("translate x")).toBe(true);
    expect(sent!.endsWith("x into french")).toBe(true);
  });

  it("returns an unavailable outcome without calling the provider for a task with no user text", async () => {
    const c = await classifier();
    const count = openAIWire().requests.length;
    const failure = failureOf(await c.classify(task([{ role: "system", content: "You are terse." }])));
    expect(failure.reason).toBe("unavailable");
    expect(openAIWire().requests).toHaveLength(count);
  });

  it.each([
    ["a 500", { status: 500, body: errorBody("overloaded", "server_error") }],
    ["a 401", { status: 401, body: errorBody("invalid api key") }],
    ["a 429", { status: 429, body: errorBody("slow down") }],
    ["a wrong number of embeddings", { body: openAIEmbeddings([]) }],
    ["a ragged answer", { body: openAIEmbeddings([[1, 2], [3]]) }],
  ])("returns a provider-error outcome, not an exception, for %s", async (_case, response) => {
    const c = await classifier();
    openAIWire().enqueue(response);
    const failure = failureOf(await c.classify(ask("translate into french")));
    expect(failure.reason).toBe("provider-error");
    expect(failure.message).toMatch(/^openai: /);
  });

  it("returns a timeout outcome when the provider does not answer within timeoutMs", async () => {
    const c = await classifier(undefined, 100);
    openAIWire().enqueue("hang");
    const failure = failureOf(await c.classify(ask("translate into french")));
    expect(failure.reason).toBe("timeout");
  });

  it("returns a provider-error outcome when the model answers with another vector length than the centroids", async () => {
    const c = await classifier(await handCentroids());
    openAIWire().enqueue({ body: openAIEmbeddings([[1, 0, 0, 0]]) });
    const failure = failureOf(await c.classify(ask("anything")));
    expect(failure).toMatchObject({ reason: "provider-error", message: expect.stringContaining("4-dimensional") });
  });

  it("rejects with the caller's abort reason when the caller aborts", async () => {
    const c = await classifier();
    openAIWire().enqueue("hang");
    const controller = new AbortController();
    const reason = new Error("shutting down");
    const pending = c.classify(ask("translate into french"), controller.signal);
    setTimeout(() => controller.abort(reason), 20);
    await expect(pending).rejects.toBe(reason);
  });
});
