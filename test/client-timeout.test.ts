/**
 * What the CLI client says when its timeout runs out: only what it knows. With a classifier
 * asking for tasks the router is up, and the message must not send the user to start it.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RUN_ERROR_CODES, RunError, createRouterClient } from "../packages/cli/src/client.js";
import { createHarness, type Harness } from "./support/harness.js";

describe("the router client's timeout with the router partly running", () => {
  let h: Harness;

  beforeAll(async () => {
    h = await createHarness();
    // Only the classifier: classified tasks wait for a selector that never comes.
    await h.startClassifier();
  });
  afterAll(async () => {
    await h?.close();
  });

  it("says a classifier is asking for tasks and the tasks are in a later stage, not that the services are down", async () => {
    const stalls: string[] = [];
    const client = createRouterClient(h.nc, h.topology.subjects, { stream: h.topology.stream, onStall: (m) => stalls.push(m), afterMs: 100 });
    const err = await client.run([{ prompt: "Hello there" }, { prompt: "What is NATS?" }], { timeoutMs: 1500 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RunError);
    expect(err).toMatchObject({ code: RUN_ERROR_CODES.RUN_TIMEOUT });
    const message = (err as RunError).message;
    expect(message).toMatch(/^timed out after 1500 ms waiting for 2 of 2 task\(s\): a classifier is asking for tasks, so the router is up;/);
    expect(message).not.toMatch(/npm start|services running/);
    expect(stalls).toEqual([]);
  });
});
