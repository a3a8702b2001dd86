/**
 * The call journal through the real executor loop: a "crash" is a delivery aborted mid-call (the
 * executor's signal), leaving the journal as a dead process would; the next delivery runs on
 * the same in-memory journal with a fresh provider.
 */
import { ERROR_CODES, StrategiesConfig, TaskCompleted, type ModelCall, type ModelConfig, type TaskRouted } from "@llm-router/shared";
import { describe, expect, it, vi } from "vitest";
import { executeTask, type ExecuteDeps } from "./execute-task.js";
import { journalKey, TaskJournal, type CallJournal, type JournalEvent } from "./journal.js";
import type { CompletionRequest, ModelProvider } from "./providers/provider.js";
import { FIXED_NOW, executeDeps, model, routedTask } from "./testing/fixtures.js";
import { answeringProvider, systemOf, type ScriptedProvider } from "./testing/scripted-provider.js";

const MODELS: ModelConfig[] = [
  model("m:small", { inputPerMtok: 1, outputPerMtok: 1, quality: 0.6 }),
  model("m:mid", { inputPerMtok: 2, outputPerMtok: 2, quality: 0.8 }),
  model("m:big", { inputPerMtok: 4, outputPerMtok: 4, quality: 0.95 }),
];
const CONFIG = StrategiesConfig.parse({});

/** A journal in a Map, stored as a copy and read back through its schema (as the KV journal stores and reads it). */
function memoryJournal(): CallJournal & { entries: Map<string, TaskJournal>; loads: number } {
  const entries = new Map<string, TaskJournal>();
  const journal = {
    entries,
    loads: 0,
    load(taskId: string) {
      journal.loads++;
      const entry = entries.get(taskId);
      return Promise.resolve(entry && TaskJournal.parse(structuredClone(entry)));
    },
    save(taskId: string, value: TaskJournal) {
      entries.set(taskId, structuredClone(value));
      return Promise.resolve();
    },
    remove(taskId: string) {
      entries.delete(taskId);
      return Promise.resolve();
    },
  };
  return journal;
}

/** Answers every model; a request `hangs` picks waits, as a call does while its executor dies. */
const provider = (hangs?: (req: CompletionRequest) => boolean): ScriptedProvider => answeringProvider({ hangs });
const CACHED_MODELS: ModelConfig[] = MODELS.map((m) => ({ ...m, cacheReadPerMtok: m.inputPerMtok / 10 }));

function routed(strategy: "single" | "chain" | "ensemble"): TaskRouted {
  const r = routedTask({ taskId: "t:1@x", model: "m:small", fallbacks: ["m:mid", "m:big"], messages: [{ role: "user", content: "Design a cache." }] });
  if (!r.decision.ok) throw new Error("unreachable");
  return { ...r, decision: { ...r.decision, strategy } };
}

interface Delivery {
  deps: ExecuteDeps;
  observed: ModelCall[];
  events: JournalEvent[];
}

function delivery(p: ModelProvider, journal: CallJournal, overrides: Partial<ExecuteDeps> = {}): Delivery {
  const observed: ModelCall[] = [];
  const events: JournalEvent[] = [];
  const deps = executeDeps([p], MODELS, { journal, onCall: (c) => observed.push(c), onJournal: (e) => events.push(e), ...overrides });
  return { deps, observed, events };
}

/**
 * A delivery that dies mid-call: it runs until `p` holds a call it will never answer (and
 * `ready` holds), then is aborted. What it journaled stays; what it held in memory is lost.
 */
async function crashedDelivery(task: TaskRouted, p: ScriptedProvider, journal: CallJournal, ready: () => boolean = () => true): Promise<void> {
  const shutdown = new AbortController();
  const run = executeTask(task, delivery(p, journal, { signal: shutdown.signal }).deps);
  const outcome = run.then(
    () => "completed",
    () => "aborted",
  );
  await vi.waitFor(() => expect(p.requests.length > 0 && ready()).toBe(true));
  shutdown.abort(new Error("executor died"));
  expect(await outcome).toBe("aborted");
}

const summary = (calls: readonly ModelCall[]): [string, string | undefined, string, string][] =>
  calls.map((c) => [c.callId, c.step, c.model, c.ok ? "ok" : c.error.code]);

describe("the call journal", () => {
  it("replays finished steps on a redelivery without calling the provider, reproducing the same calls", async () => {
    const journal = memoryJournal();
    const first = await executeTask(routed("chain"), delivery(provider(), journal).deps);

    const again = provider();
    const second = delivery(again, journal, { redelivered: true });
    const replayed = await executeTask(routed("chain"), second.deps);

    expect(again.requests).toEqual([]);
    expect(replayed.calls).toEqual(first.calls);
    expect(replayed.result).toEqual(first.result);
    expect(replayed.costUsd).toBe(first.costUsd);
    // The first delivery reported those calls; a replay adds none to the metrics.
    expect(second.observed).toEqual([]);
    expect(second.events).toEqual([
      { kind: "replayed", step: "plan@m:small,m:mid,m:big" },
      { kind: "replayed", step: "execute@m:small,m:mid,m:big" },
    ]);
    expect(() => TaskCompleted.parse(replayed)).not.toThrow();
  });

  it("replays a single call's prompt-cache hits: the reference cost (and so the savings) is the first delivery's", async () => {
    const journal = memoryJournal();
    const cached = (): ScriptedProvider => answeringProvider({ cacheReadTokens: 80 });
    const first = await executeTask(routed("single"), executeDeps([cached()], CACHED_MODELS, { journal }));
    const again = cached();
    const replayed = await executeTask(routed("single"), executeDeps([again], CACHED_MODELS, { journal, redelivered: true }));
    expect(again.requests).toEqual([]);
    expect(first.calls[0]).toMatchObject({ cacheReadTokens: 80 });
    // m:big at $4/Mtok, 80 of its 100 prompt tokens at $0.4/Mtok: (20 * 4 + 80 * 0.4 + 50 * 4) / 1e6.
    expect(first.referenceCostUsd).toBeCloseTo(0.000312, 9);
    expect(replayed.referenceCostUsd).toBe(first.referenceCostUsd);
    expect(replayed.calls).toEqual(first.calls);
  });

  it("records a call left in flight as CALL_INTERRUPTED, then calls the model afresh under the next call id", async () => {
    const journal = memoryJournal();
    await crashedDelivery(routed("single"), provider(() => true), journal);
    expect(journal.entries.get("t:1@x")?.steps["answer@m:small,m:mid,m:big"]?.inFlight).toEqual({
      spec: "m:small",
      step: "answer",
      startedAt: FIXED_NOW.toISOString(),
      estimateUsd: expect.any(Number) as number,
      estimateTokens: expect.any(Number) as number,
    });

    const fresh = provider();
    const second = delivery(fresh, journal, { redelivered: true });
    const done = await executeTask(routed("single"), second.deps);

    expect(summary(done.calls)).toEqual([
      ["t:1@x:1", "answer", "m:small", ERROR_CODES.CALL_INTERRUPTED],
      ["t:1@x:2", "answer", "m:small", "ok"],
    ]);
    expect(done.calls[0]).toMatchObject({ costUsd: 0, inputTokens: 0, outputTokens: 0, startedAt: FIXED_NOW.toISOString(), simulated: false });
    expect(done.calls[0]?.ok === false && done.calls[0].error.message).toMatch(/may have billed/);
    expect(fresh.requests.map((r) => r.attempt)).toEqual([2]);
    expect(done.result).toMatchObject({ status: "succeeded", model: "m:small", output: "small answer 1" });
    // The interrupted call is counted now (its executor never counted it); the answer too.
    expect(second.observed).toEqual(done.calls);
    const step = journal.entries.get("t:1@x")?.steps["answer@m:small,m:mid,m:big"];
    expect(step?.calls).toEqual(done.calls);
    expect(step?.inFlight).toBeUndefined();
  });

  it("holds an interrupted call's estimate against the task's cost cap: the provider may have billed it", async () => {
    const journal = memoryJournal();
    await crashedDelivery(routed("single"), provider(() => true), journal);
    const estimate = journal.entries.get("t:1@x")!.steps["answer@m:small,m:mid,m:big"]!.inFlight!.estimateUsd!;
    expect(estimate).toBeGreaterThan(0);
    // A cap that covers one such call, not two: the redelivery may not make the call again.
    const capped = routed("single");
    const task = { ...capped, task: { ...capped.task, constraints: { maxCostUsd: estimate * 1.5 } } };
    const fresh = provider();
    const done = await executeTask(task, delivery(fresh, journal, { redelivered: true }).deps);
    expect(fresh.requests).toEqual([]);
    expect(done.result.status).toBe("failed");
    expect(done.result.status === "failed" && done.result.error.message).toMatch(/cost cap/);
  });

  it("resumes a chain at the execute step when its plan finished before the crash", async () => {
    const journal = memoryJournal();
    const crashing = provider((req) => systemOf(req).startsWith(CONFIG.chain.executePrompt));
    await crashedDelivery(routed("chain"), crashing, journal, () => crashing.requests.length === 2);

    const fresh = provider();
    const done = await executeTask(routed("chain"), delivery(fresh, journal, { redelivered: true }).deps);

    // The plan is not asked for again; the answer follows the plan the first delivery paid for.
    expect(fresh.requests.map(systemOf)).toEqual([`${CONFIG.chain.executePrompt}\n\nsmall answer 1`]);
    expect(summary(done.calls)).toEqual([
      ["t:1@x:1", "plan", "m:small", "ok"],
      ["t:1@x:2", "execute", "m:small", ERROR_CODES.CALL_INTERRUPTED],
      ["t:1@x:3", "execute", "m:small", "ok"],
    ]);
    expect(done.result).toMatchObject({ status: "succeeded", output: "small answer 1" });
    expect(done.costUsd).toBeCloseTo((2 * 150) / 1e6, 12);
  });

  it("tells ensemble members apart by model: the finished ones replay, the cut-off one is called again, call ids stay unique", async () => {
    const journal = memoryJournal();
    const crashing = provider((req) => req.spec === "m:big");
    const finished = (): boolean => Object.values(journal.entries.get("t:1@x")?.steps ?? {}).filter((s) => s.outcome).length === 2;
    await crashedDelivery(routed("ensemble"), crashing, journal, finished);

    const fresh = provider();
    const done = await executeTask(routed("ensemble"), delivery(fresh, journal, { redelivered: true }).deps);

    expect(fresh.requests.map((r) => [r.spec, systemOf(r).startsWith(CONFIG.ensemble.criticPrompt) ? "critic" : "member"])).toEqual([
      ["m:big", "member"],
      ["m:big", "critic"],
    ]);
    const ids = done.calls.map((c) => c.callId);
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids).toEqual(["t:1@x:1", "t:1@x:2", "t:1@x:3", "t:1@x:4", "t:1@x:5"]);
    expect(done.calls.map((c) => [c.step, c.model, c.ok ? "ok" : c.error.code]).slice(2)).toEqual([
      ["member", "m:big", ERROR_CODES.CALL_INTERRUPTED],
      ["member", "m:big", "ok"],
      ["critic", "m:big", "ok"],
    ]);
    expect(done.result).toMatchObject({ status: "succeeded", model: "m:big" });
  });

  it("goes on without the journal when it cannot be read or written", async () => {
    const broken: CallJournal = {
      load: () => Promise.reject(new Error("kv down")),
      // Throwing, not rejecting: reported all the same, and the writes after it still happen.
      save: () => {
        throw new Error("kv down");
      },
      remove: () => Promise.reject(new Error("kv down")),
    };
    const { deps, events } = delivery(provider(), broken, { redelivered: true });
    const done = await executeTask(routed("chain"), deps);
    expect(done.result.status).toBe("succeeded");
    expect(summary(done.calls)).toEqual([
      ["t:1@x:1", "plan", "m:small", "ok"],
      ["t:1@x:2", "execute", "m:small", "ok"],
    ]);
    // Each failure reported: the read, then the writes (coalesced, so how many depends on timing).
    const ops = events.map((e) => (e.kind === "failed" ? e.op : e.kind));
    expect(ops[0]).toBe("load");
    expect(ops.length).toBeGreaterThanOrEqual(3);
    expect(new Set(ops.slice(1))).toEqual(new Set(["save"]));
  });

  it("does not read the journal on a first delivery", async () => {
    const journal = memoryJournal();
    await executeTask(routed("single"), delivery(provider(), journal, { redelivered: false }).deps);
    const p = provider();
    await executeTask(routed("single"), delivery(p, journal, { redelivered: false }).deps);
    expect(journal.loads).toBe(0);
    expect(p.requests).toHaveLength(1);
  });

  it("keys each task by a KV-safe encoding of its id", () => {
    const ids = ["t:1@x", "t:1@y", "a/b c.d", "ünïcode"];
    const keys = ids.map(journalKey);
    for (const key of keys) expect(key).toMatch(/^[-/_=.a-zA-Z0-9]+$/);
    expect(new Set(keys).size).toBe(ids.length);
    expect(keys.map((k) => Buffer.from(k, "base64url").toString("utf8"))).toEqual(ids);
  });
});
