import { describe, expect, it } from "vitest";
import { withoutNul } from "./unnest-insert.js";

/** What the ledger stores for a value: its JSON made safe for jsonb, read back. */
const stored = (value: unknown): unknown => JSON.parse(withoutNul(JSON.stringify(value), "jsonb"));

describe("JSON made safe for jsonb", () => {
  it("turns NUL and lone surrogates into U+FFFD, in values and keys", () => {
    expect(stored({ a: "x\u0000y", b: "\ud800", c: "x\udc00y", "\udfff": 1 })).toEqual({ a: "x\ufffdy", b: "\ufffd", c: "x\ufffdy", "\ufffd": 1 });
    expect(stored(["\ud83d\ud83d\ude00", "\u0000\ud800"])).toEqual(["\ufffd\u{1F600}", "\ufffd\ufffd"]);
  });

  it("reads escapes left to right: escaped backslashes and text that looks like an escape stay as they are", () => {
    const text = ["\\ud800", "\\u0000", "\\\\", 'q"uo\nte\\', "\u{1F600}"];
    expect(stored(text)).toEqual(text);
    // Text "\ud800" then a lone low surrogate: the text is not a high surrogate escape.
    expect(stored({ a: "\\ud800" + "\udc00" })).toEqual({ a: "\\ud800\ufffd" });
    expect(stored({ a: "\\\ud800" })).toEqual({ a: "\\\ufffd" });
  });

  it("leaves text columns to the driver but for NUL", () => {
    expect(withoutNul("a\u0000b\\u0000", "text")).toBe("a\ufffdb\\u0000");
  });
});
