/**
 * Completion webhooks on AWS: the webhook function consumes the webhook queue (PipelineQueues)
 * and POSTs each signed delivery; the functions where a task ends (Finalize, fail, and the API's
 * cancel) only send one message there, so delivery never slows them. The signing key is a
 * generated Secrets Manager secret the webhook function alone reads.
 */
import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import type * as logs from 'aws-cdk-lib/aws-logs';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import type { Construct } from 'constructs';
import { PipelineFunction } from '../pipeline-function.js';
import type { PipelineSettings } from '../pipeline-settings.js';
import { StackRoom } from '../stable-logical-ids.js';
import type { PipelineGrants } from './grants.js';
import { acknowledge } from './nag-acknowledgements.js';
import type { PipelineQueues } from './queues.js';
import type { PipelineStorage } from './storage.js';

export interface WebhookDeliveryProps {
  settings: PipelineSettings;
  storage: PipelineStorage;
  queues: PipelineQueues;
  grants: PipelineGrants;
  logRetention: logs.RetentionDays;
  /** the functions where a task ends: each may queue a delivery */
  senders: PipelineFunction[];
  /** the functions that accept submissions: they check `webhook_url` against the allowed hosts */
  submitters: PipelineFunction[];
}

export class WebhookDelivery extends StackRoom {
  readonly fn: PipelineFunction;
  readonly secret: secretsmanager.Secret;

  constructor(scope: Construct, id: string, props: WebhookDeliveryProps) {
    super(scope, id);
    const { settings, storage, queues, grants } = props;
    this.secret = new secretsmanager.Secret(this, 'WebhookSecret', {
      description: 'Signing key of the reel-pipeline completion webhooks (X-Reel-Signature: sha256=HMAC-SHA256(key, body)); give it to the receivers.',
      generateSecretString: { passwordLength: 48, excludePunctuation: true, includeSpace: false },
      removalPolicy: RemovalPolicy.DESTROY,
    });
    acknowledge(
      this.secret,
      'AwsSolutions-SMG4',
      'Every receiver checks signatures with this key on its own host; a rotation function could not update it there. Rotate by hand: put-secret-value, update the receivers; the function reads it at each cold start.',
    );
    const queueUrl = queues.webhookQueue.queueUrl;
    this.fn = new PipelineFunction(this, 'WebhookFunction', {
      entry: 'lambdas/webhook/index.ts',
      description: 'Completion webhooks: POSTs each signed delivery to its checked address, records the attempt, queues the retry',
      memorySize: 256,
      timeout: Duration.seconds(30),
      architecture: lambda.Architecture.ARM_64,
      environment: {
        TABLE_NAME: storage.table.tableName,
        WEBHOOK_QUEUE_URL: queueUrl,
        WEBHOOK_SECRET_ARN: this.secret.secretArn,
        WEBHOOK_ALLOWED_HOSTS: settings.webhookAllowedHosts,
      },
      logRetention: props.logRetention,
    });
    this.fn.fn.addEventSource(new SqsEventSource(queues.webhookQueue, { batchSize: 10, reportBatchItemFailures: true }));
    grants.allowItems(this.fn, { TASK: ['UpdateItem'] });
    // Retries are new messages with a delay.
    queues.webhookQueue.grantSendMessages(this.fn.role);
    this.fn.role.addToPolicy(new iam.PolicyStatement({ actions: ['secretsmanager:GetSecretValue'], resources: [this.secret.secretArn] }));

    for (const sender of props.senders) {
      queues.webhookQueue.grantSendMessages(sender.role);
      sender.fn.addEnvironment('WEBHOOK_QUEUE_URL', queueUrl);
    }
    for (const submitter of props.submitters) {
      submitter.fn.addEnvironment('WEBHOOK_ALLOWED_HOSTS', settings.webhookAllowedHosts);
      if (settings.webhookUrl) submitter.fn.addEnvironment('WEBHOOK_URL', settings.webhookUrl);
    }
  }
}
