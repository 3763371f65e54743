/**
 * The functions the state machine runs — Start, Story, Tts, Draft, Finalize — the fail handler
 * (the target of the execution-ended rule) and the consumer of the export dead-letter queue, each with exactly the grants it
 * uses (asserted statement by statement in test/infra/cdk-pipeline-stack.test.ts).
 */
import { Duration } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import type * as logs from 'aws-cdk-lib/aws-logs';
import type * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import type { Construct } from 'constructs';
import { PREFIX, SOURCE_MEDIA_PATTERN, SOURCE_MUSIC_PATTERN } from '../../../shared/resources/storage.js';
import { FFPROBE_FILES } from './entry-functions.js';
import type { ItemKind } from '../../../shared/resources/table.js';
import { PipelineFunction } from '../pipeline-function.js';
import type { PipelineSettings } from '../pipeline-settings.js';
import { StackRoom } from '../stable-logical-ids.js';
import type { ItemAction, PipelineGrants } from './grants.js';
import type { PipelineQueues } from './queues.js';
import { geminiApiKeySecret } from './secrets.js';
import type { PipelineStorage } from './storage.js';

export interface StageFunctionsProps {
  settings: PipelineSettings;
  storage: PipelineStorage;
  queues: PipelineQueues;
  grants: PipelineGrants;
  logRetention: logs.RetentionDays;
}

export class StageFunctions extends StackRoom {
  readonly start: PipelineFunction;
  readonly story: PipelineFunction;
  readonly tts: PipelineFunction;
  readonly draft: PipelineFunction;
  readonly finalize: PipelineFunction;
  readonly fail: PipelineFunction;
  readonly exportDlq: PipelineFunction;
  /** `storyProvider: gemini`: the key the story function reads at each cold start */
  readonly geminiSecret?: secretsmanager.ISecret;

  constructor(scope: Construct, id: string, props: StageFunctionsProps) {
    super(scope, id);
    const { settings, storage, grants, logRetention } = props;
    if (settings.storyProvider === 'gemini') this.geminiSecret = geminiApiKeySecret(this, settings.geminiApiKeySecretArn);

    const common = { TABLE_NAME: storage.table.tableName, BUCKET_NAME: storage.artifactBucketName };
    const arm = lambda.Architecture.ARM_64;
    this.start = new PipelineFunction(this, 'StartFunction', {
      entry: 'lambdas/start/index.ts',
      description: 'Start state: extends the creator+video lock to the execution time limit',
      memorySize: 256,
      timeout: Duration.seconds(25),
      architecture: arm,
      environment: { TABLE_NAME: storage.table.tableName },
      logRetention,
    });
    this.story = new PipelineFunction(this, 'StoryFunction', {
      entry: 'lambdas/story/index.ts',
      description: 'Story state: writes the narration script',
      memorySize: 512,
      timeout: Duration.seconds(280),
      // The clips the story watches are probed with the static ffprobe from npm, which is x86_64 only.
      architecture: lambda.Architecture.X86_64,
      environment: {
        ...common,
        GEMINI_MODEL: settings.geminiModel,
        STORY_RPM: String(settings.storyRequestsPerMinute),
        ...(this.geminiSecret ? { GEMINI_API_KEY_SECRET_ARN: this.geminiSecret.secretArn } : {}),
      },
      // The narration prompt is read at run time from prompts/ beside the module (import.meta.url).
      files: [{ from: 'shared/story/prompts', to: 'prompts' }, ...FFPROBE_FILES],
      logRetention,
    });
    this.tts = new PipelineFunction(this, 'TtsFunction', {
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
      logRetention,
    });
    this.draft = new PipelineFunction(this, 'DraftFunction', {
      entry: 'lambdas/draft/index.ts',
      description: 'Draft state: checks and probes the creator media, builds draft.json, the subtitles and the editor draft',
      // ffprobe on each of the creator's files; the media themselves are copied and streamed, never held.
      memorySize: 1024,
      timeout: Duration.seconds(110),
      // The media checks run the static ffprobe from npm, which is x86_64 only.
      architecture: lambda.Architecture.X86_64,
      files: FFPROBE_FILES,
      environment: common,
      logRetention,
    });
    this.finalize = new PipelineFunction(this, 'FinalizeFunction', {
      entry: 'lambdas/finalize/index.ts',
      description: 'Finalize state: writes the manifest, marks the task SUCCEEDED, releases the lock',
      memorySize: 1024,
      timeout: Duration.seconds(280),
      architecture: arm,
      environment: common,
      logRetention,
    });
    this.fail = new PipelineFunction(this, 'FailFunction', {
      entry: 'lambdas/fail/index.ts',
      description: 'Execution-status events (failed, timed out, stopped): marks the task FAILED at its stage, releases the lock',
      memorySize: 256,
      timeout: Duration.seconds(50),
      architecture: arm,
      environment: { TABLE_NAME: storage.table.tableName },
      logRetention,
    });
    this.exportDlq = new PipelineFunction(this, 'ExportDeadLetterFunction', {
      entry: 'lambdas/export-dlq/index.ts',
      description: 'Fails the task token of every export message that lands in the dead-letter queue',
      memorySize: 256,
      timeout: Duration.seconds(30),
      architecture: arm,
      environment: {},
      logRetention,
    });

    // Least privilege, function by function: items by kind, objects by key prefix.
    grants.allowItems(this.start, { TASK: ['GetItem'], LOCK: ['UpdateItem'] });

    const rateLimited = { TASK: ['GetItem', 'UpdateItem'], RATE: ['GetItem', 'PutItem', 'UpdateItem', 'DeleteItem'] } satisfies Partial<
      Record<ItemKind, ItemAction[]>
    >;
    grants.allowItems(this.story, rateLimited);
    grants.allowObjects(this.story, ['s3:GetObject', 's3:PutObject'], [PREFIX.tasks]);
    // The creator's clips: probed, and streamed to the Gemini Files API when the story watches them.
    grants.allowObjects(this.story, ['s3:GetObject'], [SOURCE_MEDIA_PATTERN]);
    grants.allowListing(this.story);
    if (this.geminiSecret)
      this.story.role.addToPolicy(new iam.PolicyStatement({ actions: ['secretsmanager:GetSecretValue'], resources: [this.geminiSecret.secretArn] }));

    grants.allowItems(this.tts, rateLimited);
    grants.allowObjects(this.tts, ['s3:GetObject', 's3:PutObject'], [PREFIX.tasks]);
    grants.allowListing(this.tts);
    if (settings.ttsProvider === 'polly') {
      // SynthesizeSpeech names no resource unless it uses lexicons (this pipeline uses none).
      this.tts.role.addToPolicy(new iam.PolicyStatement({ actions: ['polly:SynthesizeSpeech'], resources: ['*'] }));
    }

    grants.allowItems(this.draft, { TASK: ['GetItem', 'UpdateItem'] });
    // The editor draft's archive is a multipart upload: a failed one is aborted, not left billed.
    grants.allowObjects(this.draft, ['s3:GetObject', 's3:PutObject', 's3:AbortMultipartUpload'], [PREFIX.tasks]);
    // The creator's media and music: Draft lists sources/<creator>/<video>/media/ and music/,
    // checks each file and copies what it uses into the task's prefix (CopyObject reads the source).
    grants.allowObjects(this.draft, ['s3:GetObject'], [SOURCE_MEDIA_PATTERN, SOURCE_MUSIC_PATTERN]);
    grants.allowListing(this.draft);

    grants.allowItems(this.finalize, { TASK: ['GetItem', 'UpdateItem'], LOCK: ['DeleteItem'] });
    grants.allowObjects(this.finalize, ['s3:GetObject', 's3:PutObject'], [PREFIX.tasks]);
    grants.allowListing(this.finalize);

    grants.allowItems(this.fail, { TASK: ['GetItem', 'UpdateItem'], LOCK: ['DeleteItem'] });

    // Dead-lettered export messages: fail their task tokens.
    this.exportDlq.fn.addEventSource(new SqsEventSource(props.queues.exportDeadLetterQueue, { batchSize: 1 }));
    this.exportDlq.role.addToPolicy(new iam.PolicyStatement({ actions: ['states:SendTaskFailure'], resources: ['*'] }));
  }
}

/** The entries whose value is not empty (an empty setting means the handler's own default). */
function nonEmpty(values: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(values).filter(([, v]) => v !== ''));
}
