/**
 * The classifier's strategies composed (issue: rules, learned, LLM, embedding centroids, cascade).
 *
 * - In process (`classifyInProcess`, synchronous, microseconds): the rules decide the tiers and
 *   their confidence; the learned model, when loaded, replaces the rules' pFail prior with its
 *   trained probability. This is what the routing evaluation and the benchmark run.
 * - `cascade` (the default): in process first; only when the rules' confidence is below
 *   `escalateBelow` is the escalation strategy asked (the LLM when configured, else embedding
 *   centroids). Its tiers win when it answers; on a timeout, an error or unparseable output the
 *   in-process result stands and the signals say why.
 * - `llm` / `embedding`: ask that strategy for every task, with the same fallback.
 * - `rules` / `learned`: in process only.
 *
 * pFail always comes from the learned model when one is loaded: the escalation strategies judge
 * tiers, not a weak model's failure rate.
 */
import type { Classification, ClassifierConfig, Task } from "@llm-router/shared";
import { classifyRules, RULES_STRATEGY_VERSION } from "./classify-rules.js";
import { normalizedLower } from "./normalize-text.js";
import { countSecretValues, lastUserIndex } from "./features.js";
import { bestCategory, type CategoryModel } from "./learned/category-model.js";
import { predictPFailText, type PFailModel } from "./learned/pfail-model.js";
import type { EscalationStrategy, StrategyFailure, StrategyOutcome } from "./strategy.js";

export type { EscalationStrategy } from "./strategy.js";

/** A trained pFail model and the version that names it in every classification. */
export interface LearnedModel extends PFailModel {
  readonly version: string;
  /** A category head (`train:classifier --categories`): the classification then names a category. */
  readonly categories?: CategoryModel | undefined;
}

/** Each category model's logits, reused from task to task (classification is synchronous). */
const categoryLogits = new WeakMap<CategoryModel, Float64Array>();

function logitsFor(model: CategoryModel): Float64Array {
  let logits = categoryLogits.get(model);
  if (logits === undefined) {
    logits = new Float64Array(model.heads.length);
    categoryLogits.set(model, logits);
  }
  return logits;
}

type ClassifyInput = Pick<Task, "messages">;

/** The text the learned model reads: the last user message, as the rules do. */
export function learnedText(task: ClassifyInput): string {
  return task.messages[lastUserIndex(task.messages)]?.content ?? "";
}

/** Rules, plus the learned pFail when a model is given. Pure and synchronous. */
export function classifyInProcess(task: ClassifyInput, learned?: LearnedModel): Classification {
  const rules = classifyRules(task);
  if (!learned) return rules;
  // For a lone user message the rules measured exactly the text featurize reads, so it reuses
  // their features instead of classifying again; a longer conversation's differ (turns, context).
  const reuse = task.messages.length === 1 && task.messages[0]?.role === "user";
  const categories = learned.categories && { model: learned.categories, logits: logitsFor(learned.categories) };
  const { pFail, pWeak, pStrong } = predictPFailText(learned, learnedText(task), reuse ? rules.features : undefined, categories);
  rules.features.pFail = pFail;
  rules.features.pWeakOk = pWeak;
  rules.features.pStrongOk = pStrong;
  rules.signals.push(`learned:pFail=${pFail.toFixed(3)} (weak ok ${pWeak.toFixed(2)}, strong ok ${pStrong.toFixed(2)})`);
  const category = categories && bestCategory(categories.model, categories.logits);
  if (category) {
    rules.features.categoryProbability = category.probability;
    rules.signals.push(`learned:category=${category.category} (${category.probability.toFixed(2)})`);
  }
  // A literal of the schema's keys, not a spread of `rules`: the spread cost about 2 µs a task
  // (V8 copies key by key), the literal 0.1 µs.
  const classification: Classification = {
    complexity: rules.complexity,
    risk: rules.risk,
    taskType: rules.taskType,
    confidence: rules.confidence,
    pFail,
    strategy: "rules+learned",
    strategyVersion: `${RULES_STRATEGY_VERSION}+${learned.version}`,
    features: rules.features,
    signals: rules.signals,
  };
  if (category) classification.category = category.category;
  return classification;
}

export interface ClassifierDeps {
  config: Pick<ClassifierConfig, "strategy" | "escalateBelow">;
  learned?: LearnedModel;
  /** The strategy `cascade` escalates to and `llm` / `embedding` use; absent when none is configured. */
  escalation?: EscalationStrategy;
  /** Stops the escalation strategy's background work; called by `close`. */
  onClose?: () => void;
}

/** One question put to the escalation strategy, as operators count it. */
export interface EscalationEvent {
  strategy: EscalationStrategy["name"];
  /** `answered` (its answer decided), `ignored` (it answered less sure than the rules), or why the in-process result stood. */
  outcome: "answered" | "ignored" | StrategyFailure["reason"];
  /** How long the strategy took to answer or fail. */
  seconds: number;
}

export interface Classifier {
  classify(task: Task, signal?: AbortSignal): Promise<Classification>;
  /** Calls `listener` after each escalation (the service counts them); one listener, the last set. */
  onEscalation(listener: (event: EscalationEvent) => void): void;
  /** Stops background work (centroids being built). */
  close(): void;
}

export function createClassifier(deps: ClassifierDeps): Classifier {
  const { config, escalation } = deps;
  const learned = config.strategy === "rules" ? undefined : deps.learned;
  const alwaysAsk = config.strategy === "llm" || config.strategy === "embedding";
  const mayAsk = escalation !== undefined && (alwaysAsk || config.strategy === "cascade");
  let listener: ((event: EscalationEvent) => void) | undefined;
  return {
    onEscalation(l) {
      listener = l;
    },
    close() {
      deps.onClose?.();
    },
    async classify(task, signal) {
      const base = classifyInProcess(task, learned);
      if (!mayAsk || (!alwaysAsk && base.confidence >= config.escalateBelow)) return base;
      const started = performance.now();
      const withheld = escalation.local === false ? withholdingReason(task, base) : undefined;
      const outcome: StrategyOutcome = withheld ? { ok: false, failure: { reason: "withheld", message: withheld } } : await escalation.classify(task, signal);
      // The cascade asked because the rules were unsure; an answer less sure still (a centroid
      // barely nearer than the next, an LLM saying 0) does not replace theirs. `llm` and
      // `embedding` were chosen outright and always decide.
      const ignored = outcome.ok && !alwaysAsk && outcome.verdict.confidence < base.confidence;
      listener?.({ strategy: escalation.name, outcome: outcome.ok ? (ignored ? "ignored" : "answered") : outcome.failure.reason, seconds: (performance.now() - started) / 1000 });
      if (!outcome.ok) {
        base.signals.push(`${escalation.name}:fallback(${outcome.failure.reason})`);
        return base;
      }
      const v = outcome.verdict;
      // What the strategy said, before the rules' critical risk overrules it: on record for audit.
      const said = `${escalation.name}:said(${[v.complexity, v.risk, v.taskType].filter((x) => x !== undefined).join("/")}, ${v.confidence.toFixed(2)})`;
      if (ignored) {
        base.signals.push(said, `${escalation.name}:ignored(less sure than the rules' ${base.confidence.toFixed(2)})`);
        return base;
      }
      return {
        ...base,
        complexity: v.complexity ?? base.complexity,
        // A critical word the rules found is never talked down: risk only goes up.
        risk: base.risk === "critical" ? base.risk : (v.risk ?? base.risk),
        taskType: v.taskType ?? base.taskType,
        confidence: v.confidence,
        strategy: escalation.name,
        // The pFail the selector weighs is still the learned model's: its version stays on record.
        strategyVersion: learned ? `${escalation.version}+${learned.version}` : escalation.version,
        features: { ...base.features, inProcessConfidence: base.confidence },
        signals: [...base.signals, ...v.signals, said],
      };
    },
  };
}

/**
 * Why a request must not leave for a strategy whose model is not local, or undefined: the task
 * is local-only (the selector would never send it to a cloud model either), or one of its user
 * turns holds a secret value (a key, a password) that the classification does not need to see —
 * any turn, not only the last one the rules' features count: the embedding strategy sends them all.
 */
function withholdingReason(task: Task, base: Classification): string | undefined {
  if (task.constraints.localOnly) return "a local-only task is not sent to a model that is not local";
  const last = lastUserIndex(task.messages);
  const holdsSecret =
    (base.features.secretValues ?? 0) > 0 || task.messages.some((m, i) => m.role === "user" && i !== last && countSecretValues(normalizedLower(m.content)) > 0);
  if (holdsSecret) return "a request holding a secret value is not sent to a model that is not local";
  return undefined;
}
