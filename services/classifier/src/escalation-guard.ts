/**
 * What stands between the cascade and an escalation strategy that calls out of process:
 *
 * - **Locality.** Whether the strategy's model runs on the operator's own machines. The cascade
 *   never sends a local-only task, or a request the rules found a secret value in, to one that
 *   does not (`withheld`); `policy.cloudAllowed: false` refuses such a strategy at start.
 * - **Admission.** The executor's call gate: the provider's `concurrency` (a local server that
 *   takes one request at a time is not sent 64 classifications at once) and a circuit breaker
 *   (`executor.breaker`), so a classifier model that is down costs each escalated task nothing
 *   instead of its whole deadline. Waiting for a slot counts against the deadline.
 */
import type { CallGate } from "@llm-router/executor";
import { NOT_THE_MODELS_FAULT, type ProviderConfig, type RouterConfig } from "@llm-router/shared";
import type { EscalationStrategy, StrategyOutcome } from "./strategy.js";

/**
 * Whether a model or embedding provider runs on the operator's own machines: the explicit
 * setting; else the registry's `local` for a registered model; else by its provider — the
 * simulator is, Anthropic is not, and an HTTP provider is when its base URL's host is loopback,
 * a private address (RFC 1918, IPv6 unique-local or link-local) or a single-label name (a
 * Compose or Kubernetes service, `ollama`), or ends in `.local` or `.internal`.
 */
export function isLocal(explicit: boolean | undefined, provider: ProviderConfig, registered?: { local: boolean }): boolean {
  if (explicit !== undefined) return explicit;
  if (registered) return registered.local;
  if (provider.type === "simulator") return true;
  if (provider.type === "anthropic") return false;
  return isLocalHost(new URL(provider.baseUrl).hostname);
}

export function isLocalHost(host: string): boolean {
  const h = host.toLowerCase().replace(/^\[|\]$/g, "");
  if (h === "localhost" || h.endsWith(".localhost") || h.endsWith(".local") || h.endsWith(".internal")) return true;
  const v4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(h);
  if (v4) {
    const [a, b] = [Number(v4[1]), Number(v4[2])];
    return a === 127 || a === 10 || (a === 172 && b >= 16 && b <= 31) || (a === 192 && b === 168) || (a === 169 && b === 254);
  }
  if (h.includes(":")) return h === "::1" || /^f[cd][0-9a-f]{2}:/.test(h) || /^fe[89ab][0-9a-f]:/.test(h);
  return !h.includes(".");
}

export interface GuardOptions {
  /** `isLocal` of the strategy's model. */
  local: boolean;
  /** The key the gate knows the model by: the LLM's `provider:model`, or `<provider>:<embedding model>`. */
  spec: string;
  /** The executor's call gate over the strategy's provider. */
  gate: CallGate;
  /** The whole escalation's deadline, waiting for a slot included. */
  timeoutMs: number;
}

/** An escalation strategy with its locality on record, admitted through the gate within its deadline. */
export function guardEscalation<N extends "llm" | "embedding">(inner: EscalationStrategy<N>, o: GuardOptions): EscalationStrategy<N> {
  async function classify(task: Parameters<EscalationStrategy["classify"]>[0], signal?: AbortSignal): Promise<StrategyOutcome> {
    const admitted = o.gate.admit(o.spec);
    if (!admitted.ok) return { ok: false, failure: { reason: "unavailable", message: admitted.reason } };
    const deadline = AbortSignal.timeout(o.timeoutMs);
    const bounded = signal ? AbortSignal.any([signal, deadline]) : deadline;
    let release: (() => void) | undefined;
    let asked = false;
    let verdict: "ok" | "failed" | "neutral" = "neutral";
    try {
      release = await o.gate.acquire(o.spec, bounded);
      bounded.throwIfAborted();
      asked = true;
      const outcome = await inner.classify(task, bounded);
      // A model that answered, even unparseably, is up; a timeout or a provider error counts
      // against it, unless the error is the request's own (NOT_THE_MODELS_FAULT: an answer the
      // output limit cut off, a filtered prompt), as for the executor's breaker: a few such
      // prompts must not open the circuit for every task.
      verdict = outcome.ok || outcome.failure.reason === "unparseable" || outcome.failure.reason === "unavailable" ? "ok" : NOT_THE_MODELS_FAULT.has(outcome.failure.code ?? "") ? "neutral" : "failed";
      return outcome;
    } catch (err) {
      if (signal?.aborted) throw signal.reason;
      if (!deadline.aborted) throw err;
      verdict = "failed";
      const waited = asked ? "answering" : "waiting for a free slot at its provider";
      return { ok: false, failure: { reason: "timeout", message: `${o.spec}: no answer within ${o.timeoutMs} ms (timed out ${waited})` } };
    } finally {
      release?.();
      o.gate.settle(o.spec, admitted.admission, verdict);
    }
  }
  return { name: inner.name, version: inner.version, local: o.local, classify };
}

/** The executor's gate config for one provider, for `createCallGate`. */
export function gateConfig(config: Pick<RouterConfig, "executor">, key: string, provider: ProviderConfig): Pick<RouterConfig, "providers" | "executor"> {
  return { providers: { [key]: provider }, executor: config.executor };
}
