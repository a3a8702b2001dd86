/**
 * The CLI's commands over the `router.*` request/reply API: each asks one endpoint and prints its
 * answer as a table, or as the raw JSON with `--json`. A refusal prints the service's stable code
 * and message (and `{"ok": false, "error"}` on stdout with `--json`) and exits 1; so does an
 * answer that reports a failure itself (`router health` with a failed check).
 */
import {
  METRICS_GROUPS,
  RouterError,
  TaskType,
  requestApi,
  toErrorData,
  type ApiEndpointName,
  type ApiRequestInput,
  type ApiResponse,
  type HealthReport,
  type MetricsGroup,
  type NatsConnection,
} from "@llm-router/shared";
import { formatBudget, formatMetrics, formatModel, formatModels } from "./api-format.js";
import { UsageError, numberOption, parseWindow } from "./args.js";
import { submissionOf, type SubmitOptions } from "./submit-options.js";

export const API_COMMANDS = ["budget", "models", "stats", "feedback", "route", "health"] as const;
export type ApiCommand = (typeof API_COMMANDS)[number];

export function isApiCommand(command: string): command is ApiCommand {
  return (API_COMMANDS as readonly string[]).includes(command);
}

/** The options only these commands take, for `util.parseArgs` (`--tenant` and `--json` are the CLI's own). */
export const API_COMMAND_OPTIONS = {
  scope: { type: "string" },
  since: { type: "string" },
  until: { type: "string" },
  "group-by": { type: "string" },
  "task-type": { type: "string" },
  score: { type: "string" },
  success: { type: "boolean" },
  failure: { type: "boolean" },
  comment: { type: "string" },
  id: { type: "string" },
} as const satisfies Record<string, { type: "string" | "boolean" }>;

type OwnOptions = { [K in keyof typeof API_COMMAND_OPTIONS]?: (typeof API_COMMAND_OPTIONS)[K]["type"] extends "string" ? string : boolean };

/** The parsed options these commands read; `route` reads those of `submit` too (`--tenant` among them). */
export type ApiCommandOptions = OwnOptions & SubmitOptions & { json?: boolean };

export interface ApiCommandContext {
  /** Asks an endpoint: {@link createAsk} over NATS. */
  ask: Ask;
  out: (text: string) => void;
  err: (text: string) => void;
}

/** Asks one `router.*` endpoint and resolves with its validated answer; rejects with a RouterError. */
export type Ask = <E extends ApiEndpointName>(endpoint: E, request: ApiRequestInput<E>) => Promise<ApiResponse<E>>;

/**
 * Asks the endpoints over `nc`, under `prefix` (`nats.subjectPrefix` of the router's config),
 * waiting `timeoutMs` for each answer.
 */
export function createAsk(nc: NatsConnection, prefix: string, timeoutMs: number): Ask {
  return (endpoint, request) => requestApi(nc, endpoint, request, { prefix, timeoutMs });
}

/** An answer, and how it reads as text; `ok: false` when the answer itself reports a failure (exit 1). */
export type ApiCommandRun = (ask: Ask) => Promise<{ answer: unknown; text: string; ok?: boolean }>;
/** Checks a command line (throws UsageError) without asking anything; the request is made by what it returns. */
type Prepare = (args: readonly string[], o: ApiCommandOptions, now: Date) => ApiCommandRun;

const COMMANDS: Record<ApiCommand, Prepare> = {
  budget: (_args, o) => async (ask) => {
    const answer = await ask("router.budget", o.scope === undefined ? {} : { scope: o.scope });
    return { answer, text: formatBudget(answer, o.scope) };
  },
  models: (args) => async (ask) => {
    const [spec] = args;
    if (spec === undefined) {
      const answer = await ask("router.models", {});
      return { answer, text: formatModels(answer) };
    }
    const answer = await ask("router.models.get", { spec });
    return { answer, text: formatModel(answer) };
  },
  stats: (_args, o, now) => {
    const groupBy = o["group-by"];
    if (groupBy !== undefined && !(METRICS_GROUPS as readonly string[]).includes(groupBy)) throw new UsageError(`--group-by: one of ${METRICS_GROUPS.join(", ")}`);
    const taskType = o["task-type"];
    if (taskType !== undefined && !TaskType.safeParse(taskType).success) throw new UsageError(`--task-type: one of ${TaskType.options.join(", ")}`);
    const { since, until } = parseWindow(o, now);
    const request = {
      ...(since === undefined ? {} : { since: since.toISOString() }),
      ...(until === undefined ? {} : { until: until.toISOString() }),
      ...(o.tenant === undefined ? {} : { tenant: o.tenant }),
      ...(taskType === undefined ? {} : { taskType: taskType as TaskType }),
      ...(groupBy === undefined ? {} : { groupBy: groupBy as MetricsGroup }),
    };
    return async (ask) => {
      const answer = await ask("router.metrics", request);
      return { answer, text: formatMetrics(answer) };
    };
  },
  route: (args, o) => {
    const prompt = args.join(" ").trim();
    if (prompt === "") throw new UsageError('route: the prompt is required, e.g. router route "Summarise this report"');
    // The task `submit` would publish, constraints included: a dry run that left them out would route another task.
    const task = submissionOf(prompt, o);
    return async (ask) => {
      const answer = await ask("router.route", task);
      const { classification: c, decision: d } = answer;
      const lines = [
        `classified: ${c.complexity} ${c.taskType}, risk ${c.risk}, confidence ${c.confidence.toFixed(2)}${c.pFail === undefined ? "" : `, pFail ${c.pFail.toFixed(2)}`} (${c.strategy})`,
        d.ok
          ? `routed to:  ${d.model} (${d.strategy}${d.forcedLocal ? ", forced local" : ""}), fallbacks ${d.fallbacks.join(", ") || "none"}, est. $${d.estimatedCostUsd.toFixed(6)}`
          : `refused:    ${d.error.code}`,
        `why:        ${d.reason}`,
        `budget:     ${d.budget.state}${d.budget.scope ? ` (${d.budget.scope})` : ""}; dry run — nothing was executed or recorded`,
      ];
      return { answer, text: lines.join("\n") };
    };
  },
  health: () => async (ask) => {
    const answer = await ask("router.health", {});
    return { answer, text: formatHealth(answer), ok: answer.ok };
  },
  feedback: (args, o) => {
    const [taskId] = args;
    if (taskId === undefined) throw new UsageError("feedback: the task id is required");
    if (o.success && o.failure) throw new UsageError("feedback: --success and --failure exclude each other");
    const score = o.score === undefined ? undefined : numberOption("score", o.score, "a number from 0 to 1", (x) => x >= 0 && x <= 1);
    if (score === undefined && !o.success && !o.failure) throw new UsageError("feedback: give --score X (0..1), --success or --failure");
    const request = {
      taskId,
      ...(score === undefined ? {} : { score }),
      ...(o.success || o.failure ? { success: o.success === true } : {}),
      ...(o.comment === undefined ? {} : { comment: o.comment }),
      ...(o.id === undefined ? {} : { id: o.id }),
    };
    return async (ask) => {
      const answer = await ask("router.feedback", request);
      return { answer, text: `feedback ${answer.id} on task ${taskId} ${answer.duplicate ? "was already recorded" : "recorded"}` };
    };
  },
};

/** The checks `router.health` makes, in the order it prints them. */
const HEALTH_CHECKS = ["nats", "database", "kv"] as const;

/** The health answer as text: each failed check with its error first, then what is routed around. */
export function formatHealth(answer: HealthReport): string {
  const failed = HEALTH_CHECKS.filter((name) => !answer[name].ok).map((name) => `${name} check failed: ${answer[name].error ?? "(no error given)"}`);
  const unhealthy = answer.unhealthyModels.map((m) => `${m.spec} ${m.state}`).join(", ") || "none";
  const omitted = answer.budgetsOmitted === undefined ? "" : `, and ${answer.budgetsOmitted} more (router budget --scope run lists them)`;
  const budgets = answer.budgetsError !== undefined ? `unknown (${answer.budgetsError})` : (answer.budgets.map((b) => `${b.scope} ${b.window} ${b.state}`).join(", ") || "none configured") + omitted;
  return [`${answer.ok ? "ok" : "NOT OK"} at ${answer.at}`, ...failed, `models routed around: ${unhealthy}`, `budgets: ${budgets}`].join("\n");
}

/**
 * Checks one command's line and what it will ask, asking nothing: called before connecting, so a
 * command line that cannot work exits 2 whether or not NATS is up. Throws UsageError.
 */
export function prepareApiCommand(command: ApiCommand, args: readonly string[], o: ApiCommandOptions, now: Date): ApiCommandRun {
  return COMMANDS[command](args, o, now);
}

/**
 * Runs a prepared command; resolves with its exit code: 0, or 1 when the router refused, did not
 * answer, or answered that something failed (health).
 */
export async function runApiCommand(command: ApiCommand, run: ApiCommandRun, o: ApiCommandOptions, ctx: ApiCommandContext): Promise<number> {
  try {
    const { answer, text, ok = true } = await run(ctx.ask);
    ctx.out(o.json ? JSON.stringify(answer) : text);
    return ok ? 0 : 1;
  } catch (err) {
    if (!(err instanceof RouterError)) throw err;
    const error = toErrorData(err);
    if (o.json) ctx.out(JSON.stringify({ ok: false, error }));
    ctx.err(`router ${command}: ${error.code}: ${error.message}`);
    return 1;
  }
}
