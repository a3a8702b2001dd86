/** Runs a service's real `main.ts` as a child process (through tsx), as `npm start` does with the build. */
import { spawn, type ChildProcess } from "node:child_process";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));

export interface ServiceProcess {
  child: ChildProcess;
  output: () => string;
  /** Resolves with the exit code (or signal) once the process has exited. */
  exited: Promise<number | NodeJS.Signals | null>;
  kill(signal?: NodeJS.Signals): Promise<number | NodeJS.Signals | null>;
}

/** `cwd`: where it runs (default the repository, whose router.config.yaml it then finds). */
export function spawnService(name: "classifier" | "selector" | "executor" | "ledger", env: Record<string, string>, cwd = ROOT): ServiceProcess {
  // Absolute paths, so a working directory outside the repository still finds tsx and main.ts.
  const child = spawn(process.execPath, ["--conditions=source", "--import", import.meta.resolve("tsx"), join(ROOT, `services/${name}/src/main.ts`)], {
    cwd,
    env: { ...process.env, METRICS_PORT: "0", LOG_LEVEL: "info", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  child.stdout?.on("data", (d: Buffer) => (out += d.toString()));
  child.stderr?.on("data", (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | NodeJS.Signals | null>((resolve) => child.once("exit", (code, signal) => resolve(code ?? signal)));
  return {
    child,
    output: () => out,
    exited,
    kill(signal = "SIGTERM") {
      child.kill(signal);
      return exited;
    },
  };
}
