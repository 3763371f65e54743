/**
 * The embedded stack's table, bucket and queues, created from the resource model
 * (shared/resources/) exactly as the CDK stack declares them — `test/infra/resource-model.test.ts`
 * compares what these emulators report with the synthesized template. Each step keeps what an
 * earlier start left behind (`.data/` survives a restart).
 */
import { CreateTableCommand, DescribeTableCommand, ResourceNotFoundException, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { CreateBucketCommand, HeadBucketCommand, type S3Client } from '@aws-sdk/client-s3';
import { CreateQueueCommand, GetQueueAttributesCommand, type SQSClient } from '@aws-sdk/client-sqs';
import {
  DEFAULT_EXPORT_MAX_RECEIVE_COUNT,
  EXPORT_DEAD_LETTER_QUEUE,
  EXPORT_QUEUE,
  WEBHOOK_DEAD_LETTER_QUEUE,
  WEBHOOK_MAX_RECEIVE_COUNT,
  WEBHOOK_QUEUE,
  WEBHOOK_QUEUE_VISIBILITY_SECONDS,
  createQueueAttributes,
} from '../../shared/resources/queues.js';
import { createTableRequest } from '../../shared/resources/table.js';

/** Creates the table unless it exists (dynalite keeps it on disk between starts). */
export async function ensureTable(client: DynamoDBClient, tableName: string): Promise<void> {
  try {
    await client.send(new DescribeTableCommand({ TableName: tableName }));
    return;
  } catch (error: unknown) {
    if (!(error instanceof ResourceNotFoundException)) throw error;
  }
  await client.send(new CreateTableCommand(createTableRequest(tableName)));
}

/** Creates the artifact bucket unless it exists (s3rver keeps it on disk between starts). */
export async function ensureBucket(client: S3Client, bucketName: string): Promise<void> {
  try {
    await client.send(new HeadBucketCommand({ Bucket: bucketName }));
  } catch {
    await client.send(new CreateBucketCommand({ Bucket: bucketName }));
  }
}

/** The export queue and its dead-letter queue, by URL. */
export interface ExportQueues {
  exportQueueUrl: string;
  exportDlqUrl: string;
}

/**
 * Creates the FIFO export queue and its FIFO dead-letter queue. The queue's visibility is the
 * export agent's lease (EXPORT_VISIBILITY_SECONDS): on the embedded stack no event source
 * receives for the worker (see shared/resources/queues.ts).
 */
export async function createExportQueues(client: SQSClient, options: { visibilitySeconds: number; maxReceiveCount?: number }): Promise<ExportQueues> {
  const dlq = await client.send(
    new CreateQueueCommand({ QueueName: EXPORT_DEAD_LETTER_QUEUE.name, Attributes: createQueueAttributes(EXPORT_DEAD_LETTER_QUEUE) }),
  );
  const dlqArn = (await client.send(new GetQueueAttributesCommand({ QueueUrl: dlq.QueueUrl, AttributeNames: ['QueueArn'] }))).Attributes?.QueueArn;
  const queue = await client.send(
    new CreateQueueCommand({
      QueueName: EXPORT_QUEUE.name,
      Attributes: createQueueAttributes(EXPORT_QUEUE, {
        visibilitySeconds: options.visibilitySeconds,
        deadLetterTargetArn: dlqArn,
        maxReceiveCount: options.maxReceiveCount ?? DEFAULT_EXPORT_MAX_RECEIVE_COUNT,
      }),
    }),
  );
  return { exportQueueUrl: queue.QueueUrl ?? '', exportDlqUrl: dlq.QueueUrl ?? '' };
}

/** Creates the standard webhook queue and its dead-letter queue (shared/resources/queues.ts); answers the queue's URL. */
export async function createWebhookQueue(client: SQSClient): Promise<string> {
  const retention = (seconds: number) => ({ MessageRetentionPeriod: String(seconds) });
  const dlq = await client.send(
    new CreateQueueCommand({ QueueName: WEBHOOK_DEAD_LETTER_QUEUE.name, Attributes: retention(WEBHOOK_DEAD_LETTER_QUEUE.retentionSeconds) }),
  );
  const dlqArn = (await client.send(new GetQueueAttributesCommand({ QueueUrl: dlq.QueueUrl, AttributeNames: ['QueueArn'] }))).Attributes?.QueueArn;
  const queue = await client.send(
    new CreateQueueCommand({
      QueueName: WEBHOOK_QUEUE.name,
      Attributes: {
        ...retention(WEBHOOK_QUEUE.retentionSeconds),
        VisibilityTimeout: String(WEBHOOK_QUEUE_VISIBILITY_SECONDS),
        RedrivePolicy: JSON.stringify({ deadLetterTargetArn: dlqArn, maxReceiveCount: WEBHOOK_MAX_RECEIVE_COUNT }),
      },
    }),
  );
  return queue.QueueUrl ?? '';
}
