/**
 * Finds the NATS (with JetStream) and Postgres servers the integration tests run against:
 * containers started by testcontainers where a container runtime exists, otherwise the
 * servers named by NATS_URL / DATABASE_URL (defaults: 127.0.0.1:4222 and 127.0.0.1:5432).
 * Fails with a clear message when a server does not answer, instead of letting every test
 * time out.
 */
import { createConnection } from "node:net";
import type { TestProject } from "vitest/node";

declare module "vitest" {
  export interface ProvidedContext {
    natsUrl: string;
    databaseUrl: string;
  }
}

const DEFAULT_NATS_URL = "nats://127.0.0.1:4222";
const DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/postgres";

type Stop = () => Promise<void>;

async function fromContainers(): Promise<{ natsUrl: string; databaseUrl: string; stop: Stop } | undefined> {
  if (process.env.TESTCONTAINERS === "off") return undefined;
  const { getContainerRuntimeClient } = await import("testcontainers");
  try {
    await getContainerRuntimeClient();
  } catch {
    return undefined;
  }
  const { NatsContainer } = await import("@testcontainers/nats");
  const { PostgreSqlContainer } = await import("@testcontainers/postgresql");
  const [nats, pg] = await Promise.all([new NatsContainer("nats:2.10").withJetStream().start(), new PostgreSqlContainer("postgres:16-alpine").start()]);
  const natsUrl = `nats://${nats.getHost()}:${nats.getMappedPort(4222)}`;
  return {
    natsUrl,
    databaseUrl: pg.getConnectionUri(),
    stop: async () => {
      await Promise.all([nats.stop(), pg.stop()]);
    },
  };
}

function reachable(url: string, defaultPort: number): Promise<boolean> {
  const u = new URL(url);
  return new Promise((resolve) => {
    const socket = createConnection({ host: u.hostname, port: Number(u.port || defaultPort) });
    socket.setTimeout(2000);
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
    socket.once("timeout", () => {
      socket.destroy();
      resolve(false);
    });
  });
}

let stop: Stop | undefined;

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const containers = await fromContainers();
  const natsUrl = containers?.natsUrl ?? process.env.NATS_URL ?? DEFAULT_NATS_URL;
  const databaseUrl = containers?.databaseUrl ?? process.env.DATABASE_URL ?? DEFAULT_DATABASE_URL;
  stop = containers?.stop;
  if (!(await reachable(natsUrl, 4222))) {
    throw new Error(`integration tests need NATS with JetStream at ${natsUrl} (no container runtime found): start one with \`nats-server -js\` or set NATS_URL`);
  }
  if (!(await reachable(databaseUrl, 5432))) {
    throw new Error(`integration tests need Postgres at ${databaseUrl.replace(/:[^:@/]*@/, ":***@")} (no container runtime found): start one or set DATABASE_URL`);
  }
  project.provide("natsUrl", natsUrl);
  project.provide("databaseUrl", databaseUrl);
  return async () => {
    await stop?.();
  };
}
