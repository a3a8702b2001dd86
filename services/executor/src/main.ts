/** Composition root of the executor: the only file that reads process.env. */
import { runService } from "@llm-router/shared";
import { startExecutor } from "./service.js";

await runService({
  name: "executor",
  version: "0.1.0",
  env: process.env,
  defaultPort: 9103,
  start: async (ctx) => {
    const executor = await startExecutor({ ...ctx, config: ctx.loaded.config });
    return { ready: () => executor.ready, steps: [{ name: "executor consumer and in-flight calls", close: () => executor.stop() }] };
  },
});
