/**
 * A counting semaphore with a FIFO queue: at most `limit` holders at once; waiters can be
 * aborted (the task's shutdown or deadline) without losing anyone else's place.
 */
export class Limiter {
  #active = 0;
  readonly #queue: { grant: () => void; reject: (reason: unknown) => void }[] = [];

  constructor(readonly limit: number) {}

  /** Holders now. */
  get active(): number {
    return this.#active;
  }

  /** Waiters now. */
  get waiting(): number {
    return this.#queue.length;
  }

  /** Resolves with a release function once a slot is free; rejects with `signal.reason` if aborted first. */
  acquire(signal: AbortSignal): Promise<() => void> {
    if (signal.aborted) return Promise.reject(signal.reason as Error);
    if (this.#active < this.limit) {
      this.#active++;
      return Promise.resolve(this.#releaser());
    }
    return new Promise((resolve, reject) => {
      const waiter = {
        grant: () => {
          signal.removeEventListener("abort", onAbort);
          resolve(this.#releaser());
        },
        reject,
      };
      const onAbort = (): void => {
        const at = this.#queue.indexOf(waiter);
        if (at >= 0) this.#queue.splice(at, 1);
        reject(signal.reason as Error);
      };
      signal.addEventListener("abort", onAbort, { once: true });
      this.#queue.push(waiter);
    });
  }

  #releaser(): () => void {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.#queue.shift();
      // The slot passes straight to the next waiter: the count stays the same.
      if (next) next.grant();
      else this.#active--;
    };
  }
}
