import { RETRYABLE_ERROR_NAMES } from './errors.js';

/**
 * The one state-machine definition (Amazon States Language, JSONPath), used by both worlds:
 * CDK passes it to `DefinitionBody.fromString` with `definitionSubstitutions`; the embedded stack
 * replaces the same `${Placeholders}` and runs it in the local interpreter.
 *
 *   Start → Story → Tts → Draft → ExportChoice ─(export_video)→ Export → Finalize
 *                                              └──────────────────────→ Finalize
 *   any Catch → <Stage>Failed (names the stage) → RecordFailure → Failed
 *
 * Inputs and outputs carry ids and object keys only, never content (256 KiB payload cap).
 */
export interface ExecutionInput {
  task_id: string;
  creator_id: string;
  video_id: string;
  gender: 0 | 1 | 2;
  export_video: boolean;
}

export const DEFINITION_PLACEHOLDERS = [
  'StartFunctionArn',
  'StoryFunctionArn',
  'TtsFunctionArn',
  'DraftFunctionArn',
  'FinalizeFunctionArn',
  'FailFunctionArn',
  'ExportQueueUrl',
] as const;
export type DefinitionPlaceholder = (typeof DEFINITION_PLACEHOLDERS)[number];

export interface DefinitionOptions {
  /** the execution's own limit: covers the longest export backlog we accept */
  executionTimeoutSeconds: number;
  /** the Export state's limit (waiting in the queue plus the render) */
  exportTimeoutSeconds: number;
  /** added to the execution limit for the lock lease taken by Start */
  lockLeaseMarginSeconds: number;
}

export const DEFAULT_DEFINITION_OPTIONS: DefinitionOptions = {
  executionTimeoutSeconds: 8 * 3600,
  exportTimeoutSeconds: 7 * 3600,
  lockLeaseMarginSeconds: 15 * 60,
};

/** FIFO message group of the export queue: one group, so one export at a time. */
export const EXPORT_MESSAGE_GROUP = 'exports';

const transientRetry = (maxAttempts: number) => ({
  ErrorEquals: [...RETRYABLE_ERROR_NAMES],
  IntervalSeconds: 2,
  MaxAttempts: maxAttempts,
  BackoffRate: 2,
  MaxDelaySeconds: 30,
  JitterStrategy: 'FULL',
});

const ids = { 'task_id.$': '$.task_id', 'creator_id.$': '$.creator_id', 'video_id.$': '$.video_id' };

const failTo = (state: string) => [{ ErrorEquals: ['States.ALL'], ResultPath: '$.error', Next: `${state}Failed` }];

const stageFailed = (stage: string) => ({
  Type: 'Pass',
  Result: stage,
  ResultPath: '$.failed_stage',
  Next: 'RecordFailure',
});

/** The definition with `${Placeholders}` for function ARNs and the queue URL. */
export function pipelineDefinition(options: DefinitionOptions = DEFAULT_DEFINITION_OPTIONS): Record<string, unknown> {
  return {
    Comment: 'reel-pipeline: story → TTS → draft → export (serialized) → finalize',
    StartAt: 'Start',
    TimeoutSeconds: options.executionTimeoutSeconds,
    States: {
      Start: {
        Type: 'Task',
        Resource: '${StartFunctionArn}',
        Parameters: { ...ids, lease_seconds: options.executionTimeoutSeconds + options.lockLeaseMarginSeconds },
        ResultPath: null,
        TimeoutSeconds: 30,
        Retry: [transientRetry(3)],
        Catch: failTo('Start'),
        Next: 'Story',
      },
      Story: {
        Type: 'Task',
        Resource: '${StoryFunctionArn}',
        Parameters: { ...ids },
        ResultPath: '$.story',
        TimeoutSeconds: 300,
        Retry: [transientRetry(3)],
        Catch: failTo('Story'),
        Next: 'Tts',
      },
      Tts: {
        Type: 'Task',
        Resource: '${TtsFunctionArn}',
        Parameters: { ...ids, 'gender.$': '$.gender', 'story_key.$': '$.story.story_key' },
        ResultPath: '$.tts',
        TimeoutSeconds: 900,
        Retry: [transientRetry(3)],
        Catch: failTo('Tts'),
        Next: 'Draft',
      },
      Draft: {
        Type: 'Task',
        Resource: '${DraftFunctionArn}',
        Parameters: {
          ...ids,
          'export_video.$': '$.export_video',
          'narration_key.$': '$.tts.audio_key',
          'timings_key.$': '$.tts.timings_key',
        },
        ResultPath: '$.draft',
        TimeoutSeconds: 120,
        Retry: [transientRetry(3)],
        Catch: failTo('Draft'),
        Next: 'ExportChoice',
      },
      ExportChoice: {
        Type: 'Choice',
        Choices: [{ Variable: '$.export_video', BooleanEquals: true, Next: 'Export' }],
        Default: 'Finalize',
      },
      // No HeartbeatSeconds: its clock starts when the message is sent, so a task still waiting
      // in the queue would time out. A dead worker shows as the message reappearing instead.
      Export: {
        Type: 'Task',
        Resource: 'arn:aws:states:::sqs:sendMessage.waitForTaskToken',
        Parameters: {
          QueueUrl: '${ExportQueueUrl}',
          MessageGroupId: EXPORT_MESSAGE_GROUP,
          // Unique per attempt: a plain task id would make SQS drop a retried attempt's message.
          'MessageDeduplicationId.$': "States.Hash($$.Task.Token, 'SHA-256')",
          MessageBody: { ...ids, 'draft_key.$': '$.draft.draft_key', 'task_token.$': '$$.Task.Token' },
        },
        ResultPath: '$.export',
        TimeoutSeconds: options.exportTimeoutSeconds,
        Retry: [
          {
            ErrorEquals: ['ExportRetryableError'],
            IntervalSeconds: 5,
            MaxAttempts: 3,
            BackoffRate: 2,
            MaxDelaySeconds: 60,
            JitterStrategy: 'FULL',
          },
        ],
        Catch: failTo('Export'),
        Next: 'Finalize',
      },
      Finalize: {
        Type: 'Task',
        Resource: '${FinalizeFunctionArn}',
        Parameters: { ...ids },
        ResultPath: '$.finalize',
        TimeoutSeconds: 300,
        Retry: [transientRetry(3)],
        Catch: failTo('Finalize'),
        End: true,
      },
      StartFailed: stageFailed('start'),
      StoryFailed: stageFailed('story'),
      TtsFailed: stageFailed('tts'),
      DraftFailed: stageFailed('draft'),
      ExportFailed: stageFailed('export'),
      FinalizeFailed: stageFailed('finalize'),
      RecordFailure: {
        Type: 'Task',
        Resource: '${FailFunctionArn}',
        Parameters: { ...ids, 'failed_stage.$': '$.failed_stage', 'error.$': '$.error' },
        ResultPath: null,
        TimeoutSeconds: 60,
        // If even this fails, the execution fails and the execution-status path reports it.
        Retry: [transientRetry(5)],
        Next: 'Failed',
      },
      Failed: { Type: 'Fail', Error: 'TaskFailed', Cause: 'The task failed; its record names the stage and the reason.' },
    },
  };
}

/** Replaces `${Name}` placeholders in every string of the definition (what CDK's substitution does). */
export function substituteDefinition(
  definition: Record<string, unknown>,
  values: Record<DefinitionPlaceholder, string>,
): Record<string, unknown> {
  const text = JSON.stringify(definition).replace(/\$\{(\w+)\}/g, (whole, name: string) => {
    const value = (values as Record<string, string>)[name];
    if (value === undefined) throw new Error(`No value for definition placeholder ${whole}`);
    return JSON.stringify(value).slice(1, -1);
  });
  return JSON.parse(text) as Record<string, unknown>;
}
