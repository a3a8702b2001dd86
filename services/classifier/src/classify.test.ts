import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { Classification, ClassifierConfig, type Task } from "@llm-router/shared";
import { classifyInProcess, createClassifier, type EscalationEvent, type EscalationStrategy, type LearnedModel } from "./classify.js";
import { classifyRules, RULES_STRATEGY_VERSION } from "./classify-rules.js";
import { categoryModel } from "./learned/category-model.js";
import { loadWeights } from "./learned/weights.js";
import { codingAndWritingHeads } from "./testing/category-heads.js";
import type { StrategyOutcome } from "./strategy.js";

const bundled = (): LearnedModel => loadWeights(JSON.parse(readFileSync(new URL("../weights/default.json", import.meta.url), "utf8")));

const task = (content: string): Task => ({
  v: 1,
  id: "t1",
  tenant: "default",
  messages: [{ role: "user", content }],
  constraints: {},
  submittedAt: "2026-01-01T00:00:00.000Z",
});

/** An escalation strategy with a scripted answer that counts its calls. */
function scripted(outcome: StrategyOutcome): EscalationStrategy & { calls: number } {
  return {
    name: "llm",
    version: "llm-json-2",
    calls: 0,
    classify() {
      this.calls++;
      return Promise.resolve(outcome);
    },
  };
}

const verdict: StrategyOutcome = { ok: true, verdict: { complexity: "expert", taskType: "reasoning", risk: "normal", confidence: 0.9, signals: ["llm:ollama:qwen3"] } };
// "hmm" gives the rules little evidence: low confidence, so the cascade escalates.
const vague = task("hmm");
const clear = task("Write a Python function that parses an ISO 8601 date and add unit tests for it.");

describe("classifyInProcess", () => {
  it("is the rules alone without a learned model, with no pFail", () => {
    const c = classifyInProcess(clear);
    expect(c).toEqual(classifyRules(clear));
    expect(c.pFail).toBeUndefined();
  });

  it("adds the learned pFail and names both strategies and the weights version", () => {
    const learned = bundled();
    const c = Classification.parse(classifyInProcess(clear, learned));
    expect(c.pFail).toBeGreaterThan(0);
    expect(c.pFail).toBeLessThan(1);
    expect(c.strategy).toBe("rules+learned");
    expect(c.strategyVersion).toBe(`${RULES_STRATEGY_VERSION}+${learned.version}`);
    expect(c.features.pFail).toBe(c.pFail);
    expect(c.signals.some((s) => s.startsWith("learned:pFail="))).toBe(true);
    // The bundled weights have no category head.
    expect(c).not.toHaveProperty("category");
  });

  it("names the category when the learned model has a category head, with the same pFail", () => {
    const learned = bundled();
    const withCategories: LearnedModel = { ...learned, categories: categoryModel(codingAndWritingHeads(learned.dims), learned.dims) };
    const c = Classification.parse(classifyInProcess(clear, withCategories));
    expect(c.category).toBe("coding");
    expect(c.features.categoryProbability).toBeGreaterThan(0.5);
    expect(c.signals).toContainEqual(expect.stringMatching(/^learned:category=coding \(0\.\d\d\)$/));
    expect(c.pFail).toBe(classifyInProcess(clear, learned).pFail);
    expect(classifyInProcess(task("Write a poem about the sea."), withCategories).category).toBe("writing");
  });

  it("gives a hard multi-step maths problem a higher pFail than a one-line fact question", () => {
    const learned = bundled();
    const easy = classifyInProcess(task("What is the capital of France?"), learned).pFail!;
    const hard = classifyInProcess(
      task("A train leaves at 3:15 pm at 80 km/h; a second leaves the same station at 4:05 pm at 110 km/h on the same track. Janet pays $2 per km for the first and 15% more for the second. How many dollars does she pay in total if both trains stop when the second catches the first?"),
      learned,
    ).pFail!;
    expect(hard).toBeGreaterThan(easy);
  });
});

describe("createClassifier", () => {
  // The default threshold: "hmm" matches nothing, and no evidence is the lowest confidence.
  const config = { strategy: "cascade" as const, escalateBelow: ClassifierConfig.parse({}).escalateBelow };

  it("cascade: keeps the in-process result when its confidence is high enough", async () => {
    const llm = scripted(verdict);
    const c = await createClassifier({ config, escalation: llm, learned: bundled() }).classify(clear);
    expect(classifyRules(clear).confidence).toBeGreaterThanOrEqual(config.escalateBelow);
    expect(llm.calls).toBe(0);
    expect(c.strategy).toBe("rules+learned");
  });

  it("cascade: escalates below the threshold and records the deciding strategy and the learned pFail", async () => {
    expect(classifyRules(vague).confidence).toBeLessThan(config.escalateBelow);
    const llm = scripted(verdict);
    const learned = bundled();
    const c = Classification.parse(await createClassifier({ config, escalation: llm, learned }).classify(vague));
    expect(llm.calls).toBe(1);
    expect(c).toMatchObject({ complexity: "expert", taskType: "reasoning", confidence: 0.9, strategy: "llm", strategyVersion: `llm-json-2+${learned.version}` });
    expect(c.pFail).toBe(classifyInProcess(vague, learned).pFail);
    expect(c.features.inProcessConfidence).toBe(classifyRules(vague).confidence);
    expect(c.signals).toContain("llm:ollama:qwen3");
  });

  it("cascade: escalates exactly below the configured threshold, not the default one", async () => {
    const sure = classifyRules(clear).confidence;
    expect(sure).toBeGreaterThanOrEqual(config.escalateBelow);
    // Just above the clear task's confidence: asked; at it: not asked.
    const above = scripted(verdict);
    await createClassifier({ config: { strategy: "cascade", escalateBelow: sure + 0.001 }, escalation: above }).classify(clear);
    expect(above.calls).toBe(1);
    const at = scripted(verdict);
    await createClassifier({ config: { strategy: "cascade", escalateBelow: sure }, escalation: at }).classify(clear);
    expect(at.calls).toBe(0);
    // Below the vague task's confidence: even that one is not asked.
    const low = scripted(verdict);
    await createClassifier({ config: { strategy: "cascade", escalateBelow: classifyRules(vague).confidence }, escalation: low }).classify(vague);
    expect(low.calls).toBe(0);
  });

  it("cascade: keeps the in-process result when the escalation's answer is less sure than the rules", async () => {
    const unsure: StrategyOutcome = { ok: true, verdict: { complexity: "expert", taskType: "reasoning", confidence: 0.1, signals: [] } };
    const rules = classifyRules(vague);
    expect(rules.confidence).toBeGreaterThan(0.1);
    const events: EscalationEvent[] = [];
    const cascade = createClassifier({ config, escalation: scripted(unsure) });
    cascade.onEscalation((e) => events.push(e));
    const c = await cascade.classify(vague);
    expect(events.map((e) => e.outcome)).toEqual(["ignored"]);
    expect(c).toMatchObject({ strategy: "rules", complexity: rules.complexity, taskType: rules.taskType, confidence: rules.confidence });
    expect(c.signals).toContain(`llm:ignored(less sure than the rules' ${rules.confidence.toFixed(2)})`);
    // Chosen outright, the LLM decides however sure it is.
    const chosen = await createClassifier({ config: { strategy: "llm", escalateBelow: 0.5 }, escalation: scripted(unsure) }).classify(vague);
    expect(chosen).toMatchObject({ strategy: "llm", complexity: "expert", confidence: 0.1 });
  });

  it("cascade: falls back to the in-process result on a failed escalation and says why", async () => {
    const llm = scripted({ ok: false, failure: { reason: "timeout", message: "no answer within 3000 ms" } });
    const c = await createClassifier({ config, escalation: llm }).classify(vague);
    expect(c.strategy).toBe("rules");
    expect(c.signals).toContain("llm:fallback(timeout)");
  });

  it("cascade: tells its escalation listener each question's strategy, outcome and time, and nothing when it does not ask", async () => {
    const events: EscalationEvent[] = [];
    const timingOut = createClassifier({ config, escalation: scripted({ ok: false, failure: { reason: "timeout", message: "late" } }) });
    timingOut.onEscalation((e) => events.push(e));
    await timingOut.classify(vague);
    await timingOut.classify(clear); // confident rules: no question
    const answering = createClassifier({ config, escalation: scripted(verdict) });
    answering.onEscalation((e) => events.push(e));
    await answering.classify(vague);
    expect(events.map(({ strategy, outcome }) => ({ strategy, outcome }))).toEqual([
      { strategy: "llm", outcome: "timeout" },
      { strategy: "llm", outcome: "answered" },
    ]);
    for (const e of events) expect(e.seconds).toBeGreaterThanOrEqual(0);
  });

  it("never lowers a critical risk the rules found, and keeps what the strategy said on record", async () => {
    const risky = task("drop the production database");
    expect(classifyRules(risky).risk).toBe("critical");
    const c = await createClassifier({ config: { strategy: "llm", escalateBelow: 0.5 }, escalation: scripted(verdict) }).classify(risky);
    expect(c.strategy).toBe("llm");
    expect(c.risk).toBe("critical");
    expect(c.signals).toContain("llm:said(expert/normal/reasoning, 0.90)");
  });

  describe("a strategy whose model is not local", () => {
    const cloud = (): ReturnType<typeof scripted> => Object.assign(scripted(verdict), { local: false });
    const localOnly: Task = { ...vague, constraints: { localOnly: true } };
    // Vague to the rules (no task type matched), but it holds a credential's value.
    const withSecret = task("hmm password=hunter2secret");

    it("is never sent a local-only task or a request holding a secret value: the in-process result stands, withheld", async () => {
      expect(classifyRules(withSecret).features.secretValues).toBeGreaterThan(0);
      for (const t of [localOnly, withSecret]) {
        const llm = cloud();
        const events: EscalationEvent[] = [];
        const classifier = createClassifier({ config: { strategy: "llm", escalateBelow: 0.5 }, escalation: llm });
        classifier.onEscalation((e) => events.push(e));
        const c = await classifier.classify(t);
        expect(llm.calls).toBe(0);
        expect(c.strategy).toBe("rules");
        expect(c.signals).toContain("llm:fallback(withheld)");
        expect(events.map((e) => e.outcome)).toEqual(["withheld"]);
      }
    });

    it("is not sent a conversation whose earlier turn holds a secret value, though its last turn does not", async () => {
      const earlier: Task = {
        ...vague,
        messages: [
          { role: "user", content: "my aws key is AKIAIOSFODNN7EXAMPLE" },
          { role: "assistant", content: "Noted." },
          { role: "user", content: "hmm" },
        ],
      };
      expect(classifyRules(earlier).features.secretValues).toBe(0);
      const llm = cloud();
      const c = await createClassifier({ config: { strategy: "llm", escalateBelow: 0.5 }, escalation: llm }).classify(earlier);
      expect(llm.calls).toBe(0);
      expect(c.signals).toContain("llm:fallback(withheld)");
    });

    it("is asked about other tasks; a local one is asked about local-only tasks too", async () => {
      const llm = cloud();
      expect((await createClassifier({ config, escalation: llm }).classify(vague)).strategy).toBe("llm");
      const local = Object.assign(scripted(verdict), { local: true });
      expect((await createClassifier({ config, escalation: local }).classify(localOnly)).strategy).toBe("llm");
      expect([llm.calls, local.calls]).toEqual([1, 1]);
    });
  });

  it("llm: asks for every task, however confident the rules are", async () => {
    const llm = scripted(verdict);
    await createClassifier({ config: { strategy: "llm", escalateBelow: 0.5 }, escalation: llm }).classify(clear);
    expect(llm.calls).toBe(1);
  });

  it("rules: ignores the learned model and never escalates", async () => {
    const llm = scripted(verdict);
    const c = await createClassifier({ config: { strategy: "rules", escalateBelow: 1 }, escalation: llm, learned: bundled() }).classify(vague);
    expect(llm.calls).toBe(0);
    expect(c.pFail).toBeUndefined();
  });
});
