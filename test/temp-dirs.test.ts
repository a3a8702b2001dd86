/**
 * Every temporary directory of a test run goes under one directory that the run removes when it
 * ends (vitest.config.ts): the tests' own and those of the services and tools they start.
 */
import { execFileSync } from "node:child_process";
import { tmpdir } from "node:os";
import { describe, expect, it } from "vitest";

describe("the test run's temporary directory", () => {
  it("is os.tmpdir() here and in the processes a test starts", () => {
    const runTmp = process.env.ROUTER_TEST_RUN_TMPDIR;
    expect(runTmp).toMatch(/router-test-run-/);
    expect(tmpdir()).toBe(runTmp);
    const child = execFileSync(process.execPath, ["-e", "process.stdout.write(require('node:os').tmpdir())"], { encoding: "utf8" });
    expect(child).toBe(runTmp);
  });
});
