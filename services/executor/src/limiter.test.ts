import { describe, expect, it } from "vitest";
import { Limiter } from "./limiter.js";

describe("Limiter", () => {
  it("admits up to the limit at once, then hands slots over in arrival order", async () => {
    const limiter = new Limiter(2);
    const signal = new AbortController().signal;
    const a = await limiter.acquire(signal);
    const b = await limiter.acquire(signal);
    const order: string[] = [];
    const c = limiter.acquire(signal).then((release) => (order.push("c"), release));
    const d = limiter.acquire(signal).then((release) => (order.push("d"), release));
    expect(limiter.active).toBe(2);
    expect(limiter.waiting).toBe(2);
    b();
    b(); // a second release of the same slot does nothing
    const releaseC = await c;
    expect(order).toEqual(["c"]);
    expect(limiter.waiting).toBe(1);
    a();
    (await d)();
    releaseC();
    expect(order).toEqual(["c", "d"]);
    expect(limiter.active).toBe(0);
  });

  it("rejects an aborted waiter with the signal's reason and keeps the others' places", async () => {
    const limiter = new Limiter(1);
    const release = await limiter.acquire(new AbortController().signal);
    const controller = new AbortController();
    const abandoned = limiter.acquire(controller.signal);
    const kept = limiter.acquire(new AbortController().signal);
    controller.abort(new Error("shutdown"));
    await expect(abandoned).rejects.toThrow("shutdown");
    expect(limiter.waiting).toBe(1);
    release();
    (await kept)();
    expect(limiter.active).toBe(0);
  });

  it("rejects at once when the signal is already aborted", async () => {
    const controller = new AbortController();
    controller.abort(new Error("gone"));
    await expect(new Limiter(1).acquire(controller.signal)).rejects.toThrow("gone");
  });
});
