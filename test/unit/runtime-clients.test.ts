import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { DescribeExecutionCommand } from '@aws-sdk/client-sfn';
import { GetQueueAttributesCommand } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Runtime } from '../../shared/runtime.js';
import { notFoundRuntime } from '../support/not-found-runtime.js';
import { dropCachedMiddleware } from '../support/aws-call-recorder.js';

/**
 * The runtime's SDK clients build each command's middleware chain once (`cacheMiddleware`), not
 * at every send. The price: middleware added to a client afterwards (the tests' call recorder,
 * the benchmark's request counter) is skipped until the cache is dropped, which both do.
 */
let rt: Runtime;
let closeServer: () => Promise<void>;

beforeAll(async () => {
  ({ rt, close: closeServer } = await notFoundRuntime({ tableName: 'table', bucketName: 'bucket' }));
});
afterAll(async () => {
  await closeServer();
});

/** Adds a middleware that counts the sends it sees. */
function countSends(client: { middlewareStack: { add: (mw: unknown, options: Record<string, unknown>) => void } }, name: string) {
  const seen = { count: 0 };
  client.middlewareStack.add(
    (next: (args: unknown) => Promise<unknown>) => (args: unknown) => {
      seen.count += 1;
      return next(args);
    },
    { step: 'initialize', name },
  );
  return seen;
}

describe("the runtime's SDK clients", () => {
  it.each([
    ['S3', () => rt.s3, () => rt.s3.send(new PutObjectCommand({ Bucket: 'bucket', Key: 'tasks/a/source.txt', Body: 'text' }))],
    ['Step Functions', () => rt.sfn, () => rt.sfn.send(new DescribeExecutionCommand({ executionArn: 'arn:aws:states:us-east-1:1:execution:m:a' }))],
    ['SQS', () => rt.sqs, () => rt.sqs.send(new GetQueueAttributesCommand({ QueueUrl: 'http://127.0.0.1/1/q' }))],
  ] as const)('%s: reuses the middleware chain of a command once built, until the cache is dropped', async (name, clientOf, send) => {
    const client = clientOf();
    await send().catch(() => undefined);
    const later = countSends(client as never, `later-${name}`);
    await send().catch(() => undefined);
    // Cached: the chain built at the first send does not have the middleware added since.
    expect(later.count).toBe(0);
    dropCachedMiddleware(client);
    await send().catch(() => undefined);
    await send().catch(() => undefined);
    expect(later.count).toBe(2);
  });

  it('DynamoDB (document client): builds the chain at every send (the document client refuses the cache)', async () => {
    const get = () => rt.ddb.send(new GetCommand({ TableName: 'table', Key: { pk: 'TASK#a' } })).catch(() => undefined);
    await get();
    const later = countSends(rt.ddb as never, 'later-ddb');
    await get();
    expect(later.count).toBe(1);
  });
});
