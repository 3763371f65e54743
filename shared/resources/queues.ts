/**
 * The export queue and its dead-letter queue, as both worlds create them: the CDK stack
 * (`infra/cdk/constructs/queues.ts`) and the embedded stack (`infra/embedded/embedded-resources.ts`)
 * build them from this description, and `test/infra/resource-model.test.ts` checks the two results
 * against each other.
 *
 * ```
 *   Export state ──SendMessage (dedup id per attempt)──▶ export.fifo ──▶ export worker / agent
 *                                                        │ received maxReceiveCount times
 *                                                        ▼
 *                                            export-dlq.fifo ──▶ dead-letter consumer (fails the task)
 * ```
 *
 * FIFO with one message group: exports run one at a time, in order. No content-based dedup:
 * the Export state sends its own MessageDeduplicationId (a hash of its task token), so a retried
 * attempt is a new message and a duplicate send of one attempt is not.
 */

/** Attributes the two FIFO queues share. */
interface FifoQueueModel {
  /** the queue name on the embedded stack (CloudFormation names them on AWS); FIFO names end in `.fifo` */
  name: string;
  fifo: true;
  contentBasedDeduplication: false;
  /** how long an unconsumed message is kept, in seconds */
  retentionSeconds: number;
}

const DAY = 86_400;

/** Receives of one export message before it moves to the dead-letter queue (a setting; at least 3). */
export const DEFAULT_EXPORT_MAX_RECEIVE_COUNT = 5;

/**
 * The export queue. Its visibility timeout is a property of the world, not of the queue: on AWS
 * the Lambda event source requires it above the worker's timeout
 * (`infra/cdk/constructs/queues.ts`), on the embedded stack it is the agent's lease
 * (EXPORT_VISIBILITY_SECONDS) — in both, the worker cuts it to its own lease on receipt.
 */
export const EXPORT_QUEUE = {
  name: 'reel-pipeline-export.fifo',
  fifo: true,
  contentBasedDeduplication: false,
  retentionSeconds: 4 * DAY,
} as const satisfies FifoQueueModel;

/**
 * The export dead-letter queue: kept longer than the export queue (AWS measures a dead letter's
 * age from its first enqueue), so what lands there outlives its source queue's retention.
 */
export const EXPORT_DEAD_LETTER_QUEUE = {
  name: 'reel-pipeline-export-dlq.fifo',
  fifo: true,
  contentBasedDeduplication: false,
  retentionSeconds: 14 * DAY,
} as const satisfies FifoQueueModel;

/**
 * AWS only: events that could not be delivered (the execution-status rule's target, async
 * invokes of the fail and inbox functions), kept this many days for an operator to replay.
 */
export const UNDELIVERED_EVENTS_RETENTION_DAYS = 14;

/**
 * A queue as SQS CreateQueue attributes (strings, as the API takes them).
 *
 * @example
 * createQueueAttributes(EXPORT_QUEUE, { visibilitySeconds: 60, deadLetterTargetArn, maxReceiveCount: 5 })
 */
export function createQueueAttributes(
  queue: FifoQueueModel,
  options: { visibilitySeconds?: number; deadLetterTargetArn?: string; maxReceiveCount?: number } = {},
): Record<string, string> {
  return {
    FifoQueue: String(queue.fifo),
    ContentBasedDeduplication: String(queue.contentBasedDeduplication),
    MessageRetentionPeriod: String(queue.retentionSeconds),
    ...(options.visibilitySeconds === undefined ? {} : { VisibilityTimeout: String(options.visibilitySeconds) }),
    ...(options.deadLetterTargetArn
      ? {
          RedrivePolicy: JSON.stringify({
            deadLetterTargetArn: options.deadLetterTargetArn,
            maxReceiveCount: options.maxReceiveCount ?? DEFAULT_EXPORT_MAX_RECEIVE_COUNT,
          }),
        }
      : {}),
  };
}

/**
 * The webhook delivery queue and its dead-letter queue: standard (no order between tasks, no
 * dedup — a receiver dedupes by `delivery_id`). A message is one POST; a failed POST queues the
 * next attempt with a DelaySeconds backoff. Only a message whose handler crashed (the attempt
 * not recorded, the retry not queued) is received again, and after
 * {@link WEBHOOK_MAX_RECEIVE_COUNT} such receives it moves to the dead-letter queue (alarmed).
 *
 * ```
 *   Finalize · fail · cancel ──SendMessage──▶ webhook ──▶ webhook function ──POST──▶ receiver
 *                                               ▲   │ crashed 5 times               │ 5xx / timeout
 *                                               │   ▼                               │
 *                                               │  webhook-dlq                      │
 *                                               └──SendMessage (DelaySeconds backoff)┘
 * ```
 */
export interface StandardQueueModel {
  name: string;
  fifo: false;
  retentionSeconds: number;
}

export const WEBHOOK_QUEUE = { name: 'reel-pipeline-webhook', fifo: false, retentionSeconds: 4 * DAY } as const satisfies StandardQueueModel;
export const WEBHOOK_DEAD_LETTER_QUEUE = { name: 'reel-pipeline-webhook-dlq', fifo: false, retentionSeconds: 14 * DAY } as const satisfies StandardQueueModel;
/** Receives of one webhook message (crashed handlers, not failed POSTs) before it is dead-lettered. */
export const WEBHOOK_MAX_RECEIVE_COUNT = 5;
/** Above the webhook function's timeout (30 s), as the Lambda event source requires. */
export const WEBHOOK_QUEUE_VISIBILITY_SECONDS = 60;
