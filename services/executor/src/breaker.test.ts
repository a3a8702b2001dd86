import { describe, expect, it } from "vitest";
import { CircuitBreaker, type BreakerTransition } from "./breaker.js";

const OPTIONS = { windowMs: 10_000, minCalls: 4, failureRate: 0.5, cooldownMs: 5_000 };

function breaker(): { b: CircuitBreaker; transitions: BreakerTransition[] } {
  const transitions: BreakerTransition[] = [];
  return { b: new CircuitBreaker(OPTIONS, (t) => transitions.push(t)), transitions };
}

describe("CircuitBreaker", () => {
  it("stays closed below the minimum number of calls, however many fail", () => {
    const { b } = breaker();
    for (let i = 0; i < 3; i++) b.record(true, 1000 + i);
    expect(b.state).toBe("closed");
    expect(b.admit(1010)).toBe("call");
  });

  it("opens when the failure rate over the window reaches the threshold, and refuses calls for the cooldown", () => {
    const { b, transitions } = breaker();
    b.record(false, 1000);
    b.record(false, 1001);
    b.record(true, 1002);
    expect(b.state).toBe("closed"); // 1 of 3: too few calls
    b.record(true, 1003); // 2 of 4 = 50%
    expect(b.state).toBe("open");
    expect(transitions).toEqual([{ to: "open", at: 1003, reason: "2 of 4 calls failed within 10 s", until: 6003 }]);
    expect(b.admit(6002)).toBeUndefined();
  });

  it("forgets outcomes older than the window", () => {
    const { b } = breaker();
    b.record(true, 0);
    b.record(true, 1);
    b.record(false, 20_000);
    b.record(false, 20_001);
    b.record(false, 20_002);
    b.record(true, 20_003); // the two old failures are gone: 1 of 4
    expect(b.state).toBe("closed");
  });

  it("after the cooldown lets exactly one probe through; its success closes the circuit", () => {
    const { b, transitions } = breaker();
    for (let i = 0; i < 4; i++) b.record(true, 1000);
    expect(b.admit(6000)).toBe("probe");
    expect(b.state).toBe("half_open");
    expect(b.admit(6001)).toBeUndefined(); // others wait for its outcome
    b.record(false, 6100, "probe");
    expect(b.state).toBe("closed");
    expect(transitions.map((t) => t.to)).toEqual(["open", "half_open", "closed"]);
    expect(b.admit(6200)).toBe("call");
    // Closing starts a fresh window: one failure does not reopen it.
    b.record(true, 6300);
    expect(b.state).toBe("closed");
  });

  it("opens again for another cooldown when the probe fails", () => {
    const { b, transitions } = breaker();
    for (let i = 0; i < 4; i++) b.record(true, 1000);
    expect(b.admit(6000)).toBe("probe");
    b.record(true, 6500, "probe");
    expect(b.state).toBe("open");
    expect(transitions.at(-1)).toEqual({ to: "open", at: 6500, reason: "the probe call failed", until: 11_500 });
    expect(b.admit(11_499)).toBeUndefined();
    expect(b.admit(11_500)).toBe("probe");
  });

  it("frees the probe slot when the probe ends without an outcome (aborted)", () => {
    const { b } = breaker();
    for (let i = 0; i < 4; i++) b.record(true, 1000);
    expect(b.admit(6000)).toBe("probe");
    b.release("probe");
    expect(b.state).toBe("half_open");
    expect(b.admit(6001)).toBe("probe");
  });

  it("while half-open, lets only the probe decide: a call admitted before it opened neither closes nor frees it", () => {
    const { b, transitions } = breaker();
    for (let i = 0; i < 4; i++) b.record(true, 1000);
    expect(b.admit(6000)).toBe("probe");
    // A slow call admitted before the outage ends now, well or badly: nothing changes.
    b.record(false, 6100, "call");
    b.record(true, 6150, "call");
    b.release("call");
    expect(b.state).toBe("half_open");
    expect(b.admit(6200)).toBeUndefined(); // the probe is still out
    b.record(false, 6300, "probe");
    expect(b.state).toBe("closed");
    expect(transitions.map((t) => t.to)).toEqual(["open", "half_open", "closed"]);
  });

  it("ignores calls that end while it is open (admitted before it opened)", () => {
    const { b, transitions } = breaker();
    for (let i = 0; i < 4; i++) b.record(true, 1000);
    // At least minCalls late failures: counted, they would open it again with a later cooldown.
    for (let i = 0; i < OPTIONS.minCalls + 1; i++) b.record(false, 1001 + i);
    b.record(true, 1010);
    expect(transitions).toHaveLength(1);
    expect(transitions[0]).toMatchObject({ to: "open", at: 1000, until: 6000 });
    expect(b.state).toBe("open");
    // The cooldown is the first opening's: a probe goes through at 6000.
    expect(b.admit(6000)).toBe("probe");
  });
});
