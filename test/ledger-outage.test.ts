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
});
