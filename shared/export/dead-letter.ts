import { DeleteMessageCommand, ReceiveMessageCommand } from '@aws-sdk/client-sqs';
import { SendTaskFailureCommand } from '@aws-sdk/client-sfn';
import { errorName } from '../errors.js';
import { createLogger, taskLogFields } from '../logger.js';
import type { Runtime } from '../runtime.js';

/** The name the state machine's Catch records for an export message that kept failing. */
export const EXPORT_DEAD_LETTERED = 'ExportDeadLetteredError';

/**
 * Fails the task token of an export message that landed in the dead-letter queue (it was
 * received `receiveCount` times without being finished — a poison message), so its task ends
 * FAILED with the reason instead of waiting out the Export timeout. Exports of other tasks keep
 * flowing because the poison message has left the FIFO queue.
 */
export async function failDeadLetteredExport(rt: Runtime, body: string, receiveCount: string | undefined): Promise<'failed' | 'stale' | 'malformed'> {
  let message: { task_id?: string; creator_id?: string; video_id?: string; task_token?: string };
  try {
    message = JSON.parse(body) as typeof message;
  } catch {
    // Never the body: it carries the task token, which lets its reader finish the task.
    createLogger({ stage: 'export-dlq' }).error('malformed dead-lettered export message', { body_bytes: body.length });
    return 'malformed';
  }
  const log = createLogger(taskLogFields({ task_id: message.task_id ?? 'unknown', creator_id: message.creator_id, video_id: message.video_id }, 'export'));
  if (!message.task_token) return 'malformed';
  try {
    await rt.sfn.send(
      new SendTaskFailureCommand({
        taskToken: message.task_token,
        error: EXPORT_DEAD_LETTERED,
        cause: `The export message failed ${receiveCount ?? 'several'} times in a row (the worker crashed or timed out on it each time) and was moved to the dead-letter queue.`,
      }),
    );
    log.error('dead-lettered export message: task failed', { receive_count: receiveCount });
    return 'failed';
  } catch (error: unknown) {
    if (!['TaskTimedOut', 'InvalidToken', 'TaskDoesNotExist'].includes(errorName(error))) throw error;
    log.warn('dead-lettered export message of a task that already ended', { reason: errorName(error) });
    return 'stale';
  }
}

/** Polls the dead-letter queue and fails each message's task (the embedded stack's DLQ consumer). */
export async function runDeadLetterConsumer(rt: Runtime, queueUrl: string, signal: AbortSignal, waitTimeSeconds = 1): Promise<void> {
  const log = createLogger({ stage: 'export-dlq' });
  while (!signal.aborted) {
    try {
      const out = await rt.sqs.send(
        new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 1, WaitTimeSeconds: waitTimeSeconds, MessageSystemAttributeNames: ['ApproximateReceiveCount'] }),
        { abortSignal: signal },
      );
      for (const m of out.Messages ?? []) {
        if (!m.Body || !m.ReceiptHandle) continue;
        await failDeadLetteredExport(rt, m.Body, m.Attributes?.ApproximateReceiveCount);
        await rt.sqs.send(new DeleteMessageCommand({ QueueUrl: queueUrl, ReceiptHandle: m.ReceiptHandle }));
      }
    } catch (error: unknown) {
      if (signal.aborted) break;
      log.error('dead-letter consumer error; retrying in 1 s', { error });
      await new Promise((r) => setTimeout(r, 1000));
    }
  }
}
