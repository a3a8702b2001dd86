import { describe, expect, it } from "vitest";
import { compareStrings, mapInBatches } from "./util.js";

describe("mapInBatches", () => {
  it("maps in order, never more than a batch at once", async () => {
    let running = 0;
    let most = 0;
    const out = await mapInBatches(Array.from({ length: 10 }, (_, i) => i), 3, async (i) => {
      running++;
      most = Math.max(most, running);
      await new Promise((r) => setTimeout(r, 1));
      running--;
      return i * 2;
    });
    expect(out).toEqual([0, 2, 4, 6, 8, 10, 12, 14, 16, 18]);
    expect(most).toBe(3);
    expect(await mapInBatches([], 3, () => Promise.resolve(1))).toEqual([]);
  });
});

describe("compareStrings", () => {
  it("orders by code unit, whatever the locale", () => {
    expect(["b", "B", "a", "é", "e"].sort(compareStrings)).toEqual(["B", "a", "b", "e", "é"]);
  });
});
