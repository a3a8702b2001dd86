/** Each execution strategy's call graph and cost accounting, through the real executor loop. */
import { ERROR_CODES, StrategiesConfig, TaskCompleted, countPromptTokens, type ModelConfig, type TaskRouted } from "@llm-router/shared";
import { describe, expect, it } from "vitest";
import { executeTask, type ApprovalVerdict, type ExecuteDeps } from "./execute-task.js";
import type { CompletionRequest, ModelProvider } from "./providers/provider.js";
import { executeDeps, model, routedTask } from "./testing/fixtures.js";
import { answeringProvider, systemOf, type ScriptedProvider } from "./testing/scripted-provider.js";
import { withInstructions } from "./strategies.js";

const MODELS: ModelConfig[] = [
  model("m:small", { inputPerMtok: 1, outputPerMtok: 1, quality: 0.6 }),
  model("m:mid", { inputPerMtok: 2, outputPerMtok: 2, quality: 0.8 }),
  model("m:big", { inputPerMtok: 4, outputPerMtok: 4, quality: 0.95 }),
  model("m:ref", { inputPerMtok: 10, outputPerMtok: 10, quality: 0.99 }),
];

/** One provider for every model (`<model> answer <n>`), refusing the requests `fails` picks with a 503. */
const provider = (fails?: (req: CompletionRequest) => boolean): ScriptedProvider => answeringProvider({ fails });

function deps(p: ModelProvider, overrides: Partial<ExecuteDeps> = {}): ExecuteDeps {
  return executeDeps([p], MODELS, overrides);
}

function routed(strategy: "single" | "chain" | "parallel" | "ensemble", fields: { model?: string; fallbacks?: string[] } = {}): TaskRouted {
  const r = routedTask({ model: fields.model ?? "m:small", fallbacks: fields.fallbacks ?? ["m:mid", "m:big"], messages: [{ role: "user", content: "Design a cache." }] });
  if (!r.decision.ok) throw new Error("unreachable");
  return { ...r, decision: { ...r.decision, strategy } };
}

const CONFIG = StrategiesConfig.parse({});
/** Every call costs 100 in + 50 out tokens at its model's price per Mtok. */
const cost = (perMtok: number): number => (150 * perMtok) / 1e6;

describe("execution strategies", () => {
  it("single: one call, labelled answer", async () => {
    const p = provider();
    const done = await executeTask(routed("single"), deps(p));
    expect(done.calls.map((c) => [c.model, c.step])).toEqual([["m:small", "answer"]]);
    expect(p.requests[0]?.messages).toEqual([{ role: "user", content: "Design a cache." }]);
  });

  it("chain: a plan, then the answer with the plan in its instructions; both billed", async () => {
    const p = provider();
    const done = await executeTask(routed("chain"), deps(p));
    expect(done.calls.map((c) => [c.model, c.step, c.ok])).toEqual([
      ["m:small", "plan", true],
      ["m:small", "execute", true],
    ]);
    expect(systemOf(p.requests[0]!)).toBe(CONFIG.chain.planPrompt);
    expect(systemOf(p.requests[1]!)).toBe(`${CONFIG.chain.executePrompt}\n\nsmall answer 1`);
    expect(done.result).toMatchObject({ status: "succeeded", model: "m:small", output: "small answer 2" });
    expect(done.costUsd).toBeCloseTo(2 * cost(1), 12);
    // Savings compare with one reference call for the task's own prompt (10 tokens estimated) and the final output.
    expect(done.referenceCostUsd).toBeCloseTo((10 * 10 + 50 * 10) / 1e6, 12);
    expect(() => TaskCompleted.parse(done)).not.toThrow();
  });

  it("chain: a failing plan model falls back within the step, and the answer step starts from the chain's head again", async () => {
    const p = provider((req) => req.spec === "m:small" && systemOf(req) === CONFIG.chain.planPrompt);
    const done = await executeTask(routed("chain"), deps(p));
    expect(done.calls.map((c) => [c.model, c.step, c.ok])).toEqual([
      ["m:small", "plan", false],
      ["m:mid", "plan", true],
      ["m:small", "execute", true],
    ]);
  });

  it("parallel: one call per specialist, then a synthesis of the notes of those that answered", async () => {
    // The code specialist fails on every model of the chain.
    const failing = provider((req) => systemOf(req) === CONFIG.parallel.specialists[1]!.prompt);
    const done = await executeTask(routed("parallel", { fallbacks: [] }), deps(failing));
    const steps = done.calls.map((c) => `${c.step}:${c.ok ? "ok" : "failed"}`).sort();
    expect(steps).toEqual(["specialist:code:failed", "specialist:research:ok", "specialist:review:ok", "synthesis:ok"].sort());
    const synthesis = failing.requests.find((r) => systemOf(r).startsWith(CONFIG.parallel.synthesisPrompt))!;
    expect(systemOf(synthesis)).toContain("## research\nsmall answer");
    expect(systemOf(synthesis)).toContain("## review\nsmall answer");
    expect(systemOf(synthesis)).not.toContain("## code");
    expect(done.result).toMatchObject({ status: "succeeded", model: "m:small" });
    expect(done.costUsd).toBeCloseTo(3 * cost(1), 12); // the failed call costs nothing
  });

  it("parallel: each concurrent call is sent with its own number, the one it is recorded under", async () => {
    const p = provider();
    const done = await executeTask(routed("parallel", { fallbacks: [] }), deps(p));
    const sent = p.requests.map((r) => r.attempt);
    expect(new Set(sent).size).toBe(sent.length);
    expect([...sent].sort()).toEqual(done.calls.map((c) => c.attempt).sort());
    expect(done.calls.map((c) => c.callId).sort()).toEqual(done.calls.map((c) => `task-1:${c.attempt}`).sort());
  });

  it("parallel: fails, naming the step, when every specialist fails", async () => {
    const done = await executeTask(routed("parallel", { fallbacks: [] }), deps(provider(() => true)));
    expect(done.result).toMatchObject({ status: "failed", error: { code: ERROR_CODES.ALL_MODELS_FAILED } });
    expect(done.result.status === "failed" && done.result.error.message).toMatch(/^every specialist: m:small: PROVIDER_UNAVAILABLE/);
    expect(done.calls).toHaveLength(3);
  });

  it("ensemble: the chosen model and its fallbacks answer, the strongest judges", async () => {
    const p = provider();
    const done = await executeTask(routed("ensemble"), deps(p));
    const members = done.calls.filter((c) => c.step === "member").map((c) => c.model).sort();
    expect(members).toEqual(["m:big", "m:mid", "m:small"]);
    const critic = done.calls.find((c) => c.step === "critic")!;
    expect(critic.model).toBe("m:big");
    const criticRequest = p.requests.find((r) => systemOf(r).startsWith(CONFIG.ensemble.criticPrompt))!;
    // Candidates strongest first.
    expect(systemOf(criticRequest)).toMatch(/## Answer 1\nbig answer \d\n\n## Answer 2\nmid answer \d\n\n## Answer 3\nsmall answer \d$/);
    expect(done.result).toMatchObject({ status: "succeeded", model: "m:big", output: "big answer 4" });
    expect(done.costUsd).toBeCloseTo(cost(1) + cost(2) + cost(4) + cost(4), 12);
  });

  it("ensemble: keeps the strongest answer when the critic fails, and skips judging a lone answer", async () => {
    const criticDown = provider((req) => systemOf(req).startsWith(CONFIG.ensemble.criticPrompt));
    const judged = await executeTask(routed("ensemble"), deps(criticDown));
    expect(judged.result).toMatchObject({ status: "succeeded", model: "m:big" });
    expect(judged.calls.filter((c) => c.step === "critic" && !c.ok)).toHaveLength(3); // the critic step walked big, mid, small

    const onlySmall = provider((req) => req.spec !== "m:small");
    const lone = await executeTask(routed("ensemble"), deps(onlySmall));
    expect(lone.result).toMatchObject({ status: "succeeded", model: "m:small" });
    expect(lone.calls.some((c) => c.step === "critic")).toBe(false);
  });

  it.each([
    ["single", undefined, 0],
    ["ensemble", undefined, 0],
    ["single", (req: CompletionRequest) => req.spec === "m:small", 1],
    // Both steps walk past m:small: still one task answered by a fallback.
    ["chain", (req: CompletionRequest) => req.spec === "m:small", 1],
    ["ensemble", (req: CompletionRequest) => req.spec === "m:big" && systemOf(req).startsWith(CONFIG.ensemble.criticPrompt), 1],
  ] as const)("%s: counts a task answered by a fallback once, and a critic on another model than the first choice as none", async (strategy, fails, expected) => {
    let fallbacks = 0;
    const done = await executeTask(routed(strategy), deps(provider(fails), { onFallback: () => fallbacks++ }));
    expect(done.result.status).toBe("succeeded");
    expect(fallbacks).toBe(expected);
  });

  it("counts no fallback for a task that failed", async () => {
    let fallbacks = 0;
    const done = await executeTask(routed("single"), deps(provider(() => true), { onFallback: () => fallbacks++ }));
    expect(done.result.status).toBe("failed");
    expect(fallbacks).toBe(0);
  });

  it("stops a strategy at the cost cap: the plan fits, the answer would not", async () => {
    // Estimated per call on m:small: 10 in + 256 out tokens at $1/Mtok = $0.000266; the plan costs $0.00015.
    const p = provider();
    const done = await executeTask(routed("chain", { fallbacks: [] }), deps(p, { maxCostPerTaskUsd: 0.0004 }));
    expect(done.calls.map((c) => c.step)).toEqual(["plan"]);
    expect(done.result).toMatchObject({ status: "failed", error: { code: ERROR_CODES.ALL_MODELS_FAILED } });
    expect(done.result.status === "failed" && done.result.error.message).toContain("execute: m:small: COST_CAP_REACHED");
  });

  it("gives each further call of a strategy only what the task's token cap leaves, and stops when too little is left", async () => {
    const p = provider();
    const r = routed("chain", { fallbacks: [] });
    // Every call uses 100 in + 50 out; the plan call fits, the execute call gets what is left.
    const capped = { ...r, task: { ...r.task, constraints: { maxTokens: 300 } } };
    const done = await executeTask(capped, deps(p));
    const [plan, execute] = p.requests;
    const inputOf = (q: CompletionRequest): number => countPromptTokens(q.messages);
    expect(plan?.maxOutputTokens).toBe(Math.min(256, 300 - inputOf(plan!)));
    // The plan used 150 tokens; the execute call's own prompt estimate; the rest is its answer.
    expect(execute?.maxOutputTokens).toBe(300 - 150 - inputOf(execute!));
    expect(done.result.status).toBe("succeeded");

    const tight = { ...r, task: { ...r.task, constraints: { maxTokens: 170 } } };
    const stopped = await executeTask(tight, deps(provider()));
    expect(stopped.calls.map((c) => c.step)).toEqual(["plan"]);
    expect(stopped.result.status === "failed" && stopped.result.error.message).toContain("execute: m:small: TOKEN_CAP_REACHED");
  });

  it("holds in-flight parallel calls against the cost cap: no more specialists start than the cap covers", async () => {
    const p = provider();
    // Room for two estimated calls ($0.000266 each), not three.
    const done = await executeTask(routed("parallel", { fallbacks: [] }), deps(p, { maxCostPerTaskUsd: 0.0006 }));
    expect(p.requests.filter((r) => r.messages[0]?.role === "system" && CONFIG.parallel.specialists.some((s) => s.prompt === systemOf(r)))).toHaveLength(2);
    expect(done.costUsd).toBeLessThanOrEqual(0.0006);
  });

  describe("approval (ensemble.approval.required)", () => {
    const strategies = StrategiesConfig.parse({ ensemble: { approval: { required: true, timeoutMs: 1000 } } });
    const approving = (verdict: ApprovalVerdict) => {
      const asked: unknown[] = [];
      return { asked, approve: (req: unknown) => (asked.push(req), Promise.resolve(verdict)) };
    };

    it("completes with the judged answer once granted, after asking with that answer and its cost", async () => {
      const { asked, approve } = approving({ granted: true, by: "oncall" });
      const done = await executeTask(routed("ensemble"), deps(provider(), { strategies, approve }));
      expect(done.result).toMatchObject({ status: "succeeded", model: "m:big", output: "big answer 4" });
      expect(asked).toEqual([{ taskId: "task-1", tenant: "default", model: "m:big", output: "big answer 4", costUsd: done.costUsd, timeoutMs: 1000 }]);
    });

    it("completes with the answer the approver saw when a redelivery's run produced another", async () => {
      const { approve } = approving({ granted: true, by: "oncall", reviewed: { model: "m:mid", output: "the first delivery's answer" } });
      const done = await executeTask(routed("ensemble"), deps(provider(), { strategies, approve }));
      expect(done.result).toMatchObject({ status: "succeeded", model: "m:mid", output: "the first delivery's answer" });
      // Every call of this delivery is still billed.
      expect(done.calls).toHaveLength(4);
      expect(() => TaskCompleted.parse(done)).not.toThrow();
    });

    it("fails with APPROVAL_DENIED and the reason when denied, still billing every call", async () => {
      const { approve } = approving({ granted: false, by: "oncall", reason: "touches production" });
      const done = await executeTask(routed("ensemble"), deps(provider(), { strategies, approve }));
      expect(done.result).toEqual({ status: "failed", error: { code: ERROR_CODES.APPROVAL_DENIED, message: "the answer was denied by oncall: touches production", retryable: false } });
      expect(done.calls).toHaveLength(4);
      expect(done.costUsd).toBeGreaterThan(0);
    });

    it("fails with APPROVAL_TIMEOUT when no decision arrives", async () => {
      const { approve } = approving({ timedOut: true });
      const done = await executeTask(routed("ensemble"), deps(provider(), { strategies, approve }));
      expect(done.result).toMatchObject({ status: "failed", error: { code: ERROR_CODES.APPROVAL_TIMEOUT } });
    });

    it("asks for a critical task run as one call to fit its cost cap: a low cap does not skip approval", async () => {
      const { asked, approve } = approving({ granted: false, by: "oncall" });
      const single = routed("single");
      const critical: TaskRouted = { ...single, classification: { ...single.classification, risk: "critical" } };
      const done = await executeTask(critical, deps(provider(), { strategies, approve }));
      expect(asked).toHaveLength(1);
      expect(done.result).toMatchObject({ status: "failed", error: { code: ERROR_CODES.APPROVAL_DENIED } });
      expect(done.calls).toHaveLength(1);
    });

    it("does not ask for approval of other strategies", async () => {
      const { asked, approve } = approving({ granted: false });
      const done = await executeTask(routed("chain"), deps(provider(), { strategies, approve }));
      expect(done.result.status).toBe("succeeded");
      expect(asked).toHaveLength(0);
    });
  });

  it("joins its instructions to the task's own system message", () => {
    expect(withInstructions("Plan.", [{ role: "system", content: "Be terse." }, { role: "user", content: "Q" }])).toEqual([
      { role: "system", content: "Be terse.\n\nPlan." },
      { role: "user", content: "Q" },
    ]);
  });
});
