#!/usr/bin/env node
// Pipeline benchmark: starts the four built services as real processes on an isolated set of
// subjects, streams and database, drives N tasks through them with the simulator at 0 ms and
// prints sustained throughput, added latency (submitted → completed) and ledger lag.
//
//   npm run bench -- [--tasks 10000] [--inflight 256] [--profile DIR]
//
// --profile writes a V8 CPU profile of each service into DIR (open in Chrome DevTools).
//
// Needs NATS (NATS_URL, default nats://127.0.0.1:4222) and Postgres (DATABASE_URL, default
// postgres://postgres@127.0.0.1:5432/postgres; a bench database is created and dropped).
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, writeFileSync } from "node:fs";
import { cpus, tmpdir, totalmem } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import pg from "pg";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import { connect } from "@nats-io/transport-node";
import { DEFAULT_CONFIG_INPUT } from "@llm-router/shared";

const { values } = parseArgs({ options: { tasks: { type: "string", default: "10000" }, inflight: { type: "string", default: "256" }, profile: { type: "string" } } });
const N = Number(values.tasks);
const INFLIGHT = Number(values.inflight);
const NATS_URL = process.env.NATS_URL ?? "nats://127.0.0.1:4222";
const ADMIN_URL = process.env.DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";

const id = randomBytes(3).toString("hex");
const prefix = `bench${id}.`;
const config = {
  ...DEFAULT_CONFIG_INPUT,
  models: DEFAULT_CONFIG_INPUT.models.map((m) => ({ ...m, sim: { latencyMs: 0, failureRate: 0 } })),
  nats: { subjectPrefix: prefix, stream: `TASKS_B${id}`, budgetStream: `BUDGET_B${id}`, budgetBucket: `budget_b${id}` },
  executor: { concurrency: 256 },
};
const dir = mkdtempSync(join(tmpdir(), "router-bench-"));
const configFile = join(dir, "router.config.json");
writeFileSync(configFile, JSON.stringify(config));

const dbName = `router_bench_${id}`;
const admin = new pg.Client({ connectionString: ADMIN_URL });
await admin.connect();
await admin.query(`CREATE DATABASE ${dbName}`);
const dbUrl = new URL(ADMIN_URL);
dbUrl.pathname = `/${dbName}`;

const children = ["ledger", "executor", "selector", "classifier"].map((name) => {
  const profile = values.profile ? ["--cpu-prof", `--cpu-prof-dir=${values.profile}`, `--cpu-prof-name=${name}.cpuprofile`] : [];
  const child = spawn(process.execPath, [...profile, `services/${name}/dist/main.js`], {
    env: { ...process.env, NATS_URL, DATABASE_URL: dbUrl.toString(), ROUTER_CONFIG: configFile, METRICS_PORT: "0", LOG_LEVEL: "warn" },
    stdio: ["ignore", "ignore", "inherit"],
  });
  return { name, child };
});

const nc = await connect({ servers: NATS_URL });
const js = jetstream(nc);
const jsm = await jetstreamManager(nc);
const db = new pg.Pool({ connectionString: dbUrl.toString(), max: 1 });

async function waitUntil(probe, what, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await probe().catch(() => false)) return;
    if (Date.now() > deadline) throw new Error(`bench: timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
const ledgerCount = async () => Number((await db.query("SELECT count(*)::int AS n FROM tasks")).rows[0].n);

// Ready when the ledger has migrated its database and every stage has a pull request waiting.
await waitUntil(async () => (await ledgerCount()) === 0, "the ledger database");
await waitUntil(async () => {
  const infos = await Promise.all(["classifier", "selector", "executor", "ledger-completed"].map((d) => jsm.consumers.info(config.nats.stream, d)));
  return infos.every((i) => i.num_waiting > 0);
}, "every stage to be consuming");

/**
 * Closed loop: keep `inflight` tasks outstanding, submit the next one as each completes. The
 * latency is then the pipeline's own (submitted → completed), not time spent queued behind a
 * burst, and the throughput is what the pipeline sustains at that concurrency.
 */
async function drive(count, tag) {
  const sent = new Map();
  const latencies = [];
  let completed = 0;
  let next = 0;
  let resolveDone;
  let rejectDone;
  const done = new Promise((resolve, reject) => ((resolveDone = resolve), (rejectDone = reject)));
  const submit = () => {
    if (next >= count) return;
    const taskId = `${tag}-${next}`;
    const body = JSON.stringify({ id: taskId, prompt: PROMPTS[next % PROMPTS.length] });
    next++;
    sent.set(taskId, performance.now());
    js.publish(`${prefix}task.submitted`, body, { msgID: taskId }).catch(rejectDone);
  };
  const sub = nc.subscribe(`${prefix}task.completed`, {
    callback: (_err, m) => {
      const t = m.json().task.id;
      const at = sent.get(t);
      if (at === undefined) return;
      sent.delete(t);
      latencies.push(performance.now() - at);
      completed++;
      if (completed % 2000 === 0) process.stderr.write(`  ${tag}: ${completed}/${count} completed\n`);
      if (completed === count) resolveDone();
      else submit();
    },
  });
  const started = performance.now();
  for (let i = 0; i < Math.min(INFLIGHT, count); i++) submit();
  const timeout = setTimeout(() => rejectDone(new Error(`bench: ${tag} stalled at ${completed}/${count}`)), 300_000);
  await done;
  clearTimeout(timeout);
  const elapsed = (performance.now() - started) / 1000;
  sub.unsubscribe();
  latencies.sort((a, b) => a - b);
  const pct = (p) => latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))] ?? NaN;
  return { completed, elapsed, p50: pct(50), p95: pct(95), p99: pct(99), lastCompletionAt: performance.now() };
}

const PROMPTS = [
  "Hi! How are you?",
  "What is the capital of Australia?",
  "Translate 'good night' into German.",
  "Write a Python function that reverses a linked list, with tests.",
  "Design a multi-region rate limiter; discuss trade-offs and failure modes step by step.",
  "Summarize: the release moved to Friday because of a failing migration on staging.",
];

try {
  // Warm-up: JIT, connection pools, stream files.
  process.stderr.write(`bench: warm-up (500 tasks)\n`);
  await drive(500, "warm");
  await waitUntil(async () => (await ledgerCount()) >= 500, "warm-up in the ledger", 60_000);

  process.stderr.write(`bench: ${N} tasks, ${INFLIGHT} in flight\n`);
  const r = await drive(N, "run");
  await waitUntil(async () => (await ledgerCount()) >= 500 + N, "ledger to record every task", 120_000);
  const ledgerLagMs = performance.now() - r.lastCompletionAt;

  const fmt = (ms) => `${ms.toFixed(1)} ms`;
  console.log(`
pipeline benchmark — ${N} tasks, ${INFLIGHT} in flight, through classifier → selector → executor (sim, 0 ms) → ledger (Postgres)
machine: ${cpus().length} × ${cpus()[0]?.model ?? "cpu"}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}
completed:                 ${r.completed}/${N} in ${r.elapsed.toFixed(2)} s
sustained throughput:      ${(r.completed / r.elapsed).toFixed(0)} tasks/s
added latency (submitted → completed): p50 ${fmt(r.p50)}  p95 ${fmt(r.p95)}  p99 ${fmt(r.p99)}
ledger lag after the last completion:  ${fmt(ledgerLagMs)}
`);
  console.log(JSON.stringify({ tasks: N, inflight: INFLIGHT, seconds: r.elapsed, tasksPerSecond: r.completed / r.elapsed, p50Ms: r.p50, p95Ms: r.p95, p99Ms: r.p99, ledgerLagMs }));
} finally {
  for (const { child } of children) child.kill("SIGTERM");
  await Promise.all(children.map(({ child }) => new Promise((r) => (child.exitCode !== null ? r() : child.once("exit", r)))));
  await jsm.streams.delete(config.nats.stream).catch(() => {});
  await jsm.streams.delete(config.nats.budgetStream).catch(() => {});
  await (await new Kvm(nc).open(config.nats.budgetBucket)).destroy().catch(() => {});
  await db.end();
  await nc.drain();
  await admin.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`);
  await admin.end();
}
