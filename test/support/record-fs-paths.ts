/**
 * Imported before a tool (`node --import`), records every path the tool passes to `node:fs` and
 * `node:fs/promises` — reads, stats, existence checks and writes, failed or not — and writes them,
 * one `<function> <absolute path>` a line, to the file `RECORD_FS_PATHS` names when the process
 * exits. Modules that tsx loads are read off this thread and are not recorded.
 */
import fs from "node:fs";
import { syncBuiltinESMExports } from "node:module";
import { resolve } from "node:path";
import { fileURLToPath } from "node:url";

const out = process.env.RECORD_FS_PATHS;
if (!out) throw new Error("record-fs-paths: set RECORD_FS_PATHS to the file to write the paths to");
const recorded: string[] = [];
const writeFileSync = fs.writeFileSync;

function pathOf(arg: unknown): string | undefined {
  if (typeof arg === "string") return resolve(arg);
  if (arg instanceof URL) return fileURLToPath(arg);
  if (Buffer.isBuffer(arg)) return resolve(arg.toString());
  return undefined;
}

/** Replaces each function of `api` (not its classes) by one that records its first argument's path. */
function recordCalls(api: Record<string, unknown>): void {
  for (const [name, original] of Object.entries(api)) {
    if (typeof original !== "function" || /^[A-Z]/.test(name)) continue;
    const call = original as (...args: unknown[]) => unknown;
    const recording = function (this: unknown, ...args: unknown[]): unknown {
      const path = pathOf(args[0]);
      if (path !== undefined) recorded.push(`${name} ${path}`);
      return call.apply(this, args);
    };
    // Keep what hangs off the function (realpathSync.native, util.promisify.custom).
    const properties: PropertyDescriptorMap = Object.getOwnPropertyDescriptors(call);
    for (const own of ["length", "name", "prototype"]) delete properties[own];
    Object.defineProperties(recording, properties);
    api[name] = recording;
  }
}

recordCalls(fs);
recordCalls(fs.promises);
// `import { readFile } from "node:fs/promises"` binds the export: update the bindings too.
syncBuiltinESMExports();
process.on("exit", () => writeFileSync(out, recorded.join("\n")));
