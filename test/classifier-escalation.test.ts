/**
 * The cascade's escalation to an LLM, through the running pipeline: the classifier service asks a
 * model over the OpenAI wire format (a local server speaking it) when the rules are unsure, the
 * model's verdict reaches task.classified and the ledger's decision inputs, a bad answer falls back
 * to the in-process result, and the service counts both for operators.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Registry } from "prom-client";
import { buildClassifier, startClassifier, type ClassifierService } from "@llm-router/classifier";
import type { Classification } from "@llm-router/shared";
import { completion, useWireServer } from "../services/executor/src/testing/openai-wire-server.js";
import { createHarness, waitFor, type Harness } from "./support/harness.js";

const llmServer = useWireServer();

describe("cascade escalation to an LLM, through the running pipeline", () => {
  let h: Harness;
  let classifier: ClassifierService | undefined;
  const registry = new Registry();

  beforeAll(async () => {
    h = await createHarness({
      config: {
        providers: { sim: { type: "simulator" }, vllm: { type: "openai-compatible", baseUrl: llmServer().baseUrl, stream: false } },
        // "hmm" gives the rules nothing to go on (confidence 0.3): below the default 0.5 the cascade asks the model.
        classifier: { strategy: "cascade", llm: { model: "vllm:qwen3" } },
      },
    });
    await h.startLedger();
    await h.startExecutor();
    await h.startSelector();
    classifier = await startClassifier({ js: h.js, topology: h.topology, log: h.log, registry, classifier: await buildClassifier(h.config, {}, h.log) });
  });
  afterAll(async () => {
    await classifier?.stop();
    await h?.close();
  });

  const metric = async (name: string, labels: Record<string, string>): Promise<number | undefined> => {
    const m = (await registry.getMetricsAsJSON()).find((x) => x.name === name);
    return m?.values.find((v) => Object.entries(labels).every(([k, val]) => v.labels[k] === val))?.value;
  };

  it("carries the model's verdict to the ledger, falls back on unparseable output, and counts both", async () => {
    const classified = h.collect(h.topology.subjects["task.classified"]);
    const classificationOf = (id: string) => waitFor(() => classified.json<{ task: { id: string }; classification: Classification }>().find((m) => m.task.id === id)?.classification, { what: `task.classified for ${id}` });

    llmServer().enqueue({ body: completion('{"complexity":"complex","risk":"normal","taskType":"reasoning","confidence":0.8}') });
    h.publishRaw(h.topology.subjects["task.submitted"], JSON.stringify({ id: "esc-1", prompt: "hmm" }));
    const answered = await classificationOf("esc-1");
    expect(answered).toMatchObject({ strategy: "llm", complexity: "complex", taskType: "reasoning", confidence: 0.8 });
    expect(answered.features.inProcessConfidence).toBeLessThan(0.5);
    expect(llmServer().requests).toHaveLength(1);

    llmServer().enqueue({ body: completion("I think this one is fairly easy.") });
    h.publishRaw(h.topology.subjects["task.submitted"], JSON.stringify({ id: "esc-2", prompt: "hmm" }));
    const fellBack = await classificationOf("esc-2");
    expect(fellBack.strategy).toBe("rules+learned");
    expect(fellBack.signals).toContain("llm:fallback(unparseable)");
    classified.stop();

    const inputs = async (id: string) => (await h.query<{ inputs: { classification: Classification } }>("SELECT inputs FROM decisions WHERE task_id = $1", [id]))[0]?.inputs;
    expect((await waitFor(() => inputs("esc-1"), { what: "decision of esc-1" })).classification.strategy).toBe("llm");

    expect(await metric("router_classification_escalations_total", { strategy: "llm", outcome: "answered" })).toBe(1);
    expect(await metric("router_classification_escalations_total", { strategy: "llm", outcome: "unparseable" })).toBe(1);
    expect(await metric("router_classification_escalation_seconds", { strategy: "llm", le: "+Inf" })).toBe(2);
    expect(await metric("router_classifications_total", { strategy: "llm", task_type: "reasoning" })).toBe(1);
  });
});
