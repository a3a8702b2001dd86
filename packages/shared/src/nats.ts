/**
 * NATS connection and JetStream topology: the TASKS stream, the BUDGET stream, one durable
 * pull consumer per stage (one filter subject each: nats-server 2.9 has no multi-filter
 * consumers), the budget KV bucket and the executors' call journal bucket. Provisioning is
 * idempotent: every service runs it at start, in any order, any number of replicas at once.
 */
import { readFileSync } from "node:fs";
import { AuthorizationError, connect, InvalidArgumentError, type NatsConnection, type NodeConnectionOptions } from "@nats-io/transport-node";
import {
  AckPolicy,
  DeliverPolicy,
  DiscardPolicy,
  RetentionPolicy,
  StorageType,
  jetstream,
  jetstreamManager,
  type ConsumerConfig,
  type JetStreamClient,
  type JetStreamManager,
  type PubAck,
  type StreamConfig,
} from "@nats-io/jetstream";
import { Kvm, type KV } from "@nats-io/kv";
import type { Logger } from "pino";
import { ConfigError, ERROR_CODES, RouterError } from "./errors.js";
import { createSubjects, type SubjectName, type SubjectPayload, type Subjects } from "./subjects.js";
import type { RouterConfig, RouterEnv } from "./config.js";

const NANOS_PER_MS = 1_000_000;

export interface NatsHandle {
  nc: NatsConnection;
  /** Resolves when the status loop ends (the connection closed). */
  statusDone: Promise<void>;
  /**
   * Whether the connection is up now: false from a disconnect until the reconnect. With unlimited
   * reconnects a connection to a server that is down is never closed, and pulls just come back
   * empty, so readiness reads this rather than `nc.isClosed()`.
   */
  connected: () => boolean;
}

/** How a connection authenticates: a user and password, or a token. */
export type NatsAuth = { user: string; pass: string } | { token: string };

/**
 * The NATS credentials in the environment, or undefined when none are set (the server must
 * then allow anonymous connections, as a development `nats-server -js` does):
 * - `NATS_USER` with `NATS_PASSWORD`, or with `NATS_PASSWORD_FILE` (a file holding the password,
 *   e.g. a compose or Kubernetes secret; one trailing newline is ignored);
 * - or `NATS_TOKEN` / `NATS_TOKEN_FILE`.
 * Throws a ConfigError naming the variables (never their values) for an incomplete or
 * contradictory set. The values are only ever passed to the client, never logged.
 */
export function natsAuthFromEnv(env: RouterEnv): NatsAuth | undefined {
  const pass = secretFromEnv(env, "NATS_PASSWORD");
  const token = secretFromEnv(env, "NATS_TOKEN");
  const user = env.NATS_USER || undefined;
  if (token !== undefined) {
    if (user !== undefined || pass !== undefined) throw new ConfigError("NATS_TOKEN(_FILE) excludes NATS_USER and NATS_PASSWORD(_FILE): set one or the other");
    return { token };
  }
  if (user === undefined && pass === undefined) return undefined;
  if (user === undefined) throw new ConfigError("NATS_PASSWORD(_FILE) is set without NATS_USER");
  if (pass === undefined) throw new ConfigError(`NATS_USER is set (${user}) without NATS_PASSWORD or NATS_PASSWORD_FILE`);
  return { user, pass };
}

/** `env[name]`, or the content of the file named by `env[name + "_FILE"]`; both set is an error. */
function secretFromEnv(env: RouterEnv, name: string): string | undefined {
  const value = env[name] || undefined;
  const file = env[`${name}_FILE`] || undefined;
  if (value !== undefined && file !== undefined) throw new ConfigError(`${name} and ${name}_FILE are both set: set one`);
  if (file === undefined) return value;
  let content: string;
  try {
    content = readFileSync(file, "utf8");
  } catch (err) {
    throw new ConfigError(`${name}_FILE: cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { cause: err });
  }
  const secret = content.replace(/\r?\n$/, "");
  if (secret === "") throw new ConfigError(`${name}_FILE: ${file} is empty`);
  return secret;
}

/** The URL without the user-info part (`nats://user:secret@host` → `nats://host`), for messages. */
function redactUrl(url: string): string {
  return url.replace(/\/\/[^/@]*@/g, "//");
}

export interface ConnectNatsOptions {
  /** One server URL or a comma-separated list. */
  url: string;
  /** The connection name the server shows (`router-<service>`). */
  name: string;
  log: Logger;
  /** Credentials; default none (anonymous). See `natsAuthFromEnv`. */
  auth?: NatsAuth;
  /**
   * Prefix of this connection's reply subjects (JetStream API replies, publish acks, pulled
   * messages, KV watches). Default `_INBOX`. A server that gives each service user only its own
   * prefix (infra/nats/auth.conf: `_INBOX_<service>.>`) keeps every service from reading the
   * others' deliveries.
   */
  inboxPrefix?: string;
}

/**
 * Connect with unlimited reconnects (the client default gives up after 10) and log every
 * status change. Fails fast, with a message that says how to start a server, when nothing
 * answers on the first attempt, and says which user was refused when the server rejects the
 * credentials.
 */
export async function connectNats(options: ConnectNatsOptions): Promise<NatsHandle> {
  const url = redactUrl(options.url);
  const opts: NodeConnectionOptions = { servers: options.url, name: options.name, maxReconnectAttempts: -1, reconnectTimeWait: 1000 };
  if (options.auth && "token" in options.auth) opts.token = options.auth.token;
  else if (options.auth) {
    opts.user = options.auth.user;
    opts.pass = options.auth.pass;
  }
  if (options.inboxPrefix) opts.inboxPrefix = options.inboxPrefix;
  const authWho = options.auth === undefined ? "none" : "token" in options.auth ? "token" : `user ${options.auth.user}`;
  let nc: NatsConnection;
  try {
    nc = await connect(opts);
  } catch (err) {
    if (err instanceof AuthorizationError) {
      throw new RouterError(
        ERROR_CODES.AUTH_FAILED,
        `NATS at ${url} refused the connection (credentials: ${authWho}): ${err.message}. ` +
          "Check NATS_USER and NATS_PASSWORD / NATS_PASSWORD_FILE (or NATS_TOKEN) against the server's users.",
        { cause: err },
      );
    }
    throw new RouterError(
      ERROR_CODES.NATS_UNREACHABLE,
      `cannot connect to NATS at ${url} (${(err as Error).message}). ` +
        "Start a server with JetStream enabled, e.g. `nats-server -js` or `docker run -p 4222:4222 nats:2 -js`, or set NATS_URL.",
      { cause: err, retryable: true },
    );
  }
  const log = options.log.child({ component: "nats" });
  log.info({ server: nc.getServer(), auth: authWho }, "connected to NATS");
  let up = true;
  const statusDone = (async () => {
    for await (const s of nc.status()) {
      if (s.type === "disconnect") up = false;
      else if (s.type === "reconnect") up = true;
      if (s.type === "disconnect" || s.type === "error" || s.type === "staleConnection") log.warn({ status: s }, "NATS connection status");
      else if (s.type === "ping") log.debug({ status: s }, "NATS connection status");
      else log.info({ status: s }, "NATS connection status");
    }
  })();
  return { nc, statusDone, connected: () => up && !nc.isClosed() };
}

/** Durable consumer names and the single subject each one filters on. */
export const DURABLES = {
  classifier: "task.submitted",
  selector: "task.classified",
  executor: "task.routed",
  "ledger-completed": "task.completed",
  "ledger-feedback": "task.feedback",
  "ledger-dead": "task.dead",
} as const satisfies Record<string, SubjectName>;
export type DurableName = keyof typeof DURABLES;

export interface Topology {
  subjects: Subjects;
  stream: string;
  budgetStream: string;
  budgetBucket: string;
  journalBucket: string;
  ackWaitMs: number;
  /** Deliveries before a message is dead-lettered, for the pipeline stages. */
  maxDeliver: number;
  /** The same for the ledger's consumers, which outlast database outages. */
  ledgerMaxDeliver: number;
  maxAgeMs: number;
  maxBytes: number;
  /** How long an executor may wait for a human's approval (0 when none is required). */
  approvalWaitMs: number;
}

export function topologyFromConfig(config: RouterConfig): Topology {
  const n = config.nats;
  return {
    subjects: createSubjects(n.subjectPrefix),
    stream: n.stream,
    budgetStream: n.budgetStream,
    budgetBucket: n.budgetBucket,
    journalBucket: n.journalBucket,
    ackWaitMs: n.ackWaitMs,
    maxDeliver: n.maxDeliver,
    ledgerMaxDeliver: config.ledger.maxDeliver,
    maxAgeMs: n.maxAgeMs,
    maxBytes: n.maxBytes,
    approvalWaitMs: config.strategies.ensemble.approval.required ? config.strategies.ensemble.approval.timeoutMs : 0,
  };
}

/** How many deliveries a durable gets before its worker dead-letters the message. */
export function maxDeliverFor(t: Pick<Topology, "maxDeliver" | "ledgerMaxDeliver">, durable: DurableName): number {
  return durable.startsWith("ledger-") ? t.ledgerMaxDeliver : t.maxDeliver;
}

/**
 * The duplicate window must cover the longest time a stage may republish the same output:
 * every delivery of an input until it is dead-lettered, and, when approvals are required, the
 * approval wait on top (an executor restarted mid-wait republishes its approval request, which
 * must be recognised as the same one to keep the wait's start and the decisions since). Bounded
 * by the stream's max age. (The ledger publishes nothing per message, so its longer redelivery
 * horizon does not count.)
 */
export function duplicateWindowMs(t: Pick<Topology, "ackWaitMs" | "maxDeliver" | "maxAgeMs"> & Partial<Pick<Topology, "approvalWaitMs">>): number {
  const redeliveries = t.ackWaitMs * (t.maxDeliver + 1) * 2;
  return Math.min(t.maxAgeMs, Math.max(2 * 60_000, redeliveries + (t.approvalWaitMs ?? 0)));
}

export interface Provisioned {
  js: JetStreamClient;
  jsm: JetStreamManager;
  budgetKv: KV;
  /** The executors' call journal (`nats.journalBucket`). */
  journalKv: KV;
}

/**
 * How long a call journal entry outlives its last write: far beyond any redelivery of its task
 * (AckWait × MaxDeliver plus backoff), and short enough that what finished tasks leave behind
 * (the delete marker of each, the entry of one whose executor died between publishing and
 * deleting) does not pile up.
 */
export const JOURNAL_MAX_AGE_MS = 24 * 3600 * 1000;

export async function ensureTopology(nc: NatsConnection, t: Topology): Promise<Provisioned> {
  let jsm: JetStreamManager;
  try {
    jsm = await jetstreamManager(nc);
  } catch (err) {
    throw new RouterError(
      ERROR_CODES.NATS_UNREACHABLE,
      `JetStream is not available on ${nc.getServer()} (${(err as Error).message}): start nats-server with -js`,
      { cause: err },
    );
  }
  await ensureStream(jsm, taskStreamConfig(t));
  const budgetAgeMs = 90 * 24 * 3600 * 1000;
  await ensureStream(jsm, {
    name: t.budgetStream,
    subjects: [t.subjects.budgetWildcard],
    retention: RetentionPolicy.Limits,
    storage: StorageType.File,
    discard: DiscardPolicy.Old,
    max_age: budgetAgeMs * NANOS_PER_MS,
    max_bytes: 64 * 1024 * 1024,
    duplicate_window: 3600_000 * NANOS_PER_MS,
  });
  for (const durable of Object.keys(DURABLES) as DurableName[]) await ensureConsumer(jsm, t.stream, stageConsumerConfig(t, durable));
  const kvm = new Kvm(nc);
  const budgetKv = await kvm.create(t.budgetBucket, { history: 5 });
  await ensureBucketLimits(jsm, t.budgetBucket, { history: 5, maxAgeMs: 0 });
  // One value per task (history 1); a deleted key leaves a small marker until the max age.
  const journalKv = await kvm.create(t.journalBucket, { history: 1, ttl: JOURNAL_MAX_AGE_MS });
  await ensureBucketLimits(jsm, t.journalBucket, { history: 1, maxAgeMs: JOURNAL_MAX_AGE_MS });
  return { js: jetstream(nc), jsm, budgetKv, journalKv };
}

function taskStreamConfig(t: Topology): Partial<StreamConfig> & { name: string } {
  return {
    name: t.stream,
    subjects: [t.subjects.tasksWildcard],
    retention: RetentionPolicy.Limits,
    storage: StorageType.File,
    discard: DiscardPolicy.Old,
    max_age: t.maxAgeMs * NANOS_PER_MS,
    max_bytes: t.maxBytes,
    duplicate_window: duplicateWindowMs(t) * NANOS_PER_MS,
  };
}

function stageConsumerConfig(t: Topology, durable: DurableName): Partial<ConsumerConfig> & { durable_name: string } {
  return {
    durable_name: durable,
    filter_subject: t.subjects[DURABLES[durable]],
    ack_policy: AckPolicy.Explicit,
    deliver_policy: DeliverPolicy.All,
    ack_wait: t.ackWaitMs * NANOS_PER_MS,
    // One more than the workers' own limit: the worker sees the last delivery and
    // dead-letters it, instead of the server silently dropping it.
    max_deliver: maxDeliverFor(t, durable) + 1,
    max_ack_pending: 10_000,
  };
}

/**
 * Provision one stage's consumer again, and the task stream under it, as the start does: for a
 * worker that finds them deleted while it runs (an operator's mistake, a stream recreated). A
 * consumer recreated on a stream that survived starts after `ackFloor`, the last stream sequence
 * the old one had acknowledged everything up to: from the start, it would run (and bill) every
 * retained task again. On a recreated stream (its sequences start over) it starts from the first.
 */
export async function reprovisionStage(js: JetStreamClient, t: Topology, durable: DurableName, ackFloor = 0): Promise<void> {
  const jsm = await js.jetstreamManager();
  const existed = await jsm.streams.info(t.stream).then(
    (info) => info,
    () => undefined,
  );
  await ensureStream(jsm, taskStreamConfig(t));
  const resume = existed !== undefined && ackFloor > 0 && ackFloor <= existed.state.last_seq;
  const from = resume ? { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: ackFloor + 1 } : {};
  await ensureConsumer(jsm, t.stream, { ...stageConsumerConfig(t, durable), ...from });
}

/**
 * `kvm.create` leaves an existing bucket as it is: one made by an older version (a journal
 * without its max age, whose entries and delete markers would then pile up for ever) keeps its
 * settings. Its stream is brought to the history and max age this version needs.
 */
async function ensureBucketLimits(jsm: JetStreamManager, bucket: string, want: { history: number; maxAgeMs: number }): Promise<void> {
  const name = `KV_${bucket}`;
  const { config } = await jsm.streams.info(name);
  const maxAge = want.maxAgeMs * NANOS_PER_MS;
  if (config.max_msgs_per_subject === want.history && config.max_age === maxAge) return;
  await jsm.streams.update(name, { ...config, max_msgs_per_subject: want.history, max_age: maxAge });
}

async function ensureStream(jsm: JetStreamManager, config: Partial<StreamConfig> & { name: string }): Promise<void> {
  const existing = await jsm.streams.info(config.name).catch(() => undefined);
  // Checked before anything changes: moving the stream to other subjects would leave every
  // running replica, and every client still publishing on the old ones, writing to nothing.
  const had = existing?.config.subjects ?? [];
  const want = config.subjects ?? [];
  if (existing && (had.length !== want.length || had.some((s, i) => s !== want[i]))) {
    throw new ConfigError(
      `stream "${config.name}" captures ${JSON.stringify(had)}, not ${JSON.stringify(want)} (was nats.subjectPrefix changed?): ` +
        `restore the old prefix, or give the new one streams of its own (nats.stream, nats.budgetStream); nothing was changed`,
    );
  }
  if (!existing) {
    try {
      await jsm.streams.add(config);
      return;
    } catch (err) {
      // Another replica may have created it between our look-up and add.
      if (!(await jsm.streams.info(config.name).catch(() => undefined))) throw err;
    }
  }
  await jsm.streams.update(config.name, config);
}

async function ensureConsumer(jsm: JetStreamManager, stream: string, config: Partial<ConsumerConfig> & { durable_name: string }): Promise<void> {
  const existing = await jsm.consumers.info(stream, config.durable_name).catch(() => undefined);
  if (!existing) {
    try {
      await jsm.consumers.add(stream, config);
      return;
    } catch (err) {
      if (!(await jsm.consumers.info(stream, config.durable_name).catch(() => undefined))) throw err;
    }
  }
  const c = existing?.config;
  // A consumer reading other subjects would pull nothing of its stage's and report itself
  // ready. nats-server 2.9 cannot change a filter in place, and recreating the consumer here
  // would deliver the whole stream again: the operator decides.
  if (c && c.filter_subject !== config.filter_subject) {
    throw new ConfigError(
      `consumer "${config.durable_name}" on stream "${stream}" reads "${c.filter_subject ?? "(everything)"}", not "${config.filter_subject}" (was nats.subjectPrefix changed?): ` +
        `delete it (nats consumer rm ${stream} ${config.durable_name}) once what it holds is processed, or restore the old prefix, then start again`,
    );
  }
  if (c && c.ack_wait === config.ack_wait && c.max_deliver === config.max_deliver) return;
  await jsm.consumers.update(stream, config.durable_name, {
    ack_wait: config.ack_wait,
    max_deliver: config.max_deliver,
    max_ack_pending: config.max_ack_pending,
  });
}

/**
 * Publish a catalogued message to JetStream: the payload's type is the subject's schema, the
 * subject gets the deployment's prefix, and the deterministic message id (`<taskId>:<stage>`)
 * lets the stream drop a republish after a redelivery. Resolves once the stream stored it.
 */
export async function publishMessage<S extends SubjectName>(
  js: JetStreamClient,
  subjects: Subjects,
  name: S,
  payload: SubjectPayload<S>,
  msgID: string,
): Promise<PubAck> {
  const data = JSON.stringify(payload);
  try {
    return await js.publish(subjects[name], data, { msgID });
  } catch (err) {
    // Retrying cannot shrink the message: fail it for good, so the stage dead-letters it now.
    if (err instanceof InvalidArgumentError && err.message.includes("max_payload")) {
      throw new RouterError(
        ERROR_CODES.MESSAGE_TOO_LARGE,
        `${name} message of ${Buffer.byteLength(data)} bytes is larger than the NATS server's max_payload (raise max_payload, or send a smaller prompt)`,
        { cause: err },
      );
    }
    throw err;
  }
}
