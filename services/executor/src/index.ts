export { startExecutor, type ExecutorService, type ExecutorServiceDeps } from "./service.js";
export { executeTask, type ExecuteDeps } from "./execute-task.js";
export { createKvJournal, journalKey, type CallJournal, type JournalEvent, type TaskJournal } from "./journal.js";
export { createProviders, missingKey } from "./providers/registry.js";
export type { ModelProvider, CompletionRequest, CompletionResponse } from "./providers/provider.js";
export { createEmbedder, type Embedder } from "./providers/embeddings.js";
export { createCallGate, type CallGate } from "./call-gate.js";
