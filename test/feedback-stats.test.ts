import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { bucketKey, STATS_KV_KEY, StatsSnapshotSchema } from "@llm-router/shared";
import type { SelectorService } from "@llm-router/selector";
import { loadOutcomeStats, openLedgerDatabase } from "@llm-router/ledger";
import { createHarness, waitFor, type Harness } from "./support/harness.js";

interface Row {
  task_id: string;
  model: string;
  task_type: string;
  complexity: string;
}

/**
 * Feedback reaches routing through the ledger's outcome statistics: the ledger joins each
 * task.feedback to its task, aggregates per (task type, complexity, model) with ModelStats,
 * publishes the snapshot to KV, and every selector routes with it — and a restarted ledger
 * rebuilds the same statistics from Postgres.
 */
describe("feedback → outcome statistics → routing, against real NATS and Postgres", () => {
  let h: Harness;
  let selector: SelectorService;
  const PROMPT = "Hello! How are you today?";

  beforeAll(async () => {
    h = await createHarness();
    selector = await h.startAll({ statsPublishMs: 100 });
  });
  afterAll(async () => {
    await h?.close();
  });

  const submit = (id: string) => h.publishRaw(h.topology.subjects["task.submitted"], JSON.stringify({ id, prompt: PROMPT }));
  const rows = async (ids: string[]) => h.query<Row>("SELECT task_id, model, task_type, complexity FROM tasks WHERE task_id = ANY($1)", [ids]);

  it("moves a kind of task off a model its users score badly, and keeps the statistics across a ledger restart", async () => {
    const ids = Array.from({ length: 40 }, (_, i) => `fb-${i}`);
    ids.forEach(submit);
    const done = await waitFor(async () => {
      const r = await rows(ids);
      return r.length === ids.length ? r : undefined;
    }, { what: "40 tasks in the ledger" });
    const first = done[0]!;
    expect(done.every((r) => r.model === first.model)).toBe(true);

    // Every answer of that model to that kind of task gets a bad score.
    for (const id of ids) h.publishRaw(h.topology.subjects["task.feedback"], JSON.stringify({ taskId: id, score: 0, success: false }));
    const key = bucketKey(first.task_type, first.complexity, first.model);
    const stats = await waitFor(() => {
      const s = selector.stats();
      return (s.buckets[key]?.scored ?? 0) >= ids.length ? s : undefined;
    }, { what: "the selector to see the feedback" });
    expect(stats.buckets[key]).toMatchObject({ scored: ids.length, scoreSum: 0 });

    submit("fb-after");
    const [after] = await waitFor(async () => {
      const r = await rows(["fb-after"]);
      return r.length === 1 ? r : undefined;
    }, { what: "the task after the feedback" });
    expect(after!.model).not.toBe(first.model);
    const [decision] = await h.query<{ inputs: { decision: { statsId: string } } }>("SELECT inputs FROM decisions WHERE task_id = $1", ["fb-after"]);
    expect(decision!.inputs.decision.statsId).not.toBe("empty");

    // With the snapshot gone from KV (a lost bucket, or deleted to rebuild it), a new ledger
    // replays calls and feedback from Postgres: the same buckets as before.
    const kvBefore = StatsSnapshotSchema.parse((await h.budgetKv.get(STATS_KV_KEY))!.json());
    await h.budgetKv.purge(STATS_KV_KEY);
    const restarted = await h.startLedger({ statsPublishMs: 100 });
    const kvAfter = await waitFor(async () => {
      const entry = await h.budgetKv.get(STATS_KV_KEY);
      const s = entry ? StatsSnapshotSchema.parse(entry.json()) : undefined;
      return s && s.buckets[key]?.scored === ids.length ? s : undefined;
    }, { what: "the restarted ledger's statistics" });
    expect(kvAfter.buckets[key]).toEqual(kvBefore.buckets[key]);
    // The replay reads the history a page at a time; pages of 7 rows rebuild the same statistics.
    const whole = await loadOutcomeStats(restarted.database.db);
    const paged = await loadOutcomeStats(restarted.database.db, 7);
    expect(paged.calls).toBe(whole.calls);
    expect(paged.feedback).toBe(whole.feedback);
    expect(whole.calls).toBeGreaterThan(14);
    expect(paged.snapshot.buckets).toEqual(whole.snapshot.buckets);
    await restarted.stop();
  });

  it("counts a redelivered feedback message once", async () => {
    const key = (await rows(["fb-0"]))[0]!;
    const bucket = bucketKey(key.task_type, key.complexity, key.model);
    const before = selector.stats().buckets[bucket]!.scored;
    const body = JSON.stringify({ id: "fb-dup", taskId: "fb-1", score: 1, success: true });
    h.publishRaw(h.topology.subjects["task.feedback"], body, "fb-dup-a");
    h.publishRaw(h.topology.subjects["task.feedback"], body, "fb-dup-b");
    await waitFor(() => (selector.stats().buckets[bucket]!.scored > before ? true : undefined), { what: "the new feedback" });
    // Both copies written and acked by the ledger (not merely a first one seen), then a few of
    // its statistics publishes (every 100 ms here) for a double count to show.
    await waitFor(
      async () => {
        const info = await h.jsm.consumers.info(h.topology.stream, "ledger-feedback");
        return (info.num_pending === 0 && info.num_ack_pending === 0) || undefined;
      },
      { what: "the ledger to ack both copies" },
    );
    // Then a marker: feedback on a task of another bucket, sent after both copies were acked. The
    // ledger grows its statistics before it acks, so the first snapshot the selector sees with the
    // marker holds whatever the two copies added.
    const marker = (await rows(["fb-after"]))[0]!;
    const markerBucket = bucketKey(marker.task_type, marker.complexity, marker.model);
    expect(markerBucket).not.toBe(bucket);
    const markerBefore = selector.stats().buckets[markerBucket]?.scored ?? 0;
    h.publishRaw(h.topology.subjects["task.feedback"], JSON.stringify({ id: "fb-marker", taskId: "fb-after", score: 1, success: true }));
    const seen = await waitFor(() => {
      const s = selector.stats();
      return (s.buckets[markerBucket]?.scored ?? 0) > markerBefore ? s : undefined;
    }, { what: "the marker feedback" });
    expect(seen.buckets[bucket]!.scored).toBe(before + 1);
  });

  it("adds up what two ledger replicas sharing the consumers each record, instead of each overwriting the other's", async () => {
    const second = await h.startLedger({ statsPublishMs: 100 });
    try {
      const ids = Array.from({ length: 40 }, (_, i) => `fb-${i}`);
      const [row] = await rows(ids.slice(0, 1));
      const bucket = bucketKey(row!.task_type, row!.complexity, row!.model);
      const scored = async (): Promise<number> => StatsSnapshotSchema.parse((await h.budgetKv.get(STATS_KV_KEY))!.json()).buckets[bucket]?.scored ?? 0;
      const before = await scored();
      // Forty more scores for the bucket, split between the two replicas by the shared consumer.
      for (const id of ids) h.publishRaw(h.topology.subjects["task.feedback"], JSON.stringify({ id: `fb-two-${id}`, taskId: id, score: 1 }));
      await waitFor(async () => ((await scored()) >= before + ids.length ? true : undefined), { what: "every score in the snapshot" });
      await new Promise((r) => setTimeout(r, 500));
      expect(await scored()).toBe(before + ids.length);
      // The same as Postgres holds.
      const rebuilt = await loadOutcomeStats(second.database.db);
      expect(rebuilt.snapshot.buckets[bucket]!.scored).toBe(before + ids.length);
    } finally {
      await second.stop();
    }
  });

  it("counts feedback recorded before its task once the task is, as a restarted ledger would", async () => {
    const scoredInAll = () => Object.values(selector.stats().buckets).reduce((n, b) => n + b.scored, 0);
    const before = scoredInAll();
    h.publishRaw(h.topology.subjects["task.feedback"], JSON.stringify({ id: "fb-early", taskId: "fb-late-task", score: 1 }));
    await waitFor(async () => (await h.query("SELECT 1 FROM feedback WHERE feedback_id = 'fb-early'")).length === 1 || undefined, { what: "the early feedback recorded" });
    submit("fb-late-task");
    await waitFor(async () => (await rows(["fb-late-task"])).length === 1 || undefined, { what: "its task recorded" });
    const after = await waitFor(() => (scoredInAll() > before ? scoredInAll() : undefined), { what: "the selector to see the early feedback" });
    expect(after).toBe(before + 1);
    const [task] = await rows(["fb-late-task"]);
    // The statistics a restart would rebuild from Postgres hold the same for its bucket.
    const key = bucketKey(task!.task_type, task!.complexity, task!.model);
    await waitFor(async () => ((await h.budgetKv.get(STATS_KV_KEY))?.json<{ buckets: Record<string, { scored: number }> }>().buckets[key]?.scored ?? 0) >= 1 || undefined, { what: "the snapshot in KV" });
    const database = await openLedgerDatabase({ databaseUrl: h.databaseUrl, dataDir: "", log: h.log });
    try {
      const replayed = await loadOutcomeStats(database.db);
      expect(replayed.snapshot.buckets[key]).toEqual(StatsSnapshotSchema.parse((await h.budgetKv.get(STATS_KV_KEY))!.json()).buckets[key]);
    } finally {
      await database.close();
    }
  });
});
