#!/usr/bin/env node
// Rule classifier speed: µs per call for short, 1 KB and 8 KB prompts (it runs on every task).
//   npm run build && node bench/classifier.mjs
import { classifyRules } from "@llm-router/classifier";

const PROSE = "Design a service that ingests events from Kafka, must deduplicate them exactly once, and then writes to Postgres. Explain the trade-offs. ";
const CODE = "```ts\nfunction add(a: number, b: number) { return a + b }\n```\nAdd tests for this function and explain edge cases. ";
const cases = [
  ["greeting (20 B)", "Hi! How are you today?"],
  ["prose 1 KB", PROSE.repeat(10).slice(0, 1024)],
  ["code 1 KB", CODE.repeat(10).slice(0, 1024)],
  ["prose 8 KB", PROSE.repeat(70).slice(0, 8192)],
];
console.log("rule classifier, µs per call (median of 5 rounds × 20,000 calls)");
for (const [name, text] of cases) {
  const messages = [{ role: "user", content: text }];
  for (let i = 0; i < 5000; i++) classifyRules({ messages });
  const rounds = [];
  for (let r = 0; r < 5; r++) {
    const start = process.hrtime.bigint();
    for (let i = 0; i < 20_000; i++) classifyRules({ messages });
    rounds.push(Number(process.hrtime.bigint() - start) / 20_000 / 1000);
  }
  rounds.sort((a, b) => a - b);
  console.log(`  ${name.padEnd(16)} ${rounds[2].toFixed(1).padStart(7)} µs`);
}
