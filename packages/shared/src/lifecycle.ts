/**
 * Ordered graceful shutdown: on SIGTERM/SIGINT — or when the launcher that started the service
 * has died — run the steps in the order given (stop intake, finish in-flight work, close Postgres,
 * close the metrics server, close NATS) and exit.
 */
import type { Logger } from "pino";

export interface ShutdownStep {
  name: string;
  close: () => Promise<void>;
}

/** Longest a whole shutdown may take before the process exits anyway. Default 20000 ms. */
export const SHUTDOWN_TIMEOUT_MS = 20_000;

export async function runShutdown(steps: readonly ShutdownStep[], log: Logger): Promise<boolean> {
  let clean = true;
  for (const step of steps) {
    try {
      await step.close();
      log.info({ step: step.name }, "shutdown step done");
    } catch (err) {
      clean = false;
      log.error({ err, step: step.name }, "shutdown step failed");
    }
  }
  return clean;
}

export interface ShutdownOptions {
  exit?: (code: number) => void;
  /**
   * The process that started this one and must outlive it (`npm start`'s launcher, which passes
   * its pid as ROUTER_PARENT_PID): when this process's parent is no longer it — the launcher was
   * killed with SIGKILL, or by the OOM killer, and could not stop its children —, shut down as on
   * SIGTERM instead of running on unwatched, its log pipe gone.
   */
  parentPid?: number;
  /** How often the parent is checked. Default 1000 ms. */
  parentCheckMs?: number;
  /**
   * The parent when the process started (read first thing in `runService`; default: now). A
   * `parentPid` that was not the parent then is a variable leaked from elsewhere, not watched; one
   * that was, but is gone by the time the service is ready, is a launcher that died meanwhile.
   */
  ppidAtStart?: number;
}

export function installShutdown(steps: readonly ShutdownStep[], log: Logger, options: ShutdownOptions = {}): void {
  const exit = options.exit ?? ((c: number) => process.exit(c));
  let stopping = false;
  let parentWatch: NodeJS.Timeout | undefined;
  const onSignal = (signal: NodeJS.Signals | "parent gone"): void => {
    if (stopping) {
      log.warn({ signal }, "second signal: exiting now");
      exit(1);
      return;
    }
    stopping = true;
    // Once draining, a launcher that goes meanwhile is no second signal to cut the drain short.
    clearInterval(parentWatch);
    log.info({ signal }, "shutting down");
    const timer = setTimeout(() => {
      log.error({ timeoutMs: SHUTDOWN_TIMEOUT_MS }, "shutdown timed out");
      exit(1);
    }, SHUTDOWN_TIMEOUT_MS);
    timer.unref();
    runShutdown(steps, log).then(
      (clean) => exit(clean ? 0 : 1),
      () => exit(1),
    );
  };
  process.once("SIGTERM", onSignal);
  process.once("SIGINT", onSignal);
  const { parentPid } = options;
  if (parentPid === undefined) return;
  if ((options.ppidAtStart ?? process.ppid) !== parentPid) {
    // Not this process's parent from the start: a variable leaked from an environment the
    // service was started by hand from, more likely than a launcher gone during the start.
    log.warn({ parentPid, ppid: process.ppid }, "ROUTER_PARENT_PID is not this process's parent: not watching it");
  } else {
    parentWatch = setInterval(() => {
      if (process.ppid === parentPid) return;
      log.warn({ parentPid, ppid: process.ppid }, "the process that started this service has gone");
      onSignal("parent gone");
    }, options.parentCheckMs ?? 1000);
    parentWatch.unref();
  }
}

/** ROUTER_PARENT_PID as a pid, or undefined when unset; anything else is a mistake worth saying. */
export function parentPidFromEnv(env: Record<string, string | undefined>): number | undefined {
  const raw = env.ROUTER_PARENT_PID;
  if (raw === undefined || raw === "") return undefined;
  const pid = Number(raw);
  if (!Number.isSafeInteger(pid) || pid <= 0) throw new Error(`ROUTER_PARENT_PID must be a process id, got ${JSON.stringify(raw)}`);
  return pid;
}
