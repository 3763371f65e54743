/**
 * The two ways in: the HTTP API function (behind API Gateway) and the inbox function (an S3
 * upload trigger under inbox/). Both submit tasks — take the creator+video lock, write the task
 * record, start an execution — so both hold the same item grants.
 */
import { Duration } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as logs from 'aws-cdk-lib/aws-logs';
import type { Construct } from 'constructs';
import { PREFIX, SOURCE_MEDIA_PATTERN, SOURCE_MUSIC_PATTERN } from '../../../shared/resources/storage.js';
import { ALL_TASKS_INDEX, CREATOR_INDEX, type ItemKind } from '../../../shared/resources/table.js';
import { PipelineFunction, type BundledFiles } from '../pipeline-function.js';
import { StackRoom } from '../stable-logical-ids.js';
import type { ItemAction, PipelineGrants } from './grants.js';

/** The static ffprobe (linux x64) as the package the media checks resolve it from (shared/render/ffmpeg-process.ts). */
export const FFPROBE_FILES: BundledFiles[] = [
  { from: 'node_modules/@ffprobe-installer/ffprobe', files: ['package.json', 'index.js', 'lib/verify-file.js'] },
  { from: 'node_modules/@ffprobe-installer/linux-x64', files: ['package.json', 'ffprobe'], executables: ['ffprobe'] },
];
import type { PipelineQueues } from './queues.js';
import type { PipelineStateMachine } from './state-machine.js';
import type { PipelineStorage } from './storage.js';

export interface EntryFunctionsProps {
  storage: PipelineStorage;
  queues: PipelineQueues;
  orchestration: PipelineStateMachine;
  grants: PipelineGrants;
  logRetention: logs.RetentionDays;
  /**
   * The Gemini key's secret, when the story uses Gemini: its ARN (never its value) tells a
   * submission that the story can watch the footage, so a request without source text is
   * accepted when the video has clips.
   */
  geminiSecretArn?: string;
}

/** What a submission touches: the lock, the task record, the idempotency record. */
const SUBMIT_ITEMS = {
  LOCK: ['GetItem', 'PutItem', 'DeleteItem'],
  TASK: ['GetItem', 'PutItem', 'UpdateItem'],
  IDEM: ['GetItem', 'PutItem', 'UpdateItem', 'DeleteItem'],
} satisfies Partial<Record<ItemKind, ItemAction[]>>;

export class EntryFunctions extends StackRoom {
  readonly api: PipelineFunction;
  readonly inbox: PipelineFunction;

  constructor(scope: Construct, id: string, props: EntryFunctionsProps) {
    super(scope, id);
    const { storage, grants, logRetention } = props;
    const { stateMachine, executionArns } = props.orchestration;
    const gemini: Record<string, string> = props.geminiSecretArn ? { GEMINI_API_KEY_SECRET_ARN: props.geminiSecretArn } : {};
    const common = { TABLE_NAME: storage.table.tableName, BUCKET_NAME: storage.artifactBucketName, ...gemini };
    const arm = lambda.Architecture.ARM_64;

    this.api = new PipelineFunction(this, 'ApiFunction', {
      entry: 'lambdas/api/index.ts',
      description: 'HTTP API behind API Gateway: submit, status, list, cancel, artifacts (redirects), sources and their media',
      memorySize: 1024,
      timeout: Duration.seconds(29),
      // The media listing runs the static ffprobe from npm, which is x86_64 only.
      architecture: lambda.Architecture.X86_64,
      files: FFPROBE_FILES,
      environment: {
        ...common,
        STATE_MACHINE_ARN: stateMachine.stateMachineArn,
        ARTIFACT_DELIVERY: 'redirect',
        // API Gateway → Lambda carries at most ~4.5 MB of binary: media goes straight to S3.
        MEDIA_UPLOAD: 'presigned',
        PRESIGN_SECONDS: '900',
      },
      logRetention,
    });
    this.inbox = new PipelineFunction(this, 'InboxFunction', {
      entry: 'lambdas/inbox/index.ts',
      description: 'S3 upload trigger: a JSON request document under inbox/ starts a task',
      memorySize: 512,
      timeout: Duration.seconds(60),
      architecture: arm,
      environment: { ...common, STATE_MACHINE_ARN: stateMachine.stateMachineArn },
      logRetention,
    });

    const { api, inbox } = this;
    grants.allowItems(api, SUBMIT_ITEMS);
    api.role.addToPolicy(
      new iam.PolicyStatement({
        actions: ['dynamodb:Query'],
        resources: [CREATOR_INDEX, ALL_TASKS_INDEX].map((index) => `${storage.table.tableArn}/index/${index.indexName}`),
      }),
    );
    grants.allowObjects(api, ['s3:GetObject', 's3:PutObject'], [PREFIX.sources, PREFIX.tasks]);
    // The creator's media: DELETE of one file, and the abort of a streamed upload that failed part-way.
    grants.allowObjects(api, ['s3:AbortMultipartUpload', 's3:DeleteObject'], [SOURCE_MEDIA_PATTERN, SOURCE_MUSIC_PATTERN]);
    grants.allowListing(api);
    api.role.addToPolicy(new iam.PolicyStatement({ actions: ['states:StartExecution'], resources: [stateMachine.stateMachineArn] }));
    api.role.addToPolicy(
      new iam.PolicyStatement({ actions: ['states:StopExecution', 'states:RedriveExecution', 'states:DescribeExecution'], resources: [executionArns] }),
    );

    grants.allowItems(inbox, SUBMIT_ITEMS);
    grants.allowObjects(inbox, ['s3:GetObject', 's3:DeleteObject'], [PREFIX.inbox]);
    grants.allowObjects(inbox, ['s3:PutObject'], [PREFIX.inboxAccepted, PREFIX.inboxRejected, PREFIX.tasks]);
    grants.allowObjects(inbox, ['s3:GetObject'], [PREFIX.sources]);
    grants.allowListing(inbox);
    inbox.role.addToPolicy(new iam.PolicyStatement({ actions: ['states:StartExecution'], resources: [stateMachine.stateMachineArn] }));
    // A repeated upload whose key was not confirmed asks whether its task's execution exists (shared/idempotency.ts).
    inbox.role.addToPolicy(new iam.PolicyStatement({ actions: ['states:DescribeExecution'], resources: [executionArns] }));

    // Every object created under inbox/ invokes the inbox function; events it cannot handle
    // after two retries wait in the undelivered-events queue.
    storage.invokeOnInboxUpload(inbox.fn);
    inbox.fn.configureAsyncInvoke({ onFailure: props.queues.undeliveredEvents, retryAttempts: 2 });
  }
}
