/**
 * Human approval over NATS: publish `task.approval.requested`, then wait for a
 * `task.approval.granted` or `task.approval.denied` naming the task. Decisions are read from the
 * TASKS stream starting at the request, so one published while this executor was down (a crash
 * and redelivery) is still found; the request is deduplicated by its message id, and on a
 * redelivery the wait ends at the first request's expiry, not a new one.
 */
import { randomUUID } from "node:crypto";
import { DeliverPolicy, type JetStreamClient } from "@nats-io/jetstream";
import { TaskApprovalDecision, TaskApprovalRequested, publishMessage, type Logger, type Topology } from "@llm-router/shared";
import type { ApprovalRequest, ApprovalVerdict } from "./execute-task.js";

export interface ApprovalDeps {
  js: JetStreamClient;
  topology: Topology;
  log: Logger;
  now: () => Date;
  /**
   * The connection's inbox prefix (`NATS_INBOX_PREFIX`, default `_INBOX`): decisions are pushed
   * to a subject under it, the only subjects a service user may subscribe to.
   */
  inboxPrefix?: string;
}

/** How long a wait that starts past its expiry reads the stream for a decision made in time. */
const CATCH_UP_MS = 2000;

export function createApprover(deps: ApprovalDeps): (req: ApprovalRequest, signal: AbortSignal) => Promise<ApprovalVerdict> {
  const { subjects } = deps.topology;
  return async (req, signal) => {
    const requestedAt = deps.now();
    const request: TaskApprovalRequested = {
      v: 1,
      taskId: req.taskId,
      tenant: req.tenant,
      model: req.model,
      output: req.output,
      costUsd: req.costUsd,
      requestedAt: requestedAt.toISOString(),
      expiresAt: new Date(requestedAt.getTime() + req.timeoutMs).toISOString(),
    };
    const ack = await publishMessage(deps.js, subjects, "task.approval.requested", request, `${req.taskId}:approval.requested`);
    let expiresAt = Date.parse(request.expiresAt);
    /** The answer the approver is shown, when it is not this delivery's. */
    let reviewed: { model: string; output: string } | undefined;
    if (ack.duplicate) {
      // Redelivered: the first request stands, and so do its expiry and its answer — a delivery
      // that ran the strategy again has another answer, but a grant approves the one it saw.
      const first = await (await deps.js.streams.get(ack.stream)).getMessage({ seq: ack.seq });
      const parsed = first ? TaskApprovalRequested.safeParse(first.json()) : undefined;
      if (!parsed?.success) throw new Error(`task ${req.taskId}: the approval request at ${ack.stream} #${ack.seq} cannot be read; its answer is unknown`);
      expiresAt = Date.parse(parsed.data.expiresAt);
      if (parsed.data.output !== req.output || parsed.data.model !== req.model) {
        reviewed = { model: parsed.data.model, output: parsed.data.output };
        deps.log.warn({ taskId: req.taskId, model: req.model, reviewedModel: reviewed.model }, "this delivery's answer differs from the one awaiting approval; a grant completes the task with the one the approver saw");
      }
    }
    deps.log.info({ taskId: req.taskId, model: req.model, expiresAt: new Date(expiresAt).toISOString() }, "waiting for approval");

    // An ordered push consumer: it sees only approval subjects and delivers into this
    // executor's inbox, so the executor user needs no right to pull from arbitrary consumers.
    const consumer = await deps.js.consumers.getPushConsumer(ack.stream, {
      filter_subjects: `${subjects.prefix}task.approval.>`,
      deliver_policy: DeliverPolicy.StartSequence,
      opt_start_seq: ack.seq,
      deliver_prefix: `${deps.inboxPrefix ?? "_INBOX"}.${randomUUID().replaceAll("-", "")}`,
    });
    const messages = await consumer.consume();
    const stop = (): void => void messages.stop();
    // Past the expiry already (a redelivery after it): a decision made in time may still sit in
    // the stream, so the decisions since the request are read for a moment before giving up.
    const timer = setTimeout(stop, Math.max(CATCH_UP_MS, expiresAt - deps.now().getTime()));
    signal.addEventListener("abort", stop, { once: true });
    // Aborted while the request was published or the consumer made: no event is coming.
    if (signal.aborted) stop();
    try {
      for await (const m of messages) {
        const granted = m.subject === subjects["task.approval.granted"];
        if (!granted && m.subject !== subjects["task.approval.denied"]) continue;
        let body: unknown;
        try {
          body = m.json();
        } catch {
          continue;
        }
        const decision = TaskApprovalDecision.safeParse(body);
        if (!decision.success) {
          deps.log.warn({ subject: m.subject, seq: m.seq }, "ignoring an invalid approval decision");
          continue;
        }
        if (decision.data.taskId !== req.taskId) continue;
        // Made after the expiry: too late, whoever reads it.
        if (m.info.timestampNanos / 1e6 > expiresAt) continue;
        deps.log.info({ taskId: req.taskId, granted, by: decision.data.by }, "approval decided");
        return { granted, by: decision.data.by, reason: decision.data.reason, ...(granted && reviewed ? { reviewed } : {}) };
      }
    } finally {
      clearTimeout(timer);
      signal.removeEventListener("abort", stop);
      stop();
    }
    // Shutdown: the task is redelivered and waits again (until the same expiry).
    if (signal.aborted) throw signal.reason;
    return { timedOut: true };
  };
}
