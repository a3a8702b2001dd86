/**
 * The router configuration: one zod schema for the file (`router.config.yaml` / `.json`) plus
 * the environment. Only each service's `main.ts` reads `process.env` and passes it in here.
 * Every default is documented once, on the field, and listed in the README.
 */
import { existsSync, readFileSync } from "node:fs";
import { extname, resolve } from "node:path";
import { z } from "zod";
import { parse as parseYaml } from "yaml";
import { ConfigError } from "./errors.js";
import { listedPrice, PRICE_TABLE, type ListedPrice } from "./listed-prices.js";
import { Capability } from "./contracts.js";
import { EXECUTION_STRATEGIES, TASK_TYPES } from "./vocab.js";

/** `provider:model`, where provider is a key of `providers` (`sim:small`, `ollama:qwen3:1.7b`). */
export const ModelSpec = z.string().regex(/^[a-z0-9][a-z0-9_-]*:.+$/, "model spec must look like `provider:model`");

export const ModelConfig = z.object({
  spec: ModelSpec,
  /** Runs on hardware you own: no per-token cost, allowed while a budget is exceeded. */
  local: z.boolean().default(false),
  /** USD per 1M input tokens. Default 0 (local models). */
  inputPerMtok: z.number().nonnegative().default(0),
  /** USD per 1M output tokens. Default 0. */
  outputPerMtok: z.number().nonnegative().default(0),
  /**
   * USD per 1M prompt tokens the provider read from its prompt cache (OpenAI's
   * `prompt_tokens_details.cached_tokens`, DeepSeek's `prompt_cache_hit_tokens`, Anthropic's
   * `cache_read_input_tokens`). Default: the price table's cache price for the model (scaled to
   * a configured `inputPerMtok`), else for an `anthropic` model a tenth of `inputPerMtok`
   * (Anthropic's published rate for every model), else `inputPerMtok` — OpenAI's discount
   * differs by model (a half to a tenth), so give it for a model the table does not know.
   */
  cacheReadPerMtok: z.number().nonnegative().optional(),
  /**
   * USD per 1M prompt tokens written to the provider's prompt cache (Anthropic's
   * `cache_creation_input_tokens`, OpenRouter's `cache_write_tokens`). Default: the price
   * table's, as for reads, else for an `anthropic` model 1.25 × `inputPerMtok` (its five-minute
   * cache), else `inputPerMtok`.
   */
  cacheWritePerMtok: z.number().nonnegative().optional(),
  /** Relative answer quality 0..1 used against the policy's minimum per complexity. */
  quality: z.number().min(0).max(1),
  capabilities: z.array(Capability).default(["chat"]),
  /** Max input + output tokens. Default 8192. */
  contextWindow: z.number().int().positive().default(8192),
  /** Typical end-to-end latency of one call, compared with `maxLatencyMs` constraints. Default 1000. */
  typicalLatencyMs: z.number().int().nonnegative().default(1000),
  /** Simulator settings (only for `sim:` models): fixed latency and failure probability. */
  sim: z
    .object({
      latencyMs: z.number().int().nonnegative().default(0),
      failureRate: z.number().min(0).max(1).default(0),
    })
    .optional(),
});
export type ModelConfig = z.infer<typeof ModelConfig>;

/**
 * What every HTTP provider shares. `stream`: ask for a streamed answer (SSE or NDJSON) and take
 * usage from the stream — time to first token is measured, a stalled stream times out, and a
 * failure part-way is retried or failed over with the partial output discarded. `concurrency`:
 * calls in flight to this provider from one executor at most (local servers usually take one or
 * two at a time); further calls wait their turn inside the task's deadline.
 */
/** A provider's address. Credentials in it would be refused by fetch on every call and echoed into errors. */
const BaseUrl = z.url().refine(
  (u) => {
    const url = new URL(u);
    return url.username === "" && url.password === "";
  },
  { message: "must not hold credentials (user:password@): put the key in apiKeyEnv or headers" },
);

const httpProviderCommon = {
  stream: z.boolean().default(true),
  concurrency: z.number().int().positive().optional(),
};
const SimulatorProvider = z.object({ type: z.literal("simulator"), concurrency: z.number().int().positive().optional() });
/**
 * The NAME of an environment variable. A key written here by mistake (LiteLLM's `api_key:`
 * habit) would be echoed wherever a missing variable is named — logs, the shared model health,
 * `router models` — so anything that is not a variable name is refused, without repeating it.
 */
const EnvVarName = z
  .string()
  .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, { message: "must be the NAME of the environment variable that holds the key (letters, digits and _), not the key itself" });

const OpenAICompatibleProvider = z.object({
  type: z.literal("openai-compatible"),
  /** Base URL including `/v1`, for example `https://api.openai.com/v1`, `http://127.0.0.1:11434/v1`. */
  baseUrl: BaseUrl,
  /** Name of the environment variable holding the API key (never the key itself in the file). */
  apiKeyEnv: EnvVarName.optional(),
  /** Per-call deadline. Default 60000 ms. */
  timeoutMs: z.number().int().positive().default(60_000),
  /** Extra headers (for example OpenRouter's `HTTP-Referer`). */
  headers: z.record(z.string(), z.string()).default({}),
  ...httpProviderCommon,
});
const AnthropicProvider = z.object({
  type: z.literal("anthropic"),
  /** Default `https://api.anthropic.com` (the adapter appends `/v1/messages`). */
  baseUrl: BaseUrl.default("https://api.anthropic.com"),
  /** Environment variable holding the API key. Default `ANTHROPIC_API_KEY`. */
  apiKeyEnv: EnvVarName.default("ANTHROPIC_API_KEY"),
  /** The `anthropic-version` header. Default `2023-06-01`. */
  version: z.string().default("2023-06-01"),
  /** Per-call deadline. Default 60000 ms. */
  timeoutMs: z.number().int().positive().default(60_000),
  headers: z.record(z.string(), z.string()).default({}),
  ...httpProviderCommon,
});
const OllamaProvider = z.object({
  type: z.literal("ollama"),
  /** Ollama's native API root. Default `http://127.0.0.1:11434` (the adapter calls `/api/chat`). */
  baseUrl: BaseUrl.default("http://127.0.0.1:11434"),
  /** Per-call deadline; local models can be slow to load. Default 120000 ms. */
  timeoutMs: z.number().int().positive().default(120_000),
  /** Ollama's `keep_alive` (how long the model stays loaded), e.g. `5m`. Default: Ollama's own. */
  keepAlive: z.string().optional(),
  headers: z.record(z.string(), z.string()).default({}),
  ...httpProviderCommon,
});
export const ProviderConfig = z.discriminatedUnion("type", [SimulatorProvider, OpenAICompatibleProvider, AnthropicProvider, OllamaProvider]);
export type ProviderConfig = z.infer<typeof ProviderConfig>;

const Strategy = z.enum(EXECUTION_STRATEGIES);
const Prompt = z.string().min(1);

/**
 * Execution strategies: which one each tier gets (the selector decides, the executor runs it)
 * and the prompts they use. Every sub-call is a recorded model call with its own tokens, cost
 * and latency; the task's cost cap and deadline bound the whole strategy.
 */
export const StrategiesConfig = z.object({
  /** Strategy per complexity tier; `critical` (critical risk) overrides the tier. */
  byTier: z
    .object({
      simple: Strategy.default("single"),
      moderate: Strategy.default("chain"),
      complex: Strategy.default("parallel"),
      expert: Strategy.default("parallel"),
      critical: Strategy.default("ensemble"),
    })
    .prefault({}),
  /** `chain`: a plan, then the answer following it, on the chosen model. */
  chain: z
    .object({
      planPrompt: Prompt.default(
        "Before anyone answers, write a short numbered plan (at most 6 steps) for answering the user's request well. Output only the plan.",
      ),
      executePrompt: Prompt.default("Answer the user's request. Follow this plan, and output only the answer:"),
    })
    .prefault({}),
  /** `parallel`: specialists answer at once, then one call synthesises their notes. */
  parallel: z
    .object({
      specialists: z
        .array(z.object({ name: z.string().regex(/^[a-z0-9_-]+$/), prompt: Prompt }))
        .min(1)
        .default([
          { name: "research", prompt: "You are a researcher. List the facts, constraints and open questions that matter for the user's request. Be brief." },
          { name: "code", prompt: "You are a senior engineer. Give the concrete technical approach (or code) the user's request needs. Be brief." },
          { name: "review", prompt: "You are a critical reviewer. List the risks, edge cases and likely mistakes in answering the user's request. Be brief." },
        ]),
      synthesisPrompt: Prompt.default("Answer the user's request. Use these specialists' notes; resolve any disagreement; output only the answer."),
    })
    .prefault({}),
  /** `ensemble`: several models answer, a critic picks or merges; optionally a human approves. */
  ensemble: z
    .object({
      /** Models that answer: the chosen one and the next in its fallback chain. Default 3. */
      size: z.number().int().min(2).max(8).default(3),
      criticPrompt: Prompt.default(
        "Several assistants answered the user's request. Judge them for correctness and safety, then output the single best final answer (merge them if that is better). Output only that answer.",
      ),
      approval: z
        .object({
          /** Wait for `task.approval.granted` / `denied` before completing. Default false. */
          required: z.boolean().default(false),
          /** How long to wait before the task fails with APPROVAL_TIMEOUT. Default 15 minutes. */
          timeoutMs: z.number().int().positive().default(15 * 60_000),
        })
        .prefault({}),
    })
    .prefault({}),
});
export type StrategiesConfig = z.infer<typeof StrategiesConfig>;

/**
 * The strategy a task's tier gets (`strategies.byTier`); critical risk overrides the tier. The
 * selector may run it as fewer calls (a cost cap); the executor still asks approval when this is
 * the ensemble, so a cap cannot skip it.
 */
export function tierStrategy(classification: { risk: string; complexity: Exclude<keyof StrategiesConfig["byTier"], "critical"> }, byTier: StrategiesConfig["byTier"] | undefined): (typeof EXECUTION_STRATEGIES)[number] {
  if (!byTier) return "single";
  return classification.risk === "critical" ? byTier.critical : byTier[classification.complexity];
}

const MinQuality = z.object({
  simple: z.number().min(0).max(1).default(0.3),
  moderate: z.number().min(0).max(1).default(0.5),
  complex: z.number().min(0).max(1).default(0.7),
  expert: z.number().min(0).max(1).default(0.85),
});

export const PolicyConfig = z.object({
  /** Rank local models before cloud ones at equal fit. Default true. */
  preferLocal: z.boolean().default(true),
  /** Allow cloud models at all. Default true. */
  cloudAllowed: z.boolean().default(true),
  /** Upper bound on the estimated cost of one task, USD. Default: none. */
  maxCostPerTaskUsd: z.number().nonnegative().optional(),
  /** Upper bound on a model's typical latency. Default: none. */
  maxLatencyMs: z.number().int().positive().optional(),
  /** Output tokens assumed and requested when the task does not say. Default 1024. */
  defaultMaxOutputTokens: z.number().int().positive().default(1024),
  /** Upper bound on output tokens per task. Default 8192. */
  maxOutputTokens: z.number().int().positive().default(8192),
  /** Minimum model quality per complexity tier. */
  minQuality: MinQuality.default(MinQuality.parse({})),
  /** Minimum quality for critical-risk tasks (raised on top of the tier's). Default 0.8. */
  criticalMinQuality: z.number().min(0).max(1).default(0.8),
  /** Capabilities a model must have for a task type, e.g. `{ code: ["code"] }`. */
  requiredCapabilities: z.partialRecord(z.enum(TASK_TYPES), z.array(Capability)).default({ code: ["code"] }),
  /**
   * The cost–quality knob (RouteLLM's threshold): the quality bar rises from the tier's floor
   * with the task's pFail and reaches the best expected quality (less `escalationMargin`) at
   * this pFail — `bar = floor + (top − floor) · min(1, pFail / pFailThreshold)`. Lower is more
   * quality and more cost; 0 sends everything to the top. Default 0.5.
   */
  pFailThreshold: z.number().min(0).default(0.5),
  /** How far below the best expected quality the top of the bar sits. Default 0.02. */
  escalationMargin: z.number().min(0).max(1).default(0.02),
  /**
   * What a perfect answer is worth to you, in USD: among the models that meet the quality bar,
   * the one with the highest `expected quality × answerValueUsd − estimated cost` wins, so a
   * pricier model is taken only when its extra quality is worth its extra cost. 0 (the default)
   * takes the cheapest model that meets the bar. The many-model cost–quality knob: RouterBench's
   * willingness to pay.
   */
  answerValueUsd: z.number().min(0).default(0),
  /**
   * Weight of a model's registry `quality` against feedback, in samples: expected quality is
   * (priorSamples·quality + Σ scores) / (priorSamples + n). Default 20.
   */
  statsPriorSamples: z.number().nonnegative().default(20),
  /**
   * Learning from feedback by Thompson sampling. Once some eligible model has `minSamples`
   * feedback scores for the task's type and complexity, a share of decisions (drawn from the
   * decision's seed, so replayable) routes by a quality sampled from each model's Beta posterior
   * instead of its mean, under the same bar and value rule: models with little feedback get tried,
   * and cost stays in the objective. Never for critical-risk tasks.
   */
  exploration: z
    .object({
      /** Explore at all. Default true. */
      enabled: z.boolean().default(true),
      /** Feedback scores one eligible model needs in the task's bucket before any exploring. Default 20. */
      minSamples: z.number().int().nonnegative().default(20),
      /** Largest share of decisions that may route by samples instead of means, 0..1. Default 0.1. */
      maxShare: z.number().min(0).max(1).default(0.1),
    })
    .prefault({}),
  /** How many fallback models follow the chosen one. Default 2. */
  fallbacks: z.number().int().nonnegative().max(10).default(2),
});
export type PolicyConfig = z.infer<typeof PolicyConfig>;

export const BudgetConfig = z.object({
  /** Spend limit for the window, USD. */
  limitUsd: z.number().nonnegative(),
  /** Window the limit applies to (UTC calendar windows). Default `day`. */
  window: z.enum(["hour", "day", "month"]).default("day"),
  /** Share of the limit where the ladder steps down (cheaper cloud models, lower quality bar). Default 0.8. */
  softRatio: z.number().gt(0).max(1).default(0.8),
});
export type BudgetConfig = z.infer<typeof BudgetConfig>;

/**
 * One budget: a limit per window for a scope. `global` is all spend; `tenant` is a limit each
 * tenant gets separately; `tenant:<name>` one tenant's own limit; `run` a limit each run id
 * (`task.runId`, an agent workflow's many calls) gets. Several can apply to one task; the
 * tightest state decides.
 */
export const BudgetRule = BudgetConfig.extend({
  scope: z.union([z.enum(["global", "tenant", "run"]), z.string().regex(/^tenant:[^\s]+$/, "scope must be global, tenant, tenant:<name> or run")]),
});
export type BudgetRule = z.infer<typeof BudgetRule>;

/** What the selector does on the soft step of the ladder. */
export const BudgetLadder = z.object({
  /** Subtracted from every quality floor while soft. Default 0.1. */
  qualityDiscount: z.number().min(0).max(1).default(0.1),
  /** While soft, only the cheapest share of the eligible cloud models (by estimated cost) stay eligible. Default 0.5. */
  cloudShare: z.number().gt(0).max(1).default(0.5),
});
export type BudgetLadder = z.infer<typeof BudgetLadder>;

export const CLASSIFIER_STRATEGIES = ["cascade", "rules", "learned", "llm", "embedding"] as const;

export const ClassifierConfig = z.object({
  /**
   * Which strategy classifies. `cascade` (default): rules and the learned model in-process,
   * escalating to the LLM (or embedding) strategy only below `escalateBelow` confidence.
   */
  strategy: z.enum(CLASSIFIER_STRATEGIES).default("cascade"),
  /** Learned-model weights file (format router-learned-v2). Default: the bundled weights. */
  weightsFile: z.string().optional(),
  /** The cascade escalates when the in-process confidence is below this. Default 0.5. */
  escalateBelow: z.number().min(0).max(1).default(0.5),
  /** Ask a model (normally local) to classify; used by `llm` and by `cascade` when escalating. */
  llm: z
    .object({
      /** `provider:model`; the provider must be configured under `providers`. */
      model: ModelSpec,
      /** Deadline for the whole call; on timeout the other strategies decide. Default 3000 ms. */
      timeoutMs: z.number().int().positive().default(3000),
      /** Output tokens requested for the JSON answer. Default 128. */
      maxOutputTokens: z.number().int().positive().default(128),
      /**
       * Whether the model runs on the operator's own machines. Default: the registry's `local`
       * for a registered model, else from its provider (the simulator, or a base URL on a
       * loopback, private or single-label host). A model that is not local is never sent a
       * local-only task or a request holding a secret value, nor configured with `cloudAllowed: false`.
       */
      local: z.boolean().optional(),
    })
    .optional(),
  /** Nearest labelled centroid over embeddings; used by `embedding` and by `cascade` when escalating without `llm`. */
  embedding: z
    .object({
      /** Key of an `openai-compatible` (`/v1/embeddings`) or `ollama` (`/api/embed`) provider. */
      provider: z.string().regex(/^[a-z0-9][a-z0-9_-]*$/),
      /** Embedding model name as the provider knows it, e.g. `nomic-embed-text`. */
      model: z.string().min(1),
      /** JSONL of labelled examples `{text, complexity?, taskType?, risk?}` the centroids are built from at start. */
      examplesFile: z.string().min(1),
      /** Deadline per embedding request. Default 2000 ms. */
      timeoutMs: z.number().int().positive().default(2000),
      /** Whether the embedding provider runs on the operator's own machines; as `classifier.llm.local`. */
      local: z.boolean().optional(),
    })
    .optional(),
});
export type ClassifierConfig = z.infer<typeof ClassifierConfig>;

export const RouterConfig = z.object({
  nats: z
    .object({
      /** Default `nats://127.0.0.1:4222`; env `NATS_URL`. */
      url: z.string().default("nats://127.0.0.1:4222"),
      /** Prefix for every subject (isolation of several routers on one server). Default "". */
      subjectPrefix: z.string().regex(/^([A-Za-z0-9_-]+\.)?$/, "subjectPrefix must be empty or end with a dot").default(""),
      /** Name of the task stream. Default `TASKS`. */
      stream: z.string().regex(/^[A-Za-z0-9_-]+$/).default("TASKS"),
      /** Name of the budget event stream. Default `BUDGET`. */
      budgetStream: z.string().regex(/^[A-Za-z0-9_-]+$/).default("BUDGET"),
      /** KV bucket holding budget state per scope. Default `router_budget`. */
      budgetBucket: z.string().regex(/^[A-Za-z0-9_-]+$/).default("router_budget"),
      /**
       * KV bucket of the executors' call journal (`executor.journal`): one key per task in
       * flight, deleted once the task's completion is published; entries expire after 24 h.
       * Default `router_journal`.
       */
      journalBucket: z.string().regex(/^[A-Za-z0-9_-]+$/).default("router_journal"),
      /** Stream retention by age. Default 7 days; at least an hour, so a backlog is not expired unprocessed. */
      maxAgeMs: z.number().int().min(3_600_000).default(7 * 24 * 3600 * 1000),
      /** Stream retention by size. Default 1 GiB. */
      maxBytes: z.number().int().positive().default(1024 ** 3),
      /**
       * How long a message may stay unacknowledged before redelivery. Default 30000 ms; at least
       * 2000 ms, because work in progress sends heartbeats every ackWaitMs / 3 but no oftener
       * than every 500 ms, and a shorter AckWait would redeliver every message being handled.
       */
      ackWaitMs: z.number().int().min(2000).default(30_000),
      /** Deliveries of one message before it is dead-lettered. Default 5. */
      maxDeliver: z.number().int().min(1).default(5),
    })
    .prefault({}),
  providers: z.record(z.string().regex(/^[a-z0-9][a-z0-9_-]*$/), ProviderConfig).default({ sim: { type: "simulator" } }),
  models: z.array(ModelConfig).min(1, "at least one model is required"),
  policy: PolicyConfig.prefault({}),
  classifier: ClassifierConfig.prefault({}),
  /** Global budget; omit for none. */
  budget: BudgetConfig.optional(),
  /** Budgets by scope and window; `budget` (when set) is one more, global. */
  budgets: z.array(BudgetRule).default([]),
  budgetLadder: BudgetLadder.prefault({}),
  strategies: StrategiesConfig.prefault({}),
  executor: z
    .object({
      /** Tasks executed at once per replica. Default 64. */
      concurrency: z.number().int().positive().default(64),
      /** Retries of a retryable error on the same model before falling back. Default 1. */
      retries: z.number().int().nonnegative().default(1),
      /** First backoff delay; doubles per retry with full jitter. Default 200 ms. */
      backoffMs: z.number().int().nonnegative().default(200),
      /** Longest backoff delay. Default 5000 ms. */
      maxBackoffMs: z.number().int().nonnegative().default(5000),
      /**
       * Keep a call journal per task in KV (`nats.journalBucket`): each finished strategy step
       * and each call in flight is written down, so a task redelivered after an executor died
       * replays the steps that finished instead of calling (and paying for) their models again,
       * and records a call that was cut off as CALL_INTERRUPTED. Costs a KV put per call and per
       * step. Default true.
       */
      journal: z.boolean().default(true),
      /**
       * Circuit breaker per model: it opens when at least `minCalls` calls ended within
       * `windowMs` and `failureRate` of them failed (provider errors; a bad request is the task's
       * fault and does not count), stays open `cooldownMs`, then lets one probe through
       * (half-open): success closes it, failure opens it again. Its state reaches every selector
       * through KV. Defaults: 30 s window, 5 calls, 50%, 30 s cooldown.
       */
      breaker: z
        .object({
          windowMs: z.number().int().positive().default(30_000),
          minCalls: z.number().int().positive().default(5),
          failureRate: z.number().gt(0).max(1).default(0.5),
          cooldownMs: z.number().int().positive().default(30_000),
        })
        .prefault({}),
    })
    .prefault({}),
  ledger: z
    .object({
      /** Completions per insert transaction at most. Default 200. */
      batchSize: z.number().int().positive().default(200),
      /** Longest wait before a partial batch is written. Default 50 ms. */
      flushMs: z.number().int().positive().default(50),
      /**
       * Deliveries of one valid message before the ledger gives up and dead-letters it. A failed
       * write is an unavailable database far more often than a bad message (those are
       * dead-lettered at once), so the ledger waits out outages: with `maxRetryDelayMs` that is
       * about 1.5 hours. Default 100.
       */
      maxDeliver: z.number().int().min(1).default(100),
      /** Longest wait between redeliveries of a message the ledger could not write. Default 60000 ms. */
      maxRetryDelayMs: z.number().int().positive().default(60_000),
      /** PGlite data directory used when no `DATABASE_URL` is set. Default `.data/ledger`. */
      dataDir: z.string().default(".data/ledger"),
      /**
       * Embedded PGlite: the ledger writes nothing while less than this many MB are free on
       * `dataDir`'s disk (it pulls nothing: its messages wait in the stream, using up no deliveries). PGlite does
       * not fail a commit that does not fit: it hangs the process. 0 turns the floor off. Default 64.
       */
      minFreeDiskMb: z.number().min(0).default(64),
      /**
       * Outcome-statistics snapshots (kept for replay) older than this are deleted, hourly;
       * decisions older than that replay without their statistics. Default 30 days.
       */
      statsRetentionDays: z.number().positive().default(30),
    })
    .prefault({}),
  /** The model savings are measured against. Default: per task, the most expensive model that could have taken it. */
  referenceModel: ModelSpec.optional(),
});
export type RouterConfig = z.infer<typeof RouterConfig>;

/** Variables the services read; passed in from `main.ts`. */
export interface RouterEnv {
  NATS_URL?: string;
  DATABASE_URL?: string;
  ROUTER_CONFIG?: string;
  [key: string]: string | undefined;
}

export interface LoadedConfig {
  config: RouterConfig;
  /** Where the file came from, or `built-in` when none was found. */
  source: string;
  /** True when every model in the registry is a simulator model. */
  simulatorOnly: boolean;
  /**
   * Where each model's price came from: `config`, `local`, the price table (`PRICE_TABLE` and
   * the provider/model it matched), or `none` — a cloud model at $0, which `unpricedCloudModels` lists.
   */
  priceSources: Record<string, string>;
  /** Non-local models with neither a configured nor a listed price: their calls count as $0. */
  unpricedCloudModels: string[];
}

/** A registry of simulator models used when no config file exists: runs anywhere, costs nothing real. */
export const DEFAULT_CONFIG_INPUT = {
  providers: { sim: { type: "simulator" } },
  models: [
    { spec: "sim:local-small", local: true, quality: 0.55, capabilities: ["chat"], contextWindow: 8192, typicalLatencyMs: 300 },
    { spec: "sim:local-coder", local: true, quality: 0.65, capabilities: ["chat", "code"], contextWindow: 32768, typicalLatencyMs: 800 },
    { spec: "sim:cloud-mini", inputPerMtok: 0.15, outputPerMtok: 0.6, quality: 0.75, capabilities: ["chat", "code", "json", "tools"], contextWindow: 128000, typicalLatencyMs: 1500 },
    { spec: "sim:cloud-large", inputPerMtok: 2.5, outputPerMtok: 10, quality: 0.9, capabilities: ["chat", "code", "reasoning", "json", "tools", "long-context"], contextWindow: 128000, typicalLatencyMs: 3000 },
  ],
} as const;

/** The most issues `describeZodError` names: a 400 KB array of wrong items has 200,000. */
const MAX_DESCRIBED_ISSUES = 20;

/** Format a zod error so the message names each offending field (the first 20, and how many more). */
export function describeZodError(err: z.ZodError): string {
  const described = err.issues
    .slice(0, MAX_DESCRIBED_ISSUES)
    .map((i) => `${i.path.length > 0 ? i.path.join(".") : "(root)"}: ${i.message}`)
    .join("; ");
  const more = err.issues.length - MAX_DESCRIBED_ISSUES;
  return more > 0 ? `${described}; and ${more} more issue${more === 1 ? "" : "s"}` : described;
}

/**
 * The paths of keys in `input` that parsing dropped: keys no schema knows (`polcy`, `retrys`),
 * which would otherwise be ignored without a word. Maps (`providers`, `headers`) keep every key,
 * so only misspellings and keys from another version show up.
 */
export function unknownConfigKeys(input: unknown, parsed: unknown, path = ""): string[] {
  if (Array.isArray(input) && Array.isArray(parsed)) return input.flatMap((item, i) => unknownConfigKeys(item, parsed[i], `${path}${i}.`));
  if (typeof input !== "object" || input === null || Array.isArray(input) || typeof parsed !== "object" || parsed === null) return [];
  return Object.entries(input).flatMap(([key, value]) =>
    Object.hasOwn(parsed, key) ? unknownConfigKeys(value, (parsed as Record<string, unknown>)[key], `${path}${key}.`) : [`${path}${key}`],
  );
}

/** Validate a config object. Throws `ConfigError` naming the fields that are wrong or unknown. */
export function parseConfig(input: unknown, env: RouterEnv = {}, source = "inline"): LoadedConfig {
  const parsed = RouterConfig.safeParse(input);
  if (!parsed.success) throw new ConfigError(`invalid config (${source}): ${describeZodError(parsed.error)}`);
  const unknown = unknownConfigKeys(input, parsed.data);
  if (unknown.length > 0) {
    throw new ConfigError(`invalid config (${source}): unknown key${unknown.length > 1 ? "s" : ""} ${unknown.join(", ")} (misspelled, or not in this version: see the README's configuration reference)`);
  }
  const config = parsed.data;
  if (env.NATS_URL) config.nats.url = env.NATS_URL;
  checkReferences(config, source);
  const simulatorOnly = config.models.every((m) => config.providers[providerKey(m.spec)]?.type === "simulator");
  const priceSources = fillListedPrices(config, input, source);
  const unpricedCloudModels = config.models.filter((m) => priceSources[m.spec] === "none").map((m) => m.spec);
  return { config, source, simulatorOnly, priceSources, unpricedCloudModels };
}

/**
 * Give each cloud model the listed price (listed-prices.ts) of each price it is configured
 * without, in place; returns where every model's price came from. `input` is the raw config, to
 * tell a price left out from a price of 0. A cloud model given one of its two prices and not
 * listed fails (the other would silently be $0). Cache prices not configured are filled too
 * (`cachePrices`).
 */
function fillListedPrices(config: RouterConfig, input: unknown, source: string): Record<string, string> {
  const raw = typeof input === "object" && input !== null && Array.isArray((input as { models?: unknown }).models) ? (input as { models: unknown[] }).models : [];
  const sources: Record<string, string> = {};
  config.models.forEach((m, i) => {
    const given = raw[i];
    const has = (field: string): boolean => typeof given === "object" && given !== null && field in given;
    const [hasInput, hasOutput] = [has("inputPerMtok"), has("outputPerMtok")];
    const priced = hasInput || hasOutput;
    if (m.local) {
      sources[m.spec] = priced ? "config" : "local";
      return;
    }
    const provider = config.providers[providerKey(m.spec)];
    const listed = provider && listedPrice(provider, modelName(m.spec));
    if (hasInput !== hasOutput && !listed) {
      const missing = hasInput ? "outputPerMtok" : "inputPerMtok";
      throw new ConfigError(
        `invalid config (${source}): models.${i}.${missing}: ${m.spec} has ${hasInput ? "an input" : "an output"} price but no ${hasInput ? "output" : "input"} price, and the price table does not list it: set both`,
      );
    }
    if (listed && !hasInput) m.inputPerMtok = listed.inputPerMtok;
    if (listed && !hasOutput) m.outputPerMtok = listed.outputPerMtok;
    sources[m.spec] = hasInput && hasOutput ? "config" : priced ? `config and ${PRICE_TABLE} ${listed!.listedAs}` : listed ? `${PRICE_TABLE} ${listed.listedAs}` : "none";
    const cache = cachePrices(m.inputPerMtok, provider?.type, listed);
    m.cacheReadPerMtok ??= cache.read;
    m.cacheWritePerMtok ??= cache.write;
  });
  return sources;
}

/** Anthropic's prompt-cache prices as multiples of the input price, the same for every model. */
export const ANTHROPIC_CACHE_PRICE = { read: 0.1, write: 1.25 } as const;

/**
 * A cloud model's cache prices when the config gives none: the listed model's cache discount
 * applied to the model's input price (the listed price itself when the input price is the listed
 * one), else for Anthropic its published multiples (ANTHROPIC_CACHE_PRICE), else none — cached
 * tokens then cost the input price, as other providers' discounts differ by model.
 */
function cachePrices(inputPerMtok: number, providerType: string | undefined, listed: ListedPrice | undefined): { read?: number; write?: number } {
  const usd = (x: number): number => Number(x.toPrecision(12));
  const scaled = (listedPrice: number | undefined): number | undefined => {
    if (listed === undefined || listedPrice === undefined) return undefined;
    if (listed.inputPerMtok === inputPerMtok) return listedPrice;
    return listed.inputPerMtok > 0 ? usd((inputPerMtok * listedPrice) / listed.inputPerMtok) : undefined;
  };
  const anthropic = providerType === "anthropic";
  const read = scaled(listed?.cacheReadPerMtok) ?? (anthropic ? usd(inputPerMtok * ANTHROPIC_CACHE_PRICE.read) : undefined);
  const write = scaled(listed?.cacheWritePerMtok) ?? (anthropic ? usd(inputPerMtok * ANTHROPIC_CACHE_PRICE.write) : undefined);
  return { ...(read === undefined ? {} : { read }), ...(write === undefined ? {} : { write }) };
}

function checkReferences(config: RouterConfig, source: string): void {
  const seen = new Set<string>();
  config.models.forEach((m, i) => {
    if (seen.has(m.spec)) throw new ConfigError(`invalid config (${source}): models.${i}.spec: duplicate model ${m.spec}`);
    seen.add(m.spec);
    const key = providerKey(m.spec);
    if (!(key in config.providers)) {
      throw new ConfigError(
        `invalid config (${source}): models.${i}.spec: provider "${key}" is not defined under providers (known: ${Object.keys(config.providers).join(", ")})`,
      );
    }
  });
  // Two rules on one scope and window would charge one counter twice and publish two states under one key.
  const rules = new Map<string, string>();
  const named = [...config.budgets.map((r, i) => ({ r, field: `budgets.${i}` })), ...(config.budget ? [{ r: { ...config.budget, scope: "global" }, field: "budget" }] : [])];
  for (const { r, field } of named) {
    const key = `${r.scope} ${r.window}`;
    const earlier = rules.get(key);
    if (earlier) throw new ConfigError(`invalid config (${source}): ${field}: a second ${r.window} budget for scope ${r.scope} (${earlier} is the first); keep one`);
    rules.set(key, field);
  }
  if (config.referenceModel && !seen.has(config.referenceModel)) {
    throw new ConfigError(`invalid config (${source}): referenceModel: ${config.referenceModel} is not in models`);
  }
}

/** The provider key of a `provider:model` spec. */
export function providerKey(spec: string): string {
  const i = spec.indexOf(":");
  return i < 0 ? spec : spec.slice(0, i);
}

/** The provider-local model name of a `provider:model` spec. */
export function modelName(spec: string): string {
  const i = spec.indexOf(":");
  return i < 0 ? spec : spec.slice(i + 1);
}

/**
 * Load the config: `path` when given (it must exist), else `router.config.yaml` /
 * `router.config.json` in `cwd` when present, else the built-in simulator registry.
 */
export function loadConfig(options: { path?: string; cwd?: string; env?: RouterEnv } = {}): LoadedConfig {
  const env = options.env ?? {};
  const cwd = options.cwd ?? ".";
  const explicit = options.path ?? env.ROUTER_CONFIG;
  const candidates = explicit ? [explicit] : ["router.config.yaml", "router.config.yml", "router.config.json"];
  for (const candidate of candidates) {
    const file = resolve(cwd, candidate);
    if (!existsSync(file)) {
      if (explicit) throw new ConfigError(`config file not found: ${file}`);
      continue;
    }
    let raw: unknown;
    try {
      const text = readFileSync(file, "utf8");
      raw = extname(file) === ".json" ? JSON.parse(text) : parseYaml(text);
    } catch (err) {
      throw new ConfigError(`cannot parse config file ${file}: ${(err as Error).message}`, { cause: err });
    }
    return parseConfig(raw, env, file);
  }
  return parseConfig(DEFAULT_CONFIG_INPUT, env, "built-in");
}

/**
 * The model savings are measured against: `configured` when given, else the most expensive
 * model (input + output price per 1M tokens; ties go to the higher quality). Per task, see
 * `capableReferenceModel`.
 */
export function referenceModelOf(models: readonly ModelConfig[], configured?: string): ModelConfig {
  return mostExpensive(models, configured);
}

/**
 * The reference for one task when none is configured: the most expensive model that could have
 * taken it (its required capabilities and context), so savings are measured against a model
 * that would really have served it; the most expensive overall when none could.
 */
export function capableReferenceModel(
  models: readonly ModelConfig[],
  task: { capabilities: readonly string[]; contextTokens: number },
  configured?: string,
): ModelConfig {
  if (configured !== undefined) return mostExpensive(models, configured);
  const capable = models.filter((m) => m.contextWindow >= task.contextTokens && task.capabilities.every((c) => (m.capabilities as readonly string[]).includes(c)));
  return mostExpensive(capable.length > 0 ? capable : models);
}

function mostExpensive(models: readonly ModelConfig[], configured?: string): ModelConfig {
  if (configured !== undefined) {
    const found = models.find((m) => m.spec === configured);
    if (!found) throw new ConfigError(`referenceModel: ${configured} is not in the model registry`);
    return found;
  }
  // Code-unit order on the spec as the last tie-break: never the host's locale.
  const sorted = [...models].sort(
    (a, b) =>
      b.inputPerMtok + b.outputPerMtok - (a.inputPerMtok + a.outputPerMtok) ||
      b.quality - a.quality ||
      (a.spec < b.spec ? -1 : a.spec > b.spec ? 1 : 0),
  );
  const top = sorted[0];
  if (!top) throw new ConfigError("the model registry is empty");
  return top;
}
