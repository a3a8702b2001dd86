/** Composition root of the selector: the only file that reads process.env. */
import { runService } from "@llm-router/shared";
import { startSelector } from "./service.js";

await runService({
  name: "selector",
  version: "0.1.0",
  env: process.env,
  defaultPort: 9102,
  start: async (ctx) => {
    const selector = await startSelector({ ...ctx, config: ctx.loaded.config, priceSources: ctx.loaded.priceSources });
    return { ready: () => selector.ready, steps: [{ name: "selector consumer", close: () => selector.stop() }] };
  },
});
