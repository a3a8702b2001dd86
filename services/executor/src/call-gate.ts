/**
 * Admission for each model call: the model's circuit breaker, then a slot at its provider
 * (`providers.<key>.concurrency`). The executor's loop asks the gate before every call and
 * tells it how the call ended.
 */
import { providerKey, type RouterConfig } from "@llm-router/shared";
import { CircuitBreaker, type Admission, type BreakerState, type BreakerTransition } from "./breaker.js";
import { Limiter } from "./limiter.js";

/** How a call ended, for the breaker: `neutral` says nothing about the model (aborted, deadline, bad request). */
export type CallVerdict = "ok" | "failed" | "neutral";

export interface CallGate {
  /** Admits a call to `spec` (settle it later with what this returns), or says why not (its circuit is open). */
  admit(spec: string): { ok: true; admission: Admission } | { ok: false; reason: string };
  /** A slot at the model's provider; resolves to its release, rejects with `signal.reason` if aborted while waiting. */
  acquire(spec: string, signal: AbortSignal): Promise<() => void>;
  /** An admitted call ended. */
  settle(spec: string, admission: Admission, verdict: CallVerdict): void;
}

export interface GateOptions {
  config: Pick<RouterConfig, "providers" | "executor">;
  now: () => number;
  onTransition?: (spec: string, t: BreakerTransition) => void;
}

export interface Gate extends CallGate {
  /** Every model's breaker state that has left `closed` at least once, or was asked about. */
  states(): ReadonlyMap<string, BreakerState>;
}

export function createCallGate(o: GateOptions): Gate {
  const breakers = new Map<string, CircuitBreaker>();
  const limiters = new Map<string, Limiter>();
  for (const [key, provider] of Object.entries(o.config.providers)) {
    if (provider.concurrency !== undefined) limiters.set(key, new Limiter(provider.concurrency));
  }
  const breaker = (spec: string): CircuitBreaker => {
    let b = breakers.get(spec);
    if (!b) {
      b = new CircuitBreaker(o.config.executor.breaker, (t) => o.onTransition?.(spec, t));
      breakers.set(spec, b);
    }
    return b;
  };
  return {
    admit(spec) {
      const admission = breaker(spec).admit(o.now());
      return admission ? { ok: true, admission } : { ok: false, reason: `${spec}: circuit open (recent calls failed); not called` };
    },
    acquire(spec, signal) {
      const limiter = limiters.get(providerKey(spec));
      return limiter ? limiter.acquire(signal) : Promise.resolve(() => undefined);
    },
    settle(spec, admission, verdict) {
      const b = breaker(spec);
      if (verdict === "neutral") b.release(admission);
      else b.record(verdict === "failed", o.now(), admission);
    },
    states: () => new Map([...breakers].map(([spec, b]) => [spec, b.state])),
  };
}
