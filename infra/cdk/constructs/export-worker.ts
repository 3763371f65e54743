/**
 * The export worker: who consumes the export queue, by `exportWorker` —
 *
 * - `lambda`: a Lambda on the queue (one message at a time) that renders in-process with the
 *   bundled ffmpeg (`exporter: builtin`) or drives the export service at `exportVideoUrl`
 *   (`exporter: http`, with a bearer token in Secrets Manager);
 * - `agent`: no function; a managed policy (and the settings, as outputs) for the export agent
 *   that runs next to the exporter (`npm run export-agent`).
 */
import { Aws, CfnOutput, Duration, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import type * as logs from 'aws-cdk-lib/aws-logs';
import type * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import type { Construct } from 'constructs';
import { PREFIX } from '../../../shared/resources/storage.js';
import { ALL_TASKS_INDEX } from '../../../shared/resources/table.js';
import { PipelineFunction, type BundledFiles } from '../pipeline-function.js';
import type { PipelineSettings } from '../pipeline-settings.js';
import { StackRoom } from '../stable-logical-ids.js';
import type { PipelineGrants } from './grants.js';
import { SEND_TASK_REASON, TASK_OBJECTS_REASON, acknowledge, nagArn } from './nag-acknowledgements.js';
import { LAMBDA_MAX_SECONDS, type PipelineQueues } from './queues.js';
import { exportAuthSecret } from './secrets.js';
import type { PipelineStorage } from './storage.js';

/** The Lambda worker's lease on a message: cut to this on receipt, renewed every third while it works. */
const LAMBDA_WORKER_VISIBILITY_SECONDS = 60;

/**
 * The static ffmpeg and ffprobe (linux x64) and the two Noto Sans SC weights the renderer uses,
 * as the packages the renderer resolves them from (`createRequire`), so the bundled code finds
 * them exactly as it does in the repository.
 */
export const BUILTIN_RENDERER_FILES: BundledFiles[] = [
  { from: 'node_modules/@ffmpeg-installer/ffmpeg', files: ['package.json', 'index.js', 'lib/verify-file.js'] },
  { from: 'node_modules/@ffmpeg-installer/linux-x64', files: ['package.json', 'ffmpeg'], executables: ['ffmpeg'] },
  { from: 'node_modules/@ffprobe-installer/ffprobe', files: ['package.json', 'index.js', 'lib/verify-file.js'] },
  { from: 'node_modules/@ffprobe-installer/linux-x64', files: ['package.json', 'ffprobe'], executables: ['ffprobe'] },
  {
    from: 'node_modules/@expo-google-fonts/noto-sans-sc',
    files: ['package.json', 'LICENSE_FONT', '400Regular/NotoSansSC_400Regular.ttf', '700Bold/NotoSansSC_700Bold.ttf'],
  },
];

export interface ExportWorkerProps {
  settings: PipelineSettings;
  storage: PipelineStorage;
  queues: PipelineQueues;
  grants: PipelineGrants;
  logRetention: logs.RetentionDays;
}

export class ExportWorker extends StackRoom {
  /** `lambda`: the worker function */
  readonly worker?: PipelineFunction;
  /** `lambda` + `http`: the export service's bearer token, readable by the export worker only */
  readonly exportAuthSecret?: secretsmanager.ISecret;
  /** `agent`: what the agent's identity needs, and nothing else */
  readonly exportAgentPolicy?: iam.ManagedPolicy;

  constructor(scope: Construct, id: string, props: ExportWorkerProps) {
    super(scope, id);
    const { settings, storage, queues, grants } = props;
    const exportQueue = queues.exportQueue;

    const exportStatements = (): iam.PolicyStatement[] => [
      // SendTask* has no resource-level permissions: the task token is the capability.
      new iam.PolicyStatement({ actions: ['states:SendTaskSuccess', 'states:SendTaskFailure', 'states:SendTaskHeartbeat'], resources: ['*'] }),
      // The video goes up in parts (s3:PutObject covers them); giving up a broken upload is its own action.
      new iam.PolicyStatement({ actions: ['s3:GetObject', 's3:PutObject', 's3:AbortMultipartUpload'], resources: [grants.objectsUnder(PREFIX.tasks)] }),
      grants.bucketListing(),
      grants.itemStatement(['GetItem', 'UpdateItem'], ['TASK']),
      // The agent finds the next queued export in the task index while one renders (shared/export/next-export.ts).
      new iam.PolicyStatement({ actions: ['dynamodb:Query'], resources: [`${storage.table.tableArn}/index/${ALL_TASKS_INDEX.indexName}`] }),
    ];

    if (settings.exportWorker === 'lambda') {
      const builtin = settings.exporter === 'builtin';
      // A remote exporter is reachable from the internet: every request carries this secret.
      if (!builtin) this.exportAuthSecret = exportAuthSecret(this, settings.exportAuthSecretArn);
      const worker = new PipelineFunction(this, 'ExportFunction', {
        entry: 'lambdas/export/index.ts',
        description: builtin
          ? 'Export worker: renders each queued draft in-process with the bundled ffmpeg'
          : 'Export worker: drives the export service at EXPORT_VIDEO_URL for each queued draft',
        // builtin: the static ffmpeg is x86_64, and memory buys the vCPUs x264 uses
        memorySize: builtin ? settings.exportWorkerMemoryMb : 1024,
        timeout: Duration.seconds(LAMBDA_MAX_SECONDS),
        architecture: builtin ? lambda.Architecture.X86_64 : lambda.Architecture.ARM_64,
        ephemeralStorageMb: builtin ? 4096 : 1024,
        environment: {
          TABLE_NAME: storage.table.tableName,
          BUCKET_NAME: storage.artifactBucketName,
          EXPORT_QUEUE_URL: exportQueue.queueUrl,
          EXPORTER: settings.exporter,
          ...(builtin ? {} : { EXPORT_VIDEO_URL: settings.exportVideoUrl, EXPORT_AUTH_SECRET_ARN: this.exportAuthSecret!.secretArn }),
          EXPORT_VISIBILITY_SECONDS: String(LAMBDA_WORKER_VISIBILITY_SECONDS),
          EXPORT_POLL_SECONDS: '20',
        },
        files: builtin ? BUILTIN_RENDERER_FILES : [],
        logRetention: props.logRetention,
      });
      for (const statement of exportStatements()) worker.role.addToPolicy(statement);
      if (this.exportAuthSecret)
        worker.role.addToPolicy(new iam.PolicyStatement({ actions: ['secretsmanager:GetSecretValue'], resources: [this.exportAuthSecret.secretArn] }));
      // http: a message still waiting on the exporter when an invocation ends is re-sent as a
      // fresh copy, so an outage does not use up receives (shared/export/requeue-message.ts).
      if (!builtin) worker.role.addToPolicy(new iam.PolicyStatement({ actions: ['sqs:SendMessage'], resources: [exportQueue.queueArn] }));
      // One message group: the event source hands over one export at a time.
      worker.fn.addEventSource(new SqsEventSource(exportQueue, { batchSize: 1 }));
      this.worker = worker;
      return;
    }

    const stack = Stack.of(this);
    this.exportAgentPolicy = new iam.ManagedPolicy(this, 'ExportAgentPolicy', {
      description: 'reel-pipeline export agent (runs next to the exporter): this queue, task tokens, tasks/ objects, TASK# items, the task index',
      statements: [
        new iam.PolicyStatement({
          actions: ['sqs:ReceiveMessage', 'sqs:DeleteMessage', 'sqs:ChangeMessageVisibility'],
          resources: [exportQueue.queueArn],
        }),
        ...exportStatements(),
      ],
    });
    acknowledge(this.exportAgentPolicy, 'AwsSolutions-IAM5[Resource::*]', SEND_TASK_REASON);
    acknowledge(this.exportAgentPolicy, `AwsSolutions-IAM5[Resource::${nagArn(stack, grants.objectsUnder(PREFIX.tasks))}]`, TASK_OBJECTS_REASON);
    new CfnOutput(this, 'ExportAgentPolicyArn', {
      value: this.exportAgentPolicy.managedPolicyArn,
      description: 'Attach to the identity the export agent runs as (it needs nothing else)',
    });
    new CfnOutput(this, 'ExportAgentEnvironment', {
      value: [
        `AWS_REGION=${Aws.REGION}`,
        `TABLE_NAME=${storage.table.tableName}`,
        `BUCKET_NAME=${storage.artifactBucketName}`,
        `EXPORT_QUEUE_URL=${exportQueue.queueUrl}`,
      ].join(' '),
      description: "The export agent's settings (add EXPORT_VIDEO_URL and EXPORT_AUTH_TOKEN of the exporter beside it): npm run export-agent",
    });
  }
}
