export { startSelector, type SelectorService, type SelectorServiceDeps } from "./service.js";
export { selectModel, strategyCallCounts, type SelectionInput, type SelectionContext } from "./select-model.js";
export { createModelRegistry, policyVersion, referenceModel, type ModelRegistry } from "./registry.js";
export { createBudgetView, type BudgetView } from "./budget-view.js";
