/** Composition root of the classifier: the only file that reads process.env. */
import { runService } from "@llm-router/shared";
import { startClassifier } from "./service.js";
import { buildClassifier } from "./strategies.js";

await runService({
  name: "classifier",
  version: "0.1.0",
  env: process.env,
  defaultPort: 9101,
  start: async (ctx) => {
    const strategies = await buildClassifier(ctx.loaded.config, ctx.env, ctx.log);
    const classifier = await startClassifier({ ...ctx, classifier: strategies });
    return { ready: () => classifier.ready, steps: [{ name: "classifier consumer", close: () => classifier.stop() }] };
  },
});
