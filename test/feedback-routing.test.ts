import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { bucketKey } from "@llm-router/shared";
import type { SelectorService } from "@llm-router/selector";
import { createHarness, waitFor, type Harness } from "./support/harness.js";

interface TaskRow {
  task_id: string;
  model: string | null;
  task_type: string;
  complexity: string;
}

interface DecisionRow {
  task_id: string;
  model: string | null;
  reason: string;
  fallbacks: string[];
}

/**
 * Feedback changes routing by exploration, not only by moving means: once the model a kind of
 * task goes to has enough scores, the selector samples every eligible model's quality from its
 * Beta posterior and tries cheaper models the greedy rule would never pick — except for
 * critical-risk tasks, which stay on the greedy choice.
 *
 * `exploration.maxShare` is 1 here so that every decision past the threshold explores and a few
 * dozen tasks show it; the default share (0.1) is held in the selector's unit tests.
 */
describe("feedback → Thompson sampling → routing, against real NATS and Postgres", () => {
  let h: Harness;
  let selector: SelectorService;
  // Both classify as simple chat (the same statistics bucket); the second is critical (production).
  // The policy asks simple tasks for quality 0.6, so the greedy pick is cloud-mini (0.75), not a
  // local model. (From the policy: a client's own minQuality is never explored under.)
  const NORMAL = { prompt: "Hello! How are you today?" };
  const CRITICAL = { prompt: "Hello! How are you today? We deploy to production today." };
  const GREEDY_NORMAL = "sim:cloud-mini";
  const GREEDY_CRITICAL = "sim:cloud-large";
  const MIN_SAMPLES = 20;

  beforeAll(async () => {
    h = await createHarness({ config: { policy: { exploration: { maxShare: 1, minSamples: MIN_SAMPLES }, minQuality: { simple: 0.6 } } } });
    selector = await h.startAll({ statsPublishMs: 100 });
  });
  afterAll(async () => {
    await h?.close();
  });

  const ids = (prefix: string, n: number): string[] => Array.from({ length: n }, (_, i) => `${prefix}-${i}`);
  const submit = (body: object, taskIds: readonly string[]): void => {
    for (const id of taskIds) h.publishRaw(h.topology.subjects["task.submitted"], JSON.stringify({ id, ...body }));
  };
  /** The tasks once the ledger has recorded every one with the model that answered. */
  const recorded = async (taskIds: readonly string[]): Promise<TaskRow[]> =>
    waitFor(async () => {
      const rows = await h.query<TaskRow>("SELECT task_id, model, task_type, complexity FROM tasks WHERE task_id = ANY($1) AND model IS NOT NULL", [taskIds]);
      return rows.length === taskIds.length ? rows : undefined;
    }, { what: `${taskIds.length} tasks in the ledger` });
  const decisions = async (taskIds: readonly string[]): Promise<DecisionRow[]> => {
    await recorded(taskIds);
    return h.query<DecisionRow>("SELECT task_id, model, reason, fallbacks FROM decisions WHERE task_id = ANY($1) ORDER BY task_id", [taskIds]);
  };
  const score = (taskIds: readonly string[], value: number): void => {
    for (const taskId of taskIds) h.publishRaw(h.topology.subjects["task.feedback"], JSON.stringify({ taskId, score: value }));
  };
  const selectorSees = async (key: string, scored: number): Promise<void> => {
    await waitFor(() => (selector.stats().buckets[key]?.scored ?? 0) >= scored, { what: `the selector to see ${scored} scores for ${key}` });
  };

  it("starts trying cheaper models for a kind of task once it has enough feedback, and never for critical tasks", async () => {
    // Before any feedback: every decision is the greedy one.
    const first = ids("fr-n0", MIN_SAMPLES + 10);
    const critical0 = ids("fr-c0", 10);
    submit(NORMAL, first);
    submit(CRITICAL, critical0);
    const before = await decisions(first);
    expect(before.map((d) => d.model)).toEqual(first.map(() => GREEDY_NORMAL));
    expect((await decisions(critical0)).map((d) => d.model)).toEqual(critical0.map(() => GREEDY_CRITICAL));
    const [task] = await recorded(first.slice(0, 1));
    const key = bucketKey(task!.task_type, task!.complexity, GREEDY_NORMAL);

    // One score short of the threshold: still greedy.
    score(first.slice(0, MIN_SAMPLES - 1), 0.8);
    await selectorSees(key, MIN_SAMPLES - 1);
    const short = ids("fr-n1", 20);
    submit(NORMAL, short);
    const whileShort = await decisions(short);
    expect(whileShort.map((d) => d.model)).toEqual(short.map(() => GREEDY_NORMAL));
    expect(whileShort.some((d) => d.reason.includes("explored"))).toBe(false);

    // Enough scores: the bucket explores. Cheaper local models get tried, with the greedy
    // choice first in line should they fail.
    score(first.slice(MIN_SAMPLES - 1), 0.8);
    await selectorSees(key, first.length);
    const after = ids("fr-n2", 30);
    const critical = ids("fr-c2", 30);
    submit(NORMAL, after);
    submit(CRITICAL, critical);
    const explored = (await decisions(after)).filter((d) => d.model !== GREEDY_NORMAL);
    expect(explored.length).toBeGreaterThan(0);
    expect(explored.some((d) => d.model?.startsWith("sim:local-"))).toBe(true);
    for (const d of explored) {
      expect(d.reason).toMatch(/; explored: Thompson sample 0\.\d\d for sim:[a-z-]+ \(mean 0\.\d\d from \d+ scores?\) over the greedy sim:cloud-mini/);
      expect(d.fallbacks[0]).toBe(GREEDY_NORMAL);
    }

    // The critical task shares the bucket, and cloud-mini's posterior clears its bar often enough
    // that sampling would move some of 30 tasks: it does not sample at all.
    const criticalAfter = await decisions(critical);
    expect(criticalAfter.map((d) => d.model)).toEqual(critical.map(() => GREEDY_CRITICAL));
    expect(criticalAfter.some((d) => d.reason.includes("explored"))).toBe(false);
  });
});
