/** The retry count the executor reports per task, from the calls the real executor loop records. */
import { ERROR_CODES, ProviderError, StrategiesConfig, type ModelConfig, type TaskRouted } from "@llm-router/shared";
import { describe, expect, it } from "vitest";
import { executeTask } from "./execute-task.js";
import type { CompletionRequest, ModelProvider } from "./providers/provider.js";
import { retriesByModel } from "./service.js";
import { executeDeps, model, routedTask } from "./testing/fixtures.js";
import { answeringProvider, systemOf } from "./testing/scripted-provider.js";

const MODELS: ModelConfig[] = [model("m:small"), model("m:mid")];
const CONFIG = StrategiesConfig.parse({});

function routed(strategy: "single" | "chain" | "parallel", fallbacks: string[] = []): TaskRouted {
  const r = routedTask({ model: "m:small", fallbacks, messages: [{ role: "user", content: "Design a cache." }] });
  if (!r.decision.ok) throw new Error("unreachable");
  return { ...r, decision: { ...r.decision, strategy } };
}

/** Answers every model as `answeringProvider` does, except the first request `matches` picks: a retryable 503. */
function failingOnce(matches: (req: CompletionRequest) => boolean = () => true): ModelProvider {
  const answering = answeringProvider();
  let failed = false;
  return {
    key: answering.key,
    type: answering.type,
    complete(req) {
      if (failed || !matches(req)) return answering.complete(req);
      failed = true;
      return Promise.reject(new ProviderError(ERROR_CODES.PROVIDER_UNAVAILABLE, `${req.spec}: 503`, { retryable: true, status: 503 }));
    },
  };
}

describe("retriesByModel", () => {
  it("counts no retries for a chain task whose plan and execute steps both run on one model", async () => {
    const done = await executeTask(routed("chain"), executeDeps([answeringProvider()], MODELS));
    expect(done.calls.map((c) => c.model)).toEqual(["m:small", "m:small"]);
    expect(retriesByModel(done.calls)).toEqual(new Map());
  });

  it("counts no retries for a parallel task whose three specialists and synthesis run on one model", async () => {
    const done = await executeTask(routed("parallel"), executeDeps([answeringProvider()], MODELS));
    expect(done.calls).toHaveLength(4);
    expect(retriesByModel(done.calls)).toEqual(new Map());
  });

  it("counts one retry when a call failed once and the same step retried it on the same model", async () => {
    const done = await executeTask(routed("single"), executeDeps([failingOnce()], MODELS, { retries: 1 }));
    expect(done.calls.map((c) => [c.model, c.ok])).toEqual([
      ["m:small", false],
      ["m:small", true],
    ]);
    expect(retriesByModel(done.calls)).toEqual(new Map([["m:small", 1]]));
  });

  it("counts only the retried call of a chain task, not its other step on the same model", async () => {
    const done = await executeTask(routed("chain"), executeDeps([failingOnce()], MODELS, { retries: 1 }));
    expect(done.calls.map((c) => [c.step, c.ok])).toEqual([
      ["plan", false],
      ["plan", true],
      ["execute", true],
    ]);
    expect(retriesByModel(done.calls)).toEqual(new Map([["m:small", 1]]));
  });

  it("counts no retry when a failed call falls back to the next model and a later step returns to the failed one", async () => {
    const p = failingOnce((req) => systemOf(req) === CONFIG.chain.planPrompt);
    const done = await executeTask(routed("chain", ["m:mid"]), executeDeps([p], MODELS));
    expect(done.calls.map((c) => [c.step, c.model, c.ok])).toEqual([
      ["plan", "m:small", false],
      ["plan", "m:mid", true],
      ["execute", "m:small", true],
    ]);
    expect(retriesByModel(done.calls)).toEqual(new Map());
  });
});
