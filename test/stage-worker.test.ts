import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Registry } from "prom-client";
import { z } from "zod";
import { AckPolicy, type JetStreamClient } from "@nats-io/jetstream";
import { InvalidArgumentError } from "@nats-io/transport-node";
import {
  ERROR_CODES,
  HandOff,
  JOURNAL_MAX_AGE_MS,
  MAX_HANDOFFS,
  RouterError,
  createStageMetrics,
  createSubjects,
  decodeJson,
  ensureTopology,
  startStageWorker,
  type StageContext,
  type StageWorker,
  type TaskDead,
} from "@llm-router/shared";
import { createHarness, waitFor, type Harness } from "./support/harness.js";

const Ping = z.object({ n: z.number() });

describe("the stage worker against real JetStream", () => {
  let h: Harness;
  let worker: StageWorker | undefined;
  let registry: Registry;

  beforeAll(async () => {
    // ackWait 2 s (harness default) → heartbeats every ~667 ms; maxDeliver 3.
    h = await createHarness({ config: { nats: { maxDeliver: 3 } } });
  });
  afterAll(async () => {
    await worker?.stop();
    await h?.close();
  });

  async function start(
    handle: (v: z.infer<typeof Ping>, deliveries: number, seq: number, lastDelivery: boolean, releaseSlot: () => void, ctx: StageContext) => Promise<void> | void,
    extra: { afterAck?: (v: z.infer<typeof Ping>) => Promise<void>; js?: JetStreamClient; schema?: z.ZodType<z.infer<typeof Ping>> } = {},
  ): Promise<void> {
    await worker?.stop();
    registry = new Registry();
    worker = await startStageWorker({
      stage: "classifier",
      durable: "classifier",
      js: extra.js ?? h.js,
      topology: h.topology,
      log: h.log,
      metrics: createStageMetrics(registry),
      concurrency: 4,
      retryDelayMs: () => 50,
      pendingPollMs: 100,
      decode: (msg) => decodeJson(extra.schema ?? Ping, msg.data),
      handle: async (v, ctx) => {
        await handle(v, ctx.msg.info.deliveryCount, ctx.msg.seq, ctx.lastDelivery, ctx.releaseSlot, ctx);
      },
      ...(extra.afterAck ? { afterAck: extra.afterAck } : {}),
    });
  }
  /** The sum over the metric's series that carry `labels` (every series starts at 0). */
  const metric = async (name: string, labels: Record<string, string>): Promise<number> => {
    const m = (await registry.getMetricsAsJSON()).find((x) => x.name === name);
    const values = (m?.values as { labels: Record<string, string>; value: number }[] | undefined) ?? [];
    return values.filter((x) => Object.entries(labels).every(([k, val]) => x.labels[k] === val)).reduce((sum, x) => sum + x.value, 0);
  };

  it("never holds a message behind busy slots past AckWait: each of twice the slots' messages is handled once", async () => {
    // Four slots busy for 5 s each (AckWait 2 s): the next four must not be pulled, unheartbeated,
    // while they wait, or the server redelivers them and a model call runs twice.
    const deliveries = new Map<number, number[]>();
    await start(async (v, delivery) => {
      if (v.n < 100) return;
      deliveries.set(v.n, [...(deliveries.get(v.n) ?? []), delivery]);
      await new Promise((r) => setTimeout(r, 5000));
    });
    for (let n = 100; n < 108; n++) h.publishRaw(h.topology.subjects["task.submitted"], JSON.stringify({ n }));
    await waitFor(() => deliveries.size === 8, { what: "all eight messages handled", timeoutMs: 30_000 });
    await new Promise((r) => setTimeout(r, 5500));
    expect([...deliveries.values()]).toEqual(Array.from({ length: 8 }, () => [1]));
  }, 60_000);

  it("hands a message off (HandOff): published again with its delivery count started over, at most MAX_HANDOFFS times", async () => {
    const seen: { delivery: number; redelivered: boolean; id: string }[] = [];
    const dead = h.collect(h.topology.subjects["task.dead"]);
    await start((v, delivery, _seq, _last, _release, ctx) => {
      if (v.n !== 3000) return;
      seen.push({ delivery, redelivered: ctx.redelivered, id: ctx.msg.headers?.get("Nats-Msg-Id") ?? "" });
      throw new HandOff("this replica is stopping");
    });
    h.publishRaw(h.topology.subjects["task.submitted"], JSON.stringify({ n: 3000 }), "ping-3000");
    // The original and MAX_HANDOFFS copies, each a first delivery; then the last copy is retried
    // as any other failure, until maxDeliver (3) dead-letters it.
    await waitFor(() => dead.json<TaskDead>().some((d) => d.payload.includes("3000")), { what: "the dead letter after the hand-offs", timeoutMs: 30_000 });
    dead.stop();
    expect(seen.map((s) => s.delivery)).toEqual([...Array.from({ length: MAX_HANDOFFS + 1 }, () => 1), 2, 3]);
    expect(seen.map((s) => s.redelivered)).toEqual([false, ...Array.from({ length: MAX_HANDOFFS + 2 }, () => true)]);
    expect(seen.map((s) => s.id).slice(0, 3)).toEqual(["ping-3000", "ping-3000:handoff:1", "ping-3000:handoff:2"]);
    expect(await metric("router_stage_messages_total", { stage: "classifier", outcome: "handoff" })).toBe(MAX_HANDOFFS);
    expect(await metric("router_stage_messages_total", { stage: "classifier", outcome: "dead" })).toBe(1);
  }, 60_000);

  it("gives a handler's slot to the next message once it waits on something else (releaseSlot), still heartbeating it", async () => {
    // Four slots, four handlers waiting past AckWait (2 s) for a human: a fifth message runs meanwhile.
    let release!: () => void;
    const decided = new Promise<void>((r) => (release = r));
    const deliveries = new Map<number, number>();
    const handled: number[] = [];
    await start(async (v, delivery, _seq, _last, releaseSlot) => {
      if (v.n < 900) return;
      deliveries.set(v.n, delivery);
      if (v.n < 904) {
        releaseSlot();
        await decided;
      }
      handled.push(v.n);
    });
    for (const n of [900, 901, 902, 903]) h.publishRaw(h.topology.subjects["task.submitted"], JSON.stringify({ n }));
    await waitFor(() => deliveries.size === 4 || undefined, { what: "four handlers waiting" });
    h.publishRaw(h.topology.subjects["task.submitted"], JSON.stringify({ n: 904 }));
    await waitFor(() => handled.includes(904) || undefined, { what: "the fifth message handled while four wait" });
    await new Promise((r) => setTimeout(r, 2500));
    release();
    await waitFor(() => handled.length === 5 || undefined, { what: "all five handled" });
    // Heartbeated the whole wait: none was delivered twice.
    expect([...deliveries.values()]).toEqual([1, 1, 1, 1, 1]);
  });

  it("redelivers after a transient failure and then acks", async () => {
    const seen: number[] = [];
    await start((v, deliveries) => {
      if (v.n !== 1) return;
      seen.push(deliveries);
      if (deliveries === 1) throw new Error("transient: connection reset");
    });
    h.publishRaw(h.topology.subjects["task.submitted"], JSON.stringify({ n: 1 }));
    await waitFor(() => seen.length === 2, { what: "a redelivery" });
    expect(seen).toEqual([1, 2]);
    expect(await metric("router_redeliveries_total", { stage: "classifier" })).toBe(1);
    await waitFor(async () => (await metric("router_stage_messages_total", { outcome: "ok" })) === 1);
  });

  it("waits at least what a retryable error asks before redelivering", async () => {
    const seen: { delivery: number; at: number; last: boolean }[] = [];
    await start((v, delivery, _seq, last) => {
      if (v.n !== 7) return;
      seen.push({ delivery, at: performance.now(), last });
      if (delivery === 1) throw new RouterError(ERROR_CODES.CIRCUIT_OPEN, "cooling down", { retryable: true, retryAfterMs: 1500 });
    });
    h.publishRaw(h.topology.subjects["task.submitted"], JSON.stringify({ n: 7 }));
    await waitFor(() => seen.length === 2, { what: "the redelivery" });
    // The worker's own backoff here is 50 ms: the wait is the error's.
    expect(seen[1]!.at - seen[0]!.at).toBeGreaterThanOrEqual(1400);
  });

  it("dead-letters a non-retryable failure at once with its code", async () => {
    const dead = h.collect(h.topology.subjects["task.dead"]);
    let calls = 0;
    await start((v) => {
      if (v.n !== 2) return;
      calls++;
      throw new RouterError(ERROR_CODES.NO_ELIGIBLE_MODEL, "nothing fits", { retryable: false });
    });
    h.publishRaw(h.topology.subjects["task.submitted"], JSON.stringify({ n: 2 }));
    const letter = await waitFor(() => dead.json<TaskDead>().find((d) => d.code === "NO_ELIGIBLE_MODEL"));
    expect(letter.deliveryCount).toBe(1);
    expect(letter.payload).toBe('{"n":2}');
    await new Promise((r) => setTimeout(r, 300));
    expect(calls).toBe(1);
    dead.stop();
  });

  it("stops retrying a failing message after maxDeliver and dead-letters it", async () => {
    const dead = h.collect(h.topology.subjects["task.dead"]);
    let calls = 0;
    const last: boolean[] = [];
    await start((v, _delivery, _seq, lastDelivery) => {
      if (v.n !== 3) return;
      calls++;
      last.push(lastDelivery);
      throw new Error("always broken");
    });
    h.publishRaw(h.topology.subjects["task.submitted"], JSON.stringify({ n: 3 }));
    const letter = await waitFor(() => dead.json<TaskDead>().find((d) => d.payload === '{"n":3}'), { what: "dead letter after retries" });
    expect(letter.code).toBe("INTERNAL");
    expect(letter.reason).toBe("always broken");
    expect(letter.deliveryCount).toBe(3);
    expect(calls).toBe(3);
    // The handler knew the third was the last.
    expect(last).toEqual([false, false, true]);
    expect(await metric("router_dead_letters_total", { stage: "classifier", code: "INTERNAL" })).toBe(1);
    dead.stop();
  });

  it("reports the consumer's backlog and unacknowledged messages while work waits", async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    await start(async (v) => {
      if (v.n === 5) await gate;
    });
    const outstanding = async (): Promise<number> =>
      (await metric("router_consumer_pending_messages", { durable: "classifier" })) +
      (await metric("router_consumer_ack_pending_messages", { durable: "classifier" }));
    try {
      // 4 are taken (concurrency 4) and block; the other 6 wait, in the stream or the client's buffer.
      for (let i = 0; i < 10; i++) h.publishRaw(h.topology.subjects["task.submitted"], JSON.stringify({ n: 5 }));
      await waitFor(async () => (await outstanding()) === 10, { what: "10 outstanding messages" });
      expect(await metric("router_consumer_ack_pending_messages", { durable: "classifier" })).toBeGreaterThanOrEqual(4);
    } finally {
      release();
    }
    await waitFor(async () => (await outstanding()) === 0, { what: "the backlog to drain" });
  });

  it("keeps a message that takes longer than ackWait alive with heartbeats instead of redelivering it", async () => {
    const deliveries: number[] = [];
    await start(async (v, n) => {
      if (v.n !== 4) return;
      deliveries.push(n);
      await new Promise((r) => setTimeout(r, 3500)); // ackWait is 2000 ms
    });
    h.publishRaw(h.topology.subjects["task.submitted"], JSON.stringify({ n: 4 }));
    await waitFor(async () => (await metric("router_stage_messages_total", { outcome: "ok" })) === 1, { timeoutMs: 10_000 });
    await new Promise((r) => setTimeout(r, 2500));
    expect(deliveries).toEqual([1]);
  });

  it("holds a message whose dead letter cannot be published and retries the publish, instead of dropping or redelivering it", async () => {
    const dead = h.collect(h.topology.subjects["task.dead"]);
    await start(() => undefined);
    // The stream refuses anything over 100 bytes: the poison message goes in, its dead letter
    // (the payload in an envelope) does not — until the limit is lifted.
    await h.jsm.streams.update(h.topology.stream, { max_msg_size: 100 });
    try {
      h.publishRaw(h.topology.subjects["task.submitted"], "not json at all");
      await new Promise((r) => setTimeout(r, 2000));
      expect(await metric("router_dead_letters_total", { stage: "classifier" })).toBe(0);
    } finally {
      await h.jsm.streams.update(h.topology.stream, { max_msg_size: -1 });
    }
    const stored = await waitFor(
      async () => {
        const last = (await h.jsm.streams.getMessage(h.topology.stream, { last_by_subj: h.topology.subjects["task.dead"] }).catch(() => undefined))?.json<TaskDead>();
        return last?.payload === "not json at all" ? last : undefined;
      },
      { what: "the dead letter stored in the stream", timeoutMs: 15_000 },
    );
    expect(stored).toMatchObject({ payload: "not json at all", deliveryCount: 1 });
    expect(await metric("router_dead_letters_total", { stage: "classifier" })).toBe(1);
    // Held on its first delivery the whole time, never handed back for redelivery.
    expect(await metric("router_redeliveries_total", { stage: "classifier" })).toBe(0);
    expect(new Set(dead.json<TaskDead>().map((d) => d.deliveryCount))).toEqual(new Set([1]));
    dead.stop();
  }, 30_000);

  it("dead-letters a message with 200,000 invalid items at once, naming the first 20 issues and how many more", async () => {
    const dead = h.collect(h.topology.subjects["task.dead"]);
    await start(() => undefined, { schema: Ping.extend({ items: z.array(z.number()).optional() }) });
    const body = JSON.stringify({ n: 6, items: Array.from({ length: 200_000 }, () => "x") });
    h.publishRaw(h.topology.subjects["task.submitted"], body);
    const letter = await waitFor(() => dead.json<TaskDead>().find((d) => d.payloadBytes === body.length), { what: "the dead letter" });
    expect(letter.code).toBe(ERROR_CODES.MESSAGE_INVALID);
    expect(letter.reason).toMatch(/^items\.0: .*; items\.19: [^;]*; and 199980 more issues$/);
    expect(letter.payload).toBe(body.slice(0, 64 * 1024));
    dead.stop();
  });

  it("cuts a dead letter's reason at 4,096 characters, saying how much was left out", async () => {
    const dead = h.collect(h.topology.subjects["task.dead"]);
    await start((v) => {
      if (v.n === 7) throw new RouterError(ERROR_CODES.NO_ELIGIBLE_MODEL, "z".repeat(10_000), { retryable: false });
    });
    h.publishRaw(h.topology.subjects["task.submitted"], JSON.stringify({ n: 7 }));
    const letter = await waitFor(() => dead.json<TaskDead>().find((d) => d.payload === '{"n":7}'), { what: "the dead letter" });
    expect(letter.reason).toBe(`${"z".repeat(4096)}… (5904 more characters)`);
    dead.stop();
  });

  it("publishes a dead letter larger than the server's max_payload without its payload, which stays in the stream", async () => {
    const dead = h.collect(h.topology.subjects["task.dead"]);
    // A server whose max_payload is 2 KB, as far as dead letters go.
    const js = new Proxy(h.js, {
      get(target, prop, receiver) {
        if (prop === "publish") {
          return (subject: string, data: string, ...rest: unknown[]) => {
            if (subject === h.topology.subjects["task.dead"] && data.length > 2048) throw new InvalidArgumentError("message size exceeds max_payload");
            return (target.publish as (...args: unknown[]) => unknown)(subject, data, ...rest);
          };
        }
        const value = Reflect.get(target, prop, receiver) as unknown;
        return typeof value === "function" ? (value as (...args: unknown[]) => unknown).bind(target) : value;
      },
    });
    await start(() => undefined, { js });
    const body = `not json ${"y".repeat(10_000)}`;
    h.publishRaw(h.topology.subjects["task.submitted"], body);
    const letter = await waitFor(() => dead.json<TaskDead>().find((d) => d.payloadBytes === body.length), { what: "the dead letter" });
    expect(letter).toMatchObject({ code: ERROR_CODES.MESSAGE_UNDECODABLE, payload: "" });
    const original = await h.jsm.streams.getMessage(h.topology.stream, { seq: letter.streamSeq });
    expect(original?.string()).toBe(body);
    expect(await metric("router_dead_letters_total", { stage: "classifier", code: ERROR_CODES.MESSAGE_UNDECODABLE })).toBe(1);
    dead.stop();
  });

  it("runs the clean-up after the ack only once the server has the ack", async () => {
    const seen: { seq: number; ackFloor: number }[] = [];
    let handledSeq = 0;
    await start(
      (_v, _deliveries, seq) => {
        handledSeq = seq;
      },
      {
        afterAck: async (v) => {
          if (v.n !== 6) return;
          const info = await h.jsm.consumers.info(h.topology.stream, "classifier");
          seen.push({ seq: handledSeq, ackFloor: info.ack_floor.stream_seq });
        },
      },
    );
    h.publishRaw(h.topology.subjects["task.submitted"], JSON.stringify({ n: 6 }));
    const [entry] = await waitFor(() => (seen.length > 0 ? seen : undefined), { what: "the clean-up" });
    // The server had recorded the ack when the clean-up ran.
    expect(entry!.ackFloor).toBeGreaterThanOrEqual(entry!.seq);
  });

  it("provisions its consumer again when it is deleted while running, after what it had acked, and goes on consuming", async () => {
    const seen: number[] = [];
    await start((v) => void seen.push(v.n));
    for (const n of [401, 402, 403]) h.publishRaw(h.topology.subjects["task.submitted"], JSON.stringify({ n }));
    // Handled, acked, and the ack floor read by the worker's poll (every 100 ms here).
    await waitFor(async () => {
      const info = await h.jsm.consumers.info(h.topology.stream, "classifier");
      return (seen.includes(403) && info.num_ack_pending === 0 && info.num_pending === 0) || undefined;
    }, { what: "three messages handled and acked" });
    await new Promise((r) => setTimeout(r, 300));
    await h.jsm.consumers.delete(h.topology.stream, "classifier");
    await waitFor(async () => (await h.jsm.consumers.info(h.topology.stream, "classifier").catch(() => undefined)) ?? undefined, { what: "the consumer provisioned again", timeoutMs: 30_000 });
    h.publishRaw(h.topology.subjects["task.submitted"], JSON.stringify({ n: 501 }));
    await waitFor(() => seen.includes(501) || undefined, { what: "a message consumed through the new consumer", timeoutMs: 30_000 });
    expect(worker?.running).toBe(true);
    // Nothing acked before was delivered again: the new consumer started after the ack floor.
    expect(seen.filter((n) => n === 401 || n === 402 || n === 403)).toEqual([401, 402, 403]);
  }, 40_000);

  it("reports itself not running when the deleted consumer cannot be provisioned again, so /readyz fails", async () => {
    // A client without the rights to manage streams (injected: its manager cannot be had).
    const js = new Proxy(h.js, {
      get(target, prop, receiver) {
        if (prop === "jetstreamManager") return () => Promise.reject(new Error("injected: permissions violation for $JS.API.CONSUMER.CREATE"));
        const value = Reflect.get(target, prop, receiver) as unknown;
        return typeof value === "function" ? (value as (...args: unknown[]) => unknown).bind(target) : value;
      },
    });
    await start(() => undefined, { js });
    expect(worker?.running).toBe(true);
    await h.jsm.consumers.delete(h.topology.stream, "classifier");
    await waitFor(() => worker?.running === false, { what: "the worker to report the lost consumer", timeoutMs: 30_000 });
    // Put it back for the tests after this one.
    await worker?.stop();
    worker = undefined;
    await ensureTopology(h.nc, h.topology);
  }, 40_000);

  it("brings a call journal bucket made by an older version to the max age and history it needs", async () => {
    const name = `KV_${h.topology.journalBucket}`;
    const { config } = await h.jsm.streams.info(name);
    await h.jsm.streams.update(name, { ...config, max_age: 0, max_msgs_per_subject: 3 });
    await ensureTopology(h.nc, h.topology);
    const after = (await h.jsm.streams.info(name)).config;
    expect([after.max_age, after.max_msgs_per_subject]).toEqual([JOURNAL_MAX_AGE_MS * 1e6, 1]);
  });

  it("refuses to start with another subject prefix on the same streams, and changes nothing", async () => {
    const moved = { ...h.topology, subjects: createSubjects(`moved${h.id}.`) };
    await expect(ensureTopology(h.nc, moved)).rejects.toThrow(/stream ".*" captures \[".*task\.>"\], not \["moved.*task\.>"\] \(was nats\.subjectPrefix changed\?\).*nothing was changed/);
    expect((await h.jsm.streams.info(h.topology.stream)).config.subjects).toEqual([h.topology.subjects.tasksWildcard]);
    expect((await h.jsm.streams.info(h.topology.budgetStream)).config.subjects).toEqual([h.topology.subjects.budgetWildcard]);
  });

  it("refuses to start on a consumer that reads other subjects than its stage's, saying what to do", async () => {
    await h.jsm.consumers.delete(h.topology.stream, "ledger-dead");
    await h.jsm.consumers.add(h.topology.stream, { durable_name: "ledger-dead", filter_subject: h.topology.subjects["task.feedback"], ack_policy: AckPolicy.Explicit });
    await expect(ensureTopology(h.nc, h.topology)).rejects.toThrow(/consumer "ledger-dead" on stream .* reads ".*task\.feedback", not ".*task\.dead" .*nats consumer rm/);
    // Deleted, it is provisioned again with the right filter.
    await h.jsm.consumers.delete(h.topology.stream, "ledger-dead");
    await ensureTopology(h.nc, h.topology);
    expect((await h.jsm.consumers.info(h.topology.stream, "ledger-dead")).config.filter_subject).toBe(h.topology.subjects["task.dead"]);
  });
});
