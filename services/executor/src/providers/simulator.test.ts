import { ERROR_CODES, ProviderError, estimateTokens } from "@llm-router/shared";
import { describe, expect, it } from "vitest";
import { completionRequest, model, recordingSleep } from "../testing/fixtures.js";
import type { CompletionRequest, ModelProvider } from "./provider.js";
import { simulatorProvider } from "./simulator.js";

function simulator(sim?: { latencyMs: number; failureRate: number }, sleep = recordingSleep().sleep): ModelProvider {
  const models = [model("sim:small", sim ? { sim } : {})];
  return simulatorProvider.create("sim", { type: "simulator" }, { env: {}, models, sleep });
}

function request(fields: Partial<CompletionRequest> = {}): CompletionRequest {
  return completionRequest("sim:small", fields);
}

describe("simulator provider", () => {
  it("answers the same task identically every time, labelled as simulated", async () => {
    const first = await simulator().complete(request());
    const second = await simulator().complete(request());

    // Everything but the measured time to first token.
    expect({ ...second, timeToFirstTokenMs: 0 }).toEqual({ ...first, timeToFirstTokenMs: 0 });
    expect(first.simulated).toBe(true);
    expect(first.output.startsWith("[simulated sim:small]")).toBe(true);
    expect(first.output).toContain("JetStream consumers");
  });

  it("counts tokens from the prompt and from its own output", async () => {
    const res = await simulator().complete(request());
    expect(res.inputTokens).toBe(estimateTokens("You are terse.") + estimateTokens("Explain how JetStream consumers acknowledge messages"));
    expect(res.outputTokens).toBe(estimateTokens(res.output));
  });

  it("varies the answer between tasks", async () => {
    const outputs = await Promise.all(["a", "b", "c", "d"].map((taskId) => simulator().complete(request({ taskId }))));
    expect(new Set(outputs.map((o) => o.output)).size).toBeGreaterThan(1);
  });

  it("keeps the output within maxOutputTokens", async () => {
    const res = await simulator().complete(request({ maxOutputTokens: 12 }));
    expect(res.outputTokens).toBeLessThanOrEqual(12);
    expect(res.output.startsWith("[simulated sim:small]")).toBe(true);
  });

  it("always fails with a retryable PROVIDER_UNAVAILABLE at failureRate 1", async () => {
    const p = simulator({ latencyMs: 0, failureRate: 1 });
    for (const attempt of [1, 2, 3]) {
      const err: unknown = await p.complete(request({ attempt })).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ProviderError);
      expect(err).toMatchObject({ code: ERROR_CODES.PROVIDER_UNAVAILABLE, retryable: true, status: 503 });
    }
  });

  it("never fails at failureRate 0", async () => {
    const p = simulator({ latencyMs: 0, failureRate: 0 });
    const results = await Promise.all(Array.from({ length: 50 }, (_, i) => p.complete(request({ taskId: `t${i}` }))));
    expect(results).toHaveLength(50);
  });

  it("fails the same attempts on every run at a partial failure rate", async () => {
    const outcomes = async (): Promise<boolean[]> => {
      const p = simulator({ latencyMs: 0, failureRate: 0.5 });
      return Promise.all(
        Array.from({ length: 40 }, (_, i) =>
          p.complete(request({ taskId: `t${i}` })).then(
            () => true,
            () => false,
          ),
        ),
      );
    };
    const first = await outcomes();
    expect(await outcomes()).toEqual(first);
    expect(first).toContain(true);
    expect(first).toContain(false);
  });

  it("waits the model's latency through the injected sleep, first token after a fifth of it, and not at all for 0 ms", async () => {
    const slow = recordingSleep();
    const res = await simulator({ latencyMs: 250, failureRate: 0 }, slow.sleep).complete(request());
    expect(slow.waits).toEqual([50, 200]);
    expect(res.timeToFirstTokenMs).toBeGreaterThanOrEqual(0);

    const fast = recordingSleep();
    await simulator({ latencyMs: 0, failureRate: 0 }, fast.sleep).complete(request());
    expect(fast.waits).toEqual([]);
  });
});
