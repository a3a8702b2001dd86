/**
 * Where the development benchmarks are: `ROUTER_DATA_DIR`, else `../shared/data` beside the
 * repository, as on every development and CI machine (`shared/data/README.md` says what each
 * file is). Tests and tools read them from there; the repository does not copy them.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

/** The data directory, from `env` (ROUTER_DATA_DIR) or beside the repository. */
export function devDataDir(env: NodeJS.ProcessEnv = process.env): string {
  return env.ROUTER_DATA_DIR || fileURLToPath(new URL("../../../../shared/data/", import.meta.url));
}

/**
 * The path of one benchmark file; throws, saying where it looked and how to point elsewhere,
 * when it is not there (a clone without `../shared/data` beside it).
 */
export function devDataFile(name: string, env: NodeJS.ProcessEnv = process.env): string {
  const dir = devDataDir(env);
  const path = join(dir, name);
  if (!existsSync(path)) {
    throw new Error(`the routing benchmark ${name} is not in ${dir}: put the benchmark data (shared/data) beside the repository, or set ROUTER_DATA_DIR to where it is`);
  }
  return path;
}
