import { ERROR_CODES, ProviderError, TaskCompleted, type ModelCall, type ModelConfig } from "@llm-router/shared";
import { describe, expect, it } from "vitest";
import { executeTask, type ExecuteDeps } from "./execute-task.js";
import type { ModelProvider } from "./providers/provider.js";
import { createProviders } from "./providers/registry.js";
import { FIXED_NOW, model, recordingSleep, routedTask } from "./testing/fixtures.js";
import { completion, errorBody, useWireServer } from "./testing/openai-wire-server.js";
import { scriptedProvider } from "./testing/scripted-provider.js";

const MODELS: ModelConfig[] = [
  model("sim:small", { local: true }),
  model("sim:priced", { inputPerMtok: 1, outputPerMtok: 2 }),
  model("sim:broken", { sim: { latencyMs: 0, failureRate: 1 } }),
  model("openai:gpt-4o-mini", { inputPerMtok: 0.15, outputPerMtok: 0.6 }),
  model("openai:gpt-4o", { inputPerMtok: 2.5, outputPerMtok: 10 }),
  model("ghost:model"),
];
const REFERENCE = MODELS.find((m) => m.spec === "openai:gpt-4o") as ModelConfig;

const wire = useWireServer();

interface Harness {
  deps: ExecuteDeps;
  waits: number[];
  observed: ModelCall[];
}

/** Real simulator and OpenAI-compatible providers (against the wire server), unless replaced. */
function harness(overrides: Partial<ExecuteDeps> = {}): Harness {
  const { sleep, waits } = recordingSleep();
  const observed: ModelCall[] = [];
  const providers = createProviders(
    {
      providers: {
        sim: { type: "simulator" },
        openai: { type: "openai-compatible", baseUrl: wire().baseUrl, timeoutMs: 2000, headers: {}, stream: false },
      },
      models: MODELS,
    },
    { env: {}, models: [], sleep },
  );
  const deps: ExecuteDeps = {
    providers,
    models: new Map(MODELS.map((m) => [m.spec, m])),
    referenceModel: REFERENCE,
    retries: 1,
    backoffMs: 200,
    maxBackoffMs: 5000,
    now: () => FIXED_NOW,
    sleep,
    random: () => 0.5,
    onCall: (call) => observed.push(call),
    ...overrides,
  };
  return { deps, waits, observed };
}

const codes = (calls: readonly ModelCall[]): (string | undefined)[] => calls.map((c) => (c.ok ? undefined : c.error.code));

describe("executeTask", () => {
  it("succeeds on the first model and reports a valid completion", async () => {
    const { deps, observed } = harness();
    const done = await executeTask(routedTask({ model: "sim:small", fallbacks: ["sim:priced"] }), deps);

    expect(() => TaskCompleted.parse(done)).not.toThrow();
    expect(done.result).toMatchObject({ status: "succeeded", model: "sim:small", simulated: true });
    expect(done.calls).toHaveLength(1);
    expect(done.calls[0]).toMatchObject({ ok: true, callId: "task-1:1", attempt: 1, model: "sim:small", simulated: true, costUsd: 0 });
    expect(done.calls[0]?.inputTokens).toBeGreaterThan(0);
    expect(done.inputTokens).toBe(done.calls[0]?.inputTokens);
    expect(done.outputTokens).toBe(done.calls[0]?.outputTokens);
    expect(done.completedAt).toBe(FIXED_NOW.toISOString());
    expect(done.referenceModel).toBe("openai:gpt-4o");
    expect(observed).toEqual(done.calls);
  });

  it("passes the decision's maxOutputTokens and the provider-local model name to the provider", async () => {
    const { deps } = harness();
    await executeTask(routedTask({ model: "openai:gpt-4o-mini", maxOutputTokens: 77 }), deps);
    expect(wire().requests[0]?.body).toMatchObject({ model: "gpt-4o-mini", max_tokens: 77 });
  });

  it("computes call cost and reference cost from registry prices", async () => {
    wire().enqueue({ body: completion("done", { promptTokens: 1000, completionTokens: 500 }) });
    const { deps } = harness();
    const done = await executeTask(routedTask({ model: "openai:gpt-4o-mini" }), deps);

    // 1000 × $0.15/M + 500 × $0.60/M; reference 1000 × $2.50/M + 500 × $10/M.
    expect(done.calls[0]).toMatchObject({ ok: true, inputTokens: 1000, outputTokens: 500, costUsd: 0.00045, simulated: false });
    expect(done.costUsd).toBe(0.00045);
    expect(done.referenceCostUsd).toBe(0.0075);
    expect(done.result).toMatchObject({ status: "succeeded", output: "done", simulated: false });
  });

  it("prices prompt-cache reads and writes at the model's cache prices, for the call and for the reference", async () => {
    const cached = (spec: string, cacheReadPerMtok: number, cacheWritePerMtok?: number): ModelConfig => ({ ...MODELS.find((m) => m.spec === spec)!, cacheReadPerMtok, ...(cacheWritePerMtok === undefined ? {} : { cacheWritePerMtok }) });
    const mini = cached("openai:gpt-4o-mini", 0.075, 0.3);
    const reference = cached("openai:gpt-4o", 1.25);
    wire().enqueue({ body: completion("done", { promptTokens: 1000, completionTokens: 500, cachedTokens: 800 }) });
    const { deps, observed } = harness({ referenceModel: reference });
    const done = await executeTask(routedTask({ model: "openai:gpt-4o-mini" }), { ...deps, models: new Map([...deps.models, [mini.spec, mini]]) });

    // 200 × $0.15/M + 800 cached × $0.075/M + 500 × $0.60/M; reference 200 × $2.50/M + 800 × $1.25/M + 500 × $10/M.
    expect(done.calls[0]).toMatchObject({ ok: true, inputTokens: 1000, cacheReadTokens: 800, outputTokens: 500, costUsd: 0.00039 });
    expect(done.calls[0]).not.toHaveProperty("cacheWriteTokens");
    expect(done.costUsd).toBe(0.00039);
    expect(done.referenceCostUsd).toBe(0.0065);
    expect(observed[0]).toMatchObject({ cacheReadTokens: 800 });
    expect(() => TaskCompleted.parse(done)).not.toThrow();

    // Writes at the write price: 100 × $0.15/M + 900 written × $0.30/M + 500 × $0.60/M.
    wire().enqueue({ body: completion("done", { promptTokens: 1000, completionTokens: 500, cachedTokens: 0, cacheWriteTokens: 900 }) });
    const written = await executeTask(routedTask({ model: "openai:gpt-4o-mini" }), { ...deps, models: new Map([...deps.models, [mini.spec, mini]]) });
    expect(written.calls[0]).toMatchObject({ cacheWriteTokens: 900, costUsd: 0.000585 });
  });

  it("charges a stream that failed part-way for its cached prompt tokens at the cache price", async () => {
    const cut = new ProviderError(ERROR_CODES.MALFORMED_RESPONSE, "stream broke off", { retryable: false, partial: { inputTokens: 2000, outputTokens: 100, outputChars: 400, cacheReadTokens: 1500 } });
    const flaky = scriptedProvider("flaky", [cut]);
    const { deps } = harness();
    const priced = model("flaky:m", { inputPerMtok: 1, outputPerMtok: 2, cacheReadPerMtok: 0.1 });
    const done = await executeTask(routedTask({ model: "flaky:m", fallbacks: ["sim:small"] }), {
      ...deps,
      providers: new Map<string, ModelProvider>([...deps.providers, ["flaky", flaky]]),
      models: new Map([...deps.models, [priced.spec, priced]]),
    });
    // 500 × $1/M + 1,500 cached × $0.10/M + 100 × $2/M.
    expect(done.calls[0]).toMatchObject({ ok: false, inputTokens: 2000, cacheReadTokens: 1500, outputTokens: 100, costUsd: 0.00085 });
  });

  it("uses the provider-reported cost instead of registry prices", async () => {
    wire().enqueue({ body: completion("done", { promptTokens: 1000, completionTokens: 500, cost: 0.0123456789123 }) });
    const { deps } = harness();
    const done = await executeTask(routedTask({ model: "openai:gpt-4o-mini" }), deps);
    expect(done.calls[0]?.costUsd).toBe(0.012345679);
    expect(done.costUsd).toBe(0.012345679);
    expect(done.referenceCostUsd).toBe(0.0075);
  });

  it("retries a transient error on the same model after a backoff, then succeeds", async () => {
    wire().enqueue({ status: 503, body: errorBody("overloaded", "server_error") }, { body: completion("second time lucky") });
    const { deps, waits } = harness();
    const done = await executeTask(routedTask({ model: "openai:gpt-4o-mini", fallbacks: ["sim:small"] }), deps);

    expect(done.result).toMatchObject({ status: "succeeded", model: "openai:gpt-4o-mini", output: "second time lucky" });
    expect(codes(done.calls)).toEqual([ERROR_CODES.PROVIDER_UNAVAILABLE, undefined]);
    expect(done.calls.map((c) => [c.callId, c.attempt, c.model])).toEqual([
      ["task-1:1", 1, "openai:gpt-4o-mini"],
      ["task-1:2", 2, "openai:gpt-4o-mini"],
    ]);
    expect(done.calls[0]).toMatchObject({ costUsd: 0, inputTokens: 0, outputTokens: 0 });
    expect(wire().requests).toHaveLength(2);
    // First retry: full jitter over [0, backoffMs) with random() = 0.5.
    expect(waits).toEqual([100]);
  });

  it("waits at least the provider's Retry-After before retrying a rate-limited call", async () => {
    wire().enqueue({ status: 429, headers: { "retry-after": "3" }, body: errorBody("slow down") }, { body: completion("ok") });
    const { deps, waits } = harness();
    const done = await executeTask(routedTask({ model: "openai:gpt-4o-mini" }), deps);
    expect(done.result.status).toBe("succeeded");
    expect(waits).toEqual([3000]);
  });

  it("falls back at once to the next model after a non-retryable error", async () => {
    wire().enqueue({ status: 401, body: errorBody("Incorrect API key", "invalid_request_error", "invalid_api_key") });
    const { deps, waits } = harness();
    const done = await executeTask(routedTask({ model: "openai:gpt-4o-mini", fallbacks: ["sim:small"] }), deps);

    expect(done.result).toMatchObject({ status: "succeeded", model: "sim:small" });
    expect(codes(done.calls)).toEqual([ERROR_CODES.AUTH_FAILED, undefined]);
    expect(wire().requests).toHaveLength(1);
    expect(waits).toEqual([]);
  });

  it("falls back without waiting when Retry-After is longer than any wait it would allow", async () => {
    const limited = scriptedProvider("limited", [
      new ProviderError(ERROR_CODES.RATE_LIMITED, "daily limit", { retryable: true, status: 429, retryAfterMs: 3_600_000 }),
    ]);
    const { deps, waits } = harness();
    const providers = new Map<string, ModelProvider>([...deps.providers, ["limited", limited]]);
    const models = new Map([...deps.models, ["limited:m", model("limited:m")]]);
    const done = await executeTask(routedTask({ model: "limited:m", fallbacks: ["sim:small"] }), { ...deps, providers, models });

    expect(codes(done.calls)).toEqual([ERROR_CODES.RATE_LIMITED, undefined]);
    expect(waits).toEqual([]);
  });

  it("fails with ALL_MODELS_FAILED after every model, recording every call", async () => {
    wire().enqueue({ status: 400, body: errorBody("context length exceeded") });
    const { deps, waits, observed } = harness({ retries: 2 });
    const done = await executeTask(routedTask({ model: "sim:broken", fallbacks: ["openai:gpt-4o-mini"] }), deps);

    expect(() => TaskCompleted.parse(done)).not.toThrow();
    expect(done.result).toMatchObject({ status: "failed", error: { code: ERROR_CODES.ALL_MODELS_FAILED } });
    const message = done.result.status === "failed" ? done.result.error.message : "";
    expect(message).toContain("sim:broken");
    expect(message).toContain("openai:gpt-4o-mini");
    expect(codes(done.calls)).toEqual([
      ERROR_CODES.PROVIDER_UNAVAILABLE,
      ERROR_CODES.PROVIDER_UNAVAILABLE,
      ERROR_CODES.PROVIDER_UNAVAILABLE,
      ERROR_CODES.BAD_REQUEST,
    ]);
    expect(done.calls.map((c) => c.callId)).toEqual(["task-1:1", "task-1:2", "task-1:3", "task-1:4"]);
    expect(done.calls.slice(0, 3).every((c) => c.simulated)).toBe(true);
    expect(observed).toHaveLength(4);
    // Two retries on sim:broken, each bound doubling: 0.5 × 200, 0.5 × 400.
    expect(waits).toEqual([100, 200]);
    expect(done).toMatchObject({ costUsd: 0, inputTokens: 0, outputTokens: 0, referenceCostUsd: 0 });
  });

  it("reports the selector's refusal as a failure without calling any model", async () => {
    const { deps } = harness();
    const refused = { code: ERROR_CODES.NO_ELIGIBLE_MODEL, message: "no model fits the constraints" };
    const done = await executeTask(routedTask({ refused }), deps);

    expect(() => TaskCompleted.parse(done)).not.toThrow();
    expect(done.result).toEqual({ status: "failed", error: refused });
    expect(done).toMatchObject({ calls: [], costUsd: 0, inputTokens: 0, outputTokens: 0, referenceCostUsd: 0 });
  });

  it("records an unknown model spec as a failed call and moves on", async () => {
    const { deps } = harness();
    const done = await executeTask(routedTask({ model: "sim:nope", fallbacks: ["sim:small"] }), deps);

    expect(done.result).toMatchObject({ status: "succeeded", model: "sim:small" });
    expect(codes(done.calls)).toEqual([ERROR_CODES.UNKNOWN_MODEL, undefined]);
    expect(done.calls[1]).toMatchObject({ callId: "task-1:2", attempt: 2 });
  });

  it("records a model whose provider is not configured as a failed call and moves on", async () => {
    const { deps } = harness();
    const done = await executeTask(routedTask({ model: "ghost:model", fallbacks: ["sim:small"] }), deps);
    expect(codes(done.calls)).toEqual([ERROR_CODES.PROVIDER_NOT_CONFIGURED, undefined]);
  });

  it("treats an unexpected provider exception as a non-retryable INTERNAL failure", async () => {
    const buggy = scriptedProvider("buggy", [new TypeError("cannot read properties of undefined")]);
    const { deps, waits } = harness();
    const providers = new Map<string, ModelProvider>([...deps.providers, ["buggy", buggy]]);
    const models = new Map([...deps.models, ["buggy:m", model("buggy:m")]]);
    const done = await executeTask(routedTask({ model: "buggy:m", fallbacks: ["sim:small"] }), { ...deps, providers, models });

    expect(codes(done.calls)).toEqual([ERROR_CODES.INTERNAL, undefined]);
    expect(waits).toEqual([]);
  });

  it("rejects with the abort reason instead of completing when its signal aborts during a retry", async () => {
    const controller = new AbortController();
    const reason = new Error("shutting down");
    const sleep = (ms: number, signal?: AbortSignal): Promise<void> => {
      controller.abort(reason);
      return signal?.aborted ? Promise.reject(signal.reason as Error) : Promise.resolve();
    };
    const { deps, observed } = harness({ sleep, signal: controller.signal });

    await expect(executeTask(routedTask({ model: "sim:broken", fallbacks: ["sim:small"] }), deps)).rejects.toBe(reason);
    expect(codes(observed)).toEqual([ERROR_CODES.PROVIDER_UNAVAILABLE]);
  });

  it("records and journals what a call had streamed when a shutdown cut it off, and settles its hold at that cost", async () => {
    const controller = new AbortController();
    const reason = new Error("shutting down");
    // Streams 1,000 prompt and 500 output tokens, then the service stops; the adapter reports what it had.
    const cutOff = (req: { signal: AbortSignal }) =>
      new Promise<never>((_, reject) => {
        req.signal.addEventListener("abort", () => reject(new ProviderError(ERROR_CODES.PROVIDER_TIMEOUT, "aborted", { partial: { inputTokens: 1000, outputTokens: 500, outputChars: 2000 } })), { once: true });
        setTimeout(() => controller.abort(reason), 10);
      });
    const p = scriptedProvider("sim", [cutOff]);
    const saved: unknown[] = [];
    const journal = { load: () => Promise.resolve(undefined), save: (_id: string, j: unknown) => (saved.push(structuredClone(j)), Promise.resolve()), remove: () => Promise.resolve() };
    const settled: number[] = [];
    const budget = { reserve: () => Promise.resolve({ ok: true as const, hold: { settle: (usd: number) => (settled.push(usd), Promise.resolve()) } }) };
    const { deps, observed } = harness({ signal: controller.signal, journal, budget, providers: new Map([["sim", p]]) });

    await expect(executeTask(routedTask({ model: "sim:priced", fallbacks: [] }), deps)).rejects.toBe(reason);
    // $1 and $2 per Mtok: 0.001 + 0.001.
    expect(observed).toMatchObject([{ ok: false, model: "sim:priced", inputTokens: 1000, outputTokens: 500, costUsd: 0.002, error: { code: ERROR_CODES.CALL_INTERRUPTED } }]);
    expect(settled).toEqual([0.002]);
    // The journal holds the finished call, no call in flight: the redelivery replays it, billed once.
    const last = JSON.stringify(saved.at(-1));
    expect(last).toContain(ERROR_CODES.CALL_INTERRUPTED);
    expect(last).not.toContain("inFlight");
  });

  it("settles a failed call's budget hold before it backs off for the retry", async () => {
    const events: string[] = [];
    const p = scriptedProvider("sim", [
      () => Promise.reject(new ProviderError(ERROR_CODES.PROVIDER_UNAVAILABLE, "503", { retryable: true, status: 503 })),
      { output: "ok", inputTokens: 10, outputTokens: 10, simulated: true },
    ]);
    const budget = { reserve: () => Promise.resolve({ ok: true as const, hold: { settle: (usd: number) => (events.push(`settle ${usd}`), Promise.resolve()) } }) };
    const sleep = (ms: number): Promise<void> => (events.push(`sleep ${ms > 0}`), Promise.resolve());
    const { deps } = harness({ budget, sleep, providers: new Map([["sim", p]]) });

    const done = await executeTask(routedTask({ model: "sim:priced", fallbacks: [] }), deps);
    expect(done.result.status).toBe("succeeded");
    expect(events).toEqual(["settle 0", "sleep true", `settle ${done.costUsd}`]);
  });

  it("hears a shutdown that came while it read the call journal, and calls no model", async () => {
    const controller = new AbortController();
    const reason = new Error("shutting down");
    const p = scriptedProvider("sim", []);
    // The journal read is slow; the service stops meanwhile.
    const journal = {
      load: () => new Promise<undefined>((resolve) => setTimeout(() => (controller.abort(reason), resolve(undefined)), 20)),
      save: () => Promise.resolve(),
      remove: () => Promise.resolve(),
    };
    const { deps } = harness({ signal: controller.signal, journal, redelivered: true, providers: new Map([["sim", p]]) });

    await expect(executeTask(routedTask({ model: "sim:small", fallbacks: [] }), deps)).rejects.toBe(reason);
    expect(p.requests).toHaveLength(0);
  });
});
