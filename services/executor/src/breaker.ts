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

/** What `admit` let through: an ordinary call, or the half-open breaker's one probe. */
export type Admission = "call" | "probe";

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
  /**
   * Outcomes within the window, counted per second of the time each call ended, oldest first:
   * constant work per call however many calls the window holds (at most window/1 s + 1
   * buckets). A bucket leaves once all of its second is older than the window, so the window
   * is up to a second longer than configured.
   */
  #buckets: { second: number; calls: number; failures: number }[] = [];
  #calls = 0;
  #failures = 0;
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
  admit(now: number): Admission | undefined {
    if (this.#state === "closed") return "call";
    if (this.#state === "open") {
      if (now < this.#until) return undefined;
      this.#transition({ to: "half_open", at: now, reason: "cooldown over: probing with one call" });
    }
    if (this.#probing) return undefined;
    this.#probing = true;
    return "probe";
  }

  /**
   * An admitted call ended with a success or a provider failure. While half-open only the probe
   * decides: a call admitted before the breaker opened that ends now says nothing about the
   * model's recovery (with a 60 s call timeout and a 30 s cooldown, one often does).
   */
  record(failed: boolean, now: number, admission: Admission = "call"): void {
    if (this.#state === "half_open") {
      if (admission !== "probe") return;
      this.#probing = false;
      if (failed) this.#open(now, "the probe call failed");
      else {
        this.#forget();
        this.#transition({ to: "closed", at: now, reason: "the probe call succeeded" });
      }
      return;
    }
    // A call admitted before the breaker opened may end while it is open: it changes nothing.
    if (this.#state === "open") return;
    const second = Math.floor(now / 1000);
    let last = this.#buckets.at(-1);
    if (last?.second !== second) {
      last = { second, calls: 0, failures: 0 };
      this.#buckets.push(last);
    }
    last.calls++;
    this.#calls++;
    if (failed) {
      last.failures++;
      this.#failures++;
    }
    for (let oldest = this.#buckets[0]; oldest && oldest.second * 1000 + 999 <= now - this.options.windowMs; oldest = this.#buckets[0]) {
      this.#calls -= oldest.calls;
      this.#failures -= oldest.failures;
      this.#buckets.shift();
    }
    const calls = this.#calls;
    const failures = this.#failures;
    if (calls >= this.options.minCalls && failures / calls >= this.options.failureRate) {
      this.#open(now, `${failures} of ${calls} calls failed within ${Math.round(this.options.windowMs / 1000)} s`);
    }
  }

  /** An admitted call ended without saying anything about the model (aborted, task deadline). */
  release(admission: Admission = "call"): void {
    if (this.#state === "half_open" && admission === "probe") this.#probing = false;
  }

  #forget(): void {
    this.#buckets = [];
    this.#calls = 0;
    this.#failures = 0;
  }

  #open(now: number, reason: string): void {
    this.#forget();
    this.#until = now + this.options.cooldownMs;
    this.#transition({ to: "open", at: now, reason, until: this.#until });
  }

  #transition(t: BreakerTransition): void {
    this.#state = t.to;
    this.onTransition(t);
  }
}
