/**
 * Execution strategies: how many model calls answer one task, and how their outputs combine.
 * Each works through `step` — one prompt sent down a list of models until one answers, every
 * call recorded — so retries, breakers, the cost cap and the deadline apply to every sub-call.
 *
 * - `single`: one step.
 * - `chain`: a plan step, then an execute step with the plan in its instructions.
 * - `parallel`: one step per specialist at once, then a synthesis step over their notes (the
 *   specialists that failed are left out; all failing fails the task).
 * - `ensemble`: the chosen model and the next ones in its fallback chain answer at once (each
 *   only on its own model), then a critic step on the strongest of them picks or merges. With
 *   one answer there is nothing to judge; if the critic fails, the strongest member's answer stands.
 */
import type { ChatMessage, ErrorData, ExecutionStrategy, ModelConfig, StrategiesConfig } from "@llm-router/shared";
import type { CompletionResponse } from "./providers/provider.js";

export type StepOutcome = { ok: true; spec: string; response: CompletionResponse } | { ok: false; error: ErrorData };

export interface StepRunner {
  /** Send `messages` to `specs` in order until one answers; `name` labels the recorded calls. */
  step(name: string, specs: readonly string[], messages: readonly ChatMessage[]): Promise<StepOutcome>;
}

export interface StrategyInput {
  strategy: ExecutionStrategy;
  /** The chosen model first, then its fallbacks. */
  chain: readonly string[];
  messages: readonly ChatMessage[];
  config: StrategiesConfig;
  models: ReadonlyMap<string, ModelConfig>;
}

export function runStrategy(runner: StepRunner, input: StrategyInput): Promise<StepOutcome> {
  switch (input.strategy) {
    case "single":
      return runner.step("answer", input.chain, input.messages);
    case "chain":
      return chain(runner, input);
    case "parallel":
      return parallel(runner, input);
    case "ensemble":
      return ensemble(runner, input);
  }
}

async function chain(runner: StepRunner, { chain: specs, messages, config }: StrategyInput): Promise<StepOutcome> {
  const plan = await runner.step("plan", specs, withInstructions(config.chain.planPrompt, messages));
  if (!plan.ok) return failed("plan", plan.error);
  const answer = await runner.step("execute", specs, withInstructions(`${config.chain.executePrompt}\n\n${plan.response.output}`, messages));
  return answer.ok ? answer : failed("execute", answer.error);
}

async function parallel(runner: StepRunner, { chain: specs, messages, config }: StrategyInput): Promise<StepOutcome> {
  const { specialists, synthesisPrompt } = config.parallel;
  const notes = await Promise.all(specialists.map((s) => runner.step(`specialist:${s.name}`, specs, withInstructions(s.prompt, messages))));
  const usable = specialists.flatMap((s, i) => {
    const note = notes[i]!;
    return note.ok ? [`## ${s.name}\n${note.response.output}`] : [];
  });
  if (usable.length === 0) {
    const first = notes.find((n): n is Extract<StepOutcome, { ok: false }> => !n.ok)!;
    return failed("every specialist", first.error);
  }
  const answer = await runner.step("synthesis", specs, withInstructions(`${synthesisPrompt}\n\n${usable.join("\n\n")}`, messages));
  return answer.ok ? answer : failed("synthesis", answer.error);
}

async function ensemble(runner: StepRunner, { chain: specs, messages, config, models }: StrategyInput): Promise<StepOutcome> {
  const members = [...new Set(specs)].slice(0, config.ensemble.size);
  const answers = await Promise.all(members.map((spec) => runner.step("member", [spec], messages)));
  // Strongest first: registry quality, then the selector's order.
  const quality = (spec: string): number => models.get(spec)?.quality ?? 0;
  const good = answers
    .filter((a): a is Extract<StepOutcome, { ok: true }> => a.ok)
    .sort((a, b) => quality(b.spec) - quality(a.spec) || members.indexOf(a.spec) - members.indexOf(b.spec));
  const best = good[0];
  if (!best) return failed("every ensemble member", (answers[0] as Extract<StepOutcome, { ok: false }>).error);
  if (good.length === 1) return best;
  const candidates = good.map((a, i) => `## Answer ${i + 1}\n${a.response.output}`).join("\n\n");
  const verdict = await runner.step("critic", good.map((a) => a.spec), withInstructions(`${config.ensemble.criticPrompt}\n\n${candidates}`, messages));
  return verdict.ok ? verdict : best;
}

/** The strategy's instructions as the first system message (joined to the task's own system message, if any). */
export function withInstructions(instructions: string, messages: readonly ChatMessage[]): ChatMessage[] {
  const [first, ...rest] = messages;
  if (first?.role === "system") return [{ role: "system", content: `${first.content}\n\n${instructions}` }, ...rest];
  return [{ role: "system", content: instructions }, ...messages];
}

function failed(step: string, error: ErrorData): StepOutcome {
  return { ok: false, error: { ...error, message: `${step}: ${error.message}` } };
}
