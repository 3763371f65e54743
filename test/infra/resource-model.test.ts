import { DescribeTableCommand, DynamoDBClient, type TableDescription } from '@aws-sdk/client-dynamodb';
import { GetQueueAttributesCommand } from '@aws-sdk/client-sqs';
import { WEBHOOK_DEAD_LETTER_QUEUE } from '../../shared/resources/queues.js';
import { App, type CfnElement } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import type { Construct } from 'constructs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PipelineStack } from '../../infra/cdk/pipeline-stack.js';
import type { CfnTemplate } from '../../infra/cdk/template-inspection.js';
import { TTL_ATTRIBUTE } from '../../shared/resources/table.js';
import { startTestStack, type TestStack } from '../support/stack.js';

/**
 * Both worlds build the table and the export queues from one resource model (shared/resources/).
 * This file checks the results against each other — what the emulators of a started embedded
 * stack report (DescribeTable, GetQueueAttributes) and what the synthesized template declares —
 * so a change made on one side only fails here.
 */
let embedded: TestStack;
let cdk: PipelineStack;
let template: CfnTemplate;
const logicalId = (c: Construct) => cdk.getLogicalId(c.node.defaultChild as CfnElement);
const propsOf = (c: Construct) => template.Resources[logicalId(c)].Properties as Record<string, any>;

beforeAll(async () => {
  embedded = await startTestStack({ exportWorker: false });
  const app = new App({ context: { 'aws:cdk:bundling-stacks': [] }, builtinCloudFormationValidation: false, treeMetadata: false });
  cdk = new PipelineStack(app, 'ReelPipeline');
  template = Template.fromStack(cdk).toJSON() as CfnTemplate;
}, 120_000);

afterAll(async () => {
  await embedded?.close();
});

type KeyElement = { AttributeName?: string; KeyType?: string };
type Index = { IndexName?: string; KeySchema?: KeyElement[]; Projection?: { ProjectionType?: string } };

/** A table as the fields both worlds must agree on, in one comparable shape. */
function tableShape(t: {
  KeySchema?: KeyElement[];
  AttributeDefinitions?: Array<{ AttributeName?: string; AttributeType?: string }>;
  GlobalSecondaryIndexes?: Index[];
  BillingMode?: string;
}) {
  const keys = (k: KeyElement[] = []) => k.map((e) => `${e.AttributeName}:${e.KeyType}`);
  return {
    keySchema: keys(t.KeySchema),
    attributes: (t.AttributeDefinitions ?? []).map((a) => `${a.AttributeName}:${a.AttributeType}`).sort(),
    indexes: (t.GlobalSecondaryIndexes ?? [])
      .map((i) => ({ name: i.IndexName, keySchema: keys(i.KeySchema), projection: i.Projection?.ProjectionType }))
      .sort((a, b) => String(a.name).localeCompare(String(b.name))),
    billingMode: t.BillingMode,
  };
}

/** A queue as the fields both worlds must agree on; the dead-letter target named by role. */
interface QueueShape {
  fifo: boolean;
  contentBasedDeduplication: boolean;
  retentionSeconds: number;
  redrive?: { deadLetterTarget: string; maxReceiveCount: number };
}

describe('the resource model', () => {
  it('gives the embedded table the key schema, attributes, indexes and billing mode of the synthesized table', async () => {
    // prepare
    const client = new DynamoDBClient({
      region: embedded.env.AWS_REGION,
      endpoint: embedded.env.AWS_ENDPOINT_URL_DYNAMODB,
      credentials: { accessKeyId: 'x', secretAccessKey: 'x' },
    });

    // act
    const described = (await client.send(new DescribeTableCommand({ TableName: embedded.env.TABLE_NAME }))).Table as TableDescription;
    const declared = propsOf(cdk.table);

    // assess
    const fromEmulator = tableShape({ ...described, BillingMode: described.BillingModeSummary?.BillingMode });
    expect(fromEmulator).toEqual(tableShape(declared));
    expect(fromEmulator.indexes).toHaveLength(2);
    // dynalite has no TTL (conditions compare the attribute themselves); AWS expires by the model's attribute.
    expect(declared.TimeToLiveSpecification).toEqual({ AttributeName: TTL_ATTRIBUTE, Enabled: true });
  });

  it('gives the embedded export queue and dead-letter queue the FIFO, dedup, retention and redrive of the synthesized ones', async () => {
    // prepare
    const attributesOf = async (queueUrl: string) =>
      (await embedded.runtime.sqs.send(new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ['All'] }))).Attributes ?? {};
    const queueAttrs = await attributesOf(embedded.exportQueueUrl);
    const dlqAttrs = await attributesOf(embedded.exportDlqUrl);
    const fromEmulator = (a: Record<string, string>): QueueShape => {
      const redrive = a.RedrivePolicy ? (JSON.parse(a.RedrivePolicy) as { deadLetterTargetArn: string; maxReceiveCount: number | string }) : undefined;
      return {
        fifo: a.FifoQueue === 'true',
        contentBasedDeduplication: a.ContentBasedDeduplication === 'true',
        retentionSeconds: Number(a.MessageRetentionPeriod),
        ...(redrive
          ? {
              redrive: {
                deadLetterTarget: redrive.deadLetterTargetArn === dlqAttrs.QueueArn ? 'export-dlq' : redrive.deadLetterTargetArn,
                maxReceiveCount: Number(redrive.maxReceiveCount),
              },
            }
          : {}),
      };
    };
    const fromTemplate = (p: Record<string, any>): QueueShape => ({
      fifo: p.FifoQueue === true,
      contentBasedDeduplication: p.ContentBasedDeduplication === true,
      retentionSeconds: Number(p.MessageRetentionPeriod),
      ...(p.RedrivePolicy
        ? {
            redrive: {
              deadLetterTarget:
                p.RedrivePolicy.deadLetterTargetArn['Fn::GetAtt']?.[0] === logicalId(cdk.exportDeadLetterQueue)
                  ? 'export-dlq'
                  : JSON.stringify(p.RedrivePolicy.deadLetterTargetArn),
              maxReceiveCount: Number(p.RedrivePolicy.maxReceiveCount),
            },
          }
        : {}),
    });

    // act
    const embeddedQueues = { exportQueue: fromEmulator(queueAttrs), deadLetterQueue: fromEmulator(dlqAttrs) };
    const synthesizedQueues = { exportQueue: fromTemplate(propsOf(cdk.exportQueue)), deadLetterQueue: fromTemplate(propsOf(cdk.exportDeadLetterQueue)) };

    // assess
    expect(embeddedQueues).toEqual(synthesizedQueues);
    expect(embeddedQueues.exportQueue).toMatchObject({
      fifo: true,
      contentBasedDeduplication: false,
      redrive: { deadLetterTarget: 'export-dlq', maxReceiveCount: 5 },
    });
    expect(embeddedQueues.deadLetterQueue.retentionSeconds).toBeGreaterThan(embeddedQueues.exportQueue.retentionSeconds);
    // Visibility is the world's, not the queue's: locally the agent's lease, on AWS above the worker's timeout.
    expect(queueAttrs.VisibilityTimeout).toBe(embedded.env.EXPORT_VISIBILITY_SECONDS);
  });

  it('gives the embedded webhook queue the standard kind, retention, visibility and redrive of the synthesized one', async () => {
    // prepare
    const attrs =
      (await embedded.runtime.sqs.send(new GetQueueAttributesCommand({ QueueUrl: embedded.webhookQueueUrl, AttributeNames: ['All'] }))).Attributes ?? {};
    const declared = propsOf(cdk.webhookQueue);
    const dlqDeclared = propsOf(cdk.webhookQueue.deadLetterQueue!.queue);
    const dlqUrl = embedded.webhookQueueUrl.replace(/[^/]+$/, WEBHOOK_DEAD_LETTER_QUEUE.name);
    const dlqAttrs = (await embedded.runtime.sqs.send(new GetQueueAttributesCommand({ QueueUrl: dlqUrl, AttributeNames: ['All'] }))).Attributes ?? {};
    const redrive = JSON.parse(attrs.RedrivePolicy ?? '{}') as { deadLetterTargetArn?: string; maxReceiveCount?: number | string };

    // act
    const fromEmulator = {
      fifo: attrs.FifoQueue === 'true',
      retentionSeconds: Number(attrs.MessageRetentionPeriod),
      visibilitySeconds: Number(attrs.VisibilityTimeout),
      maxReceiveCount: Number(redrive.maxReceiveCount),
      deadLetterRetentionSeconds: Number(dlqAttrs.MessageRetentionPeriod),
    };
    const fromTemplate = {
      fifo: declared.FifoQueue === true,
      retentionSeconds: Number(declared.MessageRetentionPeriod),
      visibilitySeconds: Number(declared.VisibilityTimeout),
      maxReceiveCount: Number(declared.RedrivePolicy.maxReceiveCount),
      deadLetterRetentionSeconds: Number(dlqDeclared.MessageRetentionPeriod),
    };

    // assess
    expect(fromEmulator).toEqual(fromTemplate);
    expect(redrive.deadLetterTargetArn).toBe(dlqAttrs.QueueArn);
    expect(fromEmulator.fifo).toBe(false);
  });
});
