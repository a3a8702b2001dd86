export { startClassifier, type ClassifierService, type ClassifierServiceDeps } from "./service.js";
export { classifyRules, RULES_STRATEGY_VERSION } from "./classify-rules.js";
export { decodeSubmission, toTask, taskIdFor } from "./accept-task.js";
