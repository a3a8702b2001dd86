import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { TaskDead } from "@llm-router/shared";
import { createHarness, waitFor, type Harness } from "./support/harness.js";

describe("a Postgres outage", () => {
  let h: Harness;

  beforeAll(async () => {
    // The pipeline stages give up after 2 deliveries; the ledger must not, or an outage of a
    // few seconds would dead-letter completions instead of recording them.
    h = await createHarness({ config: { nats: { maxDeliver: 2 }, ledger: { maxRetryDelayMs: 300 } } });
    await h.startAll();
  });
  afterAll(async () => {
    await h?.close();
  });

  it("is waited out by the ledger: completions are recorded when the database returns, none dead-lettered", async () => {
    const dead = h.collect(h.topology.subjects["task.dead"]);
    h.publishRaw(h.topology.subjects["task.submitted"], JSON.stringify({ id: "before-outage", prompt: "hello" }));
    await waitFor(async () => (await h.query("SELECT 1 FROM tasks WHERE task_id = 'before-outage'")).length === 1);

    await h.setDatabaseAvailable(false);
    const completed = h.collect(h.topology.subjects["task.completed"]);
    for (const id of ["during-1", "during-2", "during-3"]) {
      h.publishRaw(h.topology.subjects["task.submitted"], JSON.stringify({ id, prompt: `what is ${id}?` }));
    }
    await waitFor(() => completed.messages.length === 3, { what: "the executor to complete the tasks" });
    // Well past 2 deliveries at a 300 ms retry delay.
    await new Promise((r) => setTimeout(r, 4000));
    await h.setDatabaseAvailable(true);

    const rows = await waitFor(
      async () => {
        const r = await h.query<{ task_id: string }>("SELECT task_id FROM tasks WHERE task_id LIKE 'during-%' ORDER BY task_id");
        return r.length === 3 ? r : undefined;
      },
      { timeoutMs: 30_000, what: "the ledger to catch up after the outage" },
    );
    expect(rows.map((r) => r.task_id)).toEqual(["during-1", "during-2", "during-3"]);
    expect(dead.json<TaskDead>()).toEqual([]);
    dead.stop();
    completed.stop();
  });

  it("does not stall behind a lock another session holds: the batch fails after lock_timeout and is retried", async () => {
    // Another session locks the tasks table; the ledger's insert waits at most 10 s (lock_timeout),
    // then its batch fails and is redelivered, and it lands once the lock is gone.
    const locker = new pg.Client({ connectionString: h.databaseUrl });
    await locker.connect();
    const failed = h.collect(h.topology.subjects["task.dead"]);
    try {
      await locker.query("BEGIN");
      await locker.query("LOCK TABLE tasks IN ACCESS EXCLUSIVE MODE");
      h.publishRaw(h.topology.subjects["task.submitted"], JSON.stringify({ id: "behind-a-lock", prompt: "hello" }));
      // The insert waits on the lock; after lock_timeout its batch fails, the message is nak'd and
      // delivered again, and a new attempt (a later query_start) waits in its place.
      const waiting = async (): Promise<number | undefined> => {
        const r = await h.query<{ started: Date }>("SELECT query_start AS started FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE 'INSERT INTO tasks%'");
        return r[0] ? new Date(r[0].started).getTime() : undefined;
      };
      const first = await waitFor(waiting, { what: "the ledger's insert waiting on the lock" });
      await waitFor(async () => ((await waiting()) ?? first) > first + 5000 || undefined, { timeoutMs: 25_000, what: "a second attempt after the first gave up" });
    } finally {
      await locker.query("ROLLBACK").catch(() => undefined);
      await locker.end();
    }
    await waitFor(async () => (await h.query("SELECT 1 FROM tasks WHERE task_id = 'behind-a-lock'")).length === 1, { timeoutMs: 30_000, what: "the task after the lock" });
    expect(failed.json<TaskDead>().filter((d) => d.taskId === "behind-a-lock")).toEqual([]);
    failed.stop();
  }, 60_000);
});
