import { ArnFormat, Aws, CfnOutput, Duration, RemovalPolicy, Stack, Tags, Validations, type StackProps } from 'aws-cdk-lib';
import * as apigw from 'aws-cdk-lib/aws-apigateway';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as cloudwatchActions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as destinations from 'aws-cdk-lib/aws-lambda-destinations';
import { SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import type { Construct } from 'constructs';
import { MAX_BODY_BYTES, MAX_SOURCE_TEXT_CHARS } from '../../shared/request.js';
import {
  DEFAULT_DEFINITION_OPTIONS,
  pipelineDefinition,
  type DefinitionPlaceholder,
} from '../../shared/state-machine.js';
import { ALL_TASKS_INDEX, CREATOR_INDEX, STAGES } from '../../shared/task-record.js';
import { PipelineFunction, type BundledFiles } from './pipeline-function.js';
import { resolvePipelineSettings, type PipelineSettings } from './pipeline-settings.js';

export interface PipelineStackProps extends StackProps, Partial<PipelineSettings> {}

/** Every function of the stack, by the name the tests and the README use. */
export type PipelineFunctionName =
  | 'api'
  | 'inbox'
  | 'start'
  | 'story'
  | 'tts'
  | 'draft'
  | 'finalize'
  | 'fail'
  | 'export'
  | 'exportDlq';

/** Namespace of the pipeline's own metrics (CloudWatch Embedded Metric Format log lines). */
export const METRIC_NAMESPACE = 'ReelPipeline';
/** The custom metrics the dashboard plots; the handlers emit them as EMF log lines. */
export const CUSTOM_METRICS = {
  tasksSubmitted: 'TasksSubmitted',
  duplicatesRejected: 'DuplicatesRejected',
  rateLimitWaits: 'RateLimitWaits',
  /** dimension `Stage` = one of STAGES */
  stageDurationMs: 'StageDurationMs',
  /** the DLQ consumer gave up failing a dead letter's task (it ends at its Export timeout) */
  deadLettersUnresolved: 'DeadLettersUnresolved',
} as const;

/** The one definition both worlds run (its TimeoutSeconds is the execution's limit). */
const DEFINITION = pipelineDefinition(DEFAULT_DEFINITION_OPTIONS);

/** Lambda's hard limit, and so the longest export a Lambda worker can do in one invocation. */
const LAMBDA_MAX_SECONDS = 900;
/**
 * How long an undeliverable event waits in UndeliveredEventsQueue, and so how long a document
 * left under inbox/ (its event was never handled) is kept: the operator can replay the event
 * while its document still exists; after that both are gone.
 */
const UNDELIVERED_RETENTION_DAYS = 14;
/** The Lambda worker's lease on a message: cut to this on receipt, renewed every third while it works. */
const LAMBDA_WORKER_VISIBILITY_SECONDS = 60;
/**
 * The queue's own visibility: what a message gets from the event source's receive, before the
 * worker's first cut. Only a worker that never ran (an init error) leaves a message hidden this
 * long. AWS refuses an event source whose queue visibility is below the function's timeout.
 */
const EXPORT_QUEUE_VISIBILITY_SECONDS = LAMBDA_MAX_SECONDS + 30;

/** Item kinds of the one table (the prefix of `pk`, see shared/keys.ts). */
type ItemKind = 'LOCK' | 'TASK' | 'IDEM' | 'RATE';
type ItemAction = 'GetItem' | 'PutItem' | 'UpdateItem' | 'DeleteItem';
type ObjectAction = 's3:GetObject' | 's3:PutObject' | 's3:DeleteObject';

/**
 * The whole pipeline on AWS: the same handlers and the same state-machine definition the
 * embedded stack runs (`infra/embedded/embedded-stack.ts`), built the same way — one table with
 * the same key and indexes, one artifact bucket, a FIFO export queue with a FIFO dead-letter
 * queue — plus what only AWS has: IAM (SigV4) on the API, an EventBridge rule for endings Catch
 * cannot see, a dashboard and alarms.
 */
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
  readonly functions: Partial<Record<PipelineFunctionName, PipelineFunction>> = {};
  readonly stateMachine: sfn.StateMachine;
  readonly executionEndedRule: events.Rule;
  readonly api: apigw.RestApi;
  readonly geminiSecret?: secretsmanager.ISecret;
  /** `lambda` + `http`: the export service's bearer token, readable by the export worker only */
  readonly exportAuthSecret?: secretsmanager.ISecret;
  readonly exportAgentPolicy?: iam.ManagedPolicy;
  readonly dashboard: cloudwatch.Dashboard;
  readonly alarms: Record<
    'exportDeadLetters' | 'exportDeadLettersUnresolved' | 'failedExecutions' | 'exportQueueAge' | 'api5xx' | 'undeliveredEvents',
    cloudwatch.Alarm
  >;

  constructor(scope: Construct, id: string, props: PipelineStackProps = {}) {
    const { env, description, stackName, tags, synthesizer, terminationProtection, analyticsReporting, crossRegionReferences, permissionsBoundary, suppressTemplateIndentation, ...given } = props;
    super(scope, id, {
      env, stackName, tags, synthesizer, terminationProtection, analyticsReporting, crossRegionReferences, permissionsBoundary, suppressTemplateIndentation,
      description: description ?? 'reel-pipeline: source text -> story -> TTS -> draft -> exported mp4 (Step Functions, Lambda, SQS FIFO, DynamoDB, S3)',
    });
    // Server access logs are delivered under a bucket policy, not an ACL (the current CDK default).
    this.node.setContext('@aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy', true);
    const settings = resolvePipelineSettings(given);
    this.settings = settings;
    Tags.of(this).add('project', 'reel-pipeline');
    const logRetention = settings.logRetentionDays as logs.RetentionDays;

    // ---------------------------------------------------------------------------------------
    // Storage: the table exactly as the embedded stack creates it.

    this.table = new dynamodb.Table(this, 'Table', {
      partitionKey: { name: 'pk', type: dynamodb.AttributeType.STRING },
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      timeToLiveAttribute: 'expiresAt',
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      removalPolicy: RemovalPolicy.RETAIN,
    });
    for (const [indexName, pk, sk] of [
      [CREATOR_INDEX, 'gsi1pk', 'gsi1sk'],
      [ALL_TASKS_INDEX, 'gsi2pk', 'gsi2sk'],
    ] as const) {
      this.table.addGlobalSecondaryIndex({
        indexName,
        partitionKey: { name: pk, type: dynamodb.AttributeType.STRING },
        sortKey: { name: sk, type: dynamodb.AttributeType.STRING },
        projectionType: dynamodb.ProjectionType.ALL,
      });
    }

    this.accessLogsBucket = new s3.Bucket(this, 'AccessLogs', {
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      encryption: s3.BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      lifecycleRules: [{ id: 'expire-access-logs', expiration: Duration.days(90) }],
      removalPolicy: RemovalPolicy.RETAIN,
    });

    // A name built from the stack, never a Ref: the bucket's notification names the inbox
    // function, so nothing the inbox function depends on may depend on the bucket (a cycle).
    this.artifactBucketName = settings.artifactBucketName || `${bucketSlug(this.stackName)}-artifacts-${Aws.ACCOUNT_ID}-${Aws.REGION}`;
    this.artifactBucketArn = `arn:${Aws.PARTITION}:s3:::${this.artifactBucketName}`;
    const retention = Duration.days(settings.artifactRetentionDays);
    this.bucket = new s3.Bucket(this, 'Artifacts', {
      bucketName: this.artifactBucketName,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      encryption: s3.BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      serverAccessLogsBucket: this.accessLogsBucket,
      serverAccessLogsPrefix: 'artifacts/',
      lifecycleRules: [
        { id: 'expire-task-artifacts', prefix: 'tasks/', expiration: retention },
        { id: 'expire-accepted-inbox-documents', prefix: 'inbox-accepted/', expiration: retention },
        { id: 'expire-rejected-inbox-documents', prefix: 'inbox-rejected/', expiration: retention },
        { id: 'expire-unhandled-inbox-documents', prefix: 'inbox/', expiration: Duration.days(UNDELIVERED_RETENTION_DAYS) },
        { id: 'abort-incomplete-uploads', abortIncompleteMultipartUploadAfter: Duration.days(1) },
      ],
      removalPolicy: RemovalPolicy.RETAIN,
    });

    // ---------------------------------------------------------------------------------------
    // Queues: export FIFO + its FIFO dead-letter queue, as the embedded stack creates them.

    this.exportDeadLetterQueue = new sqs.Queue(this, 'ExportDeadLetterQueue', {
      fifo: true,
      contentBasedDeduplication: false,
      retentionPeriod: Duration.days(14),
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
    });
    this.exportQueue = new sqs.Queue(this, 'ExportQueue', {
      fifo: true,
      // The Export state sends a per-attempt MessageDeduplicationId (a hash of its task token).
      contentBasedDeduplication: false,
      // Just above the worker's timeout, not AWS's suggested 6x (a margin for retries of a
      // throttled invoke): the single message group means a message hidden by a worker that
      // died before its first cut blocks every export for this long.
      visibilityTimeout: Duration.seconds(EXPORT_QUEUE_VISIBILITY_SECONDS),
      retentionPeriod: Duration.days(4),
      deadLetterQueue: { queue: this.exportDeadLetterQueue, maxReceiveCount: settings.exportMaxReceiveCount },
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
    });
    this.undeliveredEventsQueue = new sqs.Queue(this, 'UndeliveredEventsQueue', {
      retentionPeriod: Duration.days(UNDELIVERED_RETENTION_DAYS),
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
    });
    acknowledge(
      this.undeliveredEventsQueue,
      'AwsSolutions-SQS3',
      'This queue is itself a dead-letter destination (of the execution-status rule target and of the async invokes of the fail and inbox functions); it has an alarm and needs no DLQ of its own.',
    );

    // ---------------------------------------------------------------------------------------
    // Secrets

    if (settings.storyProvider === 'gemini') {
      if (settings.geminiApiKeySecretArn) {
        this.geminiSecret = secretsmanager.Secret.fromSecretCompleteArn(this, 'GeminiApiKey', settings.geminiApiKeySecretArn);
      } else {
        const secret = new secretsmanager.Secret(this, 'GeminiApiKey', {
          description: 'Gemini API key of the reel-pipeline story function: replace the generated value with the key (see README, Deploy to AWS).',
          removalPolicy: RemovalPolicy.DESTROY,
        });
        acknowledge(
          secret,
          'AwsSolutions-SMG4',
          'A Google-issued Gemini API key: no Lambda rotation function can mint a new one. It is rotated by hand in Google AI Studio and stored with put-secret-value; the function reads it at each cold start.',
        );
        this.geminiSecret = secret;
      }
    }

    // ---------------------------------------------------------------------------------------
    // Functions

    const common = { TABLE_NAME: this.table.tableName, BUCKET_NAME: this.artifactBucketName };
    const arm = lambda.Architecture.ARM_64;
    const make = (name: PipelineFunctionName, id: string, p: Omit<ConstructorParameters<typeof PipelineFunction>[2], 'logRetention'>) => {
      const f = new PipelineFunction(this, id, { ...p, logRetention });
      this.functions[name] = f;
      return f;
    };

    const start = make('start', 'StartFunction', {
      entry: 'lambdas/start/index.ts',
      description: 'Start state: extends the creator+video lock to the execution time limit',
      memorySize: 256,
      timeout: Duration.seconds(25),
      architecture: arm,
      environment: { TABLE_NAME: this.table.tableName },
    });
    const story = make('story', 'StoryFunction', {
      entry: 'lambdas/story/index.ts',
      description: 'Story state: writes the narration script',
      memorySize: 512,
      timeout: Duration.seconds(280),
      architecture: arm,
      environment: {
        ...common,
        GEMINI_MODEL: settings.geminiModel,
        STORY_RPM: String(settings.storyRequestsPerMinute),
        ...(this.geminiSecret ? { GEMINI_API_KEY_SECRET_ARN: this.geminiSecret.secretArn } : {}),
      },
      // The narration prompt is read at run time from prompts/ beside the module (import.meta.url).
      files: [{ from: 'shared/story/prompts', to: 'prompts' }],
    });
    const tts = make('tts', 'TtsFunction', {
      entry: 'lambdas/tts/index.ts',
      description: 'Tts state: narrates the script and times every word',
      memorySize: 2048,
      timeout: Duration.seconds(870),
      architecture: arm,
      environment: {
        ...common,
        TTS_PROVIDER: settings.ttsProvider,
        TTS_RPM: String(settings.ttsRequestsPerMinute),
        TTS_MAX_CONCURRENCY: String(settings.ttsMaxConcurrency),
        ...(settings.ttsProvider === 'http' ? { TTS_URL: settings.ttsUrl } : {}),
        ...(settings.ttsProvider === 'polly'
          ? {
              POLLY_ENGINE: settings.pollyEngine,
              ...nonEmpty({
                POLLY_VOICE_EN_MALE: settings.pollyVoiceEnMale,
                POLLY_VOICE_EN_FEMALE: settings.pollyVoiceEnFemale,
                POLLY_VOICE_CMN_MALE: settings.pollyVoiceCmnMale,
                POLLY_VOICE_CMN_FEMALE: settings.pollyVoiceCmnFemale,
              }),
            }
          : {}),
      },
      // eSpeak NG loads its 24 MB voice data from beside its own .js: a real package, not bundled.
      files: [{ from: 'node_modules/@echogarden/espeak-ng-emscripten', files: ['package.json', 'espeak-ng.js', 'espeak-ng.data', 'COPYING'] }],
    });
    const draft = make('draft', 'DraftFunction', {
      entry: 'lambdas/draft/index.ts',
      description: 'Draft state: builds draft.json and the subtitles',
      memorySize: 512,
      timeout: Duration.seconds(110),
      architecture: arm,
      environment: common,
    });
    const finalize = make('finalize', 'FinalizeFunction', {
      entry: 'lambdas/finalize/index.ts',
      description: 'Finalize state: writes the manifest, marks the task SUCCEEDED, releases the lock',
      memorySize: 1024,
      timeout: Duration.seconds(280),
      architecture: arm,
      environment: common,
    });
    const fail = make('fail', 'FailFunction', {
      entry: 'lambdas/fail/index.ts',
      description: 'RecordFailure state and execution-status events: marks the task FAILED, releases the lock',
      memorySize: 256,
      timeout: Duration.seconds(50),
      architecture: arm,
      environment: { TABLE_NAME: this.table.tableName },
    });
    const exportDlq = make('exportDlq', 'ExportDeadLetterFunction', {
      entry: 'lambdas/export-dlq/index.ts',
      description: 'Fails the task token of every export message that lands in the dead-letter queue',
      memorySize: 256,
      timeout: Duration.seconds(30),
      architecture: arm,
      environment: {},
    });

    // The state machine

    const smLogs = new logs.LogGroup(this, 'StateMachineLogs', {
      logGroupName: `/aws/vendedlogs/states/${this.stackName}-pipeline`,
      retention: logRetention,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    const substitutions: Record<DefinitionPlaceholder, string> = {
      StartFunctionArn: start.fn.functionArn,
      StoryFunctionArn: story.fn.functionArn,
      TtsFunctionArn: tts.fn.functionArn,
      DraftFunctionArn: draft.fn.functionArn,
      FinalizeFunctionArn: finalize.fn.functionArn,
      FailFunctionArn: fail.fn.functionArn,
      ExportQueueUrl: this.exportQueue.queueUrl,
    };
    this.stateMachine = new sfn.StateMachine(this, 'StateMachine', {
      stateMachineType: sfn.StateMachineType.STANDARD,
      // The one definition both worlds run; its TimeoutSeconds is the execution's limit.
      definitionBody: sfn.DefinitionBody.fromString(JSON.stringify(DEFINITION)),
      definitionSubstitutions: substitutions,
      // Level ALL (cdk-nag SF1) but no execution data: state inputs carry task tokens and
      // presigned-URL material, and a token in CloudWatch lets any log reader finish a task.
      logs: { destination: smLogs, level: sfn.LogLevel.ALL, includeExecutionData: false },
      tracingEnabled: true,
    });
    // Unqualified ARNs only: the definition invokes `$LATEST`, never a version or alias.
    this.stateMachine.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['lambda:InvokeFunction'],
        resources: [start, story, tts, draft, finalize, fail].map((f) => f.fn.functionArn),
      }),
    );
    this.stateMachine.addToRolePolicy(new iam.PolicyStatement({ actions: ['sqs:SendMessage'], resources: [this.exportQueue.queueArn] }));
    acknowledge(
      this.stateMachine,
      'AwsSolutions-IAM5[Resource::*]',
      'Two statements CDK adds for settings nag requires, on actions that have no resource-level permissions: X-Ray (xray:PutTraceSegments, PutTelemetryRecords, GetSamplingRules, GetSamplingTargets) for SF2, and CloudWatch Logs vended-log delivery (logs:CreateLogDelivery, GetLogDelivery, UpdateLogDelivery, DeleteLogDelivery, ListLogDeliveries, PutResourcePolicy, DescribeResourcePolicies, DescribeLogGroups) for SF1. Asserted statement by statement in test/cdk-pipeline-stack.test.ts.',
    );

    const executionArns = Stack.of(this).formatArn({
      service: 'states',
      resource: 'execution',
      resourceName: `${this.stateMachine.stateMachineName}:*`,
      arnFormat: ArnFormat.COLON_RESOURCE_NAME,
    });

    const api = make('api', 'ApiFunction', {
      entry: 'lambdas/api/index.ts',
      description: 'HTTP API behind API Gateway: submit, status, list, cancel, artifacts (redirects), sources',
      memorySize: 512,
      timeout: Duration.seconds(29),
      architecture: arm,
      environment: {
        ...common,
        STATE_MACHINE_ARN: this.stateMachine.stateMachineArn,
        ARTIFACT_DELIVERY: 'redirect',
        PRESIGN_SECONDS: '900',
      },
    });
    const inbox = make('inbox', 'InboxFunction', {
      entry: 'lambdas/inbox/index.ts',
      description: 'S3 upload trigger: a JSON request document under inbox/ starts a task',
      memorySize: 512,
      timeout: Duration.seconds(60),
      architecture: arm,
      environment: { ...common, STATE_MACHINE_ARN: this.stateMachine.stateMachineArn },
    });

    // ---------------------------------------------------------------------------------------
    // Least privilege, function by function. Items by key prefix (dynamodb:LeadingKeys), objects
    // by key prefix; every grant below is asserted in test/cdk-pipeline-stack.test.ts.

    this.allowItems(api, { LOCK: ['GetItem', 'PutItem', 'DeleteItem'], TASK: ['GetItem', 'PutItem', 'UpdateItem'], IDEM: ['GetItem', 'PutItem', 'UpdateItem', 'DeleteItem'] });
    api.role.addToPolicy(
      new iam.PolicyStatement({
        actions: ['dynamodb:Query'],
        resources: [CREATOR_INDEX, ALL_TASKS_INDEX].map((index) => `${this.table.tableArn}/index/${index}`),
      }),
    );
    this.allowObjects(api, ['s3:GetObject', 's3:PutObject'], ['sources/', 'tasks/']);
    this.allowListing(api);
    api.role.addToPolicy(new iam.PolicyStatement({ actions: ['states:StartExecution'], resources: [this.stateMachine.stateMachineArn] }));
    api.role.addToPolicy(new iam.PolicyStatement({ actions: ['states:StopExecution', 'states:RedriveExecution', 'states:DescribeExecution'], resources: [executionArns] }));

    this.allowItems(inbox, { LOCK: ['GetItem', 'PutItem', 'DeleteItem'], TASK: ['GetItem', 'PutItem', 'UpdateItem'], IDEM: ['GetItem', 'PutItem', 'UpdateItem', 'DeleteItem'] });
    this.allowObjects(inbox, ['s3:GetObject', 's3:DeleteObject'], ['inbox/']);
    this.allowObjects(inbox, ['s3:PutObject'], ['inbox-accepted/', 'inbox-rejected/', 'tasks/']);
    this.allowObjects(inbox, ['s3:GetObject'], ['sources/']);
    this.allowListing(inbox);
    inbox.role.addToPolicy(new iam.PolicyStatement({ actions: ['states:StartExecution'], resources: [this.stateMachine.stateMachineArn] }));

    this.allowItems(start, { TASK: ['GetItem'], LOCK: ['UpdateItem'] });

    const rateLimited = { TASK: ['GetItem', 'UpdateItem'], RATE: ['GetItem', 'PutItem', 'UpdateItem', 'DeleteItem'] } satisfies Partial<Record<ItemKind, ItemAction[]>>;
    this.allowItems(story, rateLimited);
    this.allowObjects(story, ['s3:GetObject', 's3:PutObject'], ['tasks/']);
    this.allowListing(story);
    if (this.geminiSecret) story.role.addToPolicy(new iam.PolicyStatement({ actions: ['secretsmanager:GetSecretValue'], resources: [this.geminiSecret.secretArn] }));

    this.allowItems(tts, rateLimited);
    this.allowObjects(tts, ['s3:GetObject', 's3:PutObject'], ['tasks/']);
    this.allowListing(tts);
    if (settings.ttsProvider === 'polly') {
      // SynthesizeSpeech names no resource unless it uses lexicons (this pipeline uses none).
      tts.role.addToPolicy(new iam.PolicyStatement({ actions: ['polly:SynthesizeSpeech'], resources: ['*'] }));
    }

    this.allowItems(draft, { TASK: ['GetItem', 'UpdateItem'] });
    this.allowObjects(draft, ['s3:GetObject', 's3:PutObject'], ['tasks/']);
    // The creator's stills: Draft lists sources/<creator>/<video>/media/ and snapshots each one.
    this.allowObjects(draft, ['s3:GetObject'], [SOURCE_MEDIA_PREFIX]);
    this.allowListing(draft);

    this.allowItems(finalize, { TASK: ['GetItem', 'UpdateItem'], LOCK: ['DeleteItem'] });
    this.allowObjects(finalize, ['s3:GetObject', 's3:PutObject'], ['tasks/']);
    this.allowListing(finalize);

    this.allowItems(fail, { TASK: ['GetItem', 'UpdateItem'], LOCK: ['DeleteItem'] });

    // Dead-lettered export messages: fail their task tokens.
    exportDlq.fn.addEventSource(new SqsEventSource(this.exportDeadLetterQueue, { batchSize: 1 }));
    exportDlq.role.addToPolicy(new iam.PolicyStatement({ actions: ['states:SendTaskFailure'], resources: ['*'] }));

    // ---------------------------------------------------------------------------------------
    // The export worker: a Lambda on the queue, or an agent next to the exporter.

    const exportStatements = (): iam.PolicyStatement[] => [
      // SendTask* has no resource-level permissions: the task token is the capability.
      new iam.PolicyStatement({ actions: ['states:SendTaskSuccess', 'states:SendTaskFailure', 'states:SendTaskHeartbeat'], resources: ['*'] }),
      // The video goes up in parts (s3:PutObject covers them); giving up a broken upload is its own action.
      new iam.PolicyStatement({ actions: ['s3:GetObject', 's3:PutObject', 's3:AbortMultipartUpload'], resources: [`${this.artifactBucketArn}/tasks/*`] }),
      this.bucketListing(),
      this.itemStatement(['GetItem', 'UpdateItem'], ['TASK']),
    ];
    if (settings.exportWorker === 'lambda') {
      const builtin = settings.exporter === 'builtin';
      // A remote exporter is reachable from the internet: every request carries this secret.
      if (!builtin) this.exportAuthSecret = this.buildExportAuthSecret(settings.exportAuthSecretArn);
      const worker = make('export', 'ExportFunction', {
        entry: 'lambdas/export/index.ts',
        description: builtin
          ? 'Export worker: renders each queued draft in-process with the bundled ffmpeg'
          : 'Export worker: drives the export service at EXPORT_VIDEO_URL for each queued draft',
        // builtin: the static ffmpeg is x86_64, and memory buys the vCPUs x264 uses
        memorySize: builtin ? settings.exportWorkerMemoryMb : 1024,
        timeout: Duration.seconds(LAMBDA_MAX_SECONDS),
        architecture: builtin ? lambda.Architecture.X86_64 : arm,
        ephemeralStorageMb: builtin ? 4096 : 1024,
        environment: {
          ...common,
          EXPORT_QUEUE_URL: this.exportQueue.queueUrl,
          EXPORTER: settings.exporter,
          ...(builtin ? {} : { EXPORT_VIDEO_URL: settings.exportVideoUrl, EXPORT_AUTH_SECRET_ARN: this.exportAuthSecret!.secretArn }),
          EXPORT_VISIBILITY_SECONDS: String(LAMBDA_WORKER_VISIBILITY_SECONDS),
          EXPORT_POLL_SECONDS: '20',
        },
        files: builtin ? BUILTIN_RENDERER_FILES : [],
      });
      for (const statement of exportStatements()) worker.role.addToPolicy(statement);
      if (this.exportAuthSecret) worker.role.addToPolicy(new iam.PolicyStatement({ actions: ['secretsmanager:GetSecretValue'], resources: [this.exportAuthSecret.secretArn] }));
      // http: a message still waiting on the exporter when an invocation ends is re-sent as a
      // fresh copy, so an outage does not use up receives (shared/export/requeue-message.ts).
      if (!builtin) worker.role.addToPolicy(new iam.PolicyStatement({ actions: ['sqs:SendMessage'], resources: [this.exportQueue.queueArn] }));
      // One message group: the event source hands over one export at a time.
      worker.fn.addEventSource(new SqsEventSource(this.exportQueue, { batchSize: 1 }));
    } else {
      this.exportAgentPolicy = new iam.ManagedPolicy(this, 'ExportAgentPolicy', {
        description: 'reel-pipeline export agent (runs next to the exporter): this queue, task tokens, tasks/ objects, TASK# items',
        statements: [
          new iam.PolicyStatement({
            actions: ['sqs:ReceiveMessage', 'sqs:DeleteMessage', 'sqs:ChangeMessageVisibility'],
            resources: [this.exportQueue.queueArn],
          }),
          ...exportStatements(),
        ],
      });
      acknowledge(this.exportAgentPolicy, 'AwsSolutions-IAM5[Resource::*]', SEND_TASK_REASON);
      acknowledge(this.exportAgentPolicy, `AwsSolutions-IAM5[Resource::${nagArn(this, `${this.artifactBucketArn}/tasks/*`)}]`, TASK_OBJECTS_REASON);
      new CfnOutput(this, 'ExportAgentPolicyArn', {
        value: this.exportAgentPolicy.managedPolicyArn,
        description: 'Attach to the identity the export agent runs as (it needs nothing else)',
      });
      new CfnOutput(this, 'ExportAgentEnvironment', {
        value: [
          `AWS_REGION=${Aws.REGION}`,
          `TABLE_NAME=${this.table.tableName}`,
          `BUCKET_NAME=${this.artifactBucketName}`,
          `EXPORT_QUEUE_URL=${this.exportQueue.queueUrl}`,
        ].join(' '),
        description: 'The export agent\'s settings (add EXPORT_VIDEO_URL and EXPORT_AUTH_TOKEN of the exporter beside it): npm run export-agent',
      });
    }

    // ---------------------------------------------------------------------------------------
    // Endings Catch cannot see (execution timeout, StopExecution, runtime errors) reach the fail
    // handler, as the embedded stack's interpreter hook does locally.

    this.executionEndedRule = new events.Rule(this, 'ExecutionEndedRule', {
      description: 'reel-pipeline: an execution ended FAILED, TIMED_OUT or ABORTED → the fail handler records it and frees the lock',
      eventPattern: {
        source: ['aws.states'],
        detailType: ['Step Functions Execution Status Change'],
        detail: { status: ['FAILED', 'TIMED_OUT', 'ABORTED'], stateMachineArn: [this.stateMachine.stateMachineArn] },
      },
      targets: [
        new targets.LambdaFunction(fail.fn, {
          deadLetterQueue: this.undeliveredEventsQueue,
          retryAttempts: 185,
          maxEventAge: Duration.hours(24),
        }),
      ],
    });
    const onFailure = new destinations.SqsDestination(this.undeliveredEventsQueue);
    fail.fn.configureAsyncInvoke({ onFailure, retryAttempts: 2 });

    // ---------------------------------------------------------------------------------------
    // S3 upload trigger: a native bucket notification (no custom resource, whose role would need
    // s3:PutBucketNotification on *). S3 checks the permission when the bucket is configured.

    const inboxInvoke = new lambda.CfnPermission(this, 'InboxInvokedByS3', {
      action: 'lambda:InvokeFunction',
      functionName: inbox.fn.functionArn,
      principal: 's3.amazonaws.com',
      sourceAccount: Aws.ACCOUNT_ID,
      sourceArn: this.artifactBucketArn,
    });
    const cfnBucket = this.bucket.node.defaultChild as s3.CfnBucket;
    cfnBucket.notificationConfiguration = {
      lambdaConfigurations: [
        { event: 's3:ObjectCreated:*', function: inbox.fn.functionArn, filter: { s3Key: { rules: [{ name: 'prefix', value: 'inbox/' }] } } },
      ],
    };
    this.bucket.node.addDependency(inboxInvoke);
    inbox.fn.configureAsyncInvoke({ onFailure, retryAttempts: 2 });

    // ---------------------------------------------------------------------------------------
    // The API: IAM (SigV4) on every method, the same paths as the embedded stack.

    this.api = this.buildApi(api, logRetention);

    // ---------------------------------------------------------------------------------------
    // Acknowledgements that follow from the decisions above, one finding at a time.

    for (const [name, f] of Object.entries(this.functions) as Array<[PipelineFunctionName, PipelineFunction]>) {
      acknowledge(
        f,
        'AwsSolutions-L1',
        'Pinned to nodejs22.x on purpose: the handlers are built and tested for Node 20/22 (CI runs Node 20); nodejs24.x is a runtime upgrade to make with its own test run, not a side effect of a nag rule.',
      );
      acknowledge(f, 'AwsSolutions-IAM5[Resource::*]', RESOURCE_STAR_REASONS[name](settings));
    }
    for (const f of [api, inbox, story, tts, draft, finalize, ...(this.functions.export ? [this.functions.export] : [])]) {
      acknowledge(f, `AwsSolutions-IAM5[Resource::${nagArn(this, `${this.artifactBucketArn}/tasks/*`)}]`, TASK_OBJECTS_REASON);
    }
    acknowledge(api, `AwsSolutions-IAM5[Resource::${nagArn(this, `${this.artifactBucketArn}/sources/*`)}]`, SOURCES_REASON);
    acknowledge(inbox, `AwsSolutions-IAM5[Resource::${nagArn(this, `${this.artifactBucketArn}/sources/*`)}]`, SOURCES_REASON);
    acknowledge(draft, `AwsSolutions-IAM5[Resource::${nagArn(this, `${this.artifactBucketArn}/${SOURCE_MEDIA_PREFIX}*`)}]`, SOURCE_MEDIA_REASON);
    for (const prefix of ['inbox/', 'inbox-accepted/', 'inbox-rejected/']) {
      acknowledge(
        inbox,
        `AwsSolutions-IAM5[Resource::${nagArn(this, `${this.artifactBucketArn}/${prefix}*`)}]`,
        `Request documents are arbitrary object names chosen by the uploader; the inbox function reads and deletes under inbox/ and moves each document to inbox-accepted/ or inbox-rejected/ (${prefix}* is that one prefix, nothing else in the bucket).`,
      );
    }
    acknowledge(
      api,
      `AwsSolutions-IAM5[Resource::${nagArn(this, executionArns)}]`,
      'Cancel stops the execution of one task; execution names are task ids created at submit time, so the resource is every execution of this one state machine (execution:<machine>:*), never another machine.',
    );

    // ---------------------------------------------------------------------------------------
    // Observability

    const { dashboard, alarms } = this.buildDashboard();
    this.dashboard = dashboard;
    this.alarms = alarms;

    new CfnOutput(this, 'ApiUrl', { value: this.api.urlForPath('/api/pipeline'), description: 'Base of the pipeline API (sign requests with SigV4, service execute-api)' });
    new CfnOutput(this, 'BucketName', { value: this.artifactBucketName, description: 'Artifact bucket: tasks/<task_id>/ (manifest.json names the video, final_video.mp4); drop request documents under inbox/' });
    new CfnOutput(this, 'TableName', { value: this.table.tableName });
    new CfnOutput(this, 'StateMachineArn', { value: this.stateMachine.stateMachineArn });
    new CfnOutput(this, 'ExportQueueUrl', { value: this.exportQueue.queueUrl, description: 'EXPORT_QUEUE_URL of the export worker or agent' });
    new CfnOutput(this, 'ExportDeadLetterQueueUrl', { value: this.exportDeadLetterQueue.queueUrl });
    new CfnOutput(this, 'DashboardUrl', {
      value: `https://${Aws.REGION}.console.aws.amazon.com/cloudwatch/home?region=${Aws.REGION}#dashboards:name=${this.dashboard.dashboardName}`,
    });
    if (this.geminiSecret) new CfnOutput(this, 'GeminiApiKeySecretArn', { value: this.geminiSecret.secretArn, description: 'Put the Gemini API key here' });
    if (this.exportAuthSecret) {
      new CfnOutput(this, 'ExportAuthSecretArn', {
        value: this.exportAuthSecret.secretArn,
        description: 'The bearer token the export service must require (Authorization: Bearer <value>); read it with get-secret-value',
      });
    }
  }

  /** The export service's shared secret: the one given, or a generated 48-character token. */
  private buildExportAuthSecret(existingArn: string): secretsmanager.ISecret {
    if (existingArn) return secretsmanager.Secret.fromSecretCompleteArn(this, 'ExportAuthToken', existingArn);
    const secret = new secretsmanager.Secret(this, 'ExportAuthToken', {
      description: "Bearer token of the reel-pipeline export service: the export worker sends it, the exporter checks it (see README, Export service contract).",
      // Letters and digits only: it travels in an HTTP header and in shell settings files.
      generateSecretString: { passwordLength: 48, excludePunctuation: true, includeSpace: false },
      removalPolicy: RemovalPolicy.DESTROY,
    });
    acknowledge(
      secret,
      'AwsSolutions-SMG4',
      'The exporter checks this token on its own host; a rotation function could not update it there. Rotate by hand: put-secret-value, update the exporter; the worker reads the secret again after a 401.',
    );
    return secret;
  }

  /** One statement per item kind: these actions on items whose `pk` starts with `<KIND>#`. */
  private itemStatement(actions: ItemAction[], kinds: ItemKind[]): iam.PolicyStatement {
    return new iam.PolicyStatement({
      actions: actions.map((a) => `dynamodb:${a}`),
      resources: [this.table.tableArn],
      conditions: { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': kinds.map((k) => `${k}#*`) } },
    });
  }

  private allowItems(f: PipelineFunction, access: Partial<Record<ItemKind, ItemAction[]>>): void {
    for (const [kind, actions] of Object.entries(access) as Array<[ItemKind, ItemAction[]]>) f.role.addToPolicy(this.itemStatement(actions, [kind]));
  }

  private allowObjects(f: PipelineFunction, actions: ObjectAction[], prefixes: string[]): void {
    f.role.addToPolicy(new iam.PolicyStatement({ actions, resources: prefixes.map((p) => `${this.artifactBucketArn}/${p}*`) }));
  }

  /**
   * s3:ListBucket on the bucket itself. S3 answers 404 for a missing key only to a caller that may
   * list the bucket, 403 to anyone else — and the code reads "missing" from 404 (a source not
   * uploaded yet, a video not rendered yet, an inbox document already moved). A prefix condition
   * does not help: the implicit check made by GetObject carries no s3:prefix.
   */
  private bucketListing(): iam.PolicyStatement {
    return new iam.PolicyStatement({ actions: ['s3:ListBucket'], resources: [this.artifactBucketArn] });
  }

  private allowListing(f: PipelineFunction): void {
    f.role.addToPolicy(this.bucketListing());
  }

  private buildApi(fn: PipelineFunction, logRetention: logs.RetentionDays): apigw.RestApi {
    const s = this.settings;
    const accessLogs = new logs.LogGroup(this, 'ApiAccessLogs', { retention: logRetention, removalPolicy: RemovalPolicy.DESTROY });
    const api = new apigw.RestApi(this, 'Api', {
      restApiName: `${this.stackName}-api`,
      description: 'reel-pipeline submit/status API (IAM authorization: sign requests with SigV4)',
      endpointTypes: [apigw.EndpointType.REGIONAL],
      cloudWatchRole: s.apiGatewayCloudWatchRole,
      defaultMethodOptions: { authorizationType: apigw.AuthorizationType.IAM },
      deployOptions: {
        stageName: 'prod',
        accessLogDestination: new apigw.LogGroupLogDestination(accessLogs),
        accessLogFormat: apigw.AccessLogFormat.jsonWithStandardFields(),
        loggingLevel: apigw.MethodLoggingLevel.INFO,
        dataTraceEnabled: false,
        metricsEnabled: true,
        tracingEnabled: true,
        throttlingRateLimit: s.apiRateLimit,
        throttlingBurstLimit: s.apiBurstLimit,
      },
    });
    if (s.apiGatewayCloudWatchRole) {
      acknowledge(
        api,
        'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs]',
        'The account-level role API Gateway assumes to write execution logs (APIG6); AWS maintains this managed policy for exactly that role. Deploy with -c apiGatewayCloudWatchRole=false when the account already has one.',
      );
    }
    acknowledge(api, 'AwsSolutions-APIG3', 'Every method requires IAM (SigV4) authorization, so unsigned traffic is refused by API Gateway before any integration runs; stage throttling caps signed callers. A WAF web ACL would add cost without a rule to enforce.');
    acknowledge(api, 'AwsSolutions-COG4', 'The callers are AWS principals (operators, the creator tools) signing with SigV4: IAM authorization is the chosen authorizer, a Cognito user pool would add a second identity system.');

    const integration = new apigw.LambdaIntegration(fn.fn, { allowTestInvoke: false });
    const fullValidator = api.addRequestValidator('RunRequestValidator', { validateRequestBody: true, validateRequestParameters: true });
    const paramsValidator = api.addRequestValidator('ParameterValidator', { validateRequestBody: false, validateRequestParameters: true });
    const runModel = api.addModel('RunRequest', {
      contentType: 'application/json',
      modelName: 'RunRequest',
      description: 'Body of POST /api/pipeline/run (the handler checks the same rules again, with per-field messages)',
      schema: {
        schema: apigw.JsonSchemaVersion.DRAFT4,
        type: apigw.JsonSchemaType.OBJECT,
        required: ['creator_id', 'video_id'],
        additionalProperties: false,
        properties: {
          creator_id: { type: apigw.JsonSchemaType.STRING, pattern: '^[A-Za-z0-9_-]{1,64}$' },
          video_id: { type: apigw.JsonSchemaType.STRING, pattern: '^[A-Za-z0-9_-]{1,64}$' },
          // Unicode letters are checked by the handler; here only the type and a loose length.
          account_name: { type: apigw.JsonSchemaType.STRING, minLength: 1, maxLength: 128 },
          gender: { type: apigw.JsonSchemaType.INTEGER, enum: [0, 1, 2] },
          export_video: { type: apigw.JsonSchemaType.BOOLEAN },
          source_text: { type: apigw.JsonSchemaType.STRING, maxLength: MAX_SOURCE_TEXT_CHARS },
        },
      },
    });
    const path = (names: string[]) => Object.fromEntries(names.map((n) => [`method.request.path.${n}`, true]));

    const root = api.root.addResource('api');
    root.addResource('health').addMethod('GET', integration);
    const pipeline = root.addResource('pipeline');
    pipeline.addResource('run').addMethod('POST', integration, {
      requestValidator: fullValidator,
      requestModels: { 'application/json': runModel },
    });
    const tasks = pipeline.addResource('tasks');
    tasks.addMethod('GET', integration);
    const task = tasks.addResource('{task_id}');
    task.addMethod('GET', integration, { requestValidator: paramsValidator, requestParameters: path(['task_id']) });
    task.addResource('cancel').addMethod('POST', integration, { requestValidator: paramsValidator, requestParameters: path(['task_id']) });
    task.addResource('retry').addMethod('POST', integration, { requestValidator: paramsValidator, requestParameters: path(['task_id']) });
    task
      .addResource('artifacts')
      .addResource('{artifact+}')
      .addMethod('GET', integration, { requestValidator: paramsValidator, requestParameters: path(['task_id', 'artifact']) });
    pipeline
      .addResource('sources')
      .addResource('{creator_id}')
      .addResource('{video_id}')
      .addResource('source.txt')
      .addMethod('PUT', integration, { requestValidator: paramsValidator, requestParameters: path(['creator_id', 'video_id']) });

    // Answers API Gateway gives itself, in the API's own {error, message} shape.
    const json = (code: string, message: string) => ({ 'application/json': `{"error":"${code}","message":${message}}` });
    const quoted = (sentence: string) => JSON.stringify(sentence);
    const responses: Array<[string, apigw.ResponseType, string, string]> = [
      ['BadRequestBody', apigw.ResponseType.BAD_REQUEST_BODY, 'invalid_request', quoted('The request body does not match the run request: a JSON object with creator_id and video_id (1-64 of A-Z a-z 0-9 _ -), optional account_name, gender (0, 1, 2), export_video (boolean), source_text (at most 50,000 characters), and no other fields.')],
      ['BadRequestParameters', apigw.ResponseType.BAD_REQUEST_PARAMETERS, 'invalid_request', '$context.error.messageString'],
      ['MissingAuthenticationToken', apigw.ResponseType.MISSING_AUTHENTICATION_TOKEN, 'missing_signature', quoted('The request is not signed, or no such route exists. Sign every request with AWS Signature Version 4 (service execute-api), and check the path.')],
      ['InvalidSignature', apigw.ResponseType.INVALID_SIGNATURE, 'invalid_signature', '$context.error.messageString'],
      ['ExpiredToken', apigw.ResponseType.EXPIRED_TOKEN, 'expired_credentials', '$context.error.messageString'],
      ['AccessDenied', apigw.ResponseType.ACCESS_DENIED, 'access_denied', quoted('The signing identity is not allowed to call this API (execute-api:Invoke).')],
      ['Throttled', apigw.ResponseType.THROTTLED, 'throttled', quoted('Too many requests: slow down and retry.')],
      ['RequestTooLarge', apigw.ResponseType.REQUEST_TOO_LARGE, 'body_too_large', quoted(`The request body is larger than ${MAX_BODY_BYTES} bytes (1 MiB).`)],
      ['UnsupportedMediaType', apigw.ResponseType.UNSUPPORTED_MEDIA_TYPE, 'unsupported_media_type', '$context.error.messageString'],
      ['IntegrationTimeout', apigw.ResponseType.INTEGRATION_TIMEOUT, 'timeout', quoted('The request took longer than 29 seconds and was abandoned; retry it (submissions are safe to retry with an Idempotency-Key).')],
      ['Default4xx', apigw.ResponseType.DEFAULT_4XX, 'request_refused', '$context.error.messageString'],
      ['Default5xx', apigw.ResponseType.DEFAULT_5XX, 'internal_error', quoted('The request could not be completed because of an internal error; it has been logged.')],
    ];
    for (const [id, type, code, message] of responses) api.addGatewayResponse(id, { type, templates: json(code, message) });
    return api;
  }

  private buildDashboard() {
    const s = this.settings;
    const fiveMinutes = Duration.minutes(5);
    const custom = (metricName: string, statistic: string, dimensionsMap?: Record<string, string>, label?: string) =>
      new cloudwatch.Metric({ namespace: METRIC_NAMESPACE, metricName, statistic, dimensionsMap, period: fiveMinutes, label });
    const sm = this.stateMachine;
    const queueDepth = (q: sqs.Queue, label: string, id: string) =>
      new cloudwatch.MathExpression({
        expression: `${id}Visible + ${id}InFlight`,
        usingMetrics: {
          [`${id}Visible`]: q.metricApproximateNumberOfMessagesVisible({ period: Duration.minutes(1), statistic: 'Maximum' }),
          [`${id}InFlight`]: q.metricApproximateNumberOfMessagesNotVisible({ period: Duration.minutes(1), statistic: 'Maximum' }),
        },
        label,
        period: Duration.minutes(1),
      });

    const actions = s.alarmTopicArn ? [new cloudwatchActions.SnsAction(sns.Topic.fromTopicArn(this, 'AlarmTopic', s.alarmTopicArn))] : [];
    const alarm = (id: string, props: cloudwatch.CreateAlarmOptions & { metric: cloudwatch.IMetric }) => {
      const a = new cloudwatch.Alarm(this, id, { ...props, treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING });
      for (const action of actions) a.addAlarmAction(action);
      return a;
    };
    const alarms = {
      exportDeadLetters: alarm('ExportDeadLettersAlarm', {
        alarmDescription: 'An export message reached the dead-letter queue: the worker crashed or timed out on it maxReceiveCount times (its task is failed by the DLQ consumer).',
        metric: queueDepth(this.exportDeadLetterQueue, 'export DLQ depth', 'dlq'),
        threshold: 0,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluationPeriods: 1,
      }),
      exportDeadLettersUnresolved: alarm('ExportDeadLettersUnresolvedAlarm', {
        alarmDescription:
          'The dead-letter consumer could not fail the task of a dead-lettered export message after its bounded tries (Step Functions refused or stayed unreachable) and let the message go: that task stays RUNNING until its Export timeout. Its log line names the task id and the reason.',
        metric: custom(CUSTOM_METRICS.deadLettersUnresolved, 'Sum'),
        threshold: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        evaluationPeriods: 1,
      }),
      failedExecutions: alarm('FailedExecutionsAlarm', {
        alarmDescription: `At least ${s.alarmFailedExecutions} pipeline executions failed or timed out in 5 minutes.`,
        metric: new cloudwatch.MathExpression({
          expression: 'failed + timedOut',
          usingMetrics: { failed: sm.metricFailed({ period: fiveMinutes }), timedOut: sm.metricTimedOut({ period: fiveMinutes }) },
          label: 'executions failed or timed out',
          period: fiveMinutes,
        }),
        threshold: s.alarmFailedExecutions,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        evaluationPeriods: 1,
      }),
      exportQueueAge: alarm('ExportQueueAgeAlarm', {
        alarmDescription: `The oldest export message has waited more than ${s.alarmExportQueueAgeSeconds} s: the exporter is down, stuck or far behind.`,
        metric: this.exportQueue.metricApproximateAgeOfOldestMessage({ period: fiveMinutes, statistic: 'Maximum' }),
        threshold: s.alarmExportQueueAgeSeconds,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluationPeriods: 1,
      }),
      api5xx: alarm('Api5xxAlarm', {
        alarmDescription: `The API answered at least ${s.alarmApi5xxErrors} 5xx in 5 minutes.`,
        metric: this.api.metricServerError({ period: fiveMinutes, statistic: 'Sum' }),
        threshold: s.alarmApi5xxErrors,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        evaluationPeriods: 1,
      }),
      undeliveredEvents: alarm('UndeliveredEventsAlarm', {
        alarmDescription: 'An execution-status event or an inbox upload event could not be handled: a task may stay RUNNING or an inbox document unprocessed. Read the queue.',
        metric: queueDepth(this.undeliveredEventsQueue, 'undelivered events', 'undelivered'),
        threshold: 0,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluationPeriods: 1,
      }),
    };

    const fns = Object.entries(this.functions) as Array<[PipelineFunctionName, PipelineFunction]>;
    const perFunction = (metric: (f: lambda.IFunction) => cloudwatch.Metric) => fns.map(([name, f]) => metric(f.fn).with({ label: name }));
    const dashboard = new cloudwatch.Dashboard(this, 'Dashboard', {
      dashboardName: `${this.stackName}-pipeline`,
      defaultInterval: Duration.hours(6),
    });
    dashboard.addWidgets(
      new cloudwatch.GraphWidget({
        title: 'Submissions',
        left: [
          custom(CUSTOM_METRICS.tasksSubmitted, 'Sum', undefined, 'tasks submitted'),
          custom(CUSTOM_METRICS.duplicatesRejected, 'Sum', undefined, 'duplicates rejected (409)'),
        ],
        width: 8,
      }),
      new cloudwatch.GraphWidget({
        title: 'Executions',
        left: [
          sm.metricStarted({ period: fiveMinutes, label: 'started' }),
          sm.metricSucceeded({ period: fiveMinutes, label: 'succeeded' }),
          sm.metricFailed({ period: fiveMinutes, label: 'failed' }),
          sm.metricTimedOut({ period: fiveMinutes, label: 'timed out' }),
          sm.metricAborted({ period: fiveMinutes, label: 'aborted (cancelled)' }),
        ],
        width: 8,
      }),
      new cloudwatch.GraphWidget({
        title: 'API',
        left: [
          this.api.metricCount({ period: fiveMinutes, label: 'requests' }),
          this.api.metricClientError({ period: fiveMinutes, label: '4xx' }),
          this.api.metricServerError({ period: fiveMinutes, label: '5xx' }),
        ],
        right: [this.api.metricLatency({ period: fiveMinutes, statistic: 'p90', label: 'latency p90 (ms)' })],
        width: 8,
      }),
    );
    dashboard.addWidgets(
      new cloudwatch.GraphWidget({
        title: 'Stage duration, average (ms)',
        left: STAGES.map((stage) => custom(CUSTOM_METRICS.stageDurationMs, 'Average', { Stage: stage }, stage)),
        width: 12,
      }),
      new cloudwatch.GraphWidget({
        title: 'Stage duration, p90 (ms)',
        left: STAGES.map((stage) => custom(CUSTOM_METRICS.stageDurationMs, 'p90', { Stage: stage }, stage)),
        width: 12,
      }),
    );
    dashboard.addWidgets(
      new cloudwatch.GraphWidget({
        title: 'Export queue',
        left: [
          this.exportQueue.metricApproximateNumberOfMessagesVisible({ period: Duration.minutes(1), statistic: 'Maximum', label: 'waiting' }),
          this.exportQueue.metricApproximateNumberOfMessagesNotVisible({ period: Duration.minutes(1), statistic: 'Maximum', label: 'exporting' }),
        ],
        right: [this.exportQueue.metricApproximateAgeOfOldestMessage({ period: Duration.minutes(1), statistic: 'Maximum', label: 'oldest message age (s)' })],
        width: 8,
      }),
      new cloudwatch.GraphWidget({
        title: 'Dead letters',
        left: [queueDepth(this.exportDeadLetterQueue, 'export DLQ depth', 'dlq'), queueDepth(this.undeliveredEventsQueue, 'undelivered events', 'undelivered')],
        width: 8,
      }),
      new cloudwatch.GraphWidget({
        title: 'Rate-limit waits',
        left: [custom(CUSTOM_METRICS.rateLimitWaits, 'Sum', undefined, 'waits for the story/TTS rate limiter')],
        width: 8,
      }),
    );
    dashboard.addWidgets(
      new cloudwatch.GraphWidget({ title: 'Lambda errors', left: perFunction((f) => f.metricErrors({ period: fiveMinutes })), width: 8 }),
      new cloudwatch.GraphWidget({ title: 'Lambda throttles', left: perFunction((f) => f.metricThrottles({ period: fiveMinutes })), width: 8 }),
      new cloudwatch.GraphWidget({
        title: 'Lambda duration p90 (ms)',
        left: perFunction((f) => f.metricDuration({ period: fiveMinutes, statistic: 'p90' })),
        width: 8,
      }),
    );
    dashboard.addWidgets(new cloudwatch.AlarmStatusWidget({ title: 'Alarms', alarms: Object.values(alarms), width: 24 }));
    return { dashboard, alarms };
  }
}

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

const SEND_TASK_REASON =
  'states:SendTaskSuccess/SendTaskFailure/SendTaskHeartbeat have no resource-level permissions (AWS documents none for task tokens): the token in each message is the capability, so the resource must be *.';
const TASK_OBJECTS_REASON =
  'Every artifact of a task lives under tasks/<task_id>/ with ids created at submit time: tasks/* is the narrowest stable pattern (never sources/, inbox/ or another prefix).';
const SOURCES_REASON =
  'Source material is stored per creator and video at sources/<creator>/<video>/source.txt, both ids chosen by the caller: sources/* is that one prefix.';

/** Where a creator's media for a video wait (shared/draft/source-media.ts): `sources/<creator>/<video>/media/`. */
const SOURCE_MEDIA_PREFIX = 'sources/*/media/';
const SOURCE_MEDIA_REASON =
  'The creator uploads stills per video at sources/<creator>/<video>/media/<file>, all names chosen by the caller; Draft reads (never writes) only objects under a media/ folder of sources/.';

/** Why each function's policy has a `*` resource, statement by statement (asserted in the IAM test). */
const RESOURCE_STAR_REASONS: Record<PipelineFunctionName, (s: PipelineSettings) => string> = {
  api: () => XRAY_ONLY_REASON,
  inbox: () => XRAY_ONLY_REASON,
  start: () => XRAY_ONLY_REASON,
  story: () => XRAY_ONLY_REASON,
  tts: (s) =>
    s.ttsProvider === 'polly'
      ? `${XRAY_REASON} The other is polly:SynthesizeSpeech, which names no resource unless lexicons are used (this pipeline uses none).`
      : XRAY_ONLY_REASON,
  draft: () => XRAY_ONLY_REASON,
  finalize: () => XRAY_ONLY_REASON,
  fail: () => XRAY_ONLY_REASON,
  export: () => `${XRAY_REASON} The other is ${SEND_TASK_REASON}`,
  exportDlq: () => `${XRAY_REASON} The other is states:SendTaskFailure alone: ${SEND_TASK_REASON}`,
};
const XRAY_REASON =
  'Active X-Ray tracing adds xray:PutTraceSegments and xray:PutTelemetryRecords, which AWS defines without resource-level permissions, so that statement names *.';
const XRAY_ONLY_REASON = `${XRAY_REASON} No other statement of this role has a * resource.`;

/** The entries whose value is not empty (an empty setting means the handler's own default). */
function nonEmpty(values: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(values).filter(([, v]) => v !== ''));
}

/** Records an acknowledged cdk-nag finding on `scope` (and everything below it). */
function acknowledge(scope: Construct, id: string, reason: string): void {
  Validations.of(scope).acknowledge({ id, reason });
}

/** Stack names allow capitals and are long; bucket names do not. */
function bucketSlug(stackName: string): string {
  return stackName.toLowerCase().replace(/[^a-z0-9-]+/g, '-').slice(0, 20).replace(/^-+|-+$/g, '') || 'reel-pipeline';
}

/**
 * How cdk-nag writes a resource in a finding id: the resolved string with every intrinsic as
 * `<LogicalId.Attr>` / `<AWS::Pseudo>` (nag's own flattening, reproduced so the acknowledgement
 * names exactly the pattern it accepts).
 */
export function nagArn(stack: Stack, value: string): string {
  const flatten = (v: unknown): string => {
    if (typeof v === 'string') return v.replace(/\$\{/g, '<').replace(/\}/g, '>');
    if (v && typeof v === 'object') {
      const o = v as Record<string, unknown>;
      if ('Ref' in o) return `<${String(o.Ref)}>`;
      if ('Fn::Sub' in o) return flatten(o['Fn::Sub']);
      if ('Fn::GetAtt' in o) return `<${(o['Fn::GetAtt'] as string[]).join('.')}>`;
      if ('Fn::Join' in o) {
        const [sep, parts] = o['Fn::Join'] as [string, unknown[]];
        return parts.map(flatten).join(sep);
      }
    }
    return JSON.stringify(v);
  };
  return flatten(stack.resolve(value));
}
