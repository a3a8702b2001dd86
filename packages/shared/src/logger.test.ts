import { Writable } from "node:stream";
import { describe, expect, it } from "vitest";
import { createLogger, logLevelFromEnv } from "./logger.js";

/** A logger whose lines are read back as objects. */
function capture() {
  const lines: Record<string, unknown>[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString().split("\n").filter(Boolean)) lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  return { log: createLogger({ service: "test", destination }), lines };
}

describe("createLogger", () => {
  it("hides credentials, prompts and outputs at any depth and in any case", () => {
    const { log, lines } = capture();
    log.info(
      {
        config: { providers: { openai: { headers: { Authorization: "Bearer sk-1", "X-Api-Key": "k-2", Cookie: "c=3" }, apiKey: "k-4" } } },
        auth: { user: "router", pass: "hunter2" },
        submission: { system: "You are secret", messages: [{ role: "user", content: "my diagnosis" }], prompt: "p" },
        deep: { a: { b: { c: { messages: [{ content: "nested" }] } } } },
        databaseUrl: "postgres://u:pw@h/db",
        result: { output: "the answer" },
        keep: { model: "sim:small", tokens: 3 },
      },
      "hello",
    );
    const text = JSON.stringify(lines[0]);
    for (const secret of ["sk-1", "k-2", "c=3", "k-4", "hunter2", "You are secret", "my diagnosis", "nested", "pw@h", "the answer"]) expect(text).not.toContain(secret);
    expect(lines[0]).toMatchObject({ msg: "hello", keep: { model: "sim:small", tokens: 3 }, auth: { user: "router", pass: "[redacted]" } });
  });

  it("still writes an error's message and stack, and leaves the caller's objects untouched", () => {
    const { log, lines } = capture();
    const context = { apiKey: "k", task: { id: "t1" } };
    log.error({ err: new Error("boom"), context }, "failed");
    expect(lines[0]).toMatchObject({ err: { type: "Error", message: "boom" }, context: { apiKey: "[redacted]", task: { id: "t1" } } });
    expect((lines[0]!.err as { stack: string }).stack).toContain("boom");
    expect(context.apiKey).toBe("k");
  });

  it("reads LOG_LEVEL: a level, the fallback when unset or empty, and an error naming the variable otherwise", () => {
    expect(logLevelFromEnv("debug", "warn")).toBe("debug");
    expect(logLevelFromEnv(undefined, "warn")).toBe("warn");
    expect(logLevelFromEnv("", "info")).toBe("info");
    expect(() => logLevelFromEnv("verbose", "warn")).toThrow(/^LOG_LEVEL: "verbose" is not one of fatal, error, warn, info, debug, trace, silent$/);
  });
});
