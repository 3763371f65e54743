/**
 * The whole pipeline on AWS, as one stack of rooms (infra/cdk/constructs/), in the order a task
 * meets them:
 *
 * ```
 *   Storage        table + artifact bucket (+ access logs)        constructs/storage.ts
 *   Queues         export FIFO + FIFO DLQ, undelivered events      constructs/queues.ts
 *   Stages         Start … Finalize, fail, the DLQ consumer        constructs/stage-functions.ts
 *   Orchestration  state machine, its logs, the endings rule       constructs/state-machine.ts
 *   Entry          API and inbox functions, the S3 upload trigger  constructs/entry-functions.ts
 *   ExportWorker   Lambda worker, or the agent's policy            constructs/export-worker.ts
 *   Api            API Gateway, IAM (SigV4) on every method        constructs/api.ts
 *   Webhooks       completion webhooks: function, signing secret   constructs/webhooks.ts
 *   Observability  dashboard and alarms                            constructs/observability.ts
 * ```
 *
 * The same handlers and the same state-machine definition the embedded stack runs
 * (`infra/embedded/embedded-stack.ts`), the table and queues from the same resource model
 * (shared/resources/), plus what only AWS has: IAM, an EventBridge rule for endings Catch cannot
 * see, a dashboard and alarms. Rooms leave no trace in logical ids (stable-logical-ids.ts).
 */
import { Aws, CfnOutput, Stack, Tags, type CfnElement, type StackProps } from 'aws-cdk-lib';
import type * as apigw from 'aws-cdk-lib/aws-apigateway';
import type * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import type * as events from 'aws-cdk-lib/aws-events';
import type * as iam from 'aws-cdk-lib/aws-iam';
import type * as logs from 'aws-cdk-lib/aws-logs';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import type * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import type * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import type { Construct } from 'constructs';
import { PipelineApi } from './constructs/api.js';
import { EntryFunctions } from './constructs/entry-functions.js';
import { ExportWorker } from './constructs/export-worker.js';
import { PipelineGrants } from './constructs/grants.js';
import { acknowledgeFunctionFindings } from './constructs/nag-acknowledgements.js';
import { Observability, type PipelineAlarmName } from './constructs/observability.js';
import { PipelineQueues } from './constructs/queues.js';
import { StageFunctions } from './constructs/stage-functions.js';
import { PipelineStateMachine } from './constructs/state-machine.js';
import { PipelineStorage } from './constructs/storage.js';
import { WebhookDelivery } from './constructs/webhooks.js';
import type { PipelineFunction, PipelineFunctionName } from './pipeline-function.js';
import { resolvePipelineSettings, type PipelineSettings } from './pipeline-settings.js';
import { logicalIdWithoutRooms } from './stable-logical-ids.js';

export type { PipelineFunctionName } from './pipeline-function.js';

export interface PipelineStackProps extends StackProps, Partial<PipelineSettings> {}

export class PipelineStack extends Stack {
  readonly settings: PipelineSettings;
  readonly table: dynamodb.Table;
  readonly bucket: s3.Bucket;
  readonly accessLogsBucket: s3.Bucket;
  /** the artifact bucket's name as a string built from the stack (never a Ref: see the inbox trigger) */
  readonly artifactBucketName: string;
  readonly artifactBucketArn: string;
  readonly exportQueue: sqs.Queue;
  readonly exportDeadLetterQueue: sqs.Queue;
  /** events that could not be delivered: the execution-status rule's target, async invokes of fail and inbox */
  readonly undeliveredEventsQueue: sqs.Queue;
  readonly functions: Partial<Record<PipelineFunctionName, PipelineFunction>>;
  readonly stateMachine: sfn.StateMachine;
  readonly executionEndedRule: events.Rule;
  readonly api: apigw.RestApi;
  readonly geminiSecret?: secretsmanager.ISecret;
  /** `lambda` + `http`: the export service's bearer token, readable by the export worker only */
  readonly exportAuthSecret?: secretsmanager.ISecret;
  readonly exportAgentPolicy?: iam.ManagedPolicy;
  readonly webhookQueue: sqs.Queue;
  /** the completion webhooks' signing key (receivers verify X-Reel-Signature with it) */
  readonly webhookSecret: secretsmanager.ISecret;
  readonly dashboard: cloudwatch.Dashboard;
  readonly alarms: Record<PipelineAlarmName, cloudwatch.Alarm>;

  constructor(scope: Construct, id: string, props: PipelineStackProps = {}) {
    const {
      env,
      description,
      stackName,
      tags,
      synthesizer,
      terminationProtection,
      analyticsReporting,
      crossRegionReferences,
      permissionsBoundary,
      suppressTemplateIndentation,
      ...given
    } = props;
    super(scope, id, {
      env,
      stackName,
      tags,
      synthesizer,
      terminationProtection,
      analyticsReporting,
      crossRegionReferences,
      permissionsBoundary,
      suppressTemplateIndentation,
      description: description ?? 'reel-pipeline: source text -> story -> TTS -> draft -> exported mp4 (Step Functions, Lambda, SQS FIFO, DynamoDB, S3)',
    });
    // Server access logs are delivered under a bucket policy, not an ACL (the current CDK default).
    this.node.setContext('@aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy', true);
    const settings = resolvePipelineSettings(given);
    this.settings = settings;
    Tags.of(this).add('project', 'reel-pipeline');
    const logRetention = settings.logRetentionDays as logs.RetentionDays;

    const storage = new PipelineStorage(this, 'Storage', settings);
    const queues = new PipelineQueues(this, 'Queues', settings);
    const grants = new PipelineGrants(storage.table.tableArn, storage.artifactBucketArn);
    const stages = new StageFunctions(this, 'Stages', { settings, storage, queues, grants, logRetention });
    const orchestration = new PipelineStateMachine(this, 'Orchestration', { stages, queues, logRetention });
    const entry = new EntryFunctions(this, 'Entry', {
      storage,
      queues,
      orchestration,
      grants,
      logRetention,
      geminiSecretArn: stages.geminiSecret?.secretArn,
    });
    const exportWorker = new ExportWorker(this, 'ExportWorker', { settings, storage, queues, grants, logRetention });
    const api = new PipelineApi(this, 'Api', { settings, fn: entry.api, logRetention });
    const webhooks = new WebhookDelivery(this, 'Webhooks', {
      settings,
      storage,
      queues,
      grants,
      logRetention,
      // Where a task ends: Finalize, the fail handler, the API's cancel.
      senders: [stages.finalize, stages.fail, entry.api],
      submitters: [entry.api, entry.inbox],
    });

    this.table = storage.table;
    this.bucket = storage.bucket;
    this.accessLogsBucket = storage.accessLogsBucket;
    this.artifactBucketName = storage.artifactBucketName;
    this.artifactBucketArn = storage.artifactBucketArn;
    this.exportQueue = queues.exportQueue;
    this.exportDeadLetterQueue = queues.exportDeadLetterQueue;
    this.undeliveredEventsQueue = queues.undeliveredEventsQueue;
    this.geminiSecret = stages.geminiSecret;
    this.stateMachine = orchestration.stateMachine;
    this.executionEndedRule = orchestration.executionEndedRule;
    this.exportAuthSecret = exportWorker.exportAuthSecret;
    this.exportAgentPolicy = exportWorker.exportAgentPolicy;
    this.webhookQueue = queues.webhookQueue;
    this.webhookSecret = webhooks.secret;
    this.api = api.api;
    // The order the dashboard plots them in.
    this.functions = {
      start: stages.start,
      story: stages.story,
      tts: stages.tts,
      draft: stages.draft,
      finalize: stages.finalize,
      fail: stages.fail,
      exportDlq: stages.exportDlq,
      api: entry.api,
      inbox: entry.inbox,
      webhook: webhooks.fn,
      ...(exportWorker.worker ? { export: exportWorker.worker } : {}),
    };

    acknowledgeFunctionFindings({
      stack: this,
      settings,
      functions: this.functions,
      artifactBucketArn: storage.artifactBucketArn,
      executionArns: orchestration.executionArns,
    });

    const observability = new Observability(this, 'Observability', {
      settings,
      queues,
      stateMachine: orchestration.stateMachine,
      api: api.api,
      functions: this.functions,
    });
    this.dashboard = observability.dashboard;
    this.alarms = observability.alarms;

    new CfnOutput(this, 'ApiUrl', {
      value: this.api.urlForPath('/api/pipeline'),
      description: 'Base of the pipeline API (sign requests with SigV4, service execute-api)',
    });
    new CfnOutput(this, 'BucketName', {
      value: this.artifactBucketName,
      description: 'Artifact bucket: tasks/<task_id>/ (manifest.json names the video, final_video.mp4); drop request documents under inbox/',
    });
    new CfnOutput(this, 'TableName', { value: this.table.tableName });
    new CfnOutput(this, 'StateMachineArn', { value: this.stateMachine.stateMachineArn });
    new CfnOutput(this, 'ExportQueueUrl', { value: this.exportQueue.queueUrl, description: 'EXPORT_QUEUE_URL of the export worker or agent' });
    new CfnOutput(this, 'ExportDeadLetterQueueUrl', { value: this.exportDeadLetterQueue.queueUrl });
    new CfnOutput(this, 'DashboardUrl', {
      value: `https://${Aws.REGION}.console.aws.amazon.com/cloudwatch/home?region=${Aws.REGION}#dashboards:name=${this.dashboard.dashboardName}`,
    });
    new CfnOutput(this, 'WebhookSecretArn', {
      value: this.webhookSecret.secretArn,
      description: 'The key receivers verify X-Reel-Signature with (docs/webhooks.md); read it with get-secret-value',
    });
    if (this.geminiSecret) new CfnOutput(this, 'GeminiApiKeySecretArn', { value: this.geminiSecret.secretArn, description: 'Put the Gemini API key here' });
    if (this.exportAuthSecret) {
      new CfnOutput(this, 'ExportAuthSecretArn', {
        value: this.exportAuthSecret.secretArn,
        description: 'The bearer token the export service must require (Authorization: Bearer <value>); read it with get-secret-value',
      });
    }
  }

  /** The rooms are for readers: every logical id is the one the stack had before it had rooms. */
  protected override allocateLogicalId(element: CfnElement): string {
    return logicalIdWithoutRooms(this, element);
  }
}
