#!/usr/bin/env node
// Executor overhead per call: `executeTask` with the real openai-compatible provider against a
// local wire-format server that answers at once (0 ms), compared with a raw `fetch` of the same
// request body to the same server. Prints p50/p99 per call sequentially (and the difference: the
// executor's overhead), and calls/s with p50/p99 in a closed loop at --inflight calls outstanding.
//
//   npm run build && node bench/executor-overhead.mjs [--calls 10000] [--inflight 64] [--stream] [--concurrency N]
//
// --calls       calls per measurement (four measurements, plus a warm-up of up to 1,000 each)
// --stream      sets the provider's `stream: true`; the server then answers with SSE
// --concurrency sets the provider's `concurrency` (default: unset, no per-provider limit; it
//               takes effect through the call gate, when the build has one)
//
// The server is a child process (bench/zero-latency-openai-server.mjs): its work is not on this
// event loop, so "client CPU/call" (process.cpuUsage over the phase) is the caller's own cost —
// a steadier figure than wall time on a shared machine. The baseline replays byte for byte the
// first request body the adapter sent, so both sides ask for the same thing (SSE or JSON).
import { fork } from "node:child_process";
import { once } from "node:events";
import { cpus, totalmem } from "node:os";
import { parseArgs } from "node:util";
import * as executor from "@llm-router/executor";
import { TaskCompleted, TaskRouted, parseConfig, referenceModelOf, sleep } from "@llm-router/shared";

const { values } = parseArgs({
  options: {
    calls: { type: "string", default: "10000" },
    inflight: { type: "string", default: "64" },
    stream: { type: "boolean", default: false },
    concurrency: { type: "string" },
  },
});
const positiveInt = (name, raw) => {
  const n = Number(raw);
  if (!Number.isInteger(n) || n <= 0) throw new Error(`bench: --${name} must be a positive integer, got ${raw}`);
  return n;
};
const N = positiveInt("calls", values.calls);
const INFLIGHT = positiveInt("inflight", values.inflight);
const STREAM = values.stream;
const CONCURRENCY = values.concurrency === undefined ? undefined : positiveInt("concurrency", values.concurrency);
const WARMUP = Math.min(1000, N);
/** Sequential baseline and executor calls alternate in blocks of this size (see `sequential`). */
const BLOCK = 250;
const PROGRESS_EVERY_MS = 2000;

const server = fork(new URL("./zero-latency-openai-server.mjs", import.meta.url), [], { stdio: ["ignore", "inherit", "inherit", "ipc"] });
const [{ port, output: SERVER_OUTPUT }] = await once(server, "message");
const serverStats = async () => {
  server.send("stats");
  for (;;) {
    const [msg] = await once(server, "message");
    if (msg.stats) return msg.stats;
  }
};

const { config } = parseConfig(
  {
    providers: {
      bench: { type: "openai-compatible", baseUrl: `http://127.0.0.1:${port}/v1`, stream: STREAM, ...(CONCURRENCY ? { concurrency: CONCURRENCY } : {}) },
    },
    // Priced, so the cost arithmetic runs as it would for a cloud model.
    models: [{ spec: "bench:zero-ms", quality: 0.8, inputPerMtok: 0.15, outputPerMtok: 0.6 }],
  },
  {},
  "bench",
);
// What the service passes (services/executor/src/service.ts), including a long-lived shutdown
// signal: executeTask links a per-task signal to it, and that cost belongs in the figure.
const shutdown = new AbortController();
// The service puts every call through a call gate (circuit breaker per model, per-provider
// concurrency), so the bench does too: from the package when it exports `createCallGate`, else
// from the built module; a build from before the gate runs without one. The header says which.
const gateModule =
  typeof executor.createCallGate === "function"
    ? { createCallGate: executor.createCallGate, from: "@llm-router/executor" }
    : await import(new URL("../services/executor/dist/call-gate.js", import.meta.url).href).then(
        (m) => ({ createCallGate: m.createCallGate, from: "services/executor/dist/call-gate.js" }),
        () => undefined,
      );
// Wall-clock milliseconds, as the service passes them.
const gate = gateModule?.createCallGate({ config, now: Date.now });
const deps = {
  ...(gate ? { gate } : {}),
  maxCostPerTaskUsd: config.policy.maxCostPerTaskUsd,
  providers: executor.createProviders(config, { env: {}, models: config.models, sleep }),
  models: new Map(config.models.map((m) => [m.spec, m])),
  referenceModel: referenceModelOf(config.models, config.referenceModel),
  retries: config.executor.retries,
  backoffMs: config.executor.backoffMs,
  maxBackoffMs: config.executor.maxBackoffMs,
  now: () => new Date(),
  sleep,
  random: Math.random,
  signal: shutdown.signal,
};

const now = new Date().toISOString();
const ROUTED = TaskRouted.parse({
  v: 1,
  task: {
    v: 1,
    id: "bench-0",
    tenant: "default",
    messages: [
      { role: "system", content: "You are a concise assistant for distributed-systems questions." },
      { role: "user", content: "Explain in one sentence how JetStream consumers acknowledge messages, and what happens when an ack is late." },
    ],
    constraints: {},
    submittedAt: now,
  },
  classification: {
    complexity: "simple",
    risk: "normal",
    taskType: "chat",
    confidence: 0.9,
    pFail: 0.1,
    strategy: "rules",
    strategyVersion: "1",
    features: {},
    signals: [],
  },
  decision: {
    ok: true,
    model: "bench:zero-ms",
    fallbacks: [],
    strategy: "single",
    forcedLocal: false,
    estimatedInputTokens: 42,
    maxOutputTokens: 256,
    estimatedCostUsd: 0.00002,
    seed: 1,
    reason: "bench",
    policyVersion: "bench",
    registryVersion: "bench",
    statsId: "empty",
    budget: { state: "ok", revision: 0 },
    decidedAt: now,
  },
});
const routed = (i) => ({ ...ROUTED, task: { ...ROUTED.task, id: `bench-${i}` } });

let executorCalls = 0;
async function executorCall() {
  const done = await executor.executeTask(routed(executorCalls++), deps);
  if (done.result.status !== "succeeded") throw new Error(`bench: executeTask failed: ${done.result.error.code} ${done.result.error.message}`);
  return done;
}

const URL_ = `http://127.0.0.1:${port}/v1/chat/completions`;
/** The first body the adapter sent (after the probe call), replayed by the baseline. */
let BODY;
const BASELINE_HEADERS = { "content-type": "application/json", "x-bench-baseline": "1" };
async function baselineCall() {
  const res = await fetch(URL_, { method: "POST", headers: BASELINE_HEADERS, body: BODY });
  await res.text();
  if (!res.ok) throw new Error(`bench: baseline got HTTP ${res.status}`);
}

function progress(tag, total) {
  let last = performance.now();
  return (done) => {
    const t = performance.now();
    if (t - last < PROGRESS_EVERY_MS) return;
    last = t;
    process.stderr.write(`  ${tag}: ${done}/${total}\n`);
  };
}

function summarise(latencies, elapsedMs, cpuMicros) {
  const sorted = Float64Array.from(latencies).sort();
  const pct = (q) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
  return { calls: sorted.length, p50: pct(0.5), p99: pct(0.99), callsPerSecond: (sorted.length / elapsedMs) * 1000, cpuMicrosPerCall: cpuMicros / sorted.length };
}

const cpuMicros = (since) => {
  const d = process.cpuUsage(since);
  return d.user + d.system;
};

/**
 * Sequential, one call at a time, baseline and executor alternating in blocks of BLOCK calls:
 * background load on a shared machine comes and goes, and alternating spreads it over both
 * sides instead of landing on whichever ran second, so their difference stays meaningful.
 */
async function sequential(count, tag) {
  const sides = { baseline: { call: baselineCall, lat: [], ms: 0, cpu: 0 }, executor: { call: executorCall, lat: [], ms: 0, cpu: 0 } };
  const tick = progress(tag, 2 * count);
  for (let done = 0; done < count; done += BLOCK) {
    for (const side of Object.values(sides)) {
      const cpu0 = process.cpuUsage();
      const start = performance.now();
      for (let i = done; i < Math.min(count, done + BLOCK); i++) {
        const t0 = performance.now();
        await side.call();
        side.lat.push(performance.now() - t0);
      }
      side.ms += performance.now() - start;
      side.cpu += cpuMicros(cpu0);
    }
    tick(2 * Math.min(count, done + BLOCK));
  }
  return { baseline: summarise(sides.baseline.lat, sides.baseline.ms, sides.baseline.cpu), executor: summarise(sides.executor.lat, sides.executor.ms, sides.executor.cpu) };
}

/** Closed loop: `inflight` callers, each starting its next call when the last one returns. */
async function closedLoop(call, count, tag) {
  const lat = new Float64Array(count);
  let next = 0;
  const tick = progress(tag, count);
  const cpu0 = process.cpuUsage();
  const start = performance.now();
  const caller = async () => {
    while (next < count) {
      const i = next++;
      const t0 = performance.now();
      try {
        await call();
      } catch (err) {
        next = count; // the other callers stop after their current call
        throw err;
      }
      lat[i] = performance.now() - t0;
      tick(i + 1);
    }
  };
  await Promise.all(Array.from({ length: Math.min(INFLIGHT, count) }, caller));
  return summarise(lat, performance.now() - start, cpuMicros(cpu0));
}

let exitCode = 0;
try {
  // The probe: one call, its completion checked against the contract and the server's answer
  // (reassembled from the deltas when streamed).
  const probe = await executorCall();
  TaskCompleted.parse(probe);
  if (probe.result.output !== SERVER_OUTPUT) throw new Error(`bench: executeTask returned ${JSON.stringify(probe.result.output)}, the server sent ${JSON.stringify(SERVER_OUTPUT)}`);
  BODY = (await serverStats()).executorBody;

  process.stderr.write(`bench: warm-up (${WARMUP} sequential + ${WARMUP} at ${INFLIGHT} in flight, each side)\n`);
  await sequential(WARMUP, "warm-up");
  await closedLoop(baselineCall, WARMUP, "warm-up fetch");
  await closedLoop(executorCall, WARMUP, "warm-up executor");

  process.stderr.write(`bench: ${N} sequential calls each side\n`);
  const seq = await sequential(N, "sequential");
  process.stderr.write(`bench: ${N} calls each side at ${INFLIGHT} in flight\n`);
  const loopBaseline = await closedLoop(baselineCall, N, "closed loop fetch");
  const loopExecutor = await closedLoop(executorCall, N, "closed loop executor");

  const stats = await serverStats();
  const sse = stats.executor.sse > 0;
  const ttft = probe.calls[0]?.ok === true && probe.calls[0].ttftMs !== undefined;
  const wire = sse ? "SSE (stream: true)" : "JSON (stream: false)";
  const streamNote = !STREAM
    ? ""
    : sse
      ? `\nSSE path exercised: the adapter sent stream: true on ${stats.executor.sse} of ${stats.executor.sse + stats.executor.json} requests${ttft ? " and reported time to first token" : " (no ttftMs on the call)"}.`
      : `\nSSE path NOT exercised: --stream set the provider's stream: true, but the adapter sent stream: false on all ${stats.executor.json} requests (this build of the adapter does not stream); these are the JSON figures.`;

  const ms = (x) => `${x.toFixed(3)} ms`;
  const row = (label, r) =>
    `${label.padEnd(24)} ${ms(r.p50).padStart(10)} ${ms(r.p99).padStart(10)} ${Math.round(r.callsPerSecond).toLocaleString("en-US").padStart(9)} ${`${Math.round(r.cpuMicrosPerCall)} µs`.padStart(10)}`;
  const plus = (x, unit) => `${x >= 0 ? "+" : "−"}${Math.abs(x).toFixed(unit === "ms" ? 3 : 0)} ${unit}`;
  console.log(`
executor overhead — executeTask → openai-compatible adapter → local wire-format server at 0 ms, ${wire}
machine: ${cpus().length} × ${cpus()[0]?.model ?? "cpu"}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}
calls: ${N.toLocaleString("en-US")} per row after ${WARMUP.toLocaleString("en-US")} warm-up; call gate ${gateModule ? `on (${gateModule.from})` : "absent from this build"}; provider concurrency ${CONCURRENCY ?? "unset"}${streamNote}

${"".padEnd(24)} ${"p50".padStart(10)} ${"p99".padStart(10)} ${"calls/s".padStart(9)} ${"CPU/call".padStart(10)}
${row("sequential, raw fetch", seq.baseline)}
${row("sequential, executeTask", seq.executor)}
${"  executor overhead".padEnd(24)} ${plus(seq.executor.p50 - seq.baseline.p50, "ms").padStart(10)} ${plus(seq.executor.p99 - seq.baseline.p99, "ms").padStart(10)} ${"".padStart(9)} ${plus(seq.executor.cpuMicrosPerCall - seq.baseline.cpuMicrosPerCall, "µs").padStart(10)}
${row(`${INFLIGHT} in flight, raw fetch`, loopBaseline)}
${row(`${INFLIGHT} in flight, executeTask`, loopExecutor)}
`);
  console.log(
    JSON.stringify({
      node: process.version,
      calls: N,
      inflight: INFLIGHT,
      stream: STREAM,
      sseExercised: sse,
      gate: gate !== undefined,
      concurrency: CONCURRENCY ?? null,
      sequential: { baseline: seq.baseline, executor: seq.executor, overheadP50Ms: seq.executor.p50 - seq.baseline.p50, overheadP99Ms: seq.executor.p99 - seq.baseline.p99 },
      closedLoop: { baseline: loopBaseline, executor: loopExecutor },
    }),
  );
} catch (err) {
  console.error(err);
  exitCode = 1;
} finally {
  if (server.connected) server.disconnect();
  if (server.exitCode === null && server.signalCode === null) await once(server, "exit");
  process.exitCode = exitCode;
}
