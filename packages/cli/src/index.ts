export { createRouterClient, type RouterClient } from "./client.js";
export { summarize, formatSummary, formatCompletion, type DemoSummary } from "./summary.js";
export { SAMPLE_PROMPTS } from "./sample-workload.js";
