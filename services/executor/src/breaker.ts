/**
 * A circuit breaker for one model: closed (calls flow) → open when too many recent calls failed
 * (no calls for a cooldown) → half-open (one probe call) → closed on its success, open again on
 * its failure. Pure state over injected timestamps; the executor reports transitions to KV and
 * metrics.
 */
export interface BreakerOptions {
  windowMs: number;
  minCalls: number;
  failureRate: number;
  cooldownMs: number;
}

export type BreakerState = "closed" | "open" | "half_open";

export interface BreakerTransition {
  to: BreakerState;
  /** When it changed. */
  at: number;
  /** For people: why it changed ("4 of 5 calls failed within 30 s"). */
  reason: string;
  /** When an open breaker will let a probe through. */
  until?: number;
}

export class CircuitBreaker {
  #state: BreakerState = "closed";
  /** Outcomes within the window, oldest first: the time each call ended and whether it failed. */
  #outcomes: { at: number; failed: boolean }[] = [];
  #until = 0;
  #probing = false;

  constructor(
    private readonly options: BreakerOptions,
    private readonly onTransition: (t: BreakerTransition) => void = () => undefined,
  ) {}

  get state(): BreakerState {
    return this.#state;
  }

  /**
   * Whether a call may start at `now`. After the cooldown the first caller is admitted as the
   * probe (half-open); everyone else waits for its outcome. An admitted call must be settled
   * with `record` (or `release` when it ended without an outcome), or the probe slot stays taken.
   */
  admit(now: number): boolean {
    if (this.#state === "closed") return true;
    if (this.#state === "open") {
      if (now < this.#until) return false;
      this.#transition({ to: "half_open", at: now, reason: "cooldown over: probing with one call" });
    }
    if (this.#probing) return false;
    this.#probing = true;
    return true;
  }

  /** An admitted call ended with a success or a provider failure. */
  record(failed: boolean, now: number): void {
    if (this.#state === "half_open") {
      this.#probing = false;
      if (failed) this.#open(now, "the probe call failed");
      else {
        this.#outcomes = [];
        this.#transition({ to: "closed", at: now, reason: "the probe call succeeded" });
      }
      return;
    }
    // A call admitted before the breaker opened may end while it is open: it changes nothing.
    if (this.#state === "open") return;
    this.#outcomes.push({ at: now, failed });
    while (this.#outcomes.length > 0 && this.#outcomes[0]!.at <= now - this.options.windowMs) this.#outcomes.shift();
    const failures = this.#outcomes.filter((o) => o.failed).length;
    const calls = this.#outcomes.length;
    if (calls >= this.options.minCalls && failures / calls >= this.options.failureRate) {
      this.#open(now, `${failures} of ${calls} calls failed within ${Math.round(this.options.windowMs / 1000)} s`);
    }
  }

  /** An admitted call ended without saying anything about the model (aborted, task deadline). */
  release(): void {
    if (this.#state === "half_open") this.#probing = false;
  }

  #open(now: number, reason: string): void {
    this.#outcomes = [];
    this.#until = now + this.options.cooldownMs;
    this.#transition({ to: "open", at: now, reason, until: this.#until });
  }

  #transition(t: BreakerTransition): void {
    this.#state = t.to;
    this.onTransition(t);
  }
}
