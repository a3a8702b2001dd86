import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DEFAULT_CONFIG_INPUT } from "@llm-router/shared";
import { createHarness, testConfigInput, waitFor, type Harness } from "./support/harness.js";
import { spawnService, type ServiceProcess } from "./support/processes.js";

const TASKS = 40;

describe("crash and restart", () => {
  let h: Harness;
  let executor: ServiceProcess | undefined;
  let configFile: string;

  beforeAll(async () => {
    // Slow simulated models and little concurrency: the executor is mid-stream when it dies.
    const models = DEFAULT_CONFIG_INPUT.models.map((m) => ({ ...m, sim: { latencyMs: 150, failureRate: 0 } }));
    const extra = { models, executor: { concurrency: 4 } };
    h = await createHarness({ config: extra });
    const dir = mkdtempSync(join(tmpdir(), "router-restart-"));
    configFile = join(dir, "router.config.json");
    writeFileSync(configFile, JSON.stringify(testConfigInput(h.id, extra)));
    await h.startLedger();
    await h.startSelector();
    await h.startClassifier();
  });
  afterAll(async () => {
    await executor?.kill("SIGKILL");
    await h?.close();
  });

  const count = async (): Promise<number> => Number((await h.query<{ n: string }>("SELECT count(*) AS n FROM tasks"))[0]?.n);

  it("loses no task when the executor is killed with SIGKILL mid-stream and restarted", async () => {
    const env = { NATS_URL: h.natsUrl, ROUTER_CONFIG: configFile };
    executor = spawnService("executor", env);
    await waitFor(() => executor?.output().includes("executor ready"), { what: `executor to start; output:\n${executor.output()}` });

    for (let i = 0; i < TASKS; i++) {
      h.publishRaw(h.topology.subjects["task.submitted"], JSON.stringify({ id: `crash-${i}`, prompt: `Say hello number ${i}` }));
    }
    await waitFor(async () => ((await count()) >= 5 ? true : undefined), { what: "some tasks to complete before the crash" });
    await executor.kill("SIGKILL");
    const atCrash = await count();
    expect(atCrash).toBeLessThan(TASKS);

    executor = spawnService("executor", env);
    await waitFor(async () => ((await count()) === TASKS ? true : undefined), { timeoutMs: 45_000, what: `all ${TASKS} tasks in the ledger` });

    const ids = await h.query<{ task_id: string }>("SELECT task_id FROM tasks ORDER BY task_id");
    expect(new Set(ids.map((r) => r.task_id)).size).toBe(TASKS);
    const failed = await h.query("SELECT task_id FROM tasks WHERE status <> 'succeeded'");
    expect(failed).toEqual([]);

    // SIGTERM is a clean shutdown: in-flight work finishes and the process exits 0.
    expect(await executor.kill("SIGTERM")).toBe(0);
    executor = undefined;
  });
});
