import { ChangeMessageVisibilityCommand } from '@aws-sdk/client-sqs';
import type { Context, SQSRecord, SQSRecordAttributes } from 'aws-lambda';
import { createLogger } from '../../shared/logger.js';
import { processExportMessage, type ExportOutcome, type ExportWorkerDeps } from '../../shared/export/export-worker.js';
import { requeueExportMessage } from '../../shared/export/requeue-message.js';

/**
 * The fields of an `SQSRecord` (`@types/aws-lambda`) the worker reads. Lambda hands it a whole
 * `SQSEvent`; the tests' event source and the dead-letter consumer hand in only these, so the
 * handler asks for no more than it uses while the names and types stay the standard ones.
 */
export type ExportSqsRecord = Pick<SQSRecord, 'messageId' | 'body' | 'receiptHandle'> & {
  attributes?: Partial<Pick<SQSRecordAttributes, 'ApproximateReceiveCount' | 'MessageGroupId'>>;
};
/** An `SQSEvent` as far as the worker reads it. */
export interface ExportSqsEvent {
  Records: ExportSqsRecord[];
}
/** The part of the Lambda `Context` the worker reads. */
export type ExportLambdaContext = Pick<Context, 'getRemainingTimeInMillis'>;

export interface ExportWorkerLambdaDeps extends ExportWorkerDeps {
  /** stop this long before Lambda's own deadline, so the job is abandoned cleanly (ms) */
  deadlineMarginMs: number;
  /** when an invocation gives a message back, it reappears after this (s) — not the queue's long default */
  retryDelaySeconds: number;
  /**
   * `true` (builtin, an in-process render): a message whose render outlives the invocation is
   * cancelled and given back, and counts toward the dead-letter queue. `false` (a remote
   * exporter): a message still waiting on the exporter when time runs out — down, busy, or its
   * job still running there — is requeued as a fresh copy, which does not count.
   */
  cancelAbandonedJobs: boolean;
}

/** What one record ended as: the worker's outcome, or `requeued` (waiting on the exporter, copied to the back of the queue). */
export type ExportWorkerLambdaOutcome = ExportOutcome | 'requeued';

/** An invocation gave its message back to the queue (time ran out, or it failed): SQS redelivers it. */
export class ExportMessageReturnedError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ExportMessageReturnedError';
  }
}

/**
 * The export worker on Lambda: an SQS event source with batch size 1 on the FIFO queue (one
 * message group, so one export at a time) runs {@link processExportMessage} for the message.
 *
 * The worker deletes or reports each message itself. When the invocation cannot finish — its
 * 15 minutes run out on an in-process render, or the worker throws — the message is given back:
 * its visibility is cut to `retryDelaySeconds` and the invocation fails, so SQS redelivers it
 * soon (and after maxReceiveCount receives moves it to the dead-letter queue, whose consumer
 * fails the task). Time spent waiting on a remote exporter is not a failure of the message: it
 * is requeued instead ({@link requeueExportMessage}). A lost lease fails the invocation without
 * touching the message (the worker already cancelled its job; the message reappears when its
 * lease lapses) — returning normally would let the event source delete it.
 */
export function createExportWorkerHandler(deps: ExportWorkerLambdaDeps) {
  const log = createLogger({ stage: 'export' });

  const giveBack = async (record: ExportSqsRecord) => {
    await deps.rt.sqs
      .send(new ChangeMessageVisibilityCommand({ QueueUrl: deps.queueUrl, ReceiptHandle: record.receiptHandle, VisibilityTimeout: deps.retryDelaySeconds }))
      .catch((error: unknown) => log.warn('could not shorten the visibility of a returned export message', { error, message_id: record.messageId }));
  };

  return async (event: ExportSqsEvent, context: ExportLambdaContext): Promise<{ outcomes: ExportWorkerLambdaOutcome[] }> => {
    const outcomes: ExportWorkerLambdaOutcome[] = [];
    for (const record of event.Records ?? []) {
      const deadline = new AbortController();
      const timer = setTimeout(() => deadline.abort(), Math.max(0, context.getRemainingTimeInMillis() - deps.deadlineMarginMs));
      let outcome: ExportOutcome;
      try {
        outcome = await processExportMessage(deps, { body: record.body, receiptHandle: record.receiptHandle }, deadline.signal);
      } catch (error: unknown) {
        await giveBack(record);
        throw new ExportMessageReturnedError(`The export worker failed on message ${record.messageId}; it is returned to the queue.`, { cause: error });
      } finally {
        clearTimeout(timer);
      }
      if (outcome === 'lease_lost') {
        // The worker already cancelled its job; the message reappears when its lease lapses.
        // Returning normally would let the event source delete it.
        throw new ExportMessageReturnedError(
          `The export worker lost the lease of message ${record.messageId}; its job was cancelled and the message returns to the queue when the lease lapses.`,
        );
      }
      if (outcome === 'abandoned' && !deps.cancelAbandonedJobs) {
        const taskId = taskIdOf(record.body);
        try {
          await requeueExportMessage(
            deps.rt,
            deps.queueUrl,
            { messageId: record.messageId, body: record.body, receiptHandle: record.receiptHandle, groupId: record.attributes?.MessageGroupId },
            log,
          );
          log.info('export still waiting on the exporter when this invocation ended; message requeued (not counted as a receive)', {
            task_id: taskId,
            receive_count: record.attributes?.ApproximateReceiveCount,
          });
          outcomes.push('requeued');
          continue;
        } catch (error: unknown) {
          log.warn('could not requeue a waiting export message; giving it back instead', { error, task_id: taskId });
        }
      }
      if (outcome === 'abandoned') {
        const taskId = taskIdOf(record.body);
        if (deps.cancelAbandonedJobs && taskId)
          await deps.exporter.cancel(taskId).catch((error: unknown) => log.warn('cancel of an abandoned job failed', { error, task_id: taskId }));
        await giveBack(record);
        log.warn('export did not finish within this invocation; message returned to the queue', {
          task_id: taskId,
          receive_count: record.attributes?.ApproximateReceiveCount,
        });
        throw new ExportMessageReturnedError(
          `The export of task ${taskId ?? '(unknown)'} did not finish within this invocation (Lambda allows 15 minutes); the message is returned to the queue.`,
        );
      }
      outcomes.push(outcome);
    }
    return { outcomes };
  };
}

function taskIdOf(body: string): string | undefined {
  try {
    const id = (JSON.parse(body) as { task_id?: unknown }).task_id;
    return typeof id === 'string' ? id : undefined;
  } catch {
    return undefined;
  }
}
