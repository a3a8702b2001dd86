/**
 * The weights the default config loads (services/classifier/weights/default.json) are what the
 * README's command writes — `SOURCE_DATE_EPOCH=1796083200 npm run train:classifier -- --data
 * ../shared/data/mmlu.dev.jsonl --data ../shared/data/gsm8k.dev.jsonl --out …` from the
 * repository root — so that anyone can rebuild them, and a change to the trainer or the featurizer
 * that moves them is seen.
 */
import { mkdtemp, readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { describe, expect, it } from "vitest";
import { devDataFile } from "@llm-router/eval";
import { ROOT, runTool } from "../../../../test/support/cli.js";

const COMMITTED = join(ROOT, "services/classifier/weights/default.json");
/** The --data paths as the README gives them, which the file records. */
const README_DATA = ["../shared/data/mmlu.dev.jsonl", "../shared/data/gsm8k.dev.jsonl"];

describe("the bundled weights", () => {
  it("are the bytes the README's train:classifier command writes from the development data", async () => {
    // The development data (../shared/data, or ROUTER_DATA_DIR); a missing file fails saying where it looked.
    const data = ["mmlu.dev.jsonl", "gsm8k.dev.jsonl"].map((name) => relative(ROOT, devDataFile(name)));
    const out = join(await mkdtemp(join(tmpdir(), "bundled-weights-")), "default.json");
    await runTool("scripts/train-classifier.ts", [...data.flatMap((file) => ["--data", file]), "--out", out], { env: { SOURCE_DATE_EPOCH: "1796083200" } });
    const [written, committed] = await Promise.all([readFile(out, "utf8"), readFile(COMMITTED, "utf8")]);
    // The model's own hash first: a mismatch there says the numbers moved, not just the metadata.
    const version = (text: string): unknown => (JSON.parse(text) as { version: unknown }).version;
    expect(version(written)).toBe(version(committed));
    // trainedOn.files records the --data paths as given: the README's, unless ROUTER_DATA_DIR
    // puts the data elsewhere (the model's hash does not cover them).
    const expected = committed.replace(JSON.stringify(README_DATA), JSON.stringify(data));
    expect(written === expected, `${out} differs from ${COMMITTED}: retrain with the README's command`).toBe(true);
  }, 120_000);
});
