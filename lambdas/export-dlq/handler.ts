import type { SQSRecord, SQSRecordAttributes } from 'aws-lambda';
import { failDeadLetteredExport, type DeadLetterOptions } from '../../shared/export/dead-letter.js';
import type { Runtime } from '../../shared/runtime.js';

/** The fields of an `SQSRecord` (`@types/aws-lambda`) the consumer reads. */
export type DeadLetterSqsRecord = Pick<SQSRecord, 'body'> & { attributes?: Partial<Pick<SQSRecordAttributes, 'ApproximateReceiveCount'>> };

/**
 * The consumer of the export dead-letter queue: each message that landed there (received
 * maxReceiveCount times without the worker finishing) fails its task token with
 * `ExportDeadLetteredError` and a cause naming the receive count, so the task ends FAILED now
 * instead of waiting out the Export state's hours. A token that already timed out or is unknown
 * is fine (the task ended anyway). A failing SendTaskFailure is tried a bounded number of times
 * inside the invocation, then given up on (`unresolved`: logged with the task id, counted in an
 * alarmed metric); the invocation still succeeds, so the message leaves the FIFO dead-letter
 * queue instead of blocking the dead letters behind it until its retention ends.
 */
export function createExportDeadLetterHandler(rt: Runtime, options: DeadLetterOptions = {}) {
  return async (event: { Records: DeadLetterSqsRecord[] }): Promise<{ outcomes: string[] }> => {
    const outcomes: string[] = [];
    for (const record of event.Records ?? []) {
      outcomes.push(await failDeadLetteredExport(rt, record.body, record.attributes?.ApproximateReceiveCount, options));
    }
    return { outcomes };
  };
}
