export { createRouterClient, RunError, RUN_ERROR_CODES, type RouterClient, type RunErrorCode, type RunOptions, type TaskOutcome } from "./client.js";
export { summarize, formatSummary, formatCompletion, type DemoSummary } from "./summary.js";
export { SAMPLE_PROMPTS } from "./sample-workload.js";
