import { ChangeMessageVisibilityCommand } from '@aws-sdk/client-sqs';
import { errorName } from '../errors.js';
import type { Logger } from '../logger.js';
import type { Runtime } from '../runtime.js';

/** The worker could not keep its export message invisible: another worker may receive it soon. */
export class ExportLeaseLostError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ExportLeaseLostError';
  }
}

/** SQS answers meaning this receipt handle no longer holds the message: retrying cannot bring the lease back. */
const LEASE_GONE_ERRORS = ['ReceiptHandleIsInvalid', 'MessageNotInflight', 'InvalidReceiptHandle'];

export interface MessageLease {
  /** aborts (reason: {@link ExportLeaseLostError}) when the lease can no longer be kept */
  readonly lost: AbortSignal;
  /** successful renewals after the first cut */
  renewals(): number;
  /** stops renewing; the message keeps its current visibility */
  stop(): void;
}

export interface MessageLeaseOptions {
  rt: Runtime;
  queueUrl: string;
  receiptHandle: string;
  /** how long each cut or renewal keeps the message invisible (s) */
  leaseSeconds: number;
  log: Logger;
  sleep: (ms: number, signal?: AbortSignal) => Promise<void>;
}

/**
 * Holds an export message as a short lease: cuts its visibility to `leaseSeconds` at once (the
 * Lambda event source receives with the queue's long default, so a worker that dies before its
 * first renewal would otherwise hide the message for that long) and renews it every third of
 * the lease. When renewals keep failing it declares the lease lost while a third of it is still
 * left, so the caller can cancel its job before anyone else can receive the message:
 *
 * ```text
 *  cut        renew      renew      lapse
 *   |----P-----|----P-----|----P-----|        P = lease / 3
 *   ok         fails      fails → lost: cancel the job now, P before the message reappears
 * ```
 *
 * A renewal answered "not in flight / invalid handle" means the lease is already gone: lost at once.
 * Time is read from `rt.clock` and waited with `sleep`, so tests can drive both.
 */
export async function holdMessageLease(o: MessageLeaseOptions): Promise<MessageLease> {
  const leaseMs = o.leaseSeconds * 1000;
  const periodMs = leaseMs / 3;
  const lost = new AbortController();
  const stopped = new AbortController();
  // The receive itself made the message invisible for at least the lease (the agent asks for
  // exactly that, Lambda's event source uses the queue default, which is longer).
  let expiresAt = o.rt.clock.now() + leaseMs;
  let renewals = 0;

  const lose = (reason: string) => {
    if (lost.signal.aborted || stopped.signal.aborted) return;
    o.log.warn('export message lease lost: stopping the job before the message can reappear', { reason });
    lost.abort(new ExportLeaseLostError(reason));
  };

  /** One ChangeMessageVisibility, given at most one period; true when the lease was extended. */
  const extend = async (): Promise<boolean> => {
    const sentAt = o.rt.clock.now();
    if (sentAt >= expiresAt) {
      lose('the lease lapsed before it could be renewed');
      return false;
    }
    const timeout = new AbortController();
    const timer = setTimeout(() => timeout.abort(), periodMs);
    try {
      await o.rt.sqs.send(new ChangeMessageVisibilityCommand({ QueueUrl: o.queueUrl, ReceiptHandle: o.receiptHandle, VisibilityTimeout: o.leaseSeconds }), {
        abortSignal: timeout.signal,
      });
      expiresAt = sentAt + leaseMs;
      return true;
    } catch (error: unknown) {
      if (LEASE_GONE_ERRORS.includes(errorName(error))) {
        lose(`SQS no longer holds the message for this worker (${errorName(error)})`);
        return false;
      }
      const remainingMs = expiresAt - o.rt.clock.now();
      o.log.warn('could not extend export message visibility', { error, remaining_ms: remainingMs });
      // The next renewal would come with less than a period left: too late to stop the job safely.
      if (remainingMs <= periodMs) lose(`renewals failed and ${Math.max(0, Math.round(remainingMs))} ms of the lease are left (${errorName(error)})`);
      return false;
    } finally {
      clearTimeout(timer);
    }
  };

  await extend();
  void (async () => {
    while (!stopped.signal.aborted && !lost.signal.aborted) {
      await o.sleep(periodMs, stopped.signal);
      if (stopped.signal.aborted || lost.signal.aborted) break;
      if (await extend()) {
        renewals += 1;
        o.log.info('export message visibility extended', { extensions: renewals, visibility_seconds: o.leaseSeconds });
      }
    }
  })();

  return {
    lost: lost.signal,
    renewals: () => renewals,
    stop: () => stopped.abort(),
  };
}
