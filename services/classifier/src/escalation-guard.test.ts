import { describe, expect, it } from "vitest";
import { createCallGate } from "@llm-router/executor";
import { parseConfig, ProviderConfig, type Task } from "@llm-router/shared";
import { gateConfig, guardEscalation, isLocal, isLocalHost } from "./escalation-guard.js";
import type { EscalationStrategy, StrategyOutcome } from "./strategy.js";

const task: Task = { v: 1, id: "t1", tenant: "default", messages: [{ role: "user", content: "hmm" }], constraints: {}, submittedAt: "2026-01-01T00:00:00.000Z" };
const ANSWER: StrategyOutcome = { ok: true, verdict: { complexity: "simple", confidence: 0.8, signals: [] } };
const DOWN: StrategyOutcome = { ok: false, failure: { reason: "provider-error", message: "503" } };

/** An inner strategy that answers from a script, or waits for `release()` when told to hold. */
function inner(script: () => StrategyOutcome | "hold"): EscalationStrategy<"llm"> & { calls: number; release: () => void } {
  let waiting: (() => void)[] = [];
  return {
    name: "llm",
    version: "llm-json-2",
    calls: 0,
    release: () => {
      for (const w of waiting) w();
      waiting = [];
    },
    classify(_task, signal) {
      this.calls++;
      const next = script();
      if (next !== "hold") return Promise.resolve(next);
      return new Promise((resolve, reject) => {
        waiting.push(() => resolve(ANSWER));
        signal?.addEventListener("abort", () => reject(signal.reason as Error), { once: true });
      });
    },
  };
}

function gateFor(o: { concurrency?: number; breaker?: Record<string, number> } = {}) {
  const { config } = parseConfig({
    providers: { sim: { type: "simulator" }, vllm: { type: "openai-compatible", baseUrl: "http://127.0.0.1:1/v1", ...(o.concurrency ? { concurrency: o.concurrency } : {}) } },
    models: [{ spec: "sim:small", local: true, quality: 0.5 }],
    executor: { breaker: o.breaker ?? {} },
  });
  return createCallGate({ config: gateConfig(config, "vllm", config.providers.vllm!), now: Date.now });
}

function guarded(strategy: EscalationStrategy<"llm">, o: { concurrency?: number; timeoutMs?: number; breaker?: Record<string, number>; gate?: ReturnType<typeof gateFor> } = {}) {
  return guardEscalation(strategy, { local: true, spec: "vllm:qwen3", gate: o.gate ?? gateFor(o), timeoutMs: o.timeoutMs ?? 1000 });
}

describe("isLocal", () => {
  it.each([
    ["localhost", true],
    ["127.0.0.1", true],
    ["[::1]", true],
    ["10.1.2.3", true],
    ["172.20.0.4", true],
    ["192.168.1.10", true],
    ["ollama", true], // a Compose or Kubernetes service name
    ["gpu-box.local", true],
    ["llm.internal", true],
    ["[fd12:3456::1]", true],
    ["172.32.0.1", false],
    ["8.8.8.8", false],
    ["api.openai.com", false],
    ["openrouter.ai", false],
    ["[2001:db8::1]", false],
  ])("%s is local: %s", (host, local) => {
    expect(isLocalHost(host)).toBe(local);
  });

  it("takes an explicit setting first, then the registry, then the provider", () => {
    const openai = ProviderConfig.parse({ type: "openai-compatible", baseUrl: "https://api.openai.com/v1" });
    const lan = ProviderConfig.parse({ type: "ollama", baseUrl: "http://192.168.1.20:11434" });
    expect(isLocal(undefined, openai)).toBe(false);
    expect(isLocal(true, openai)).toBe(true);
    expect(isLocal(undefined, openai, { local: true })).toBe(true);
    expect(isLocal(undefined, lan)).toBe(true);
    expect(isLocal(undefined, lan, { local: false })).toBe(false);
    expect(isLocal(false, lan)).toBe(false);
    expect(isLocal(undefined, ProviderConfig.parse({ type: "anthropic" }))).toBe(false);
    expect(isLocal(undefined, ProviderConfig.parse({ type: "simulator" }))).toBe(true);
    expect(isLocal(undefined, ProviderConfig.parse({ type: "ollama" }))).toBe(true);
  });
});

describe("guardEscalation", () => {
  it("passes answers through and records the strategy's locality", async () => {
    const llm = inner(() => ANSWER);
    const g = guarded(llm);
    expect(await g.classify(task)).toEqual(ANSWER);
    expect(g).toMatchObject({ name: "llm", version: "llm-json-2", local: true });
  });

  it("stops asking a model that keeps failing (its circuit opens), and asks again after the cooldown", async () => {
    let down = true;
    const llm = inner(() => (down ? DOWN : ANSWER));
    const g = guarded(llm, { breaker: { minCalls: 3, failureRate: 0.5, cooldownMs: 200, windowMs: 10_000 } });
    for (let i = 0; i < 3; i++) expect(await g.classify(task)).toEqual(DOWN);
    const open = await g.classify(task);
    expect(open).toMatchObject({ ok: false, failure: { reason: "unavailable", message: expect.stringMatching(/circuit open/) as unknown } });
    expect(llm.calls).toBe(3);
    down = false;
    await new Promise((r) => setTimeout(r, 250));
    expect(await g.classify(task)).toEqual(ANSWER); // the probe
    expect(await g.classify(task)).toEqual(ANSWER);
    expect(llm.calls).toBe(5);
  });

  it("does not count the request's own failures (an answer cut off by the output limit, a filtered prompt) against the model's circuit", async () => {
    const outcomes: StrategyOutcome[] = [
      { ok: false, failure: { reason: "provider-error", message: "length", code: "OUTPUT_TRUNCATED" } },
      { ok: false, failure: { reason: "provider-error", message: "filtered", code: "CONTENT_FILTERED" } },
    ];
    let n = 0;
    const llm = inner(() => outcomes[n++ % 2]!);
    const g = guarded(llm, { breaker: { minCalls: 3, failureRate: 0.5, cooldownMs: 60_000, windowMs: 10_000 } });
    for (let i = 0; i < 6; i++) expect((await g.classify(task)).ok).toBe(false);
    // Every one reached the model: the circuit stayed closed.
    expect(llm.calls).toBe(6);
  });

  it("holds calls to the provider's concurrency; one that waits past its deadline is a timeout, and the model is not asked", async () => {
    const llm = inner(() => "hold");
    const gate = gateFor({ concurrency: 1 });
    const first = guarded(llm, { gate, timeoutMs: 5000 }).classify(task);
    const second = await guarded(llm, { gate, timeoutMs: 100 }).classify(task);
    expect(second).toMatchObject({ ok: false, failure: { reason: "timeout", message: expect.stringMatching(/waiting for a free slot/) as unknown } });
    expect(llm.calls).toBe(1);
    llm.release();
    expect(await first).toEqual(ANSWER);
    // The slot is free again: the next call is asked at once, and one that runs out of time answering says so.
    const third = await guarded(llm, { gate, timeoutMs: 100 }).classify(task);
    expect(third).toMatchObject({ ok: false, failure: { reason: "timeout", message: expect.stringMatching(/answering/) as unknown } });
    expect(llm.calls).toBe(2);
  });

  it("lets a caller's abort (shutdown) through as a rejection, not a failure", async () => {
    const llm = inner(() => "hold");
    const g = guarded(llm);
    const stop = new AbortController();
    const pending = g.classify(task, stop.signal);
    stop.abort(new Error("stopping"));
    await expect(pending).rejects.toThrow("stopping");
  });
});
