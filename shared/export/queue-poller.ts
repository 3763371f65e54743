import { ReceiveMessageCommand, type Message, type ReceiveMessageCommandInput } from '@aws-sdk/client-sqs';
import type { Logger } from '../logger.js';
import type { Runtime } from '../runtime.js';
import { sleep } from '../wait.js';

/** Pause after a failed receive or handler before the next receive. */
const ERROR_PAUSE_MS = 1000;

/** One received message, with the body and receipt handle SQS always sends for a received one. */
export interface PolledMessage {
  body: string;
  receiptHandle: string;
  attributes: Message['Attributes'];
}

export interface QueuePollOptions {
  rt: Runtime;
  /** the receive call (queue, long-poll wait, visibility, attributes); one message at a time */
  receive: Omit<ReceiveMessageCommandInput, 'MaxNumberOfMessages'>;
  signal: AbortSignal;
  log: Logger;
  /** names the loop in its error lines, e.g. `export agent` */
  name: string;
  handle: (message: PolledMessage) => Promise<void>;
  /** after a receive that returned no message */
  onEmpty?: () => Promise<void>;
}

/**
 * Long-polls one queue a message at a time and hands each to `handle`, until `signal` aborts.
 * A failing receive or handler is logged and the loop pauses a second before going on, so a
 * brief outage of the queue (or of what the handler calls) neither ends nor spins the loop; an
 * unhandled message reappears after its visibility timeout. The export agent and the embedded
 * stack's dead-letter consumer both run on it.
 */
export async function pollQueue(o: QueuePollOptions): Promise<void> {
  while (!o.signal.aborted) {
    try {
      const out = await o.rt.sqs.send(new ReceiveMessageCommand({ ...o.receive, MaxNumberOfMessages: 1 }), { abortSignal: o.signal });
      for (const m of out.Messages ?? []) {
        if (!m.Body || !m.ReceiptHandle) continue;
        await o.handle({ body: m.Body, receiptHandle: m.ReceiptHandle, attributes: m.Attributes });
      }
      if (!out.Messages?.length && o.onEmpty) await o.onEmpty();
    } catch (error: unknown) {
      if (o.signal.aborted) break;
      o.log.error(`${o.name} error; retrying in 1 s`, { error });
      await sleep(ERROR_PAUSE_MS, o.signal);
    }
  }
}
