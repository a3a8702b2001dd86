import { ERROR_CODES, ProviderError } from "@llm-router/shared";
import { describe, expect, it } from "vitest";
import { readEvents, type LineLimit, type StreamEvent, type StreamFormat } from "./stream.js";

const LINE_TOO_LONG = new ProviderError(ERROR_CODES.MALFORMED_RESPONSE, "line too long");
const NO_LIMIT: LineLimit = { maxChars: Number.MAX_SAFE_INTEGER, tooLong: () => LINE_TOO_LONG };

/** A body delivered in exactly these byte chunks, as a network read may cut it. */
function body(...chunks: (string | Uint8Array)[]): ReadableStream<Uint8Array> {
  const encoder = new TextEncoder();
  return new ReadableStream({
    start(controller) {
      for (const chunk of chunks) controller.enqueue(typeof chunk === "string" ? encoder.encode(chunk) : chunk);
      controller.close();
    },
  });
}

async function events(stream: ReadableStream<Uint8Array> | null, framing: StreamFormat["framing"], limit = NO_LIMIT): Promise<StreamEvent[]> {
  const all: StreamEvent[] = [];
  for await (const event of readEvents(stream, framing, limit)) all.push(event);
  return all;
}

/**
 * A body made on demand: `head`, then `piece` `reads` times, then `tail`, one read each.
 * `pulled` counts the pieces read; `cancelled` says whether the reader gave up on the rest.
 */
function pulledBody(head: string, piece: string, reads: number, tail: string) {
  const encoder = new TextEncoder();
  const bytes = encoder.encode(piece);
  let pulled = 0;
  let cancelled = false;
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      controller.enqueue(encoder.encode(head));
    },
    pull(controller) {
      if (pulled === reads) {
        controller.enqueue(encoder.encode(tail));
        return controller.close();
      }
      pulled++;
      controller.enqueue(bytes);
    },
    cancel() {
      cancelled = true;
    },
  });
  return { body, pulled: () => pulled, cancelled: () => cancelled };
}

describe("readEvents", () => {
  it("frames server-sent events split anywhere across reads, with CRLF line ends, comments and named events", async () => {
    const euro = new TextEncoder().encode("€"); // three bytes, cut between two reads below
    const stream = body(
      ": OPENROUTER PROCESSING\r\n\r\n",
      'data: {"a":',
      "1}\r\n\r\nevent: message_stop\r\nda",
      "ta: x",
      euro.slice(0, 1),
      euro.slice(1),
      "\r\nid: 7\r\n\r\n",
    );

    expect(await events(stream, "sse")).toEqual([
      { type: undefined, data: '{"a":1}' },
      { type: "message_stop", data: "x€" },
    ]);
  });

  it("joins the data lines of one event with newlines and takes a value without the optional space", async () => {
    expect(await events(body("data:first\ndata: second\n\n"), "sse")).toEqual([{ type: undefined, data: "first\nsecond" }]);
  });

  it("drops an SSE event that no blank line completed before the body ended", async () => {
    expect(await events(body("data: 1\n\ndata: [DONE]\n"), "sse")).toEqual([{ type: undefined, data: "1" }]);
  });

  it("yields each non-blank NDJSON line, the last one even without its newline", async () => {
    expect(await events(body('{"a":1}\n\n{"b"', ':2}\n{"done":true}'), "ndjson")).toEqual([
      { type: undefined, data: '{"a":1}' },
      { type: undefined, data: '{"b":2}' },
      { type: undefined, data: '{"done":true}' },
    ]);
  });

  it("yields nothing for a response without a body", async () => {
    expect(await events(null, "sse")).toEqual([]);
  });

  it("yields llama.cpp's `error:` lines as an error event, ahead of any data in the same event", async () => {
    const llamaError = '{"code":500,"message":"slot crashed","type":"server_error"}';
    expect(await events(body(`data: 1\n\nerror: ${llamaError}\n\ndata: [DONE]\n\n`), "sse")).toEqual([
      { type: undefined, data: "1" },
      { type: "error", data: llamaError },
      { type: undefined, data: "[DONE]" },
    ]);
  });

  it("reads a 4 MiB line delivered in 1,024 reads whole, each read scanned once rather than the open line again", async () => {
    // Re-splitting the open line at every read made this take seconds (quadratic), past the test's timeout.
    const piece = "x".repeat(4096);
    const { body: stream } = pulledBody("data: ", piece, 1024, "\n\n");
    const all = await events(stream, "sse");
    expect(all).toHaveLength(1);
    expect(all[0]?.data).toHaveLength(piece.length * 1024);
    expect(all[0]?.data.replaceAll("x", "")).toBe("");
  });

  it("throws the limit's error for a line longer than maxChars, and cancels the body without reading the rest", async () => {
    const { body: stream, pulled, cancelled } = pulledBody("data: ", "x".repeat(1024), 1000, "\n\n");
    const limit: LineLimit = { maxChars: 10 * 1024, tooLong: () => LINE_TOO_LONG };
    await expect(events(stream, "sse", limit)).rejects.toBe(LINE_TOO_LONG);
    expect(pulled()).toBeLessThan(20);
    expect(cancelled()).toBe(true);
  });

  it("takes a line of exactly maxChars", async () => {
    const limit: LineLimit = { maxChars: 8, tooLong: () => LINE_TOO_LONG };
    expect(await events(body("12345678\n", "1234", "5678"), "ndjson", limit)).toEqual([
      { type: undefined, data: "12345678" },
      { type: undefined, data: "12345678" },
    ]);
  });
});
