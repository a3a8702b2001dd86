/**
 * Ordered graceful shutdown: on SIGTERM/SIGINT run the steps in the order given (stop intake,
 * finish in-flight work, close Postgres, close the metrics server, close NATS) and exit.
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

export function installShutdown(steps: readonly ShutdownStep[], log: Logger, exit: (code: number) => void = (c) => process.exit(c)): void {
  let stopping = false;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (stopping) {
      log.warn({ signal }, "second signal: exiting now");
      exit(1);
      return;
    }
    stopping = true;
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
}
