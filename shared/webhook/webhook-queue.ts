import { SendMessageCommand } from '@aws-sdk/client-sqs';
import { isoNow } from '../clock.js';
import type { Logger } from '../logger.js';
import type { Runtime } from '../runtime.js';
import type { TaskError, TaskRecord } from '../task-record.js';
import { endedTaskEvent, type EndedTaskEvent, type TerminalStatus } from './webhook-event.js';

/** One message of the webhook queue: what to send where, and which attempt this is. */
export interface WebhookMessage {
  url: string;
  event: EndedTaskEvent;
  attempt: number;
}

/** SQS's longest per-message delay: the cap of the retry backoff. */
export const MAX_DELAY_SECONDS = 900;

/** Puts one delivery on the webhook queue, to be sent after `delaySeconds`. */
export async function sendWebhookMessage(rt: Runtime, message: WebhookMessage, delaySeconds = 0): Promise<void> {
  await rt.sqs.send(
    new SendMessageCommand({
      QueueUrl: rt.settings.webhookQueueUrl,
      MessageBody: JSON.stringify(message),
      DelaySeconds: Math.min(MAX_DELAY_SECONDS, Math.max(0, Math.round(delaySeconds))),
    }),
  );
}

/**
 * Called where a task ends (Finalize, the fail handler, cancel), after its terminal status is
 * written: queues its completion webhook when the task has a `webhook_url`. One SendMessage —
 * the POST itself, its retries and their waits happen in the webhook function, never on the
 * path that ended the task. A failure to queue is logged, never thrown: the task's ending stands.
 */
export async function enqueueCompletionWebhook(
  rt: Runtime,
  a: { task: TaskRecord; status: TerminalStatus; error?: TaskError; artifacts?: TaskRecord['artifacts'] },
  log: Logger,
): Promise<boolean> {
  const url = a.task.webhook_url;
  if (!url) return false;
  const task = a.artifacts ? { ...a.task, artifacts: a.artifacts } : a.task;
  const event = endedTaskEvent({ task, status: a.status, error: a.error, endedAt: isoNow(rt.clock) });
  if (!rt.settings.webhookQueueUrl) {
    log.error('completion webhook not queued: WEBHOOK_QUEUE_URL is not set', { delivery_id: event.delivery_id });
    return false;
  }
  try {
    await sendWebhookMessage(rt, { url, event, attempt: 1 });
    return true;
  } catch (error: unknown) {
    log.error('completion webhook could not be queued', { error, delivery_id: event.delivery_id });
    return false;
  }
}
