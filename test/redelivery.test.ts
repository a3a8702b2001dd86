/**
 * No model call is paid for twice when the executor's message outlives AckWait (2 s here): a
 * long call is kept alive by heartbeats, and a task redelivered after its executor died picks
 * up from the call journal in KV instead of calling every model again.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Registry } from "prom-client";
import { connectNats, ensureTopology, type TaskCompleted } from "@llm-router/shared";
import { journalKey, startExecutor, type CompletionRequest, type CompletionResponse, type ModelProvider } from "@llm-router/executor";
import { completion, startWireServer, type WireServer } from "../services/executor/src/testing/openai-wire-server.js";
import { createHarness, waitFor, type Harness, type Stoppable } from "./support/harness.js";

const MODEL = "wire:local-model";
const PLAN = "1. Read the question. 2. Answer it.";

describe("redelivery of a task the executor was running", () => {
  let h: Harness;
  let wire: WireServer;

  beforeAll(async () => {
    wire = await startWireServer();
    // One local model, which the selector must pick, and the chain strategy (plan → execute) for every tier.
    h = await createHarness({
      config: {
        providers: { wire: { type: "openai-compatible", baseUrl: wire.baseUrl, timeoutMs: 30_000, stream: false } },
        models: [{ spec: MODEL, local: true, quality: 0.95, capabilities: ["chat", "code", "reasoning", "json", "tools", "long-context"], contextWindow: 128_000 }],
        strategies: { byTier: { simple: "chain", moderate: "chain", complex: "chain", expert: "chain", critical: "chain" } },
      },
    });
    await h.startLedger();
    await h.startSelector();
    await h.startClassifier();
  });
  afterAll(async () => {
    await h?.close();
    await wire?.close();
  });

  const planPrompt = (): string => h.config.strategies.chain.planPrompt;
  const isPlan = (body: unknown): boolean => (body as { messages: { content: string }[] }).messages[0]?.content.startsWith(planPrompt()) ?? false;
  const submit = (id: string): void => h.publishRaw(h.topology.subjects["task.submitted"], JSON.stringify({ id, prompt: "How do JetStream consumers acknowledge messages?" }));
  const ledgerCalls = (id: string) =>
    h.query<{ attempt: number; ok: boolean; error_code: string | null; model: string }>("SELECT attempt, ok, error_code, model FROM model_calls WHERE task_id = $1 ORDER BY attempt", [id]);
  const counted = async (registry: Registry, name: string): Promise<number> => (await registry.getSingleMetric(name)?.get())?.values.reduce((sum, v) => sum + v.value, 0) ?? 0;

  it("makes a model call that outlasts AckWait exactly once, and completes the task once", async () => {
    const registry = new Registry();
    const executor = await h.startExecutor({ registry });
    const completed = h.collect(h.topology.subjects["task.completed"]);
    try {
      // The plan takes 5 s, past the 2 s AckWait: only the heartbeats keep the message from being redelivered.
      wire.enqueue({ delayMs: 5000, body: completion(PLAN) }, { body: completion("They ack explicitly.") });
      submit("long:call@1");
      await waitFor(async () => (await h.query("SELECT 1 FROM tasks WHERE task_id = 'long:call@1'")).length > 0, { what: "the ledger row", timeoutMs: 30_000 });

      expect(wire.requests.map((r) => (isPlan(r.body) ? "plan" : "execute"))).toEqual(["plan", "execute"]);
      expect(completed.json<TaskCompleted>().map((c) => c.task.id)).toEqual(["long:call@1"]);
      expect((await ledgerCalls("long:call@1")).map((c) => [c.attempt, c.ok, c.model])).toEqual([
        [1, true, MODEL],
        [2, true, MODEL],
      ]);
      expect(await counted(registry, "router_redeliveries_total")).toBe(0);
    } finally {
      completed.stop();
      await executor.stop();
    }
  });

  it("after an executor dies mid-call, the next one replays the finished plan and records the cut-off call", async () => {
    const id = "crash:after-plan@1";
    /** Which executor was asked for which step, in order. */
    const asked: string[] = [];
    const stepOf = (req: CompletionRequest): string => (req.messages[0]?.content.startsWith(planPrompt()) ? "plan" : "execute");
    const answer = (output: string): CompletionResponse => ({ output, inputTokens: 40, outputTokens: 20, simulated: false });

    // Executor A, on a connection of its own: it answers the plan, then dies during the execute
    // call — its connection goes (no heartbeat, no ack) and the call never returns.
    const a = await connectNats({ url: h.natsUrl, name: `executor-a-${h.id}`, log: h.log });
    const crashing: ModelProvider = {
      key: "wire",
      type: "scripted",
      async complete(req) {
        asked.push(`A:${stepOf(req)}`);
        if (stepOf(req) === "plan") return answer(PLAN);
        await a.nc.close();
        return new Promise<CompletionResponse>(() => undefined);
      },
    };
    const provisioned = await ensureTopology(a.nc, h.topology);
    await startExecutor({ ...provisioned, config: h.config, env: {}, topology: h.topology, log: h.log, registry: new Registry(), providers: new Map([["wire", crashing]]) });

    const completed = h.collect(h.topology.subjects["task.completed"]);
    submit(id);
    await waitFor(() => a.nc.isClosed() || undefined, { what: "executor A to die mid-call" });

    // Executor B takes the redelivery after AckWait.
    const registry = new Registry();
    const healthy: ModelProvider = {
      key: "wire",
      type: "scripted",
      complete(req) {
        asked.push(`B:${stepOf(req)}`);
        return Promise.resolve(answer("They ack explicitly."));
      },
    };
    let b: Stoppable | undefined;
    try {
      b = await h.startExecutor({ registry, providers: new Map([["wire", healthy]]) });
      const rows = await waitFor(async () => ((await ledgerCalls(id)).length === 3 ? ledgerCalls(id) : undefined), { what: "the ledger's calls", timeoutMs: 30_000 });

      // The plan was paid for once; the execute call A never finished is on the bill as interrupted.
      expect(asked).toEqual(["A:plan", "A:execute", "B:execute"]);
      expect(rows.map((c) => [c.attempt, c.ok, c.error_code])).toEqual([
        [1, true, null],
        [2, false, "CALL_INTERRUPTED"],
        [3, true, null],
      ]);
      const done = completed.json<TaskCompleted>();
      expect(done.map((c) => c.task.id)).toEqual([id]);
      expect(done[0]?.calls.map((c) => [c.callId, c.step])).toEqual([
        [`${id}:1`, "plan"],
        [`${id}:2`, "execute"],
        [`${id}:3`, "execute"],
      ]);
      expect(done[0]?.result).toMatchObject({ status: "succeeded", model: MODEL, output: "They ack explicitly." });
      expect(await counted(registry, "router_redeliveries_total")).toBe(1);
      expect(await counted(registry, "router_journal_replayed_steps_total")).toBe(1);
      // The journal is deleted once the ack of the routed message is confirmed.
      await waitFor(async () => (await h.journalKv.get(journalKey(id)))?.operation !== "PUT" || undefined, { what: "the journal to be deleted" });
    } finally {
      completed.stop();
      await b?.stop();
    }
  });

  it("cuts calls still running off after the shutdown grace period, so stopping ends within its bound", async () => {
    let aborted = false;
    let started = false;
    const hanging: ModelProvider = {
      key: "wire",
      type: "scripted",
      complete(req) {
        started = true;
        return new Promise<CompletionResponse>((_, reject) =>
          req.signal.addEventListener("abort", () => {
            aborted = true;
            reject(req.signal.reason as Error);
          }, { once: true }),
        );
      },
    };
    const executor = await h.startExecutor({ registry: new Registry(), providers: new Map([["wire", hanging]]), shutdownGraceMs: 300 });
    submit("shutdown:hanging@1");
    await waitFor(() => started || undefined, { what: "the call to start" });
    const stopping = performance.now();
    await executor.stop();
    expect(performance.now() - stopping).toBeLessThan(5000);
    expect(aborted).toBe(true);
  }, 30_000);
});
