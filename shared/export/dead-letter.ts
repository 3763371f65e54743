import { DeleteMessageCommand } from '@aws-sdk/client-sqs';
import { SendTaskFailureCommand } from '@aws-sdk/client-sfn';
import { errorName, isStaleTaskTokenError } from '../errors.js';
import { createLogger, taskLogFields } from '../logger.js';
import { emitMetric } from '../metrics.js';
import type { Runtime } from '../runtime.js';
import { sleep as realSleep } from '../wait.js';
import { pollQueue } from './queue-poller.js';

/** The name the state machine's Catch records for an export message that kept failing. */
export const EXPORT_DEAD_LETTERED = 'ExportDeadLetteredError';

/** Tries of SendTaskFailure for one dead letter before the consumer gives up on it. */
export const DEAD_LETTER_ATTEMPTS = 5;
/** Wait before the second try; doubled before each later one (1 + 2 + 4 + 8 s fits a 30 s function). */
const FIRST_RETRY_DELAY_MS = 1000;

export type DeadLetterOutcome = 'failed' | 'stale' | 'malformed' | 'unresolved';

export interface DeadLetterOptions {
  /** waits between tries; injectable so tests need no real time */
  sleep?: (ms: number) => Promise<void>;
}

/** Whether another SendTaskFailure may pass where this one failed. */
export function isRetryableDeadLetterError(error: unknown): boolean {
  const name = errorName(error);
  // Throttled (Step Functions or the KMS key behind the state machine): passes with time.
  if (['ThrottlingException', 'KmsThrottlingException', 'TooManyRequestsException'].includes(name)) return true;
  const metadata: unknown = error instanceof Error ? Reflect.get(error, '$metadata') : undefined;
  const status = typeof metadata === 'object' && metadata !== null ? (metadata as { httpStatusCode?: unknown }).httpStatusCode : undefined;
  // No answer at all (connection refused, reset, timed out): the service may be back soon.
  if (typeof status !== 'number') return true;
  // A 5xx is the service's own passing fault; a 4xx (access denied, KMS access, a bad request)
  // gives the same answer every time.
  return status >= 500;
}

/**
 * Fails the task token of an export message that landed in the dead-letter queue (it was
 * received `receiveCount` times without being finished — a poison message), so its task ends
 * FAILED with the reason instead of waiting out the Export timeout. Exports of other tasks keep
 * flowing because the poison message has left the FIFO queue.
 *
 * Bounded: a passing fault is tried again up to {@link DEAD_LETTER_ATTEMPTS} times with backoff;
 * then, or at once for a fault that will not pass, the consumer gives up — `unresolved`: an
 * error log line with the task id, the `DeadLettersUnresolved` metric (alarmed), and the message
 * is let go (its task still ends at the Export state's timeout). Never retried for ever: the
 * dead-letter queue is FIFO, so one message that keeps failing would hold back every dead
 * letter behind it.
 */
export async function failDeadLetteredExport(
  rt: Runtime,
  body: string,
  receiveCount: string | undefined,
  options: DeadLetterOptions = {},
): Promise<DeadLetterOutcome> {
  const sleep = options.sleep ?? realSleep;
  let message: { task_id?: string; creator_id?: string; video_id?: string; task_token?: string };
  try {
    message = JSON.parse(body) as typeof message;
  } catch {
    // Never the body: it carries the task token, which lets its reader finish the task.
    createLogger({ stage: 'export-dlq' }).error('malformed dead-lettered export message', { body_bytes: body.length });
    return 'malformed';
  }
  const fields = { task_id: message.task_id ?? 'unknown', creator_id: message.creator_id, video_id: message.video_id };
  const log = createLogger(taskLogFields(fields, 'export'));
  if (!message.task_token) return 'malformed';
  for (let attempt = 1; ; attempt += 1) {
    try {
      await rt.sfn.send(
        new SendTaskFailureCommand({
          taskToken: message.task_token,
          error: EXPORT_DEAD_LETTERED,
          cause: `The export message failed ${receiveCount ?? 'several'} times in a row (the worker crashed or timed out on it each time) and was moved to the dead-letter queue.`,
        }),
      );
      log.error('dead-lettered export message: task failed', { receive_count: receiveCount, attempts: attempt });
      return 'failed';
    } catch (error: unknown) {
      if (isStaleTaskTokenError(error)) {
        log.warn('dead-lettered export message of a task that already ended', { reason: errorName(error) });
        return 'stale';
      }
      if (attempt < DEAD_LETTER_ATTEMPTS && isRetryableDeadLetterError(error)) {
        log.warn('could not fail the task of a dead-lettered export message; trying again', { attempt, reason: errorName(error) });
        await sleep(FIRST_RETRY_DELAY_MS * 2 ** (attempt - 1));
        continue;
      }
      log.error('gave up failing the task of a dead-lettered export message; the message is let go and the task ends at its Export timeout', {
        attempts: attempt,
        receive_count: receiveCount,
        // The name only: a service message may quote the request, and the token is a secret.
        reason: errorName(error),
      });
      emitMetric('DeadLettersUnresolved', 1, 'Count', {}, fields);
      return 'unresolved';
    }
  }
}

/** Polls the dead-letter queue and fails each message's task (the embedded stack's DLQ consumer). */
export async function runDeadLetterConsumer(rt: Runtime, queueUrl: string, signal: AbortSignal, waitTimeSeconds = 1): Promise<void> {
  await pollQueue({
    rt,
    receive: { QueueUrl: queueUrl, WaitTimeSeconds: waitTimeSeconds, MessageSystemAttributeNames: ['ApproximateReceiveCount'] },
    signal,
    log: createLogger({ stage: 'export-dlq' }),
    name: 'dead-letter consumer',
    handle: async (m) => {
      await failDeadLetteredExport(rt, m.body, m.attributes?.ApproximateReceiveCount);
      await rt.sqs.send(new DeleteMessageCommand({ QueueUrl: queueUrl, ReceiptHandle: m.receiptHandle }));
    },
  });
}
