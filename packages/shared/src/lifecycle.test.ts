/**
 * installShutdown's parent watch, in processes of their own (a signal handler installed in the
 * test runner's worker would outlive the test): a shell stands in for npm start's launcher.
 */
import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { mkdtemp, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { afterAll, describe, expect, it } from "vitest";

const TSX = pathToFileURL(createRequire(import.meta.url).resolve("tsx")).href;
const LIFECYCLE = fileURLToPath(new URL("./lifecycle.ts", import.meta.url));
const LOGGER = fileURLToPath(new URL("./logger.ts", import.meta.url));

/**
 * Runs a script that installs the shutdown with one step lasting `stepMs` and its parent (the
 * shell) watched every 50 ms, under `sh`; `act` runs once it is ready, with the shell's and the
 * script's pids. Resolves with the script's output when the shell's pipes close.
 */
/** Scripts started, killed after the tests: a watch that failed would leave one running. */
const started: number[] = [];

async function underShell(
  stepMs: number,
  act: (pids: { shell: number; script: number }) => void,
  options: { parentPid?: string; startupMs?: number; actOn?: "started" | "ready" } = {},
): Promise<string> {
  const { parentPid = "atStart", startupMs = 0, actOn = "ready" } = options;
  const dir = await mkdtemp(join(tmpdir(), "router-lifecycle-"));
  const script = join(dir, "service.mts");
  await writeFile(
    script,
    `import { installShutdown } from ${JSON.stringify(LIFECYCLE)};
import { createLogger } from ${JSON.stringify(LOGGER)};
const log = createLogger({ service: "t" });
const atStart = process.ppid;
console.log("started " + process.pid);
await new Promise((r) => setTimeout(r, ${startupMs}));
installShutdown([{ name: "drain", close: () => new Promise((r) => setTimeout(r, ${stepMs})) }], log, { parentPid: ${parentPid}, parentCheckMs: 50, ppidAtStart: atStart });
setInterval(() => undefined, 1000);
console.log("ready " + process.pid);
`,
  );
  return new Promise((resolve, reject) => {
    const shell = execFile("sh", ["-c", `"${process.execPath}" --import "${TSX}" "${script}" & wait`], () => undefined);
    let out = "";
    shell.stdout!.on("data", (d: Buffer) => {
      out += d.toString();
      const ready = new RegExp(`${actOn} (\\d+)`).exec(out);
      if (ready && !out.includes("acted")) {
        out += "acted\n";
        started.push(Number(ready[1]));
        act({ shell: shell.pid!, script: Number(ready[1]) });
      }
    });
    shell.stderr!.on("data", (d: Buffer) => (out += d.toString()));
    // The script holds the pipes after the shell dies: they close when it exits.
    shell.stdout!.on("close", () => resolve(out));
    shell.on("error", reject);
  });
}

describe("installShutdown's parent watch", () => {
  afterAll(() => {
    for (const pid of started) {
      // Only a script of ours still running: a pid that has gone may have been reused.
      const command = (() => {
        try {
          return readFileSync(`/proc/${pid}/cmdline`, "utf8");
        } catch {
          return "";
        }
      })();
      if (command.includes("router-lifecycle-")) process.kill(pid, "SIGKILL");
    }
  });

  it("shuts down as on SIGTERM when the parent goes", async () => {
    const out = await underShell(10, ({ shell }) => process.kill(shell, "SIGKILL"));
    expect(out).toContain("the process that started this service has gone");
    expect(out).toContain('"step":"drain"');
    expect(out).not.toContain("second signal");
  }, 30_000);

  it("does not watch a ROUTER_PARENT_PID that is not its parent from the start (a leaked variable)", async () => {
    // Its parent is the shell; the pid given is the test runner's. Watched, it would shut down
    // within 50 ms of starting; here it runs until the shell is killed and it is told to stop.
    const out = await underShell(10, ({ shell, script }) => {
      setTimeout(() => {
        process.kill(script, "SIGTERM");
        process.kill(shell, "SIGKILL");
      }, 500);
    }, { parentPid: String(process.pid) });
    expect(out).toContain("ROUTER_PARENT_PID is not this process's parent: not watching it");
    expect(out).not.toContain("has gone");
    expect(out).toContain('"signal":"SIGTERM"');
  }, 30_000);

  it("shuts down when the parent goes while the service is still starting", async () => {
    // The shell dies 0.1 s into a 0.6 s start: by the time the shutdown is installed the parent
    // is another process, yet it was the one named at start, so the launcher has gone.
    const out = await underShell(10, ({ shell }) => setTimeout(() => process.kill(shell, "SIGKILL"), 100), { startupMs: 600, actOn: "started" });
    expect(out).not.toContain("not watching it");
    expect(out).toContain("the process that started this service has gone");
  }, 30_000);

  it("lets a drain already begun finish when the parent goes meanwhile", async () => {
    // SIGTERM starts a 1 s drain; the parent dies 0.2 s into it. Taken as a second signal, it
    // used to cut the drain short ("second signal: exiting now").
    const out = await underShell(1000, ({ shell, script }) => {
      process.kill(script, "SIGTERM");
      setTimeout(() => process.kill(shell, "SIGKILL"), 200);
    });
    expect(out).toContain('"step":"drain"');
    expect(out).not.toContain("second signal");
  }, 30_000);
});
