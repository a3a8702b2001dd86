#!/usr/bin/env node
// The rule classifier on prompts built to make its patterns backtrack: ms per call at 64 KB and
// 1 MB (a task body up to NATS's default max_payload). The classifier is single-threaded: a
// pattern that went quadratic here would hold every other task, and the ack heartbeats, for the
// whole call.
//   npm run build && node bench/classifier-adversarial.mjs
import { classifyRules } from "@llm-router/classifier";

const repeat = (unit, bytes, tail = "") => unit.repeat(Math.floor(bytes / unit.length)) + tail;
const cases = [
  ["JWT prefixes", (n) => repeat("eyj-", n)],
  ["secret names", (n) => repeat("token", n, " x token: abcd")],
  ["api key names", (n) => repeat("api_key_", n, " apikey: abcd")],
  ["deletion verbs", (n) => repeat("delete-", n)],
  ["verb, spaces", (n) => repeat(`delete${" ".repeat(30)}x `, n)],
  ["removal, spaces", (n) => `please remove${" ".repeat(n - 14)}x`],
  ["removal verbs", (n) => repeat("remove-", n)],
  ["translate verbs", (n) => repeat("translate-", n)],
  ["key prefixes", (n) => repeat("sk-", n)],
  ["list items", (n) => repeat("1. x\n", n)],
  ["maths", (n) => repeat("1 + 1 ", n)],
  ["fences", (n) => repeat("```", n)],
  ["prose", (n) => repeat("Design a service that ingests events and explain the trade-offs. ", n)],
];
console.log("rule classifier on adversarial prompts, ms per call (median of 3)");
console.log(`  ${"".padEnd(16)} ${"64 KB".padStart(8)} ${"1 MB".padStart(8)}`);
let worst = 0;
for (const [name, make] of cases) {
  const cells = [];
  for (const bytes of [64 * 1024, 1_000_000]) {
    const messages = [{ role: "user", content: make(bytes) }];
    const runs = [];
    for (let r = 0; r < 3; r++) {
      const start = process.hrtime.bigint();
      classifyRules({ messages });
      runs.push(Number(process.hrtime.bigint() - start) / 1e6);
    }
    runs.sort((a, b) => a - b);
    worst = Math.max(worst, runs[1]);
    cells.push(runs[1].toFixed(1).padStart(8));
  }
  console.log(`  ${name.padEnd(16)} ${cells.join(" ")}`);
}
console.log(`worst: ${worst.toFixed(1)} ms`);
