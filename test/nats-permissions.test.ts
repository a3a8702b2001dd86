/**
 * infra/nats against a real nats-server: the four services, each a real process with its own
 * NATS user and inbox prefix, provision the topology and carry a task end to end without one
 * permission violation; and every user is refused what it does not own. The server is this
 * file's own (the configuration requires credentials, the shared test server does not), on
 * the production names: no subject prefix, streams TASKS and BUDGET, buckets router_budget and
 * router_journal.
 */
import { randomBytes } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PermissionViolationError, type Msg, type NatsConnection } from "@nats-io/transport-node";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import { Svcm } from "@nats-io/services";
import {
  ERROR_CODES,
  RouterError,
  connectNats,
  createLogger,
  createSubjects,
  natsAuthFromEnv,
  requestApi,
  type ApiEndpointName,
  type ApiRequestInput,
  type TaskCompleted,
  DEFAULT_CONFIG_INPUT,
} from "@llm-router/shared";
import { journalKey } from "@llm-router/executor";
import { createRouterClient } from "../packages/cli/src/client.js";
import { waitFor } from "./support/harness.js";
import { spawnService, type ServiceProcess } from "./support/processes.js";
import { startNatsServer, type NatsServerProcess } from "./support/nats-server.js";

const SERVICES = ["classifier", "selector", "executor", "ledger"] as const;
type Service = (typeof SERVICES)[number];
type User = Service | "client" | "admin";
const USERS: readonly User[] = [...SERVICES, "client", "admin"];

const log = createLogger({ service: "test", level: process.env.TEST_LOG_LEVEL ?? "error" });
const passwords = Object.fromEntries(USERS.map((u) => [u, `p${randomBytes(16).toString("hex")}`])) as Record<User, string>;
/** The inbox prefix compose gives each service (NATS_INBOX_PREFIX); clients keep the default. */
const inboxOf = (u: User): string | undefined => (u === "client" || u === "admin" ? undefined : `_INBOX_${u}`);

let dir: string;
let server: NatsServerProcess;
let configFile: string;
const services: ServiceProcess[] = [];
const connections: NatsConnection[] = [];

async function connectAs(user: User, options: { inboxPrefix?: string } = {}): Promise<NatsConnection> {
  const inboxPrefix = "inboxPrefix" in options ? options.inboxPrefix : inboxOf(user);
  const { nc } = await connectNats({ url: server.url, name: `test-${user}`, log, auth: { user, pass: passwords[user] }, ...(inboxPrefix ? { inboxPrefix } : {}) });
  connections.push(nc);
  return nc;
}

/** The permissions violation an operation was refused with, or undefined when it was not refused. */
async function refusal(op: Promise<unknown>): Promise<PermissionViolationError | undefined> {
  try {
    await op;
    return undefined;
  } catch (err) {
    for (let e: unknown = err; e instanceof Error; e = e.cause) if (e instanceof PermissionViolationError) return e;
    return undefined;
  }
}

/** Publishes as a request, so a refusal comes back to the caller instead of only to the status stream. */
const publishRefusal = (nc: NatsConnection, subject: string): Promise<PermissionViolationError | undefined> =>
  refusal(nc.request(subject, "{}", { timeout: 2000 }));

/** Subscribes and waits past the server's answer: the violation, or undefined when the subscription stands. */
async function subscribeRefusal(nc: NatsConnection, subject: string): Promise<PermissionViolationError | undefined> {
  const sub = nc.subscribe(subject);
  await nc.flush();
  const closed = await Promise.race([sub.closed, new Promise<"open">((resolve) => setTimeout(() => resolve("open"), 200))]);
  sub.unsubscribe();
  return closed instanceof PermissionViolationError ? closed : undefined;
}

function startService(name: Service, extra: Record<string, string> = {}): ServiceProcess {
  const p = spawnService(name, {
    NATS_URL: server.url,
    NATS_USER: name,
    NATS_INBOX_PREFIX: inboxOf(name) ?? "",
    ROUTER_CONFIG: configFile,
    // Embedded PGlite under the config's dataDir, never a DATABASE_URL the test runner may carry.
    DATABASE_URL: "",
    NATS_PASSWORD: "",
    NATS_PASSWORD_FILE: "",
    NATS_TOKEN: "",
    NATS_TOKEN_FILE: "",
    ...extra,
  });
  services.push(p);
  return p;
}

/** Resolves when the service logs that it is ready; rejects at once, with its output, if it exits first. */
const ready = (p: ServiceProcess, name: Service): Promise<unknown> =>
  Promise.race([
    // Generous: four services compiling through tsx on two busy cores can take a while to start.
    waitFor(() => p.output().includes(`${name} ready`) || undefined, { timeoutMs: 60_000, what: `${name} to be ready` }).catch((err: Error) => {
      throw new Error(`${err.message}; its output so far:\n${p.output()}`);
    }),
    p.exited.then((code) => {
      throw new Error(`${name} exited (${String(code)}) before it was ready:\n${p.output()}`);
    }),
  ]);

/** A call journal key, as the executor writes it for a task. */
const JOURNAL_KEY = journalKey("perm:task@1");

const violations = (): string[] => server.output().split("\n").filter((l) => l.includes("Violation"));

/** The task the end-to-end test carried through the pipeline. */
let completedTaskId: string | undefined;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "router-nats-perms-"));
  server = await startNatsServer({
    dir: join(dir, "nats"),
    env: { PATH: process.env.PATH ?? "", ...Object.fromEntries(USERS.map((u) => [`NATS_${u.toUpperCase()}_PASSWORD`, passwords[u]])) },
  });
  configFile = join(dir, "router.config.json");
  // The simulator registry; a budget of $0 is exceeded from the start, so the ledger writes the
  // state to KV and publishes budget.exceeded, and the selector must read it to route.
  await writeFile(
    configFile,
    JSON.stringify({ ...DEFAULT_CONFIG_INPUT, budget: { limitUsd: 0 }, nats: { ackWaitMs: 5000 }, ledger: { dataDir: join(dir, "ledger"), batchSize: 10, flushMs: 20 } }),
  );
});

afterAll(async () => {
  await Promise.all(services.map((s) => s.kill()));
  for (const nc of connections) await nc.close().catch(() => undefined);
  await server?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe("NATS credentials from the environment", () => {
  it("takes a user with a password or a password file, or a token, and rejects incomplete or contradictory settings by variable name", async () => {
    const file = join(dir, "password");
    await writeFile(file, "from-file\n");
    expect(natsAuthFromEnv({})).toBeUndefined();
    expect(natsAuthFromEnv({ NATS_USER: "ledger", NATS_PASSWORD: "s3cret" })).toEqual({ user: "ledger", pass: "s3cret" });
    expect(natsAuthFromEnv({ NATS_USER: "ledger", NATS_PASSWORD_FILE: file })).toEqual({ user: "ledger", pass: "from-file" });
    expect(natsAuthFromEnv({ NATS_TOKEN_FILE: file })).toEqual({ token: "from-file" });
    const failures = [
      { NATS_USER: "ledger" },
      { NATS_PASSWORD: "s3cret" },
      { NATS_USER: "ledger", NATS_PASSWORD: "s3cret", NATS_PASSWORD_FILE: file },
      { NATS_TOKEN: "s3cret", NATS_USER: "ledger" },
      { NATS_USER: "ledger", NATS_PASSWORD_FILE: join(dir, "missing") },
    ];
    for (const env of failures) {
      let error: unknown;
      try {
        natsAuthFromEnv(env);
      } catch (err) {
        error = err;
      }
      expect(error, JSON.stringify(env)).toBeInstanceOf(RouterError);
      expect((error as RouterError).code).toBe(ERROR_CODES.CONFIG_INVALID);
      expect((error as RouterError).message).toMatch(/NATS_/);
      expect((error as RouterError).message).not.toContain("s3cret");
    }
  });
});

describe("infra/nats permissions", () => {
  it("lets the four services, each with its own user, provision the topology and carry a task end to end", async () => {
    const client = await connectAs("client");
    const completed: Msg[] = [];
    const budgetEvents: Msg[] = [];
    client.subscribe("task.completed", { callback: (_err, m) => void completed.push(m) });
    client.subscribe("budget.>", { callback: (_err, m) => void budgetEvents.push(m) });
    await client.flush();

    // The ledger first: its $0 budget is exceeded at once, which it records in KV before the
    // selector starts. One service reads its password from a file, as compose secrets give it.
    const passwordFile = join(dir, "ledger-password");
    await writeFile(passwordFile, `${passwords.ledger}\n`, { mode: 0o600 });
    const ledger = startService("ledger", { NATS_PASSWORD_FILE: passwordFile });
    await ready(ledger, "ledger");
    await waitFor(() => budgetEvents.length > 0 || undefined, { what: "budget.exceeded from the ledger" });
    expect(budgetEvents[0]?.subject).toBe("budget.exceeded");

    const others = (["executor", "selector", "classifier"] as const).map((name) => ({ name, p: startService(name, { NATS_PASSWORD: passwords[name] }) }));
    await Promise.all(others.map(({ name, p }) => ready(p, name)));

    // As any client would: a JetStream publish (its ack comes to the client's inbox), then feedback.
    const js = jetstream(client);
    const taskId = `perm-${randomBytes(4).toString("hex")}`;
    const ack = await js.publish("task.submitted", JSON.stringify({ id: taskId, prompt: "What is the capital of France?" }), { msgID: taskId });
    expect(ack.stream).toBe("TASKS");
    const msg = await waitFor(() => completed.find((m) => m.json<TaskCompleted>().task.id === taskId), { what: "task.completed" });
    const done = msg.json<TaskCompleted>();
    completedTaskId = done.task.id;
    expect(done.result.status).toBe("succeeded");
    // Submitted again with its id, as the router CLI would: that run's completion, read from
    // TASKS with the client user's rights (an ordered push consumer on task.completed).
    const [again] = await createRouterClient(client, createSubjects("")).run([{ id: taskId, prompt: "What is the capital of France?" }], { timeoutMs: 20_000 });
    expect(again?.result).toEqual(done.result);
    // The selector read the ledger's budget state through its KV permissions.
    expect(done.decision.budget.state).toBe("exceeded");
    expect(done.decision.budget.revision).toBeGreaterThan(0);
    await js.publish("task.feedback", JSON.stringify({ taskId, score: 1, success: true }), { msgID: `${taskId}:feedback` });

    // The ledger consumed, committed and acked both (it acks only after the commit), and
    // nothing was dead-lettered.
    const admin = await connectAs("admin");
    const jsm = await jetstreamManager(admin);
    for (const durable of ["ledger-completed", "ledger-feedback"]) {
      await waitFor(
        async () => {
          const info = await jsm.consumers.info("TASKS", durable);
          return (info.num_pending === 0 && info.num_ack_pending === 0 && info.ack_floor.stream_seq > 0) || undefined;
        },
        { what: `${durable} to ack everything` },
      );
    }
    // Nothing was dead-lettered: no message on task.dead in the stream (the ledger-dead consumer's
    // delivered sequence may move past other subjects' messages, so it says nothing).
    const subjects = (await jsm.streams.info("TASKS", { subjects_filter: "task.dead" })).state.subjects ?? {};
    expect(subjects["task.dead"] ?? 0).toBe(0);
    const stats = await (await new Kvm(admin).open("router_budget")).get("stats");
    expect(stats?.operation).toBe("PUT");
    expect(violations()).toEqual([]);
  }, 120_000);

  it("lets a client ask every router.* endpoint, each answered by its service's own user, and discover them through $SRV", async () => {
    const client = await connectAs("client");
    const ask = <E extends ApiEndpointName>(endpoint: E, request: ApiRequestInput<E>) => requestApi(client, endpoint, request);
    expect((await ask("router.classify", { prompt: "Write a Python function that merges two sorted lists." })).taskType).toBe("code");
    // The selector asks router.classify as its own user, and routes by the budget state it reads.
    expect((await ask("router.route", { prompt: "Hi there!" })).decision.budget.state).toBe("exceeded");
    expect((await ask("router.models", {})).models.map((m) => m.spec)).toContain("sim:local-small");
    expect((await ask("router.models.get", { spec: "sim:cloud-large" })).health.state).toBe("healthy");
    expect((await ask("router.budget", {})).budgets).toEqual([expect.objectContaining({ scope: "global", state: "exceeded" })]);
    expect((await ask("router.metrics", {})).totals.tasks).toBe(1);
    expect(await ask("router.health", {})).toMatchObject({ ok: true, database: { ok: true, kind: "pglite" }, kv: { ok: true } });
    // The ledger publishes the feedback on task.feedback as its own user.
    expect(await ask("router.feedback", { taskId: completedTaskId!, score: 0.5, id: "perm-feedback" })).toEqual({ ok: true, id: "perm-feedback", duplicate: false });
    const names: string[] = [];
    for await (const info of await new Svcm(client).client().info()) names.push(`${info.name}:${info.endpoints.length}`);
    expect(names.sort()).toEqual(["router-classifier:1", "router-ledger:4", "router-selector:3"]);
    expect(violations()).toEqual([]);
  });

  const denied: Record<User, { publish: string[]; subscribe: string[] }> = {
    classifier: {
      publish: ["task.completed", "task.routed", "task.submitted", "budget.exceeded", "$KV.router_budget.global", `$KV.router_journal.${JOURNAL_KEY}`, "$JS.API.DIRECT.GET.KV_router_budget.$KV.router_budget.global", "$JS.API.CONSUMER.MSG.NEXT.TASKS.executor", "$JS.API.STREAM.DELETE.TASKS", "$JS.API.STREAM.PURGE.TASKS", "$JS.API.CONSUMER.DELETE.TASKS.classifier", "$JS.API.CONSUMER.CREATE.TASKS.spy.task.completed", "router.models"],
      subscribe: ["task.>", "task.submitted", "_INBOX.>", "_INBOX_executor.>", "router.models", "$SRV.PING.router-ledger"],
    },
    selector: {
      publish: ["task.completed", "task.classified", "$KV.router_budget.global", "$KV.router_budget.health", `$KV.router_journal.${JOURNAL_KEY}`, "$JS.API.DIRECT.GET.KV_router_journal", "$JS.API.CONSUMER.MSG.NEXT.TASKS.ledger-completed", "$JS.API.STREAM.DELETE.KV_router_budget", "router.feedback"],
      subscribe: ["task.routed", "_INBOX_ledger.>", "router.budget"],
    },
    executor: {
      publish: ["task.classified", "budget.exceeded", "task.approval.granted", "$KV.router_budget.global", "$KV.router_budget.stats", "$JS.API.STREAM.PURGE.KV_router_journal", "$JS.API.STREAM.DELETE.KV_router_journal", "$JS.API.CONSUMER.MSG.NEXT.TASKS.classifier", "$JS.ACK.TASKS.ledger-completed.1.1.1.1.1.0", "$JS.API.CONSUMER.CREATE.TASKS.classifier.task.approval.granted"],
      subscribe: ["task.completed", "_INBOX_selector.>", "router.health", "$SRV.PING"],
    },
    ledger: {
      publish: ["task.completed", "task.routed", "$KV.router_budget.health", `$KV.router_journal.${JOURNAL_KEY}`, "$JS.API.STREAM.MSG.GET.KV_router_journal", "$JS.API.STREAM.PURGE.TASKS", "$JS.API.CONSUMER.MSG.NEXT.TASKS.executor", "router.route"],
      subscribe: ["task.completed", "_INBOX_executor.>", "router.classify"],
    },
    client: {
      publish: [
        "task.completed", "task.classified", "task.dead", "task.approval.requested", "budget.exceeded", "$KV.router_budget.global", `$KV.router_journal.${JOURNAL_KEY}`, "$JS.API.STREAM.INFO.TASKS", "$JS.API.CONSUMER.MSG.NEXT.TASKS.classifier",
        // It may create lookup consumers on task.completed and task.dead, but not reconfigure a stage's durable under those filters.
        "$JS.API.CONSUMER.CREATE.TASKS.ledger-completed.task.completed", "$JS.API.CONSUMER.CREATE.TASKS.ledger-dead.task.dead", "$JS.API.CONSUMER.CREATE.TASKS.classifier.task.completed", "$JS.API.CONSUMER.CREATE.TASKS.spy.task.routed",
      ],
      subscribe: ["task.submitted", "task.routed", "_INBOX_ledger.>", "$KV.router_budget.>", "router.classify", "$SRV.PING"],
    },
    admin: { publish: [], subscribe: [] },
  };

  it.each(SERVICES)("refuses the %s user every subject it does not own, and allows its own", async (user) => {
    const nc = await connectAs(user);
    for (const subject of denied[user].publish) {
      expect((await publishRefusal(nc, subject))?.subject, `publish ${subject}`).toBe(subject);
    }
    for (const subject of denied[user].subscribe) {
      expect((await subscribeRefusal(nc, subject))?.subject, `subscribe ${subject}`).toBe(subject);
    }
    // Controls: the same probes pass for what the service does own.
    // The executor hands a task waiting for approval off on task.routed when it stops.
    if (user === "executor") expect(await publishRefusal(nc, "task.routed")).toBeUndefined();
    const jsm = await jetstreamManager(nc);
    expect((await jsm.streams.info("TASKS")).config.name).toBe("TASKS");
    // The classifier has no use for the KV bucket: its read is refused above.
    if (user !== "classifier") expect(await refusal(new Kvm(nc).open("router_budget").then((kv) => kv.get("global")))).toBeUndefined();
    const refusedLines = violations().filter((l) => l.includes(`User "${user}"`));
    expect(refusedLines).toHaveLength(denied[user].publish.length + denied[user].subscribe.length);
  });

  it("lets only the executors write model health and only the ledger write budget state", async () => {
    const kvAs = async (user: User) => new Kvm(await connectAs(user)).open("router_budget");
    const health = JSON.stringify({ v: 1, models: {} });
    expect(await refusal((await kvAs("executor")).put("health", health))).toBeUndefined();
    expect((await refusal((await kvAs("ledger")).put("health", health)))?.subject).toBe("$KV.router_budget.health");
    expect((await refusal((await kvAs("selector")).put("global", "{}")))?.subject).toBe("$KV.router_budget.global");
  });

  it("lets only the executors keep the call journal: put, read back and delete a task's entry", async () => {
    const journalAs = async (user: User) => new Kvm(await connectAs(user)).open("router_journal");
    const executor = await journalAs("executor");
    expect(await refusal(executor.put(JOURNAL_KEY, "{}"))).toBeUndefined();
    expect((await executor.get(JOURNAL_KEY))?.string()).toBe("{}");
    expect(await refusal(executor.delete(JOURNAL_KEY))).toBeUndefined();
    expect((await executor.get(JOURNAL_KEY))?.operation).toBe("DEL");
    for (const user of ["selector", "ledger"] as const) {
      const kv = await journalAs(user);
      expect((await refusal(kv.put(JOURNAL_KEY, "{}")))?.subject, user).toBe(`$KV.router_journal.${JOURNAL_KEY}`);
      expect((await refusal(kv.get(JOURNAL_KEY)))?.subject, user).toMatch(/^\$JS\.API\.(DIRECT|STREAM\.MSG)\.GET\.KV_router_journal/);
    }
  });

  it("refuses the client user the JetStream API, the stages' subjects and the services' inboxes", async () => {
    const nc = await connectAs("client");
    for (const subject of denied.client.publish) expect((await publishRefusal(nc, subject))?.subject, `publish ${subject}`).toBe(subject);
    for (const subject of denied.client.subscribe) expect((await subscribeRefusal(nc, subject))?.subject, `subscribe ${subject}`).toBe(subject);
    for (const subject of ["task.completed", "task.dead", "budget.exceeded"]) expect(await subscribeRefusal(nc, subject), subject).toBeUndefined();
  });

  it("keeps a service that does not use its own inbox prefix from receiving any reply", async () => {
    const nc = await connectAs("classifier", { inboxPrefix: undefined });
    const refused = await refusal(jetstreamManager(nc));
    expect(refused?.operation).toBe("subscription");
    expect(refused?.subject).toMatch(/^_INBOX\./);
  });

  it("stops a service whose password the server refuses, with AUTH_FAILED and without logging the password", async () => {
    const wrong = `p${randomBytes(16).toString("hex")}`;
    const p = startService("executor", { NATS_PASSWORD: wrong });
    expect(await p.exited).toBe(1);
    expect(p.output()).toContain(ERROR_CODES.AUTH_FAILED);
    expect(p.output()).toContain("user executor");
    expect(p.output()).not.toContain(wrong);
  });

  it("stops every service cleanly on SIGTERM, draining without a permission violation", async () => {
    const before = violations().length;
    const running = services.filter((s) => s.child.exitCode === null && s.child.signalCode === null);
    expect(running).toHaveLength(SERVICES.length);
    expect(await Promise.all(running.map((s) => s.kill("SIGTERM")))).toEqual(running.map(() => 0));
    expect(violations().slice(before)).toEqual([]);
  });
});
