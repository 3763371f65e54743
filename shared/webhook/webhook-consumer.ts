import { DeleteMessageCommand } from '@aws-sdk/client-sqs';
import { createLogger } from '../logger.js';
import { pollQueue } from '../export/queue-poller.js';
import type { Runtime } from '../runtime.js';
import { deliverWebhookMessage, type DeliveryOutcome, type WebhookDeliveryDeps } from './webhook-delivery.js';

/**
 * Polls the webhook queue and delivers each message, as the Lambda event source does on AWS (the
 * embedded stack's webhook consumer). A message whose delivery threw is not deleted: it comes
 * back after the queue's visibility timeout.
 */
export async function runWebhookConsumer(
  rt: Runtime,
  a: { queueUrl: string; signal: AbortSignal; deps: WebhookDeliveryDeps; onOutcome?: (outcome: DeliveryOutcome) => void; waitTimeSeconds?: number },
): Promise<void> {
  await pollQueue({
    rt,
    receive: { QueueUrl: a.queueUrl, WaitTimeSeconds: a.waitTimeSeconds ?? 1 },
    signal: a.signal,
    log: createLogger({ stage: 'webhook' }),
    name: 'webhook consumer',
    handle: async (m) => {
      const outcome = await deliverWebhookMessage(rt, m.body, a.deps);
      await rt.sqs.send(new DeleteMessageCommand({ QueueUrl: a.queueUrl, ReceiptHandle: m.receiptHandle }));
      a.onOutcome?.(outcome);
    },
  });
}
