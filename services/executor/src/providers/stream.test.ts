import { describe, expect, it } from "vitest";
import { readEvents, type StreamEvent, type StreamFormat } from "./stream.js";

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

async function events(stream: ReadableStream<Uint8Array> | null, framing: StreamFormat["framing"]): Promise<StreamEvent[]> {
  const all: StreamEvent[] = [];
  for await (const event of readEvents(stream, framing)) all.push(event);
  return all;
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
});
