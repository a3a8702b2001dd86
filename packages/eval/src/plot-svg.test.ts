import { describe, expect, it } from "vitest";
import { curveSvg } from "./plot-svg.js";

const NUMERIC_ATTRS = new Set(["x", "y", "x1", "y1", "x2", "y2", "cx", "cy", "r", "width", "height"]);

/**
 * A minimal well-formedness check: every tag is closed in order, text holds no stray `<` or `>`,
 * the root is one <svg>, and every coordinate attribute is a finite number.
 * @returns the tag names in document order.
 */
function checkSvg(svg: string): string[] {
  const tagRe = /<(\/?)([A-Za-z][\w:-]*)((?:\s+[\w:-]+="[^"]*")*)\s*(\/?)>/g;
  const stack: string[] = [];
  const names: string[] = [];
  let last = 0;
  let roots = 0;
  for (const m of svg.matchAll(tagRe)) {
    const between = svg.slice(last, m.index);
    expect(between).not.toMatch(/[<>]/);
    last = m.index + m[0].length;
    const [, closing, name, attrs, selfClosing] = m as unknown as [string, string, string, string, string];
    if (closing) {
      expect(stack.pop()).toBe(name);
      continue;
    }
    if (stack.length === 0) roots++;
    names.push(name);
    for (const a of attrs.matchAll(/([\w:-]+)="([^"]*)"/g)) {
      const [, key, value] = a as unknown as [string, string, string];
      if (NUMERIC_ATTRS.has(key)) expect(Number.isFinite(Number(value)), `${key}="${value}"`).toBe(true);
      if (key === "points") {
        for (const pair of value.split(" ")) {
          expect(pair.split(",").map(Number).every(Number.isFinite), `points ${pair}`).toBe(true);
        }
      }
      if (key === "d") {
        expect(value.split(" ").filter((t) => !/^[MLZ]$/.test(t)).map(Number).every(Number.isFinite), `d="${value}"`).toBe(true);
      }
    }
    if (!selfClosing) stack.push(name);
  }
  expect(svg.slice(last).trim()).toBe("");
  expect(stack).toEqual([]);
  expect(roots).toBe(1);
  expect(names[0]).toBe("svg");
  return names;
}

describe("curveSvg", () => {
  const svg = curveSvg({
    title: "PGR vs strong-call share",
    xLabel: "strong-call share",
    yLabel: "PGR",
    series: [
      { name: "mf-router", points: [{ x: 0, y: 0 }, { x: 0.3, y: 0.7 }, { x: 1, y: 1 }] },
      { name: "random", points: [{ x: 0, y: 0 }, { x: 1, y: 1 }] },
    ],
    markers: [{ name: "oracle", x: 0.22, y: 1.32 }],
  });

  it("is a well-formed SVG with numeric coordinates", () => {
    const names = checkSvg(svg);
    expect(names.filter((n) => n === "polyline")).toHaveLength(2);
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
  });

  it("names every series and marker, and labels the axes", () => {
    for (const text of ["mf-router", "random", "oracle", "strong-call share", "PGR", "PGR vs strong-call share"]) {
      expect(svg).toContain(`>${text}</text>`);
    }
  });

  it("spans the data with round ticks", () => {
    // y runs to the oracle's 1.32, so the axis reaches the tick at 1.4 (step 0.2).
    expect(svg).toContain(">1.4</text>");
    expect(svg).toContain(">0.0</text>");
    expect(svg).not.toContain(">1.6</text>");
  });

  it("escapes markup in names and skips non-finite points", () => {
    const out = curveSvg({
      title: "cost <vs> quality",
      xLabel: "USD",
      yLabel: "score",
      series: [{ name: "A & B's", points: [{ x: 1, y: Number.NaN }, { x: 2, y: 0.5 }, { x: 3, y: 0.6 }] }],
    });
    checkSvg(out);
    expect(out).toContain("A &amp; B&#39;s");
    expect(out).toContain("cost &lt;vs&gt; quality");
    expect(out).not.toContain("NaN");
  });

  it("draws an empty or flat plot without dividing by zero", () => {
    checkSvg(curveSvg({ title: "t", xLabel: "x", yLabel: "y", series: [] }));
    const flat = curveSvg({ title: "t", xLabel: "x", yLabel: "y", series: [{ name: "s", points: [{ x: 2, y: 2 }] }] });
    checkSvg(flat);
    expect(flat).not.toContain("NaN");
    expect(flat).not.toContain("Infinity");
  });
});
