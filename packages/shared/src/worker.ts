/**
 * The stage worker: consumes one durable pull consumer with bounded concurrency, validates
 * every message, runs the stage's handler and acks only when the handler resolved (the handler
 * publishes its output, or commits it, before resolving: a crash between the two must
 * redeliver, not lose). Invalid messages are terminated and dead-lettered on `task.dead`;
 * failing ones are retried with backoff until `maxDeliver`, then dead-lettered. Nothing is
 * retried forever and no message crashes the service.
 */
import { performance } from "node:perf_hooks";
import { createHash } from "node:crypto";
import { JetStreamApiCodes, JetStreamApiError, type JetStreamClient, type JsMsg, type ConsumerMessages } from "@nats-io/jetstream";
import { headers as natsHeaders } from "@nats-io/transport-node";
import type { Logger } from "pino";
import type { z } from "zod";
import { DEAD_PAYLOAD_MAX_BYTES, type TaskDead } from "./contracts.js";
import { describeZodError } from "./config.js";
import { ERROR_CODES, RouterError, toErrorData, type ErrorCode } from "./errors.js";
import type { StageMetrics } from "./metrics.js";
import { DURABLES, maxDeliverFor, publishMessage, reprovisionStage, type DurableName, type Topology } from "./nats.js";
import type { Stage } from "./contracts.js";
import { sleep } from "./util.js";

export type Decoded<T> = { ok: true; value: T } | { ok: false; code: ErrorCode; reason: string; taskId?: string };

const utf8 = new TextDecoder("utf-8", { fatal: true });

/** Parse JSON and validate it against a schema; never throws. */
export function decodeJson<S extends z.ZodType>(schema: S, data: Uint8Array): Decoded<z.infer<S>> {
  let raw: unknown;
  try {
    raw = JSON.parse(utf8.decode(data));
  } catch (err) {
    return { ok: false, code: ERROR_CODES.MESSAGE_UNDECODABLE, reason: `payload is not UTF-8 JSON: ${(err as Error).message}` };
  }
  const parsed = schema.safeParse(raw);
  if (!parsed.success) {
    return { ok: false, code: ERROR_CODES.MESSAGE_INVALID, reason: describeZodError(parsed.error), ...taskIdOf(raw) };
  }
  return { ok: true, value: parsed.data };
}

function taskIdOf(raw: unknown): { taskId?: string } {
  if (typeof raw !== "object" || raw === null) return {};
  const r = raw as Record<string, unknown>;
  const task = r.task as Record<string, unknown> | undefined;
  const id = typeof r.id === "string" ? r.id : typeof task?.id === "string" ? task.id : typeof r.taskId === "string" ? r.taskId : undefined;
  return id !== undefined && id.length <= 128 ? { taskId: id } : {};
}

/**
 * A deterministic id for a message that carries none: the same stream message always yields
 * the same id (so redeliveries stay idempotent), and a recreated stream cannot reuse one.
 */
export function deriveMessageId(msg: Pick<JsMsg, "seq" | "info">, stream: string): string {
  const h = createHash("sha256").update(`${stream}\n${msg.seq}\n${msg.info.timestampNanos}`).digest("hex");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}

/**
 * Thrown by a handler whose delivery ends because its replica is stopping while the message waits
 * on something outside it (a human's approval, for minutes). JetStream counts every delivery, so
 * such a wait through a few rolling restarts would pass `maxDeliver` and be dead-lettered,
 * however healthy the task. Instead the worker publishes the message again as a new one (its
 * delivery count starts over; `StageContext.redelivered` still says it was seen before) and acks
 * this delivery. The copy's id is the original's plus the hand-off count, so a copy published
 * twice (a crash between the publish and the ack) is dropped as a duplicate. At most
 * `MAX_HANDOFFS` times a message; after that it is redelivered as any other retry.
 */
export class HandOff extends Error {
  override readonly name = "HandOff";
}
export const MAX_HANDOFFS = 50;
/** How many times the message was handed off, and the id of the one first published. */
const HANDOFFS_HEADER = "Router-Handoffs";
const HANDOFF_OF_HEADER = "Router-Handoff-Of";

function handoffsOf(msg: Pick<JsMsg, "headers">): number {
  const n = Number(msg.headers?.get(HANDOFFS_HEADER) || 0);
  return Number.isInteger(n) && n > 0 ? n : 0;
}

export interface StageContext {
  msg: JsMsg;
  log: Logger;
  /** An earlier delivery of this message ran (a redelivery, or a hand-off's copy): what it left behind may be found. */
  redelivered: boolean;
  /** This is the message's last delivery: a retryable failure now dead-letters it. */
  lastDelivery: boolean;
  /**
   * The handler now waits on something other than this replica's work (a human's approval, for
   * minutes): its slot goes to the next message, and the message stays held and heartbeated
   * until the handler ends. Without it, `concurrency` such waits would stop the stage.
   */
  releaseSlot: () => void;
}

export interface StageWorkerOptions<T> {
  stage: Stage;
  durable: DurableName;
  js: JetStreamClient;
  topology: Topology;
  log: Logger;
  metrics: StageMetrics;
  /** Validate a raw message. Invalid → terminated and dead-lettered with the reason. */
  decode: (msg: JsMsg) => Decoded<T>;
  /** Do the work and make it durable (publish or commit) before resolving. */
  handle: (value: T, ctx: StageContext) => Promise<void>;
  /**
   * Clean-up that must wait until the server has confirmed the ack (the executor's call
   * journal: removed earlier, a crash between the publish and the ack would run the task again
   * from scratch, paying for its calls twice). With it, messages are acked with a confirmed ack;
   * when the confirmation does not come, the clean-up is skipped (the redelivery needs what it
   * would remove). Its failures are logged.
   */
  afterAck?: (value: T) => Promise<void>;
  /** Messages processed at once. */
  concurrency: number;
  /** Publish failures to `task.dead`. Default true; false for the consumer of `task.dead` itself. */
  deadLetter?: boolean;
  /** Backoff before a failed message is redelivered, by delivery count. Default 1 s doubling to 30 s. */
  retryDelayMs?: (deliveryCount: number) => number;
  /** How often the consumer's backlog is read for `router_consumer_pending_messages`. Default 5000 ms. */
  pendingPollMs?: number;
  /**
   * While true, nothing more is pulled (messages held go on); asked before each pull and every
   * `PAUSE_CHECK_MS` while paused. For a stage that knows it cannot finish a message now (the
   * ledger's disk below its floor): messages left in the stream use up none of their deliveries.
   */
  paused?: () => boolean;
}

export interface StageWorker {
  /** Stop pulling, finish what is in flight. Unstarted buffered messages are redelivered later. */
  stop(): Promise<void>;
  /** True while the consume loop runs. */
  readonly running: boolean;
}

const defaultRetryDelay = (n: number): number => Math.min(30_000, 1000 * 2 ** Math.max(0, n - 1));

/** How often a paused worker asks again whether it may pull. */
export const PAUSE_CHECK_MS = 1000;
/** How long one pull waits for messages before the next is issued. */
const FETCH_EXPIRES_MS = 2000;
/** Pulls failing for this long (with no pull succeeding) make the worker report itself not running. */
const UNREADY_AFTER_MS = 10_000;
/** Longest redelivery delay an error's `retryAfterMs` may ask for. */
const MAX_RETRY_AFTER_MS = 300_000;
/** Longest wait between attempts at publishing a dead letter. */
const DEAD_LETTER_RETRY_MAX_MS = 30_000;
/** The longest reason a dead letter carries; a longer one is cut, saying how much was left out. */
const DEAD_REASON_MAX_CHARS = 4096;

function clipReason(reason: string): string {
  return reason.length <= DEAD_REASON_MAX_CHARS ? reason : `${reason.slice(0, DEAD_REASON_MAX_CHARS)}… (${reason.length - DEAD_REASON_MAX_CHARS} more characters)`;
}

export async function startStageWorker<T>(o: StageWorkerOptions<T>): Promise<StageWorker> {
  const log = o.log.child({ component: "worker", stage: o.stage, durable: o.durable });
  let consumer = await o.js.consumers.get(o.topology.stream, o.durable);
  // Where a consumer deleted under the worker is recreated from (see the pending poll below).
  let ackFloor = (await consumer.info()).ack_floor.stream_seq;
  const inFlight = new Set<JsMsg>();
  /** Held messages whose handler gave its slot back (`releaseSlot`): heartbeated, not counted as busy. */
  const released = new Set<JsMsg>();
  const busySlots = (): number => inFlight.size - released.size;
  const pending = new Set<Promise<void>>();
  let wakeSlot: (() => void) | undefined;
  let running = true;
  const retryDelay = o.retryDelayMs ?? defaultRetryDelay;
  const maxDeliver = maxDeliverFor(o.topology, o.durable);

  // One timer for all in-flight messages: a long handler (a model call) keeps its message
  // alive with +WPI instead of being redelivered and billed twice.
  const heartbeat = setInterval(() => {
    for (const m of inFlight) m.working();
  }, Math.max(500, Math.floor(o.topology.ackWaitMs / 3)));
  heartbeat.unref();

  // The backlog is the consumer's to report (every replica reads the same figure from the server).
  // Its ack floor is kept too: a consumer deleted under the worker is recreated after it.
  const pendingPoll = setInterval(() => {
    consumer.info().then(
      (info) => {
        o.metrics.pending.set({ durable: o.durable }, info.num_pending);
        o.metrics.ackPending.set({ durable: o.durable }, info.num_ack_pending);
        ackFloor = Math.max(ackFloor, info.ack_floor.stream_seq);
      },
      (err: unknown) => log.debug({ err }, "could not read consumer info"),
    );
  }, o.pendingPollMs ?? 5000);
  pendingPoll.unref();


  /** Aborted by stop(): ends the dead-letter retries below. */
  const halt = new AbortController();

  async function deadLetter(msg: JsMsg, code: string, reason: string, taskId: string | undefined): Promise<void> {
    if (o.deadLetter === false) {
      o.metrics.deadLetters.inc({ stage: o.stage, code });
      log.error({ code, reason, seq: msg.seq }, "dropping message that cannot be processed (dead letters are not dead-lettered)");
      return;
    }
    const payload = Buffer.from(msg.data.subarray(0, DEAD_PAYLOAD_MAX_BYTES)).toString("utf8");
    let record: TaskDead = {
      v: 1,
      stage: o.stage,
      code,
      reason: clipReason(reason),
      subject: msg.subject,
      stream: o.topology.stream,
      streamSeq: msg.seq,
      deliveryCount: msg.info.deliveryCount,
      payload,
      payloadBytes: msg.data.length,
      ...(taskId !== undefined ? { taskId } : {}),
      at: new Date().toISOString(),
    };
    // Retried here, the message kept alive by the heartbeat, rather than nak'ed: on its last
    // delivery there is no redelivery to try again on, and a nak would lose it without a word.
    for (let attempt = 1; ; attempt++) {
      try {
        await publishMessage(o.js, o.topology.subjects, "task.dead", record, `dead:${o.topology.stream}:${msg.seq}`);
        break;
      } catch (err) {
        if (halt.signal.aborted) throw err;
        if (err instanceof RouterError && err.code === ERROR_CODES.MESSAGE_TOO_LARGE) {
          // Larger than the server's max_payload (a small one, or an escaped payload): no retry
          // shrinks it. Without the payload, which stays in the stream at streamSeq, it fits.
          if (record.payload !== "") {
            log.warn({ code, seq: msg.seq, taskId, payloadBytes: record.payloadBytes }, "the dead letter is larger than max_payload; publishing it without the payload");
            record = { ...record, payload: "" };
            continue;
          }
          o.metrics.deadLetters.inc({ stage: o.stage, code });
          log.error({ err, code, reason: record.reason, seq: msg.seq, taskId }, "the dead letter is larger than max_payload even without the payload; the message is dropped, this log is its record");
          return;
        }
        const delay = Math.min(DEAD_LETTER_RETRY_MAX_MS, 500 * 2 ** Math.min(attempt - 1, 10));
        log.error({ err, code, seq: msg.seq, taskId, attempt, retryInMs: delay }, "could not publish the dead letter; retrying");
        await sleep(delay, halt.signal).catch(() => undefined);
      }
    }
    o.metrics.deadLetters.inc({ stage: o.stage, code });
    log.warn({ code, reason, seq: msg.seq, taskId }, "message dead-lettered");
  }

  /** Publishes the message again as a new one and acks this delivery; false when it cannot (then it is retried as usual). */
  async function handOff(msg: JsMsg, taskId: string | undefined): Promise<boolean> {
    const count = handoffsOf(msg) + 1;
    if (count > MAX_HANDOFFS) {
      log.warn({ seq: msg.seq, taskId, handoffs: count - 1 }, "handed off too many times; redelivered as a retry");
      return false;
    }
    const original = msg.headers?.get(HANDOFF_OF_HEADER) || msg.headers?.get("Nats-Msg-Id") || `${o.topology.stream}:${msg.seq}`;
    const h = natsHeaders();
    h.set(HANDOFFS_HEADER, String(count));
    h.set(HANDOFF_OF_HEADER, original);
    try {
      await o.js.publish(msg.subject, msg.data, { msgID: `${original}:handoff:${count}`, headers: h });
    } catch (err) {
      log.warn({ err, seq: msg.seq, taskId }, "could not hand the message off; it is redelivered");
      return false;
    }
    msg.ack();
    log.info({ seq: msg.seq, taskId, handoffs: count }, "handed off to another replica: published again, this delivery acked");
    return true;
  }

  async function ackThenCleanUp(msg: JsMsg, value: T, afterAck: (value: T) => Promise<void>): Promise<void> {
    let confirmed = false;
    try {
      confirmed = await msg.ackAck();
    } catch (err) {
      log.warn({ err, seq: msg.seq }, "the ack was not confirmed: keeping what a redelivery needs");
    }
    if (confirmed) await afterAck(value).catch((err: unknown) => log.warn({ err, seq: msg.seq }, "clean-up after the ack failed"));
  }

  async function processOne(msg: JsMsg): Promise<void> {
    const started = performance.now();
    const deliveries = msg.info.deliveryCount;
    if (deliveries > 1) o.metrics.redeliveries.inc({ stage: o.stage });
    let outcome: "ok" | "retry" | "handoff" | "dead" = "ok";
    try {
      const decoded = o.decode(msg);
      // The dead letter names the task whenever the message does, so its client can look it up.
      const taskId = decoded.ok ? taskIdOf(decoded.value).taskId : decoded.taskId;
      if (deliveries > maxDeliver) {
        outcome = "dead";
        await deadLetter(msg, ERROR_CODES.MAX_DELIVERIES_EXCEEDED, `delivered ${deliveries} times without success`, taskId);
        msg.term();
        return;
      }
      if (!decoded.ok) {
        outcome = "dead";
        await deadLetter(msg, decoded.code, decoded.reason, decoded.taskId);
        msg.term();
        return;
      }
      try {
        const releaseSlot = (): void => {
          if (released.has(msg) || !inFlight.has(msg)) return;
          released.add(msg);
          wakeLoop();
        };
        await o.handle(decoded.value, { msg, log, lastDelivery: deliveries >= maxDeliver, releaseSlot, redelivered: deliveries > 1 || handoffsOf(msg) > 0 });
        if (o.afterAck) await ackThenCleanUp(msg, decoded.value, o.afterAck);
        else msg.ack();
      } catch (err) {
        if (err instanceof HandOff && (await handOff(msg, taskId))) {
          outcome = "handoff";
          return;
        }
        const retryable = !(err instanceof RouterError) || err.retryable;
        if (retryable && deliveries < maxDeliver) {
          outcome = "retry";
          // At least as long as the error says a retry needs (an open circuit's cooldown), within bounds.
          const after = err instanceof RouterError && err.retryAfterMs !== undefined ? Math.min(MAX_RETRY_AFTER_MS, err.retryAfterMs) : 0;
          const delay = Math.max(retryDelay(deliveries), after);
          log.warn({ err, seq: msg.seq, deliveries, delayMs: delay }, "handler failed; message will be redelivered");
          msg.nak(delay);
          // Paused meanwhile (what failed it may be why): the pull still open would take the
          // redelivery once the delay is up, and use up a delivery for nothing.
          if (o.paused?.()) batch?.stop();
        } else {
          outcome = "dead";
          const data = toErrorData(err);
          log.error({ err, seq: msg.seq, deliveries }, "handler failed permanently");
          await deadLetter(msg, data.code, data.message, taskId);
          msg.term();
        }
      }
    } catch (err) {
      // Dead-lettering failed until the worker stopped: leave the message for redelivery —
      // unless this was its last delivery, which only an operator can recover now.
      outcome = "retry";
      if (deliveries > maxDeliver) {
        log.error({ err, seq: msg.seq, stream: o.topology.stream, deliveries }, "could not dead-letter the message on its last delivery before stopping: it stays in the stream at this sequence, delivered no more");
      } else {
        log.error({ err, seq: msg.seq }, "could not dead-letter message; it will be redelivered");
        msg.nak(retryDelay(deliveries));
      }
    } finally {
      o.metrics.messages.inc({ stage: o.stage, outcome });
      o.metrics.seconds.observe({ stage: o.stage }, (performance.now() - started) / 1000);
    }
  }

  /** Whether the server says this stage's consumer (or its stream) does not exist. */
  async function consumerMissing(): Promise<boolean> {
    try {
      await consumer.info();
      return false;
    } catch (err) {
      return err instanceof JetStreamApiError && (err.code === JetStreamApiCodes.ConsumerNotFound || err.code === JetStreamApiCodes.StreamNotFound);
    }
  }

  /** Wakes the pull loop waiting for a free slot, if it waits. */
  function wakeLoop(): void {
    const wake = wakeSlot;
    wakeSlot = undefined;
    wake?.();
  }

  /** Starts a message's processing; the caller has checked that a slot is free. */
  function start(msg: JsMsg): void {
    inFlight.add(msg);
    o.metrics.inFlight.inc({ stage: o.stage });
    const p: Promise<void> = processOne(msg).finally(() => {
      inFlight.delete(msg);
      released.delete(msg);
      pending.delete(p);
      o.metrics.inFlight.dec({ stage: o.stage });
      wakeLoop();
    });
    pending.add(p);
  }

  /**
   * Pulls only as many messages as there are free slots, so that every message this replica
   * holds is being handled and kept alive by the heartbeat. A pull ahead (consume()'s buffer)
   * would hold messages behind busy slots with no heartbeat: past AckWait the server redelivers
   * them, and a model call runs (and is billed) twice.
   */
  let batch: ConsumerMessages | undefined;
  let stopping = false;
  let wakeStop: (() => void) | undefined;
  let failures = 0;
  /** When pulls started failing (undefined while they work). */
  let failingSince: number | undefined;
  /** Waits `ms` before the loop goes on; stop() ends the wait at once. */
  const waitUnlessStopped = (ms: number): Promise<void> =>
    new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, ms);
      wakeStop = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  const loop = (async () => {
    try {
      while (!stopping) {
        while (busySlots() >= o.concurrency && !stopping) {
          await new Promise<void>((resolveSlot) => (wakeSlot = resolveSlot));
        }
        if (stopping) break;
        if (o.paused?.()) {
          await waitUnlessStopped(PAUSE_CHECK_MS);
          continue;
        }
        try {
          const pull = await consumer.fetch({ max_messages: Math.max(1, o.concurrency - busySlots()), expires: FETCH_EXPIRES_MS });
          batch = pull;
          let missing: string | undefined;
          const watch = (async () => {
            for await (const st of pull.status()) {
              if (st.type === "consumer_not_found" || st.type === "stream_not_found" || st.type === "consumer_deleted") missing = st.type;
            }
          })().catch(() => undefined);
          for await (const msg of pull) start(msg);
          await watch;
          // A pull at a deleted consumer or stream ends empty rather than failing.
          if (missing !== undefined) throw new Error(`${missing.replaceAll("_", " ")}: consumer "${o.durable}" on stream "${o.topology.stream}"`);
          failures = 0;
          failingSince = undefined;
        } catch (err) {
          // The consumer or its stream is gone (a pull then ends empty, or misses its heartbeats,
          // depending on the server), or NATS is away: not ready, try again shortly. A consumer
          // found missing is provisioned again, as the start does — nothing restarts an unready
          // service by itself.
          failures++;
          failingSince ??= Date.now();
          log.warn({ err, failures }, "could not pull messages; retrying");
          if (await consumerMissing()) {
            try {
              await reprovisionStage(o.js, o.topology, o.durable, ackFloor);
              consumer = await o.js.consumers.get(o.topology.stream, o.durable);
              log.warn({ stream: o.topology.stream, after: ackFloor }, `consumer "${o.durable}" was missing: provisioned it again`);
            } catch (reprovisionErr) {
              log.error({ err: reprovisionErr }, `consumer "${o.durable}" is missing and provisioning it again failed: restart the service to provision it`);
            }
          }
          await waitUnlessStopped(Math.min(5000, 250 * failures));
        } finally {
          batch = undefined;
        }
      }
    } finally {
      running = false;
    }
  })();

  // Every series at 0 from the start: one first seen at 1 loses that increment to increase() and
  // rate(), and a dashboard would show no dead letter after the first one of a kind.
  for (const outcome of ["ok", "retry", "handoff", "dead"]) o.metrics.messages.inc({ stage: o.stage, outcome }, 0);
  o.metrics.redeliveries.inc({ stage: o.stage }, 0);
  for (const code of Object.values(ERROR_CODES)) o.metrics.deadLetters.inc({ stage: o.stage, code }, 0);
  log.info({ filter: o.topology.subjects[DURABLES[o.durable]], concurrency: o.concurrency }, "stage worker started");

  return {
    get running() {
      // Pulling works: failing for a while (a deleted consumer or stream) makes the service unready.
      return running && (failingSince === undefined || Date.now() - failingSince < UNREADY_AFTER_MS);
    },
    async stop() {
      stopping = true;
      halt.abort(new Error("stage worker stopping"));
      batch?.stop();
      wakeStop?.();
      wakeLoop();
      await loop.catch((err: unknown) => log.error({ err }, "consume loop ended with an error"));
      await Promise.all([...pending]);
      clearInterval(heartbeat);
      clearInterval(pendingPoll);
      log.info("stage worker stopped");
    },
  };
}
