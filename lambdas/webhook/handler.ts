import type { SQSBatchResponse, SQSRecord } from 'aws-lambda';
import { createLogger } from '../../shared/logger.js';
import type { Runtime } from '../../shared/runtime.js';
import { deliverWebhookMessage, type DeliveryOutcome, type WebhookDeliveryDeps } from '../../shared/webhook/webhook-delivery.js';

/** The fields of an `SQSRecord` (`@types/aws-lambda`) the webhook function reads. */
export type WebhookSqsRecord = Pick<SQSRecord, 'body' | 'messageId'>;

/**
 * The consumer of the webhook queue: one POST per message (shared/webhook/webhook-delivery.ts),
 * the messages of a batch in parallel (each POST is bounded by WEBHOOK_TIMEOUT_SECONDS, 10 s,
 * well inside the function's 30 s).
 * A message whose attempt could not be recorded or whose retry could not be queued is reported
 * as a batch item failure, so SQS delivers it again after its visibility timeout; the others
 * leave the queue.
 */
export function createWebhookHandler(rt: Runtime, deps: WebhookDeliveryDeps) {
  const log = createLogger({ stage: 'webhook' });
  return async (event: { Records: WebhookSqsRecord[] }): Promise<SQSBatchResponse & { outcomes: DeliveryOutcome[] }> => {
    // The batch's POSTs at once: one slow receiver must not push the others past the function's timeout.
    const results = await Promise.allSettled((event.Records ?? []).map((record) => deliverWebhookMessage(rt, record.body, deps)));
    const outcomes: DeliveryOutcome[] = [];
    const batchItemFailures: SQSBatchResponse['batchItemFailures'] = [];
    results.forEach((result, i) => {
      const messageId = event.Records[i].messageId;
      if (result.status === 'fulfilled') outcomes.push(result.value);
      else {
        log.error('webhook delivery could not be completed; the message comes back', { error: result.reason as unknown, message_id: messageId });
        batchItemFailures.push({ itemIdentifier: messageId });
      }
    });
    return { batchItemFailures, outcomes };
  };
}
