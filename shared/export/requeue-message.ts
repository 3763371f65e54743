import { createHash } from 'node:crypto';
import { DeleteMessageCommand, SendMessageCommand } from '@aws-sdk/client-sqs';
import type { Logger } from '../logger.js';
import type { Runtime } from '../runtime.js';
import { EXPORT_MESSAGE_GROUP } from '../state-machine.js';

/** An export message as the worker received it, with what a copy of it needs. */
export interface RequeuedMessage {
  messageId: string;
  body: string;
  receiptHandle: string;
  /** FIFO group of the original (the Export state uses one group for every task) */
  groupId?: string;
}

/**
 * Puts a copy of an export message at the back of its queue, then deletes the original.
 *
 * Why: SQS counts every receive toward the dead-letter queue's maxReceiveCount, and a Lambda
 * worker waiting out an exporter outage ends one invocation after another with the message in
 * hand. A copy starts at receive count 0, so an outage of any length (up to the Export state's
 * timeout) never dead-letters a task; only invocations that crash or time out on the message
 * itself count. The copy carries the same body and task token; its deduplication id derives
 * from the original's message id, so an SDK retry of the send makes no second copy. If the
 * delete fails after the send, the original comes back too: its redelivery finds the task
 * ended or the video stored and reports nothing twice.
 */
export async function requeueExportMessage(rt: Runtime, queueUrl: string, message: RequeuedMessage, log: Logger): Promise<void> {
  await rt.sqs.send(
    new SendMessageCommand({
      QueueUrl: queueUrl,
      MessageBody: message.body,
      MessageGroupId: message.groupId ?? EXPORT_MESSAGE_GROUP,
      MessageDeduplicationId: createHash('sha256').update(`requeue:${message.messageId}`).digest('hex'),
    }),
  );
  await rt.sqs
    .send(new DeleteMessageCommand({ QueueUrl: queueUrl, ReceiptHandle: message.receiptHandle }))
    .catch((error: unknown) => log.warn('could not delete a requeued export message; its copy is queued already', { error, message_id: message.messageId }));
}
