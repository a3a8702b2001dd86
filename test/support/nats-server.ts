/**
 * A private nats-server for one test file, run from the repository's infra/nats configuration:
 * the files are copied verbatim to a temporary directory except the JetStream `store_dir`
 * (nats-server refuses `-sd` next to a `store_dir` in the file), and the client and monitoring
 * ports are free ones on 127.0.0.1 (`-a`, `-p`, `-m` override the file).
 */
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { cp, readFile, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { delimiter, join } from "node:path";
import { fileURLToPath } from "node:url";

export const NATS_CONFIG_DIR = fileURLToPath(new URL("../../infra/nats", import.meta.url));

export interface NatsServerProcess {
  /** `nats://127.0.0.1:<port>` */
  url: string;
  /** Everything the server logged so far. */
  output(): string;
  stop(): Promise<void>;
}

/** `NATS_SERVER_BIN`, else `nats-server` on the PATH, else /usr/sbin/nats-server; throws when none exists. */
export function findNatsServer(): string {
  const candidates = [
    process.env.NATS_SERVER_BIN,
    ...(process.env.PATH ?? "").split(delimiter).map((dir) => join(dir, "nats-server")),
    "/usr/sbin/nats-server",
  ];
  const found = candidates.find((c): c is string => c !== undefined && c !== "" && existsSync(c));
  if (!found) throw new Error("nats-server not found: install it or set NATS_SERVER_BIN");
  return found;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/**
 * Copies infra/nats into `dir` with the store directory pointed at `dir/store`, and starts
 * nats-server on it with `env` (the password variables the configuration references) as its
 * only environment. Resolves once the server accepts connections.
 */
export async function startNatsServer(o: { dir: string; env: Record<string, string> }): Promise<NatsServerProcess> {
  await cp(NATS_CONFIG_DIR, o.dir, { recursive: true });
  const confPath = join(o.dir, "nats.conf");
  const conf = await readFile(confPath, "utf8");
  const storeDir = /^(\s*store_dir:\s*)"[^"]*"/m;
  if (!storeDir.test(conf)) throw new Error(`${NATS_CONFIG_DIR}/nats.conf has no quoted store_dir line to redirect`);
  await writeFile(confPath, conf.replace(storeDir, `$1${JSON.stringify(join(o.dir, "store"))}`));

  const [port, monitorPort] = [await freePort(), await freePort()];
  const child = spawn(findNatsServer(), ["-c", confPath, "-a", "127.0.0.1", "-p", String(port), "-m", String(monitorPort)], {
    env: o.env,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  const exited = new Promise<number | string | null>((resolve) => child.once("exit", (code, signal) => resolve(code ?? signal)));
  await new Promise<void>((resolve, reject) => {
    const onData = (d: Buffer): void => {
      out += d.toString();
      if (out.includes("Server is ready")) resolve();
    };
    child.stdout.on("data", onData);
    child.stderr.on("data", onData);
    void exited.then((code) => reject(new Error(`nats-server exited (${String(code)}) before it was ready:\n${out}`)));
    setTimeout(() => reject(new Error(`nats-server was not ready after 10 s:\n${out}`)), 10_000).unref();
  });
  return {
    url: `nats://127.0.0.1:${port}`,
    output: () => out,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
      await exited;
    },
  };
}
