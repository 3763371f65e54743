import { DeleteMessageCommand, ReceiveMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import type { ExportLambdaContext, ExportSqsEvent, ExportSqsRecord } from '../../lambdas/export/handler.js';

/** One invocation as the event source saw it. */
export interface Invocation {
  record: ExportSqsRecord;
  /** when the event source received the message (ms since the epoch) */
  receivedAt: number;
  result?: unknown;
  error?: unknown;
}

/**
 * What Lambda's SQS event source does for a FIFO queue with batch size 1, for tests of the
 * Lambda export worker on the embedded stack: receive with the queue's own visibility (no
 * VisibilityTimeout of its own) and the receive count, invoke the handler with a context whose
 * remaining time counts down from `functionTimeoutSeconds`, delete the message when the
 * invocation succeeds, leave it when it fails. One invocation at a time (one message group).
 */
export async function runSqsEventSource(o: {
  sqs: SQSClient;
  queueUrl: string;
  invoke: (event: ExportSqsEvent, context: ExportLambdaContext) => Promise<unknown>;
  functionTimeoutSeconds: number;
  signal: AbortSignal;
  onInvocation?: (invocation: Invocation) => void;
}): Promise<void> {
  while (!o.signal.aborted) {
    let messages;
    try {
      const out = await o.sqs.send(
        new ReceiveMessageCommand({
          QueueUrl: o.queueUrl,
          MaxNumberOfMessages: 1,
          WaitTimeSeconds: 1,
          MessageSystemAttributeNames: ['ApproximateReceiveCount', 'MessageGroupId'],
        }),
        { abortSignal: o.signal },
      );
      messages = out.Messages ?? [];
    } catch (error: unknown) {
      if (o.signal.aborted) return;
      throw error;
    }
    const receivedAt = Date.now();
    for (const m of messages) {
      const record: ExportSqsRecord = {
        messageId: m.MessageId ?? '',
        body: m.Body ?? '',
        receiptHandle: m.ReceiptHandle ?? '',
        attributes: { ApproximateReceiveCount: m.Attributes?.ApproximateReceiveCount, MessageGroupId: m.Attributes?.MessageGroupId },
      };
      const deadline = Date.now() + o.functionTimeoutSeconds * 1000;
      try {
        const result = await o.invoke({ Records: [record] }, { getRemainingTimeInMillis: () => deadline - Date.now() });
        await o.sqs.send(new DeleteMessageCommand({ QueueUrl: o.queueUrl, ReceiptHandle: record.receiptHandle })).catch(() => undefined);
        o.onInvocation?.({ record, receivedAt, result });
      } catch (error: unknown) {
        o.onInvocation?.({ record, receivedAt, error });
      }
    }
  }
}
