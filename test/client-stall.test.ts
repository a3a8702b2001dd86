/**
 * The CLI client's word on tasks that do not move: published into a stream whose classifier
 * nobody runs, it says so a few seconds in instead of only timing out a minute later; with the
 * router running, it says nothing.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { jetstreamManager } from "@nats-io/jetstream";
import { createRouterClient, stallReason } from "../packages/cli/src/client.js";
import { createHarness, type Harness } from "./support/harness.js";

describe("the router client on a stopped router", () => {
  let h: Harness;

  beforeAll(async () => {
    h = await createHarness();
  });
  afterAll(async () => {
    await h?.close();
  });

  it("says that no classifier is asking for tasks, and that the tasks wait in the stream", async () => {
    const stalls: string[] = [];
    const client = createRouterClient(h.nc, h.topology.subjects, { stream: h.topology.stream, onStall: (m) => stalls.push(m), afterMs: 100 });
    await expect(client.run([{ prompt: "Hello there" }], { timeoutMs: 1500 })).rejects.toThrow(/timed out after 1500 ms waiting for 1 of 1 task/);
    expect(stalls).toHaveLength(1);
    expect(stalls[0]).toMatch(new RegExp(`^no classifier is asking for tasks \\(1 queued on ${h.topology.stream}, 1 of them yours\\): is the router running \\(npm start\\)\\? The tasks stay in the stream and run when it starts; waiting up to 1.5 s$`));
  });

  it("says that the router never ran when the stream has no classifier consumer", async () => {
    const jsm = await jetstreamManager(h.nc);
    const stream = `${h.topology.stream}_BARE`;
    await jsm.streams.add({ name: stream, subjects: [`${h.id}.bare.>`] });
    try {
      expect(await stallReason(h.nc, stream, 1, 60_000)).toBe(`stream ${stream} has no classifier consumer: the router has not run with this config (npm start); waiting up to 60 s`);
    } finally {
      await jsm.streams.delete(stream);
    }
  });

  it("says nothing once the router runs, and the queued task completes", async () => {
    await h.startAll();
    const stalls: string[] = [];
    const client = createRouterClient(h.nc, h.topology.subjects, { stream: h.topology.stream, onStall: (m) => stalls.push(m), afterMs: 50 });
    const [done] = await client.run([{ prompt: "What is the capital of France?" }], { timeoutMs: 20_000 });
    expect(done?.result.status).toBe("succeeded");
    // A classifier with a pull request waiting is asking for tasks.
    expect(await stallReason(h.nc, h.topology.stream, 1, 60_000)).toBeUndefined();
    expect(stalls).toEqual([]);
  });
});
