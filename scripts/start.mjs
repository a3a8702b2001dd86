#!/usr/bin/env node
// Runs the four services as separate processes with prefixed, readable logs; Ctrl-C (or
// SIGTERM) shuts every one down cleanly. If one dies, the others are stopped too and the exit
// code says so: a supervisor (systemd, compose, Kubernetes) is what restarts in production.
// `--source` runs each service's TypeScript through tsx instead of the build (`npm run dev`).
import { spawn } from "node:child_process";
import { createInterface } from "node:readline";

const SERVICES = [
  ["ledger", "\x1b[35m"],
  ["executor", "\x1b[33m"],
  ["selector", "\x1b[36m"],
  ["classifier", "\x1b[32m"],
];
const RESET = "\x1b[0m";
const fromSource = process.argv.includes("--source");
const entry = (name) =>
  fromSource ? ["--conditions=source", "--import", "tsx", `services/${name}/src/main.ts`] : [`services/${name}/dist/main.js`];
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
  // Each service in its own process group: Ctrl-C reaches only this process, which passes on one
  // SIGTERM. Sharing the terminal's group, a service got the SIGINT and then that SIGTERM, and
  // took the second signal as "exit now", skipping its graceful drain.
  // ROUTER_PARENT_PID: a service whose parent is no longer this process (killed with SIGKILL, or
  // by the OOM killer, before it could stop them) shuts itself down instead of running on with
  // nobody reading its log.
  const child = spawn(process.execPath, entry(name), { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, ROUTER_PARENT_PID: String(process.pid) }, detached: true });
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
// `npm start` and `npm run dev` exec this in place of their shell, so the SIGINT or SIGTERM npm
// passes on reaches it. Run under a shell that stays (`sh -c "… && node scripts/start.mjs"`), a
// signal to npm ends the shell, if anything, and this process is re-parented: seeing the parent
// change stops the services instead of leaving them running.
// Only under npm (which sets npm_lifecycle_event): `nohup node scripts/start.mjs &` is meant to
// outlive the shell that started it.
if (process.env.npm_lifecycle_event) {
  // A closed terminal or a dropped ssh session hangs up npm, its shell and this process, not the
  // services (each in a group of its own): by default this process would die and leave them
  // running. Its output has nowhere to go then; writing it must not crash the stop.
  process.on("SIGHUP", () => stopAll("SIGTERM"));
  process.stdout.on("error", () => undefined);
  process.stderr.on("error", () => undefined);
  const parent = process.ppid;
  setInterval(() => {
    if (process.ppid !== parent) {
      console.error("the npm script that started the services has gone; stopping them");
      stopAll("SIGTERM");
    }
  }, 1000).unref();
}

const codes = await Promise.all(children.map((c) => c.exited));
const worst = Math.max(...codes);
console.log(worst === 0 ? "all services stopped cleanly" : `services stopped (exit codes: ${children.map((c, i) => `${c.name}=${codes[i]}`).join(", ")})`);
process.exit(worst);
