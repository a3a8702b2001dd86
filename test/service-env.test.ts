/**
 * A service process started with a bad environment variable, on real NATS: it exits at start
 * with a message naming the variable — and a metrics port already taken fails the start before
 * the service has taken any message from its consumer.
 */
import { execFileSync, spawn } from "node:child_process";
import { mkdtempSync, realpathSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { spawnService } from "./support/processes.js";
import { createHarness, testConfigInput, waitFor, type Harness } from "./support/harness.js";

const ROOT = fileURLToPath(new URL("..", import.meta.url));

describe("a service's environment", () => {
  let h: Harness;
  let env: Record<string, string>;

  beforeAll(async () => {
    h = await createHarness();
    const dir = mkdtempSync(join(tmpdir(), "router-env-"));
    const configFile = join(dir, "router.config.json");
    writeFileSync(configFile, JSON.stringify(testConfigInput(h.id)));
    env = { NATS_URL: h.natsUrl, ROUTER_CONFIG: configFile };
  });
  afterAll(async () => {
    await h?.close();
  });

  it.each([
    ["LOG_LEVEL", "verbose", /LOG_LEVEL: "verbose" is not one of fatal, error, warn, info, debug, trace, silent/],
    ["METRICS_PORT", "9o9o", /METRICS_PORT: "9o9o" is not a port number/],
    ["METRICS_PORT", "70000", /METRICS_PORT: "70000" is not a port number/],
    ["ROUTER_PARENT_PID", "launcher", /ROUTER_PARENT_PID must be a process id, got "launcher"/],
    ["ROUTER_PARENT_PID", "-1", /ROUTER_PARENT_PID must be a process id, got "-1"/],
  ])("%s=%s fails the start, naming the variable", async (name, value, message) => {
    const service = spawnService("classifier", { ...env, [name]: value });
    expect(await service.exited).toBe(1);
    const fatal = service
      .output()
      .split("\n")
      .flatMap((line) => (line.startsWith("{") ? [JSON.parse(line) as { level: string; msg: string }] : []))
      .find((l) => l.level === "fatal");
    expect(fatal?.msg).toMatch(/^classifier failed to start: /);
    expect(fatal?.msg).toMatch(message);
  }, 30_000);

  it("without a config file it says it runs the built-in registry, naming the working directory", async () => {
    // Started from a directory without router.config.yaml and no ROUTER_CONFIG: the simulators,
    // which an operator starting it from the wrong directory must be told about. NATS is not
    // reachable on port 1, so it provisions nothing on the shared server; the warning comes first.
    const dir = mkdtempSync(join(tmpdir(), "router-cwd-"));
    const service = spawnService("classifier", { ROUTER_CONFIG: "", NATS_URL: "nats://127.0.0.1:1" }, dir);
    try {
      await waitFor(() => (service.output().includes("running the built-in registry") ? true : undefined), { timeoutMs: 20_000, what: `the built-in registry warning; output:\n${service.output()}` });
      const line = service
        .output()
        .split("\n")
        .find((l) => l.includes("running the built-in registry"));
      expect(JSON.parse(line!)).toMatchObject({ level: "warn", cwd: realpathSync(dir) });
    } finally {
      await service.kill("SIGKILL");
    }
  }, 30_000);

  it("drains when the process that started it goes (ROUTER_PARENT_PID)", async () => {
    // A shell stands in for npm start's launcher: the service is its child, with the shell's pid
    // as ROUTER_PARENT_PID, and writes to the pipes the shell was given, which outlive it.
    const tsx = import.meta.resolve("tsx");
    const main = join(ROOT, "services/classifier/src/main.ts");
    const shell = spawn("sh", ["-c", `ROUTER_PARENT_PID=$$ "${process.execPath}" --conditions=source --import "${tsx}" "${main}" & wait`], {
      env: { ...process.env, ...env, METRICS_PORT: "0", LOG_LEVEL: "info" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    shell.stdout.on("data", (d: Buffer) => (out += d.toString()));
    shell.stderr.on("data", (d: Buffer) => (out += d.toString()));
    await waitFor(() => (out.includes("classifier ready:") ? true : undefined), { timeoutMs: 30_000, what: `the classifier to be ready; output:\n${out}` });
    const [service] = execFileSync("pgrep", ["-P", String(shell.pid)], { encoding: "utf8" }).trim().split("\n").map(Number);
    try {
      shell.kill("SIGKILL");
      await waitFor(() => (out.includes('"step":"nats"') ? true : undefined), { timeoutMs: 30_000, what: `the classifier's drain to finish; output:\n${out}` });
      expect(out).toContain("the process that started this service has gone");
      expect(out).not.toContain("second signal");
    } finally {
      try {
        process.kill(service!, "SIGKILL");
      } catch {
        // Already gone, as it should be.
      }
    }
  }, 60_000);

  it("a metrics port in use fails the start before any message is taken", async () => {
    const taken: Server = createServer();
    await new Promise<void>((resolve) => taken.listen(0, "127.0.0.1", resolve));
    const port = (taken.address() as { port: number }).port;
    try {
      h.publishRaw(h.topology.subjects["task.submitted"], JSON.stringify({ id: "env-1", prompt: "hello" }));
      const service = spawnService("classifier", { ...env, METRICS_PORT: String(port) });
      expect(await service.exited).toBe(1);
      expect(service.output()).toMatch(/EADDRINUSE/);
      const info = await h.jsm.consumers.info(h.topology.stream, "classifier");
      expect(info.delivered.consumer_seq).toBe(0);
      expect(info.num_pending).toBe(1);
    } finally {
      taken.close();
    }
  }, 30_000);
});
