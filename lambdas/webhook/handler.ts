import type { SQSBatchResponse, SQSRecord } from 'aws-lambda';
import { createLogger } from '../../shared/logger.js';
import type { Runtime } from '../../shared/runtime.js';
import { deliverWebhookMessage, type DeliveryOutcome, type WebhookDeliveryDeps } from '../../shared/webhook/webhook-delivery.js';

/** The fields of an `SQSRecord` (`@types/aws-lambda`) the webhook function reads. */
export type WebhookSqsRecord = Pick<SQSRecord, 'body' | 'messageId'>;

/**
 * The consumer of the webhook queue: one POST per message (shared/webhook/webhook-delivery.ts).
 * A message whose attempt could not be recorded or whose retry could not be queued is reported
 * as a batch item failure, so SQS delivers it again after its visibility timeout; the others
 * leave the queue.
 */
export function createWebhookHandler(rt: Runtime, deps: WebhookDeliveryDeps) {
  const log = createLogger({ stage: 'webhook' });
  return async (event: { Records: WebhookSqsRecord[] }): Promise<SQSBatchResponse & { outcomes: DeliveryOutcome[] }> => {
    const outcomes: DeliveryOutcome[] = [];
    const batchItemFailures: SQSBatchResponse['batchItemFailures'] = [];
    for (const record of event.Records ?? []) {
      try {
        outcomes.push(await deliverWebhookMessage(rt, record.body, deps));
      } catch (error: unknown) {
        log.error('webhook delivery could not be completed; the message comes back', { error, message_id: record.messageId });
        batchItemFailures.push({ itemIdentifier: record.messageId });
      }
    }
    return { batchItemFailures, outcomes };
  };
}
