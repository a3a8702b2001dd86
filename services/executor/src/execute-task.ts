/**
 * The execution loop for one routed task: call the chosen model, retry transient errors with
 * backoff, walk the fallback chain, and account for every call (tokens, latency, cost) so the
 * ledger can bill failed attempts too. Provider specifics live behind `ModelProvider`.
 *
 * Before each call: the model's circuit breaker and its provider's concurrency slot (the
 * `CallGate`), the task's cost cap (a call whose estimate would take the task past it is not
 * made), and the task's deadline (`constraints.maxLatencyMs` from the start of execution: calls
 * are cut off at it, and no retry or fallback starts after it).
 *
 * With a call journal (journal.ts), every step is journaled as it goes, and a redelivered task
 * takes its steps up where an earlier delivery left them: finished ones are replayed, a call
 * left in flight is recorded as CALL_INTERRUPTED and the step runs again.
 */
import { performance } from "node:perf_hooks";
import {
  ERROR_CODES,
  ProviderError,
  cachedTokens,
  callCostUsd,
  countPromptTokens,
  estimateTokens,
  isRetryable,
  MAX_TIMEOUT_MS,
  minDefined,
  modelName,
  NOT_THE_MODELS_FAULT,
  providerKey,
  toErrorData,
  StrategiesConfig,
  type ChatMessage,
  type ErrorData,
  type ModelCall,
  type ModelConfig,
  type TaskCompleted,
  type TaskResult,
  type TaskRouted,
  tierStrategy,
} from "@llm-router/shared";
import { MAX_RETRY_DELAY_MS, backoffDelayMs } from "./backoff.js";
import type { Admission } from "./breaker.js";
import type { CallGate, CallVerdict } from "./call-gate.js";
import { openRunJournal, stepKey, type CallJournal, type InFlightCall, type JournalEvent, type RunJournal } from "./journal.js";
import { runStrategy, type StepOutcome, type StepRunner } from "./strategies.js";
import type { ModelProvider } from "./providers/provider.js";

export interface ExecuteDeps {
  /** Providers by provider key (`createProviders`). */
  providers: ReadonlyMap<string, ModelProvider>;
  /** The model registry by spec: prices and the provider each model belongs to. */
  models: ReadonlyMap<string, ModelConfig>;
  /** Savings are measured against this model's prices. */
  referenceModel: ModelConfig;
  /** The reference for one task (the most expensive model that could have taken it); default `referenceModel`. */
  referenceFor?: (routed: TaskRouted) => ModelConfig;
  /** Retries of a retryable error on the same model before falling back (`executor.retries`). */
  retries: number;
  /** First backoff bound (`executor.backoffMs`). */
  backoffMs: number;
  /** Largest backoff bound (`executor.maxBackoffMs`). */
  maxBackoffMs: number;
  now: () => Date;
  sleep: (ms: number, signal?: AbortSignal) => Promise<void>;
  /** Uniform in [0, 1), for backoff jitter. */
  random: () => number;
  /**
   * Aborts the task (shutdown). `executeTask` then rejects with the signal's reason instead of
   * reporting a failure: the message should be redelivered, not completed as failed.
   */
  signal?: AbortSignal;
  /** Called for every call as it is recorded (metrics). */
  onCall?: (call: ModelCall) => void;
  /**
   * Called once for a task that succeeded although a step of it moved down its fallback chain
   * (its first model failed or was skipped). An ensemble's critic on another model than the
   * selector's first choice is the strategy, not a fallback.
   */
  onFallback?: () => void;
  /** Breakers and per-provider concurrency; default: every call admitted at once. */
  gate?: CallGate;
  /** `policy.maxCostPerTaskUsd`: the task's own `constraints.maxCostUsd` lowers it further. */
  maxCostPerTaskUsd?: number;
  /** Reserves the budget for each paid call; default none (no budgets). */
  budget?: BudgetGuard;
  /** Strategy prompts and settings; default `StrategiesConfig`'s defaults. */
  strategies?: StrategiesConfig;
  /**
   * Asks a human to approve an ensemble's answer (`strategies.ensemble.approval.required`): it
   * publishes the request and resolves with the decision, or `timedOut` after `timeoutMs`.
   * Without it, approval cannot be required and such tasks fail with APPROVAL_TIMEOUT at once.
   */
  approve?: (request: ApprovalRequest, signal: AbortSignal) => Promise<ApprovalVerdict>;
  /**
   * Where the task's steps and calls in flight are journaled (`executor.journal`), so a
   * redelivery does not pay for finished steps again. Default none.
   */
  journal?: CallJournal;
  /**
   * Whether an earlier delivery of the task may have journaled it: false (a first delivery)
   * skips reading the journal. Default true.
   */
  redelivered?: boolean;
  /** Steps replayed from the journal, and journal reads and writes that failed (the task goes on without them). */
  onJournal?: (event: JournalEvent) => void;
}

/**
 * Budget reservations for paid calls (`budgets`): before a call to a cloud model its estimated
 * cost is reserved on every budget of the task, and settled to the actual cost when it ends.
 */
export interface BudgetGuard {
  reserve(task: TaskRouted["task"], estimateUsd: number): Promise<{ ok: true; hold: BudgetHold | undefined } | { ok: false; message: string }>;
}

export interface BudgetHold {
  /** Replace the reservation by what the call cost (0 releases it). Never throws. */
  settle(actualUsd: number): Promise<void>;
}

export interface ApprovalRequest {
  taskId: string;
  tenant: string;
  model: string;
  output: string;
  costUsd: number;
  timeoutMs: number;
}

/**
 * A decision, or none in time. `reviewed` is the answer the approver was shown when it is not the
 * one this delivery produced: a redelivery that ran the strategy again (no call journal, or one
 * that could not be read) has a new answer, but the request, deduplicated, still shows the first.
 */
export type ApprovalVerdict = { granted: boolean; by?: string; reason?: string; reviewed?: { model: string; output: string } } | { timedOut: true };

const DEFAULT_STRATEGIES = StrategiesConfig.parse({});

/** A call with room for fewer output tokens than this is not worth making under a token cap. */
const MIN_OUTPUT_TOKENS = 16;

const OPEN_GATE: CallGate = { admit: () => ({ ok: true, admission: "call" }), acquire: () => Promise.resolve(() => undefined), settle: () => undefined };


interface Run {
  routed: TaskRouted & { decision: { ok: true } };
  deps: ExecuteDeps;
  /** Shutdown: aborting it means "redeliver", never "failed". */
  signal: AbortSignal;
  calls: ModelCall[];
  gate: CallGate;
  costCapUsd: number | undefined;
  /** Aborted when the task's deadline passes; undefined without one. */
  deadline: AbortSignal | undefined;
  /** `performance.now()` at the deadline, or Infinity. */
  deadlineAt: number;
  /** Estimated cost of the calls admitted and not yet recorded (parallel steps): held against the cap. */
  reservedUsd: number;
  /** Likewise, tokens held against `constraints.maxTokens`. */
  reservedTokens: number;
  journal: RunJournal | undefined;
  /** The number of the last call recorded (`<taskId>:<n>`), journaled ones included. */
  lastCallN: number;
  /** How often each step (name and specs) has started, so a repeated one gets a key of its own. */
  stepStarts: Map<string, number>;
  /** Whether a step was answered by a model after its first (this delivery's steps). */
  fellBack: boolean;
}

/** A step being run: its calls (the journal's, then this delivery's) and its journal key. */
interface StepState {
  name: string;
  key: string;
  calls: ModelCall[];
}

export async function executeTask(routed: TaskRouted, deps: ExecuteDeps): Promise<TaskCompleted> {
  const { decision } = routed;
  if (!decision.ok) return completed(routed, deps, { status: "failed", error: decision.error }, [], 0);
  if (deps.signal?.aborted) throw deps.signal.reason;

  const onJournal = deps.onJournal ?? (() => undefined);
  const journal = deps.journal && (await openRunJournal(deps.journal, { taskId: routed.task.id, redelivered: deps.redelivered ?? true, onEvent: onJournal }));
  const link = linkSignal(deps.signal);
  const { maxLatencyMs, maxCostUsd } = routed.task.constraints;
  // A cap past what a timer holds (about 24.8 days) is no deadline: Node would fire the timer at
  // once, or throw. Admission still reads the exact `deadlineAt`.
  const deadline = maxLatencyMs === undefined || maxLatencyMs > MAX_TIMEOUT_MS ? undefined : AbortSignal.timeout(maxLatencyMs);
  const run: Run = {
    routed: { ...routed, decision },
    deps,
    signal: link.signal,
    calls: [],
    gate: deps.gate ?? OPEN_GATE,
    costCapUsd: minDefined(maxCostUsd, deps.maxCostPerTaskUsd),
    deadline,
    deadlineAt: maxLatencyMs === undefined ? Number.POSITIVE_INFINITY : performance.now() + maxLatencyMs,
    reservedUsd: 0,
    reservedTokens: 0,
    journal,
    lastCallN: journal?.lastCallN ?? 0,
    stepStarts: new Map(),
    fellBack: false,
  };
  const runner: StepRunner = { step: (name, specs, messages) => step(run, name, specs, messages) };
  const strategies = deps.strategies ?? DEFAULT_STRATEGIES;
  try {
    const outcome = await runStrategy(runner, {
      strategy: decision.strategy,
      chain: [decision.model, ...decision.fallbacks],
      messages: routed.task.messages,
      config: strategies,
      models: deps.models,
    });
    if (!outcome.ok) return completed(routed, deps, { status: "failed", error: outcome.error }, run.calls, 0);
    const { spec, response } = outcome;
    // Asked whenever the task's tier runs the ensemble, also when the selector ran it as fewer
    // calls to fit a cost cap: a critical task must not skip approval by setting a low cap.
    const ensembleTier = decision.strategy === "ensemble" || tierStrategy(routed.classification, strategies.byTier) === "ensemble";
    if (ensembleTier && strategies.ensemble.approval.required) {
      const approval = await awaitApproval(run, spec, response.output, strategies.ensemble.approval.timeoutMs);
      if (!approval.ok) return completed(routed, deps, { status: "failed", error: approval.error }, run.calls, 0);
      // A grant approves the answer it was shown, and only that one completes the task.
      if (approval.reviewed) {
        const result: TaskResult = { status: "succeeded", model: approval.reviewed.model, output: approval.reviewed.output, simulated: response.simulated };
        return completed(routed, deps, result, run.calls, callCostUsd(referenceOf(routed, deps), decision.estimatedInputTokens, estimateTokens(approval.reviewed.output)));
      }
    }
    const result: TaskResult = { status: "succeeded", model: spec, output: response.output, simulated: response.simulated };
    if (run.fellBack) deps.onFallback?.();
    // Savings compare with one call to the reference model for the same answer: the final call's
    // tokens for a single call, its prompt cache hits included (the reference model would have
    // had them too, at its own cache price); for a multi-call strategy the task's own prompt (not
    // the strategy's longer ones, uncached) and the final output.
    const single = decision.strategy === "single";
    const referenceInput = single ? response.inputTokens : decision.estimatedInputTokens;
    const referenceCostUsd = callCostUsd(referenceOf(routed, deps), referenceInput, response.outputTokens, single ? response : undefined);
    return completed(routed, deps, result, run.calls, referenceCostUsd);
  } finally {
    link.dispose();
    // No journal write may land after the caller deletes the task's journal.
    await journal?.flush();
  }
}

/** One strategy step: `specs` in order (the fallback chain), the first answer wins. */
async function step(run: Run, name: string, specs: readonly string[], messages: readonly ChatMessage[]): Promise<StepOutcome> {
  const resumed = resumeStep(run, name, specs);
  const outcome = "replayed" in resumed ? resumed.replayed : await walkChain(run, resumed.state, specs, messages);
  // Not awaited: the next call's in-flight marker waits for it (writes are in order).
  if ("state" in resumed) void run.journal?.write(resumed.state.key, { calls: [...resumed.state.calls], outcome });
  if (outcome.ok && outcome.spec !== specs[0]) run.fellBack = true;
  return outcome;
}

/**
 * The step as this delivery takes it up. One an earlier delivery finished is replayed: its calls
 * rejoin the task's (that delivery counted them) and its outcome stands, no provider called.
 * Otherwise it starts after the calls an earlier delivery journaled for it, the one it left in
 * flight recorded as CALL_INTERRUPTED.
 */
function resumeStep(run: Run, name: string, specs: readonly string[]): { replayed: StepOutcome } | { state: StepState } {
  const base = stepKey(name, specs, 1);
  const occurrence = (run.stepStarts.get(base) ?? 0) + 1;
  run.stepStarts.set(base, occurrence);
  const state: StepState = { name, key: stepKey(name, specs, occurrence), calls: [] };
  const earlier = run.journal?.earlier(state.key);
  if (!earlier) return { state };
  run.calls.push(...earlier.calls);
  state.calls.push(...earlier.calls);
  if (earlier.outcome) {
    run.deps.onJournal?.({ kind: "replayed", step: state.key });
    return { replayed: earlier.outcome };
  }
  if (earlier.inFlight) {
    record(run, state, interruptedCall(run, earlier.inFlight));
    // Recorded at 0 (its cost is unknown), but it may have been billed: its estimates stay
    // held against the task's cost and token caps for the rest of the task.
    run.reservedUsd += earlier.inFlight.estimateUsd ?? 0;
    run.reservedTokens += earlier.inFlight.estimateTokens ?? 0;
  }
  return { state };
}

/** `specs` in order until one answers. */
async function walkChain(run: Run, state: StepState, specs: readonly string[], messages: readonly ChatMessage[]): Promise<StepOutcome> {
  const failures: string[] = [];
  // A spec listed twice would only repeat the same failure and bill it twice.
  for (const spec of new Set(specs)) {
    const outcome = await tryModel(run, spec, state, messages);
    if (outcome.ok) return outcome;
    failures.push(`${spec}: ${outcome.error.code} ${outcome.error.message}`);
    // After the deadline nothing else may start.
    if (outcome.error.code === ERROR_CODES.DEADLINE_EXCEEDED) return { ok: false, error: { code: ERROR_CODES.DEADLINE_EXCEEDED, message: failures.join("; ") } };
  }
  return { ok: false, error: { code: ERROR_CODES.ALL_MODELS_FAILED, message: failures.join("; ") } };
}

/** A call an earlier delivery started and never finished: what it cost is unknown, so nothing. */
function interruptedCall(run: Run, marker: InFlightCall): ModelCall {
  const simulated = run.deps.providers.get(providerKey(marker.spec))?.type === "simulator";
  const message = `${marker.spec}: the executor stopped mid-call (started ${marker.startedAt}); the provider may have billed it, its tokens and cost are unknown`;
  return { ok: false, ...callBase(run, marker.spec, marker.step, new Date(marker.startedAt), 0), simulated, error: { code: ERROR_CODES.CALL_INTERRUPTED, message, retryable: true } };
}

/** Granted (with the answer the approver saw, when it is not this delivery's), or why the task fails. */
async function awaitApproval(
  run: Run,
  spec: string,
  output: string,
  timeoutMs: number,
): Promise<{ ok: true; reviewed?: { model: string; output: string } } | { ok: false; error: ErrorData }> {
  const { task } = run.routed;
  if (!run.deps.approve) {
    return { ok: false, error: { code: ERROR_CODES.APPROVAL_TIMEOUT, message: "approval is required but this executor has no way to ask for it", retryable: false } };
  }
  const costUsd = run.calls.reduce((sum, c) => sum + c.costUsd, 0);
  const verdict = await run.deps.approve({ taskId: task.id, tenant: task.tenant, model: spec, output, costUsd, timeoutMs }, run.signal);
  if ("timedOut" in verdict) return { ok: false, error: { code: ERROR_CODES.APPROVAL_TIMEOUT, message: `no approval decision within ${timeoutMs} ms`, retryable: false } };
  if (verdict.granted) return verdict.reviewed ? { ok: true, reviewed: verdict.reviewed } : { ok: true };
  const by = verdict.by === undefined ? "" : ` by ${verdict.by}`;
  return { ok: false, error: { code: ERROR_CODES.APPROVAL_DENIED, message: `the answer was denied${by}${verdict.reason === undefined ? "" : `: ${verdict.reason}`}`, retryable: false } };
}

/** Up to `1 + retries` attempts on one model while its errors are retryable. */
async function tryModel(run: Run, spec: string, state: StepState, messages: readonly ChatMessage[]): Promise<StepOutcome> {
  const { deps, signal } = run;
  const { task } = run.routed;
  const model = deps.models.get(spec);
  const provider = model === undefined ? undefined : deps.providers.get(providerKey(spec));
  if (model === undefined || provider === undefined) {
    const error: ErrorData = model
      ? { code: ERROR_CODES.PROVIDER_NOT_CONFIGURED, message: `no provider "${providerKey(spec)}" is configured`, retryable: false }
      : { code: ERROR_CODES.UNKNOWN_MODEL, message: `${spec} is not in the model registry`, retryable: false };
    record(run, state, { ok: false, ...callBase(run, spec, state.name, deps.now(), 0), simulated: false, error });
    return { ok: false, error };
  }

  for (let retry = 0; ; retry++) {
    const admitted = admit(run, spec, model, messages);
    if (!admitted.ok) return { ok: false, error: admitted.error };
    let verdict: CallVerdict = "neutral";
    const startedAt = deps.now();
    const t0 = performance.now();
    let hold: BudgetHold | undefined;
    /** What the call cost, for settling its reservation. */
    let spentUsd = 0;
    /** The call's number, taken when it is sent: concurrent calls (specialists, members) each get their own. */
    let callN: number | undefined;
    /** How long to back off before the retry, once this attempt's holds are released. */
    let retryInMs = 0;
    try {
      // Local models are never held back by a spent cloud budget; paid calls reserve first.
      if (deps.budget && !model.local && admitted.reservedUsd > 0) {
        const reserved = await deps.budget.reserve(task, admitted.reservedUsd);
        if (!reserved.ok) return { ok: false, error: { code: ERROR_CODES.BUDGET_EXHAUSTED, message: `${spec}: ${reserved.message}; not called`, retryable: false } };
        hold = reserved.hold;
      }
      let release: () => void;
      try {
        release = await run.gate.acquire(spec, callSignal(run));
      } catch (err) {
        if (signal.aborted) throw signal.reason;
        // The deadline passed while the call waited for a slot at its provider: it was never
        // made, so there is no call to record (nor to bill).
        return { ok: false, error: run.deadline?.aborted ? deadlineError(run) : toErrorData(err) };
      }
      try {
        // Stopping already: no call is started or journaled as in flight (a provider may not
        // look at an aborted signal before it sends).
        if (signal.aborted) throw signal.reason;
        // Stored before the call starts: a delivery after a crash must know it may have been billed.
        const inFlight = { spec, step: state.name, startedAt: startedAt.toISOString(), estimateUsd: admitted.reservedUsd, estimateTokens: admitted.reservedTokens };
        await run.journal?.write(state.key, { calls: [...state.calls], inFlight });
        callN = ++run.lastCallN;
        const response = await provider.complete({
          spec,
          model: modelName(spec),
          messages,
          maxOutputTokens: admitted.maxOutputTokens,
          taskId: task.id,
          attempt: callN,
          signal: callSignal(run),
        });
        verdict = "ok";
        const costUsd = roundUsd(response.costUsd ?? callCostUsd(model, response.inputTokens, response.outputTokens, response));
        spentUsd = costUsd;
        record(run, state, {
          ok: true,
          ...callBase(run, spec, state.name, startedAt, performance.now() - t0, callN),
          inputTokens: response.inputTokens,
          outputTokens: response.outputTokens,
          ...cachedTokens(response),
          costUsd,
          simulated: response.simulated,
          ...(response.timeToFirstTokenMs === undefined ? {} : { ttftMs: Math.round(response.timeToFirstTokenMs * 1000) / 1000 }),
        });
        return { ok: true, spec, response };
      } finally {
        release();
      }
    } catch (err) {
      // Shutdown, not a provider failure: the task will be redelivered. What the provider had
      // already streamed (and billed) is recorded and journaled now, and its reservation settled
      // at that cost: the redelivery neither loses it nor counts the call again as interrupted.
      if (signal.aborted) {
        if (err instanceof ProviderError && err.partial) {
          const message = `${spec}: cut off by the executor's shutdown after ${err.partial.outputTokens} output tokens`;
          const cut = failedCall(run, spec, state.name, model, startedAt, performance.now() - t0, provider.type === "simulator", { code: ERROR_CODES.CALL_INTERRUPTED, message, retryable: true }, err, callN);
          spentUsd = cut.costUsd;
          record(run, state, cut);
          await run.journal?.write(state.key, { calls: [...state.calls] });
        }
        throw signal.reason;
      }
      const error = run.deadline?.aborted ? deadlineError(run) : toErrorData(err);
      if (!NOT_THE_MODELS_FAULT.has(error.code)) verdict = "failed";
      const simulated = provider.type === "simulator";
      const failed = failedCall(run, spec, state.name, model, startedAt, performance.now() - t0, simulated, error, err, callN);
      spentUsd = failed.costUsd;
      record(run, state, failed);
      // The call is over: a crash from here on must not count it again as interrupted.
      void run.journal?.write(state.key, { calls: [...state.calls] });
      if (error.code === ERROR_CODES.DEADLINE_EXCEEDED) return { ok: false, error };
      const retryAfterMs = err instanceof ProviderError ? err.retryAfterMs : undefined;
      // A Retry-After beyond the longest wait we allow (a daily quota window) will not clear in
      // time: the next model is the better use of the task's latency.
      if (!isRetryable(err) || retry >= deps.retries || (retryAfterMs ?? 0) > MAX_RETRY_DELAY_MS) return { ok: false, error };
      const delay = backoffDelayMs(retry + 1, { baseMs: deps.backoffMs, maxMs: deps.maxBackoffMs, retryAfterMs, random: deps.random });
      // A retry that could only start after the deadline is not worth waiting for.
      if (performance.now() + delay >= run.deadlineAt) return { ok: false, error };
      retryInMs = delay;
    } finally {
      // Released before any wait for a retry: siblings' cap checks and the budget counters see
      // what the failed call cost, not its whole estimate, while this one backs off.
      run.reservedUsd -= admitted.reservedUsd;
      run.reservedTokens -= admitted.reservedTokens;
      run.gate.settle(spec, admitted.admission, verdict);
      await hold?.settle(spentUsd);
    }
    // No timer for a zero delay: setTimeout(0) still costs ≥ 1 ms.
    if (retryInMs > 0) await deps.sleep(retryInMs, signal);
    if (signal.aborted) throw signal.reason;
  }
}

/**
 * Whether the next call to `spec` may start: the deadline, the cost cap, then the breaker (last,
 * because admitting a half-open breaker's probe commits the call). Returns the refusal, if any.
 */
function admit(
  run: Run,
  spec: string,
  model: ModelConfig,
  messages: readonly ChatMessage[],
): { ok: true; reservedUsd: number; reservedTokens: number; maxOutputTokens: number; admission: Admission } | { ok: false; error: ErrorData } {
  if (performance.now() >= run.deadlineAt) return { ok: false, error: deadlineError(run) };
  const { decision, task } = run.routed;
  // A strategy's later calls carry more than the task's prompt (instructions, a plan, notes).
  const inputTokens = Math.max(decision.estimatedInputTokens, countPromptTokens(messages));
  let maxOutputTokens = decision.maxOutputTokens;
  const { maxTokens } = task.constraints;
  if (maxTokens !== undefined) {
    const used = run.calls.reduce((sum, c) => sum + c.inputTokens + c.outputTokens, 0) + run.reservedTokens;
    const room = maxTokens - used - inputTokens;
    if (room < MIN_OUTPUT_TOKENS) {
      const message = `${spec}: the call (~${inputTokens} tokens in) would take the task past its ${maxTokens}-token cap (${used} used or in flight); not called`;
      return { ok: false, error: { code: ERROR_CODES.TOKEN_CAP_REACHED, message, retryable: false } };
    }
    maxOutputTokens = Math.min(maxOutputTokens, room);
  }
  const next = callCostUsd(model, inputTokens, maxOutputTokens);
  if (run.costCapUsd !== undefined) {
    // Spent so far plus what the calls in flight (parallel steps) are expected to cost.
    const committed = run.calls.reduce((sum, c) => sum + c.costUsd, 0) + run.reservedUsd;
    if (committed + next > run.costCapUsd) {
      const message = `${spec}: the call (est. $${next.toFixed(6)}) would take the task past its cost cap of $${run.costCapUsd.toFixed(6)} ($${committed.toFixed(6)} spent or in flight); not called`;
      return { ok: false, error: { code: ERROR_CODES.COST_CAP_REACHED, message, retryable: false } };
    }
  }
  const gate = run.gate.admit(spec);
  if (!gate.ok) return { ok: false, error: { code: ERROR_CODES.CIRCUIT_OPEN, message: gate.reason, retryable: false } };
  run.reservedUsd += next;
  const reservedTokens = maxTokens === undefined ? 0 : inputTokens + maxOutputTokens;
  run.reservedTokens += reservedTokens;
  return { ok: true, reservedUsd: next, reservedTokens, maxOutputTokens, admission: gate.admission };
}

function callSignal(run: Run): AbortSignal {
  return run.deadline ? AbortSignal.any([run.signal, run.deadline]) : run.signal;
}

function deadlineError(run: Run): ErrorData {
  return { code: ERROR_CODES.DEADLINE_EXCEEDED, message: `the task's ${run.routed.task.constraints.maxLatencyMs} ms latency cap ran out`, retryable: false };
}

/**
 * A failed call. A stream that failed part-way was billed for what it delivered: those tokens
 * and their cost are recorded, and the discarded output's length.
 */
function failedCall(run: Run, spec: string, stepName: string, model: ModelConfig, startedAt: Date, latencyMs: number, simulated: boolean, error: ErrorData, err: unknown, callN?: number): ModelCall {
  const base = callBase(run, spec, stepName, startedAt, latencyMs, callN);
  const partial = err instanceof ProviderError ? err.partial : undefined;
  if (!partial) return { ok: false, ...base, simulated, error };
  return {
    ok: false,
    ...base,
    inputTokens: partial.inputTokens,
    outputTokens: partial.outputTokens,
    ...cachedTokens(partial),
    costUsd: roundUsd(partial.costUsd ?? callCostUsd(model, partial.inputTokens, partial.outputTokens, partial)),
    simulated,
    error,
    discardedOutputChars: partial.outputChars,
  };
}

/**
 * The fields every call shares, under the number the call was sent with, else the task's next
 * (after the journaled ones: ids stay unique across deliveries); a failed call costs nothing and
 * reports no tokens unless it says otherwise.
 */
function callBase(run: Run, spec: string, stepName: string, startedAt: Date, latencyMs: number, callN?: number) {
  const n = callN ?? ++run.lastCallN;
  return {
    step: stepName,
    callId: `${run.routed.task.id}:${n}`,
    model: spec,
    attempt: n,
    startedAt: startedAt.toISOString(),
    latencyMs: Math.max(0, Math.round(latencyMs * 1000) / 1000),
    inputTokens: 0,
    outputTokens: 0,
    costUsd: 0,
  };
}

function record(run: Run, state: StepState, call: ModelCall): void {
  run.calls.push(call);
  state.calls.push(call);
  run.deps.onCall?.(call);
}

function referenceOf(routed: TaskRouted, deps: ExecuteDeps): ModelConfig {
  return deps.referenceFor?.(routed) ?? deps.referenceModel;
}

function completed(routed: TaskRouted, deps: ExecuteDeps, result: TaskResult, unordered: ModelCall[], referenceCostUsd: number): TaskCompleted {
  // In call order: replayed steps rejoin in step order, which may differ for parallel steps.
  const calls = [...unordered].sort((a, b) => a.attempt - b.attempt);
  // Sum in integer nano-dollars: adding floats call by call drifts in the last digits.
  const costNanos = calls.reduce((sum, c) => sum + Math.round(c.costUsd * 1e9), 0);
  return {
    v: 1,
    task: routed.task,
    classification: routed.classification,
    decision: routed.decision,
    result,
    calls,
    costUsd: costNanos / 1e9,
    inputTokens: calls.reduce((sum, c) => sum + c.inputTokens, 0),
    outputTokens: calls.reduce((sum, c) => sum + c.outputTokens, 0),
    referenceModel: referenceOf(routed, deps).spec,
    referenceCostUsd,
    completedAt: deps.now().toISOString(),
  };
}

/** Provider-reported costs are floats of any precision; the ledger keeps 9 decimals. */
function roundUsd(usd: number): number {
  return Number.isFinite(usd) && usd > 0 ? Math.round(usd * 1e9) / 1e9 : 0;
}

/**
 * A per-task signal that follows `parent`. Providers combine the signal they get with a
 * deadline via `AbortSignal.any`, which on Node 20 keeps every combined signal reachable from a
 * long-lived parent (nodejs/node#55351): linking per task, and unlinking when it ends, keeps
 * the service's shutdown signal from accumulating one entry per call.
 */
function linkSignal(parent: AbortSignal | undefined): { signal: AbortSignal; dispose: () => void } {
  const controller = new AbortController();
  if (parent === undefined) return { signal: controller.signal, dispose: () => undefined };
  const onAbort = (): void => controller.abort(parent.reason);
  // Aborted already (a shutdown while the journal was read): no event is coming.
  if (parent.aborted) onAbort();
  else parent.addEventListener("abort", onAbort, { once: true });
  return { signal: controller.signal, dispose: () => parent.removeEventListener("abort", onAbort) };
}
