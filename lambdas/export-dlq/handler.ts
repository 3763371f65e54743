import { failDeadLetteredExport } from '../../shared/export/dead-letter.js';
import type { Runtime } from '../../shared/runtime.js';
import type { SqsEventLike } from '../export/handler.js';

/**
 * The consumer of the export dead-letter queue: each message that landed there (received
 * maxReceiveCount times without the worker finishing) fails its task token with
 * `ExportDeadLetteredError` and a cause naming the receive count, so the task ends FAILED now
 * instead of waiting out the Export state's hours. A token that already timed out or is unknown
 * is fine (the task ended anyway); any other error fails the invocation and the message stays
 * in the dead-letter queue for another try.
 */
export function createExportDeadLetterHandler(rt: Runtime) {
  return async (event: SqsEventLike): Promise<{ outcomes: string[] }> => {
    const outcomes: string[] = [];
    for (const record of event.Records ?? []) {
      outcomes.push(await failDeadLetteredExport(rt, record.body, record.attributes?.ApproximateReceiveCount));
    }
    return { outcomes };
  };
}
