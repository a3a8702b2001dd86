/**
 * The connection a service holds while its NATS server goes away and comes back: with unlimited
 * reconnects it never closes, so readiness (/readyz) reads whether it is up now. A private
 * nats-server on a free port is stopped and started again on the same port.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { connectNats, createLogger, type NatsHandle } from "@llm-router/shared";
import { waitFor } from "./support/harness.js";
import { findNatsServer, freePort } from "./support/nats-server.js";
import { spawnService, type ServiceProcess } from "./support/processes.js";

/** Every server started here, so none outlives the file (each test starts its own). */
const started = new Set<ChildProcess>();

async function startServer(port: number, dir: string): Promise<ChildProcess> {
  const child = spawn(findNatsServer(), ["-a", "127.0.0.1", "-p", String(port), "-js", "-sd", dir], { stdio: ["ignore", "pipe", "pipe"] });
  started.add(child);
  child.once("exit", () => started.delete(child));
  let out = "";
  await new Promise<void>((resolve, reject) => {
    const onData = (d: Buffer): void => {
      out += d.toString();
      if (out.includes("Server is ready")) resolve();
    };
    child.stdout?.on("data", onData);
    child.stderr?.on("data", onData);
    child.once("exit", (code) => reject(new Error(`nats-server exited (${String(code)}):\n${out}`)));
  });
  return child;
}

async function stopServer(child: ChildProcess): Promise<void> {
  const exited = new Promise((resolve) => child.once("exit", resolve));
  child.kill("SIGKILL");
  await exited;
}

describe("a NATS connection whose server goes away", () => {
  let server: ChildProcess | undefined;
  let handle: NatsHandle | undefined;
  let service: ServiceProcess | undefined;
  let dir = "";

  afterAll(async () => {
    await handle?.nc.close();
    await service?.kill("SIGKILL");
    await Promise.all([...started].map(stopServer));
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("reports itself down from the disconnect until the reconnect, though it never closes", async () => {
    dir = await mkdtemp(join(tmpdir(), "router-nats-conn-"));
    const port = await freePort();
    server = await startServer(port, dir);
    handle = await connectNats({ url: `nats://127.0.0.1:${port}`, name: "conn-test", log: createLogger({ service: "test", level: "silent" }) });
    expect(handle.connected()).toBe(true);

    await stopServer(server);
    await waitFor(() => handle!.connected() === false || undefined, { what: "the disconnect seen" });
    expect(handle.nc.isClosed()).toBe(false);

    server = await startServer(port, dir);
    await waitFor(() => handle!.connected() || undefined, { what: "the reconnect seen", timeoutMs: 15_000 });
  }, 30_000);

  it("makes a service's /readyz fail while the server is away, and pass again once it is back", async () => {
    const port = await freePort();
    server = await startServer(port, dir);
    service = spawnService("classifier", { NATS_URL: `nats://127.0.0.1:${port}`, ROUTER_CONFIG: "", NATS_USER: "", NATS_PASSWORD: "", NATS_TOKEN: "" });
    const opsPort = await waitFor(() => /classifier ready: .* on port (\d+)/.exec(service!.output())?.[1], { what: "the classifier ready", timeoutMs: 60_000 });
    const readyz = async (): Promise<number> => (await fetch(`http://127.0.0.1:${opsPort}/readyz`)).status;
    await waitFor(async () => (await readyz()) === 200 || undefined, { what: "/readyz 200" });

    await stopServer(server);
    await waitFor(async () => (await readyz()) === 503 || undefined, { what: "/readyz 503 with NATS away" });

    server = await startServer(port, dir);
    await waitFor(async () => (await readyz()) === 200 || undefined, { what: "/readyz 200 again", timeoutMs: 20_000 });
  }, 90_000);
});
