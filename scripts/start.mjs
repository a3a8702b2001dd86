#!/usr/bin/env node
// Runs the four services as separate processes with prefixed, readable logs; Ctrl-C (or
// SIGTERM) shuts every one down cleanly. If one dies, the others are stopped too and the exit
// code says so: a supervisor (systemd, compose, Kubernetes) is what restarts in production.
import { spawn } from "node:child_process";
import { createInterface } from "node:readline";

const SERVICES = [
  ["ledger", "\x1b[35m"],
  ["executor", "\x1b[33m"],
  ["selector", "\x1b[36m"],
  ["classifier", "\x1b[32m"],
];
const RESET = "\x1b[0m";
const color = process.stdout.isTTY;
const json = process.env.LOG_FORMAT === "json";
const width = Math.max(...SERVICES.map(([n]) => n.length));
const LEVEL_SKIP = new Set(["level", "time", "msg", "service", "pid", "hostname"]);

function pretty(line) {
  if (json) return line;
  try {
    const o = JSON.parse(line);
    if (typeof o !== "object" || o === null || !("msg" in o)) return line;
    const extra = Object.entries(o)
      .filter(([k]) => !LEVEL_SKIP.has(k))
      .map(([k, v]) => `${k}=${typeof v === "string" ? v : JSON.stringify(v)}`)
      .join(" ");
    const time = typeof o.time === "string" ? o.time.slice(11, 23) : "";
    return `${time} ${String(o.level ?? "").toUpperCase().padEnd(5)} ${o.msg}${extra ? `  ${extra}` : ""}`;
  } catch {
    return line;
  }
}

let stopping = false;
const children = SERVICES.map(([name, c]) => {
  const child = spawn(process.execPath, [`services/${name}/dist/main.js`], { stdio: ["ignore", "pipe", "pipe"], env: process.env });
  const prefix = `${color ? c : ""}${name.padEnd(width)} |${color ? RESET : ""} `;
  for (const stream of [child.stdout, child.stderr]) {
    createInterface({ input: stream }).on("line", (line) => process.stdout.write(prefix + pretty(line) + "\n"));
  }
  const exited = new Promise((resolve) =>
    child.once("exit", (code, signal) => {
      if (!stopping) {
        console.error(`${name} exited unexpectedly (${signal ?? `code ${code}`}); stopping the others`);
        stopAll("SIGTERM");
      }
      resolve(code ?? (signal ? 1 : 0));
    }),
  );
  return { name, child, exited };
});

function stopAll(signal) {
  if (stopping) return;
  stopping = true;
  for (const { child } of children) if (child.exitCode === null) child.kill(signal);
}
process.on("SIGINT", () => stopAll("SIGTERM"));
process.on("SIGTERM", () => stopAll("SIGTERM"));

const codes = await Promise.all(children.map((c) => c.exited));
const worst = Math.max(...codes);
console.log(worst === 0 ? "all services stopped cleanly" : `services stopped (exit codes: ${children.map((c, i) => `${c.name}=${codes[i]}`).join(", ")})`);
process.exit(worst);
