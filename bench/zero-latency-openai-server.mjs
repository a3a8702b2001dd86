// A local server speaking the OpenAI chat-completions wire format that answers at once (0 ms),
// for bench/executor-overhead.mjs. It runs as a forked child process so its work does not share
// the benchmark's event loop or show up in the benchmark's CPU time.
//
// POST /v1/chat/completions answers a JSON completion with usage, or with `"stream": true` in
// the body an SSE stream: a role chunk, one chunk per word of the answer, a finish chunk, a
// usage chunk (`choices: []`, as OpenAI sends it) and `data: [DONE]`. Keep-alive on.
//
// IPC: sends `{ port, output }` (the answer's text) once listening; answers `"stats"` with request counts per client
// (requests carrying `x-bench-baseline` are the raw-fetch baseline) and the first body the
// executor sent; exits when the parent disconnects.
import { createServer } from "node:http";

const OUTPUT_WORDS = ["JetStream", " consumers", " acknowledge", " each", " message", " after", " processing", " it."];
const OUTPUT = OUTPUT_WORDS.join("");
const USAGE = { prompt_tokens: 42, completion_tokens: OUTPUT_WORDS.length, total_tokens: 42 + OUTPUT_WORDS.length };
const BASE = { id: "chatcmpl-bench", created: 1_700_000_000, model: "zero-ms" };

// Serialised once: the server's own cost per request stays small and constant.
const JSON_REPLY = JSON.stringify({
  ...BASE,
  object: "chat.completion",
  choices: [{ index: 0, message: { role: "assistant", content: OUTPUT }, finish_reason: "stop" }],
  usage: USAGE,
});
const chunk = (choices, extra = {}) => `data: ${JSON.stringify({ ...BASE, object: "chat.completion.chunk", choices, ...extra })}\n\n`;
const SSE_EVENTS = [
  chunk([{ index: 0, delta: { role: "assistant", content: "" }, finish_reason: null }]),
  ...OUTPUT_WORDS.map((w) => chunk([{ index: 0, delta: { content: w }, finish_reason: null }])),
  chunk([{ index: 0, delta: {}, finish_reason: "stop" }]),
  chunk([], { usage: USAGE }),
  "data: [DONE]\n\n",
];

const stats = {
  baseline: { json: 0, sse: 0 },
  executor: { json: 0, sse: 0 },
  /** The first request body the executor sent, replayed byte for byte by the baseline. */
  executorBody: undefined,
  errors: 0,
};

const server = createServer((req, res) => {
  if (req.method !== "POST" || req.url !== "/v1/chat/completions") {
    res.writeHead(404, { "content-type": "application/json" }).end('{"error":{"message":"Unknown route"}}');
    return;
  }
  const parts = [];
  req.on("data", (b) => parts.push(b));
  req.on("end", () => {
    const text = Buffer.concat(parts).toString("utf8");
    let body;
    try {
      body = JSON.parse(text);
    } catch {
      stats.errors++;
      res.writeHead(400, { "content-type": "application/json" }).end('{"error":{"message":"body is not JSON"}}');
      return;
    }
    const client = req.headers["x-bench-baseline"] ? stats.baseline : stats.executor;
    if (client === stats.executor && stats.executorBody === undefined) stats.executorBody = text;
    if (body.stream === true) {
      client.sse++;
      res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" });
      // One write per event, as a server generating tokens would: the client's parser sees
      // event boundaries wherever TCP happens to split them.
      for (const event of SSE_EVENTS) res.write(event);
      res.end();
    } else {
      client.json++;
      res.writeHead(200, { "content-type": "application/json", "content-length": Buffer.byteLength(JSON_REPLY) }).end(JSON_REPLY);
    }
  });
});
// Idle keep-alive sockets must outlive the pauses between phases, or the next phase pays reconnects.
server.keepAliveTimeout = 120_000;
server.headersTimeout = 121_000;

server.listen(0, "127.0.0.1", () => {
  process.send?.({ port: server.address().port, output: OUTPUT });
});
process.on("message", (msg) => {
  if (msg === "stats") process.send?.({ stats });
});
process.on("disconnect", () => {
  server.closeAllConnections();
  server.close();
});
