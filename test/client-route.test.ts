/**
 * `router route`, the dry run, against the real selector: it asks about the task `router submit`
 * would publish, constraints included, so its answer is the decision that task would get.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { TaskRouted } from "@llm-router/shared";
import { createAsk, prepareApiCommand, runApiCommand, type ApiCommandOptions } from "../packages/cli/src/api-commands.js";
import { createHarness, type Harness } from "./support/harness.js";

/** A prompt the default simulator config sends to a cloud model when nothing constrains it. */
const HARD_PROMPT = "Design a distributed consensus protocol tolerant to Byzantine faults, prove its safety and liveness, and analyse its message complexity step by step.";

describe("router route on the default simulator config", () => {
  let h: Harness;

  beforeAll(async () => {
    h = await createHarness();
    await h.startClassifier();
    await h.startSelector();
  });
  afterAll(async () => {
    await h?.close();
  });

  /** The decision `router route --json` prints for `prompt` with options `o`. */
  async function route(prompt: string, o: ApiCommandOptions): Promise<TaskRouted> {
    const out: string[] = [];
    const err: string[] = [];
    const ask = createAsk(h.nc, h.config.nats.subjectPrefix, 10_000);
    const options = { ...o, json: true };
    const code = await runApiCommand("route", prepareApiCommand("route", [prompt], options, new Date()), options, { ask, out: (t) => out.push(t), err: (t) => err.push(t) });
    expect(err).toEqual([]);
    expect(code).toBe(0);
    return JSON.parse(out[0] ?? "null") as TaskRouted;
  }

  it("routes to a local model with --local-only a prompt it otherwise sends to the cloud", async () => {
    const free = await route(HARD_PROMPT, {});
    expect(free.decision.ok && free.decision.model).toMatch(/^sim:cloud-/);

    const local = await route(HARD_PROMPT, { "local-only": true });
    expect(local.task.constraints).toMatchObject({ localOnly: true });
    expect(local.decision.ok && local.decision.model).toMatch(/^sim:local-/);
  });

  it("passes --min-quality and --tenant on: a simple prompt needing quality 0.85 goes to the one model that has it", async () => {
    const routed = await route("Say hello.", { "min-quality": "0.85", tenant: "acme" });
    expect(routed.task).toMatchObject({ tenant: "acme", constraints: { minQuality: 0.85 } });
    expect(routed.decision.ok && routed.decision.model).toBe("sim:cloud-large");
  });
});
