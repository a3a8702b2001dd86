import { describe, expect, it } from "vitest";
import { RoutingEvalFileError } from "./eval-errors.js";
import { parseRoutingEvalJsonl } from "./routing-eval-file.js";

const line = (id: string, outcomes: unknown): string => JSON.stringify({ id, source: "test", category: "math", prompt: "2+2?", outcomes });
const good = (id: string): string => line(id, { strong: { score: 1, cost_usd: 0.002 }, weak: { score: 0, cost_usd: 0.0001 } });

function parseError(text: string): RoutingEvalFileError {
  try {
    parseRoutingEvalJsonl(text, "t.jsonl");
  } catch (err) {
    expect(err).toBeInstanceOf(RoutingEvalFileError);
    return err as RoutingEvalFileError;
  }
  throw new Error("expected the parse to fail");
}

describe("parseRoutingEvalJsonl", () => {
  it("reads every row and skips blank lines", () => {
    const rows = parseRoutingEvalJsonl(`${good("a")}\n\n${good("b")}\n`, "t.jsonl");
    expect(rows.map((r) => r.id)).toEqual(["a", "b"]);
    expect(rows[0]?.outcomes.strong).toEqual({ score: 1, cost_usd: 0.002 });
  });

  it("reads a file that starts with a byte-order mark and has Windows line ends", () => {
    expect(parseRoutingEvalJsonl(`\uFEFF${good("a")}\r\n${good("b")}\r\n`, "t.jsonl").map((r) => r.id)).toEqual(["a", "b"]);
  });

  it("reads a prompts-only row as having no outcomes", () => {
    const rows = parseRoutingEvalJsonl(JSON.stringify({ id: "p", source: "s", category: "coding", prompt: "x" }), "t.jsonl");
    expect(rows[0]?.outcomes).toEqual({});
  });

  it("rejects a row with an out-of-range score, naming its line and field", () => {
    // Line 2 is blank and still counts: line numbers are the file's, as an editor shows them.
    const err = parseError(`${good("a")}\n\n${line("c", { strong: { score: 1.5, cost_usd: 0.002 } })}\n`);
    expect(err.code).toBe("EVAL_FILE_INVALID");
    expect(err.line).toBe(3);
    expect(err.field).toBe("outcomes.strong.score");
    expect(err.message).toContain("t.jsonl:3");
  });

  it("rejects a line that is not JSON with its line number", () => {
    const err = parseError(`${good("a")}\n{"id": "b",\n`);
    expect(err.code).toBe("EVAL_FILE_INVALID");
    expect(err.line).toBe(2);
    expect(err.field).toBeUndefined();
  });

  it("rejects a row without an id", () => {
    const err = parseError(JSON.stringify({ source: "s", category: "c", prompt: "p", outcomes: {} }));
    expect(err.line).toBe(1);
    expect(err.field).toBe("id");
  });

  it("rejects a repeated id, which would count a prompt twice", () => {
    const err = parseError(`${good("a")}\n${good("b")}\n${good("a")}\n`);
    expect(err.line).toBe(3);
    expect(err.field).toBe("id");
    expect(err.message).toContain("line 1");
  });
});
