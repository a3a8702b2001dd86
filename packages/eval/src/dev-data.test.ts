import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { devDataDir, devDataFile } from "./dev-data.js";

describe("the development data's place", () => {
  it("is ROUTER_DATA_DIR when set, else ../shared/data beside the repository", async () => {
    const dir = await mkdtemp(join(tmpdir(), "dev-data-"));
    await writeFile(join(dir, "x.jsonl"), "");
    expect(devDataFile("x.jsonl", { ROUTER_DATA_DIR: dir })).toBe(join(dir, "x.jsonl"));
    expect(devDataDir({})).toMatch(/[/\\]shared[/\\]data[/\\]?$/);
  });

  it("names where it looked and what to do when a file is not there", () => {
    expect(() => devDataFile("gsm8k.dev.jsonl", { ROUTER_DATA_DIR: "/nowhere" })).toThrow(
      "the routing benchmark gsm8k.dev.jsonl is not in /nowhere: put the benchmark data (shared/data) beside the repository, or set ROUTER_DATA_DIR to where it is",
    );
  });
});
