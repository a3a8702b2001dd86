/** The executor loop's admission: breakers, per-provider concurrency, the cost cap and the deadline. */
import { ERROR_CODES, ProviderError, RouterConfig, TaskCompleted, type ModelConfig, type TaskRouted } from "@llm-router/shared";
import { describe, expect, it } from "vitest";
import { createCallGate } from "./call-gate.js";
import { executeTask, type ExecuteDeps } from "./execute-task.js";
import type { CompletionResponse, ModelProvider } from "./providers/provider.js";
import { executeDeps, model, routedTask } from "./testing/fixtures.js";
import { scriptedProvider } from "./testing/scripted-provider.js";
import { chunkEvent, delayed, sseStream, useWireServer } from "./testing/openai-wire-server.js";
import { openAICompatibleProvider } from "./providers/openai-compatible.js";

const wire = useWireServer();

const MODELS: ModelConfig[] = [
  model("a:one", { inputPerMtok: 1, outputPerMtok: 2 }),
  model("b:two", { inputPerMtok: 10, outputPerMtok: 20 }),
];

/** A prompt whose own estimate is below the decision's 10 input tokens, so the estimates below use 10. */
const SHORT = [{ role: "user" as const, content: "Hi" }];

const ok = (output = "fine"): CompletionResponse => ({ output, inputTokens: 10, outputTokens: 5, simulated: false });

function deps(providers: ModelProvider[], overrides: Partial<ExecuteDeps> = {}): ExecuteDeps {
  return executeDeps(providers, MODELS, { referenceModel: MODELS[1]!, ...overrides });
}

function withConstraints(routed: TaskRouted, constraints: TaskRouted["task"]["constraints"]): TaskRouted {
  return { ...routed, task: { ...routed.task, constraints } };
}

const config = (providers: Record<string, unknown> = {}, breaker: Record<string, unknown> = {}) =>
  RouterConfig.parse({ models: MODELS, providers: { a: { type: "simulator" }, b: { type: "simulator" }, ...providers }, executor: { breaker } });

describe("executeTask admission", () => {
  it("skips a model whose circuit is open without calling it, and answers from the fallback", async () => {
    let clock = 0;
    const gate = createCallGate({ config: config({}, { minCalls: 2, failureRate: 0.5, cooldownMs: 1000 }), now: () => clock });
    const failing = new ProviderError(ERROR_CODES.PROVIDER_UNAVAILABLE, "a: 503", { retryable: true, status: 503 });
    const a = scriptedProvider("a", [failing, failing, ok("probe answer")]);
    const b = scriptedProvider("b", [ok("from b"), ok("from b"), ok("from b")]);
    const d = deps([a, b], { gate });
    const task = routedTask({ model: "a:one", fallbacks: ["b:two"] });

    await executeTask(task, d);
    await executeTask(task, d); // a's second failure opens its circuit
    const third = await executeTask(task, d);
    expect(a.requests).toHaveLength(2); // not called the third time
    expect(third.result).toMatchObject({ status: "succeeded", model: "b:two", output: "from b" });
    expect(third.calls.map((c) => c.model)).toEqual(["b:two"]); // no call recorded for the refusal

    clock = 1000; // cooldown over: the next task's call to a is the probe, and it succeeds
    const fourth = await executeTask(task, d);
    expect(fourth.result).toMatchObject({ status: "succeeded", model: "a:one", output: "probe answer" });
    expect(gate.states().get("a:one")).toBe("closed");
  });

  it("names the open circuit when no model could be called", async () => {
    const gate = createCallGate({ config: config({}, { minCalls: 1, failureRate: 1 }), now: () => 0 });
    const a = scriptedProvider("a", [new ProviderError(ERROR_CODES.CONNECTION_FAILED, "a: refused", { retryable: true })]);
    const d = deps([a], { gate });
    await executeTask(routedTask({ model: "a:one" }), d);
    const done = await executeTask(routedTask({ model: "a:one", taskId: "task-2" }), d);
    expect(done.result).toMatchObject({ status: "failed", error: { code: ERROR_CODES.ALL_MODELS_FAILED } });
    expect(done.result.status === "failed" && done.result.error.message).toContain("CIRCUIT_OPEN a:one: circuit open");
  });

  it.each([ERROR_CODES.BAD_REQUEST, ERROR_CODES.CONTENT_FILTERED, ERROR_CODES.OUTPUT_TRUNCATED])(
    "does not count the task's own failure (%s) against the model's circuit",
    async (code) => {
      const gate = createCallGate({ config: config({}, { minCalls: 1, failureRate: 1 }), now: () => 0 });
      const a = scriptedProvider("a", [new ProviderError(code, `a: ${code}`), ok()]);
      const d = deps([a], { gate });
      await executeTask(routedTask({ model: "a:one" }), d);
      expect(gate.states().get("a:one")).toBe("closed");
      expect((await executeTask(routedTask({ model: "a:one", taskId: "task-2" }), d)).result.status).toBe("succeeded");
    },
  );

  it("holds calls to a provider to its configured concurrency", async () => {
    const gate = createCallGate({ config: config({ a: { type: "simulator", concurrency: 2 } }), now: () => 0 });
    let inFlight = 0;
    let peak = 0;
    const slow = async (): Promise<CompletionResponse> => {
      peak = Math.max(peak, ++inFlight);
      await new Promise((resolve) => setTimeout(resolve, 20));
      inFlight--;
      return ok();
    };
    const a = scriptedProvider("a", Array.from({ length: 6 }, () => slow));
    const d = deps([a], { gate });
    const done = await Promise.all(Array.from({ length: 6 }, (_, i) => executeTask(routedTask({ model: "a:one", taskId: `t${i}` }), d)));
    expect(done.every((c) => c.result.status === "succeeded")).toBe(true);
    expect(peak).toBe(2);
  });

  it("records no call for a task whose deadline passed while it waited for a provider slot", async () => {
    const gate = createCallGate({ config: config({ a: { type: "simulator", concurrency: 1 } }), now: () => 0 });
    const slow = (): Promise<CompletionResponse> => new Promise((resolve) => setTimeout(() => resolve(ok()), 300));
    const a = scriptedProvider("a", [slow, ok()]);
    const d = deps([a], { gate });
    const first = executeTask(routedTask({ model: "a:one", taskId: "holds-the-slot" }), d);
    const waiting = await executeTask(withConstraints(routedTask({ model: "a:one", taskId: "waits" }), { maxLatencyMs: 100 }), d);
    expect(waiting.result).toMatchObject({ status: "failed", error: { code: ERROR_CODES.DEADLINE_EXCEEDED } });
    expect(TaskCompleted.parse(waiting).calls).toEqual([]);
    expect(waiting.costUsd).toBe(0);
    expect((await first).result.status).toBe("succeeded");
    expect(a.requests).toHaveLength(1);
  });

  it("does not make a call whose estimate would take the task past its cost cap; a cheaper fallback still runs", async () => {
    // Estimates: a:one 10 in × $1 + 256 out × $2 per Mtok = $0.000522; b:two ten times that.
    const a = scriptedProvider("a", [ok("cheap")]);
    const b = scriptedProvider("b", []);
    const task = withConstraints(routedTask({ model: "b:two", fallbacks: ["a:one"], messages: SHORT }), { maxCostUsd: 0.001 });
    const done = await executeTask(task, deps([a, b]));
    expect(b.requests).toHaveLength(0);
    expect(done.result).toMatchObject({ status: "succeeded", model: "a:one" });
    expect(TaskCompleted.parse(done).calls).toHaveLength(1);

    const capped = await executeTask(routedTask({ model: "b:two", messages: SHORT }), deps([a, b], { maxCostPerTaskUsd: 0.001 }));
    expect(capped.result.status === "failed" && capped.result.error.message).toMatch(
      /b:two: COST_CAP_REACHED b:two: the call \(est\. \$0\.005220\) would take the task past its cost cap of \$0\.001000/,
    );
  });

  it("stops at the task's deadline: the hanging call is cut off, no fallback starts, the task fails with DEADLINE_EXCEEDED", async () => {
    const hang = (req: { signal: AbortSignal }) =>
      new Promise<CompletionResponse>((_, reject) => req.signal.addEventListener("abort", () => reject(req.signal.reason as Error), { once: true }));
    const a = scriptedProvider("a", [hang]);
    const b = scriptedProvider("b", []);
    const task = withConstraints(routedTask({ model: "a:one", fallbacks: ["b:two"] }), { maxLatencyMs: 50 });
    const started = performance.now();
    const done = await executeTask(task, deps([a, b]));
    expect(performance.now() - started).toBeLessThan(2000);
    expect(b.requests).toHaveLength(0);
    expect(done.result).toMatchObject({ status: "failed", error: { code: ERROR_CODES.DEADLINE_EXCEEDED } });
    expect(done.calls).toHaveLength(1);
    expect(done.calls[0]).toMatchObject({ ok: false, model: "a:one", error: { code: ERROR_CODES.DEADLINE_EXCEEDED } });
  });

  it.each([2 ** 31, 3_000_000_000, 5_000_000_000])("runs a task whose latency cap (%i ms) is past what a timer can hold as if it had none", async (maxLatencyMs) => {
    // Node fires a timer past 2^31 - 1 ms after 1 ms, and refuses one past 2^32 - 1 with a RangeError.
    const slow = (req: { signal: AbortSignal }) =>
      new Promise<CompletionResponse>((resolve, reject) => {
        const timer = setTimeout(() => resolve(ok()), 20);
        req.signal.addEventListener("abort", () => (clearTimeout(timer), reject(req.signal.reason as Error)), { once: true });
      });
    const a = scriptedProvider("a", [slow]);
    const done = await executeTask(withConstraints(routedTask({ model: "a:one" }), { maxLatencyMs }), deps([a]));
    expect(done.result).toMatchObject({ status: "succeeded", output: "fine" });
    expect(a.requests).toHaveLength(1);
  });

  it("bills a streamed call the deadline cut off for the prompt and what it had streamed", async () => {
    // 4,000 characters at once, then silence past the task's 300 ms cap.
    wire().enqueue(sseStream([chunkEvent({ role: "assistant", content: "" }), chunkEvent({ content: "x".repeat(4000) }), delayed(5000, chunkEvent({ content: "more" }))]));
    const provider = openAICompatibleProvider.create("a", { type: "openai-compatible", baseUrl: wire().baseUrl, timeoutMs: 60_000, headers: {}, stream: true }, { env: {}, models: [], sleep: () => Promise.resolve() });
    const done = await executeTask(withConstraints(routedTask({ model: "a:one" }), { maxLatencyMs: 300 }), deps([provider]));
    expect(done.result).toMatchObject({ status: "failed", error: { code: ERROR_CODES.DEADLINE_EXCEEDED } });
    const [call] = done.calls;
    expect(call).toMatchObject({ ok: false, error: { code: ERROR_CODES.DEADLINE_EXCEEDED }, discardedOutputChars: 4000 });
    expect(call?.outputTokens).toBeGreaterThanOrEqual(1000);
    expect(call?.inputTokens).toBeGreaterThan(0);
    expect(done.costUsd).toBeGreaterThan(0);
  });

  it("reserves a paid call's estimate on the budget, settles it to the actual cost, and skips a call the budget refuses", async () => {
    const settled: number[] = [];
    const reserved: number[] = [];
    let allow = true;
    const budget = {
      reserve: (_task: unknown, estimateUsd: number) => {
        reserved.push(estimateUsd);
        return Promise.resolve(
          allow ? { ok: true as const, hold: { settle: (actual: number) => (settled.push(actual), Promise.resolve()) } } : { ok: false as const, message: "the global budget has $0.000100 left" },
        );
      },
    };
    const local = model("c:local", { local: true });
    const models = [...MODELS, local];
    const a = scriptedProvider("a", [ok("paid")]);
    const c = scriptedProvider("c", [ok("free")]);
    const d = executeDeps([a, c], models, { budget });
    const paid = await executeTask(routedTask({ model: "a:one", fallbacks: ["c:local"], messages: SHORT }), d);
    expect(paid.result).toMatchObject({ status: "succeeded", model: "a:one" });
    // Estimate: 10 in × $1 + 256 out × $2 per Mtok; actual: 10 in, 5 out.
    expect(reserved).toEqual([0.000522]);
    expect(settled).toEqual([(10 * 1 + 5 * 2) / 1e6]);

    allow = false;
    const refused = await executeTask(routedTask({ model: "a:one", fallbacks: ["c:local"], taskId: "t2" }), d);
    expect(a.requests).toHaveLength(1); // not called again
    expect(refused.result).toMatchObject({ status: "succeeded", model: "c:local", output: "free" });
    expect(refused.calls.map((call) => call.model)).toEqual(["c:local"]); // a refusal is not a call
    expect(reserved).toHaveLength(2); // the local model reserved nothing
  });

  it("bills a stream that failed part-way for what it delivered, discards its output, and fails over", async () => {
    const partial = { inputTokens: 100, outputTokens: 40, outputChars: 180 };
    const a = scriptedProvider("a", [new ProviderError(ERROR_CODES.PROVIDER_UNAVAILABLE, "a: stream error after 200", { retryable: true, status: 200, partial })]);
    const b = scriptedProvider("b", [{ ...ok("clean answer"), timeToFirstTokenMs: 12.3456 }]);
    const done = await executeTask(routedTask({ model: "a:one", fallbacks: ["b:two"] }), deps([a, b]));
    expect(done.result).toMatchObject({ status: "succeeded", model: "b:two", output: "clean answer" });
    // 100 in × $1 + 40 out × $2 per Mtok = $0.00018.
    expect(done.calls[0]).toMatchObject({ ok: false, inputTokens: 100, outputTokens: 40, costUsd: 0.00018, discardedOutputChars: 180 });
    expect(done.calls[1]).toMatchObject({ ok: true, ttftMs: 12.346 });
    expect(done.costUsd).toBeCloseTo(0.00018 + (10 * 10 + 5 * 20) / 1e6, 12);
    expect(() => TaskCompleted.parse(done)).not.toThrow();
  });
});
