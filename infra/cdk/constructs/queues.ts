/**
 * Queues: the FIFO export queue and its FIFO dead-letter queue, as the resource model describes
 * them (shared/resources/queues.ts) — the embedded stack creates the same two from the same
 * model — plus what only AWS has, the queue of events that could not be delivered.
 */
import { Duration } from 'aws-cdk-lib';
import * as destinations from 'aws-cdk-lib/aws-lambda-destinations';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import type { Construct } from 'constructs';
import {
  EXPORT_DEAD_LETTER_QUEUE,
  EXPORT_QUEUE,
  UNDELIVERED_EVENTS_RETENTION_DAYS,
  WEBHOOK_DEAD_LETTER_QUEUE,
  WEBHOOK_MAX_RECEIVE_COUNT,
  WEBHOOK_QUEUE,
  WEBHOOK_QUEUE_VISIBILITY_SECONDS,
} from '../../../shared/resources/queues.js';
import type { PipelineSettings } from '../pipeline-settings.js';
import { StackRoom } from '../stable-logical-ids.js';
import { acknowledge } from './nag-acknowledgements.js';

/** Lambda's hard limit, and so the longest export a Lambda worker can do in one invocation. */
export const LAMBDA_MAX_SECONDS = 900;
/**
 * The queue's own visibility: what a message gets from the event source's receive, before the
 * worker's first cut. Only a worker that never ran (an init error) leaves a message hidden this
 * long. AWS refuses an event source whose queue visibility is below the function's timeout.
 */
const EXPORT_QUEUE_VISIBILITY_SECONDS = LAMBDA_MAX_SECONDS + 30;

export class PipelineQueues extends StackRoom {
  readonly exportQueue: sqs.Queue;
  readonly exportDeadLetterQueue: sqs.Queue;
  /** events that could not be delivered: the execution-status rule's target, async invokes of fail and inbox */
  readonly undeliveredEventsQueue: sqs.Queue;
  /** the undelivered-events queue as the failure destination of an async invoke (fail, inbox) */
  readonly undeliveredEvents: destinations.SqsDestination;
  /** completion webhooks, one message per POST (standard: no order between tasks) */
  readonly webhookQueue: sqs.Queue;
  readonly webhookDeadLetterQueue: sqs.Queue;

  constructor(scope: Construct, id: string, settings: PipelineSettings) {
    super(scope, id);
    this.exportDeadLetterQueue = new sqs.Queue(this, 'ExportDeadLetterQueue', {
      fifo: EXPORT_DEAD_LETTER_QUEUE.fifo,
      contentBasedDeduplication: EXPORT_DEAD_LETTER_QUEUE.contentBasedDeduplication,
      retentionPeriod: Duration.seconds(EXPORT_DEAD_LETTER_QUEUE.retentionSeconds),
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
    });
    this.exportQueue = new sqs.Queue(this, 'ExportQueue', {
      fifo: EXPORT_QUEUE.fifo,
      // The Export state sends a per-attempt MessageDeduplicationId (a hash of its task token).
      contentBasedDeduplication: EXPORT_QUEUE.contentBasedDeduplication,
      // Just above the worker's timeout, not AWS's suggested 6x (a margin for retries of a
      // throttled invoke): the single message group means a message hidden by a worker that
      // died before its first cut blocks every export for this long.
      visibilityTimeout: Duration.seconds(EXPORT_QUEUE_VISIBILITY_SECONDS),
      retentionPeriod: Duration.seconds(EXPORT_QUEUE.retentionSeconds),
      deadLetterQueue: { queue: this.exportDeadLetterQueue, maxReceiveCount: settings.exportMaxReceiveCount },
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
    });
    this.undeliveredEventsQueue = new sqs.Queue(this, 'UndeliveredEventsQueue', {
      retentionPeriod: Duration.days(UNDELIVERED_EVENTS_RETENTION_DAYS),
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
    });
    this.undeliveredEvents = new destinations.SqsDestination(this.undeliveredEventsQueue);
    this.webhookDeadLetterQueue = new sqs.Queue(this, 'WebhookDeadLetterQueue', {
      retentionPeriod: Duration.seconds(WEBHOOK_DEAD_LETTER_QUEUE.retentionSeconds),
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
    });
    this.webhookQueue = new sqs.Queue(this, 'WebhookQueue', {
      visibilityTimeout: Duration.seconds(WEBHOOK_QUEUE_VISIBILITY_SECONDS),
      retentionPeriod: Duration.seconds(WEBHOOK_QUEUE.retentionSeconds),
      deadLetterQueue: { queue: this.webhookDeadLetterQueue, maxReceiveCount: WEBHOOK_MAX_RECEIVE_COUNT },
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
    });

    acknowledge(
      this.undeliveredEventsQueue,
      'AwsSolutions-SQS3',
      'This queue is itself a dead-letter destination (of the execution-status rule target and of the async invokes of the fail and inbox functions); it has an alarm and needs no DLQ of its own.',
    );
  }
}
