/**
 * `npm start` / `npm run dev`: scripts/start.mjs runs the four services as child processes. These
 * tests run it as a user does (here from source, `--source`, so no build is needed) and stop it the
 * ways it is stopped: Ctrl-C, which the terminal sends to the whole foreground process group; a
 * signal to npm alone, from a process manager; npm or its shell going away, which leaves
 * start.mjs re-parented; a hang-up; and start.mjs itself killed, which its services notice.
 */
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createHarness, testConfigInput, waitFor, type Harness } from "./support/harness.js";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const SERVICES = ["classifier", "selector", "executor", "ledger"];

interface Started {
  child: ChildProcess;
  output: () => string;
  exited: Promise<number | NodeJS.Signals | null>;
}

describe("npm start (scripts/start.mjs)", () => {
  let h: Harness;
  let env: Record<string, string>;
  const started: Started[] = [];
  const serviceKillList: number[] = [];

  beforeAll(async () => {
    h = await createHarness();
    const dir = mkdtempSync(join(tmpdir(), "router-start-"));
    const configFile = join(dir, "router.config.json");
    writeFileSync(configFile, JSON.stringify(testConfigInput(h.id)));
    env = { NATS_URL: h.natsUrl, ROUTER_CONFIG: configFile, DATABASE_URL: h.databaseUrl, METRICS_PORT: "0", LOG_LEVEL: "info" };
  });
  afterAll(async () => {
    // Whatever a failed test left running: start.mjs's group, and the services (each in a group
    // of its own) this file knows of.
    for (const pid of serviceKillList) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        // Already gone.
      }
    }
    for (const s of started) {
      try {
        if (s.child.pid) process.kill(-s.child.pid, "SIGKILL");
      } catch {
        // The group has already gone: nothing left running.
      }
    }
    await h?.close();
  });

  /** Runs `command` in a process group of its own, as a terminal runs a foreground job. */
  function run(command: string, args: string[]): Started {
    const child = spawn(command, args, { cwd: ROOT, env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"], detached: true });
    let out = "";
    child.stdout?.on("data", (d: Buffer) => (out += d.toString()));
    child.stderr?.on("data", (d: Buffer) => (out += d.toString()));
    const exited = new Promise<number | NodeJS.Signals | null>((resolve) => child.once("exit", (code, signal) => resolve(code ?? signal)));
    const s = { child, output: () => out, exited };
    started.push(s);
    return s;
  }

  const allReady = (s: Started) =>
    waitFor(() => SERVICES.every((name) => s.output().includes(`${name} ready:`)), { timeoutMs: 45_000, what: `the four services to be ready; output:\n${s.output()}` });

  const taskRows = async (id: string) => Number((await h.query<{ n: string }>("SELECT count(*) AS n FROM tasks WHERE task_id = $1", [id]))[0]?.n);

  it("runs the pipeline, and Ctrl-C drains every service once and exits 0", async () => {
    const s = run(process.execPath, ["scripts/start.mjs", "--source"]);
    await allReady(s);
    h.publishRaw(h.topology.subjects["task.submitted"], JSON.stringify({ id: "start-1", prompt: "Say hello" }));
    await waitFor(async () => ((await taskRows("start-1")) === 1 ? true : undefined), { what: `task start-1 in the ledger; output:\n${s.output()}` });

    // Ctrl-C: SIGINT to the foreground group. Only start.mjs is in it; it passes on one SIGTERM.
    process.kill(-s.child.pid!, "SIGINT");
    expect(await s.exited).toBe(0);
    const out = s.output();
    expect(out).toContain("all services stopped cleanly");
    expect(out).not.toContain("second signal");
    for (const name of SERVICES) expect(out).toMatch(new RegExp(`${name} +\\| .*shutting down`));
  }, 90_000);

  it("stops the services when the npm script's shell goes away, as it does when npm gets SIGTERM", async () => {
    // npm runs the script under `sh -c` with npm_lifecycle_event set; a list keeps the shell as
    // start.mjs's parent, as there.
    const s = run("sh", ["-c", "true && npm_lifecycle_event=start node scripts/start.mjs --source"]);
    await allReady(s);
    // The shell dies without passing the signal on: start.mjs and the services are orphaned.
    s.child.kill("SIGKILL");
    await s.exited;
    await waitFor(() => s.output().includes("all services stopped cleanly"), { timeoutMs: 30_000, what: `start.mjs to stop the services; output:\n${s.output()}` });
    expect(s.output()).toContain("the npm script that started the services has gone");
  }, 90_000);

  it.each(["SIGINT", "SIGTERM"] as const)("stops the services when npm itself gets %s (a process manager stopping `npm run dev`)", async (signal) => {
    // The real npm, so its script shell is the one users get (dash on Debian): npm passes the
    // signal to its child only, and a shell left between npm and start.mjs kept SIGINT from
    // start.mjs — npm, the shell, start.mjs and the services all ran on.
    const s = run("npm", ["run", "--silent", "dev"]);
    await allReady(s);
    process.kill(s.child.pid!, signal);
    await waitFor(() => s.output().includes("all services stopped cleanly"), { timeoutMs: 30_000, what: `start.mjs to stop the services on npm's ${signal}; output:\n${s.output()}` });
    await s.exited;
  }, 90_000);

  it("stops the services when start.mjs itself is killed with SIGKILL (they watch their parent)", async () => {
    const s = run("sh", ["-c", "true && npm_lifecycle_event= node scripts/start.mjs --source"]);
    await allReady(s);
    const childrenOf = (pid: number) => execFileSync("pgrep", ["-P", String(pid)], { encoding: "utf8" }).trim().split("\n").map(Number);
    const [launcher] = childrenOf(s.child.pid!); // the shell's one child
    const services = childrenOf(launcher!);
    expect(services).toHaveLength(4);
    serviceKillList.push(...services);
    process.kill(launcher!, "SIGKILL");
    const alive = (pid: number) => {
      try {
        process.kill(pid, 0);
        return true;
      } catch {
        return false;
      }
    };
    // Each notices within a second and drains (its log is gone with the launcher's pipes).
    await waitFor(() => (services.some(alive) ? undefined : true), { timeoutMs: 30_000, what: `the services ${services.join(", ")} to stop after their launcher was killed` });
  }, 90_000);

  it("stops the services when the terminal hangs up (SIGHUP to the npm script's group)", async () => {
    const s = run("sh", ["-c", "true && npm_lifecycle_event=start node scripts/start.mjs --source"]);
    await allReady(s);
    process.kill(-s.child.pid!, "SIGHUP");
    await waitFor(() => s.output().includes("all services stopped cleanly"), { timeoutMs: 30_000, what: `start.mjs to stop the services on SIGHUP; output:\n${s.output()}` });
  }, 90_000);

  it("outlives the shell that started it outside npm, as `nohup node scripts/start.mjs &` means", async () => {
    const s = run("sh", ["-c", "true && npm_lifecycle_event= node scripts/start.mjs --source"]);
    await allReady(s);
    s.child.kill("SIGKILL");
    await s.exited;
    // Three of its one-second checks later, the services still run and still answer.
    await new Promise((r) => setTimeout(r, 3000));
    h.publishRaw(h.topology.subjects["task.submitted"], JSON.stringify({ id: "start-nohup", prompt: "Say hello" }));
    await waitFor(async () => ((await taskRows("start-nohup")) === 1 ? true : undefined), { what: `task start-nohup in the ledger; output:\n${s.output()}` });
    expect(s.output()).not.toContain("has gone");
    // Stopped as a supervisor would stop it: SIGTERM to start.mjs, found among this test's own
    // processes (its group), not by command line across the host.
    const pid = Number(execFileSync("pgrep", ["-g", String(s.child.pid), "-f", "scripts/start.mjs --source"], { encoding: "utf8" }).trim());
    process.kill(pid, "SIGTERM");
    await waitFor(() => s.output().includes("all services stopped cleanly"), { timeoutMs: 30_000, what: `start.mjs to stop on SIGTERM; output:\n${s.output()}` });
  }, 90_000);
});
