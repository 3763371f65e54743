import { RETRYABLE_ERROR_NAMES } from './errors.js';
import type { DefinitionPlaceholder } from './resources/functions.js';
import type { VideoOptions } from './video-options.js';

/**
 * The one state-machine definition (Amazon States Language, JSONPath), used by both worlds:
 * CDK passes it to `DefinitionBody.fromString` with `definitionSubstitutions`; the embedded stack
 * replaces the same `${Placeholders}` and runs it in the local interpreter.
 *
 *   Start → Story → Tts → Draft → ExportChoice ─(export_video)→ Export → Finalize
 *                                              └──────────────────────→ Finalize
 *   a stage error (after its Retry) ends the execution FAILED *at that stage*: no Catch, so that
 *   RedriveExecution, which re-runs the last unsuccessful state, re-runs the stage. The failure is
 *   recorded (and the lock released) from the execution-ended path, the same in both worlds:
 *   EventBridge "Execution Status Change" → fail handler on AWS, the local API's onExecutionEnded
 *   → the same handler on the embedded stack; it reads the stage from the task record.
 *
 *   Story and Tts may return `{rate_limited: true, retry_after_seconds}` instead of their output:
 *   Story → StoryRateLimited? ─(rate_limited)→ StoryRateLimitCount → …Wait (SecondsPath) → StoryRateLimitRetry?
 *     StoryRateLimitRetry? ─(waits < `rateLimitMaxWaits`)→ Story
 *                          └ bound hit → StoryLastAttempt (the Story function with `rate_limit_give_up`:
 *                            still limited → it throws RateLimitWaitsExhaustedError, the execution fails there)
 *   (the same for Tts; the count lives in the state data as `$.story_rate_limit.waits`). The last
 *   attempt is a Task, not a Fail state, so a redrive (e.g. after the quota reset) calls the
 *   provider again instead of failing again.
 *
 * Inputs and outputs carry ids and object keys only, never content (256 KiB payload cap).
 */
export interface ExecutionInput {
  task_id: string;
  creator_id: string;
  video_id: string;
  gender: 0 | 1 | 2;
  export_video: boolean;
  /** the look and sound asked for, every default filled at submission (read by Draft) */
  video_options: VideoOptions;
}

// The placeholders come from the one table of function, placeholder and state names.
export { DEFINITION_PLACEHOLDERS, type DefinitionPlaceholder } from './resources/functions.js';

export interface DefinitionOptions {
  /** the execution's own limit: covers the longest export backlog we accept */
  executionTimeoutSeconds: number;
  /** the Export state's limit (waiting in the queue plus the render) */
  exportTimeoutSeconds: number;
  /** added to the execution limit for the lock lease taken by Start */
  lockLeaseMarginSeconds: number;
  /** times a stage may hand a rate-limit wait back to the state machine before the task fails */
  rateLimitMaxWaits: number;
}

export const DEFAULT_DEFINITION_OPTIONS: DefinitionOptions = {
  executionTimeoutSeconds: 8 * 3600,
  exportTimeoutSeconds: 7 * 3600,
  lockLeaseMarginSeconds: 15 * 60,
  rateLimitMaxWaits: 30,
};

/**
 * Errors of the `sqs:sendMessage` integration that a new attempt may pass. Step Functions names
 * them `SQS.<Java SDK exception>`: `SdkClientException` for client-side faults (no connection,
 * I/O) and `AmazonSQSException`, the SDK's base service exception (5xx, unmodelled codes), the
 * same scheme as the documented `Lambda.SdkClientException` / `Lambda.AWSLambdaException`; plus
 * the two throttling errors the SendMessage API reference lists, in that naming.
 */
export const SQS_SEND_TRANSIENT_ERROR_NAMES = [
  'SQS.SdkClientException',
  'SQS.AmazonSQSException',
  'SQS.RequestThrottledException',
  'SQS.KmsThrottledException',
] as const;

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

/** The error a task fails with when a stage stayed rate limited through every allowed wait. */
export const RATE_LIMIT_WAITS_EXHAUSTED_ERROR = 'RateLimitWaitsExhaustedError';

/**
 * The rate-limit loop after a stage (`Story` or `Tts`) whose output sits at `$.<result>`: a
 * `{rate_limited: true, retry_after_seconds}` output goes to a Wait state (SecondsPath) and back
 * to the stage, at most `maxWaits` times, counted in `$.<result>_rate_limit.waits` (JSONPath and
 * States.MathAdd: the interpreter ignores JSONata and Assign). After the last wait the stage runs
 * once more as `<State>LastAttempt`, told by `rate_limit_give_up` to throw
 * RateLimitWaitsExhaustedError with that sentence rather than ask for another wait. The stage's
 * data decides, never a Catch `Cause`, whose form differs between AWS and the embedded interpreter.
 */
const rateLimitLoop = (a: {
  state: 'Story' | 'Tts';
  result: 'story' | 'tts';
  what: string;
  settings: string;
  next: string;
  maxWaits: number;
  /** the stage's Task state, which the last attempt repeats with `rate_limit_give_up` */
  task: Record<string, unknown>;
}) => {
  const counter = `$.${a.result}_rate_limit`;
  const giveUp =
    `The ${a.result} stage was still rate limited by ${a.what} after ${a.maxWaits} waits; the task gives up. ` +
    `Submit fewer tasks at once, or raise the provider's quota and ${a.settings}.`;
  return {
    [`${a.state}RateLimited`]: {
      Type: 'Choice',
      // Rules are tried in order and the first match wins, so no comparison ever reads a missing
      // path. `Not IsPresent` rather than `IsPresent: false`, which aws-local-stepfunctions 3.0.0
      // never matches.
      Choices: [
        { Not: { Variable: `$.${a.result}.rate_limited`, IsPresent: true }, Next: a.next },
        { Variable: `$.${a.result}.rate_limited`, BooleanEquals: true, Next: `${a.state}RateLimitCount` },
      ],
      Default: a.next,
    },
    [`${a.state}RateLimitCount`]: {
      Type: 'Choice',
      Choices: [{ Not: { Variable: counter, IsPresent: true }, Next: `${a.state}RateLimitFirstWait` }],
      Default: `${a.state}RateLimitNextWait`,
    },
    [`${a.state}RateLimitFirstWait`]: { Type: 'Pass', Result: { waits: 1 }, ResultPath: counter, Next: `${a.state}RateLimitWait` },
    [`${a.state}RateLimitNextWait`]: {
      Type: 'Pass',
      Parameters: { 'waits.$': `States.MathAdd(${counter}.waits, 1)` },
      ResultPath: counter,
      Next: `${a.state}RateLimitWait`,
    },
    [`${a.state}RateLimitWait`]: { Type: 'Wait', SecondsPath: `$.${a.result}.retry_after_seconds`, Next: `${a.state}RateLimitRetry` },
    [`${a.state}RateLimitRetry`]: {
      Type: 'Choice',
      Choices: [{ Variable: `${counter}.waits`, NumericGreaterThanEquals: a.maxWaits, Next: `${a.state}LastAttempt` }],
      Default: a.state,
    },
    // A Task, not a Fail state: the execution fails here (RateLimitWaitsExhaustedError), and a
    // redrive re-runs this state, i.e. asks the provider again.
    [`${a.state}LastAttempt`]: {
      ...a.task,
      Parameters: { ...(a.task.Parameters as Record<string, unknown>), rate_limit_give_up: giveUp },
      Next: a.next,
    },
  };
};

/** The definition with `${Placeholders}` for function ARNs and the queue URL. */
export function pipelineDefinition(options: DefinitionOptions = DEFAULT_DEFINITION_OPTIONS): Record<string, unknown> {
  const maxWaits = options.rateLimitMaxWaits ?? DEFAULT_DEFINITION_OPTIONS.rateLimitMaxWaits;
  if (!(Number.isInteger(maxWaits) && maxWaits >= 1)) throw new RangeError('rateLimitMaxWaits must be a whole number of at least 1');
  const storyTask = {
    Type: 'Task',
    Resource: '${StoryFunctionArn}',
    Parameters: { ...ids },
    ResultPath: '$.story',
    TimeoutSeconds: 300,
    Retry: [transientRetry(3)],
    Next: 'StoryRateLimited',
  };
  const ttsTask = {
    Type: 'Task',
    Resource: '${TtsFunctionArn}',
    Parameters: { ...ids, 'gender.$': '$.gender', 'story_key.$': '$.story.story_key' },
    ResultPath: '$.tts',
    TimeoutSeconds: 900,
    Retry: [transientRetry(3)],
    Next: 'TtsRateLimited',
  };
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
        Next: 'Story',
      },
      Story: storyTask,
      ...rateLimitLoop({ state: 'Story', result: 'story', what: 'the story provider', settings: 'STORY_RPM', next: 'Tts', maxWaits, task: storyTask }),
      Tts: ttsTask,
      ...rateLimitLoop({
        state: 'Tts',
        result: 'tts',
        what: 'the TTS provider',
        settings: 'TTS_RPM / TTS_MAX_CONCURRENCY',
        next: 'Draft',
        maxWaits,
        task: ttsTask,
      }),
      Draft: {
        Type: 'Task',
        Resource: '${DraftFunctionArn}',
        Parameters: {
          ...ids,
          'export_video.$': '$.export_video',
          'narration_key.$': '$.tts.audio_key',
          'timings_key.$': '$.tts.timings_key',
          'video_options.$': '$.video_options',
        },
        ResultPath: '$.draft',
        TimeoutSeconds: 120,
        Retry: [transientRetry(3)],
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
          // The send itself failed (SQS unreachable, throttled, a 5xx): no message went out, so a
          // new attempt is safe — and if one did go out, its token is stale and the worker's
          // report is dropped, while the stored video is reused (one render).
          {
            ErrorEquals: [...SQS_SEND_TRANSIENT_ERROR_NAMES],
            IntervalSeconds: 2,
            MaxAttempts: 4,
            BackoffRate: 2,
            MaxDelaySeconds: 30,
            JitterStrategy: 'FULL',
          },
          {
            ErrorEquals: ['ExportRetryableError'],
            IntervalSeconds: 5,
            MaxAttempts: 3,
            BackoffRate: 2,
            MaxDelaySeconds: 60,
            JitterStrategy: 'FULL',
          },
        ],
        Next: 'Finalize',
      },
      Finalize: {
        Type: 'Task',
        Resource: '${FinalizeFunctionArn}',
        Parameters: { ...ids },
        ResultPath: '$.finalize',
        TimeoutSeconds: 300,
        Retry: [transientRetry(3)],
        End: true,
      },
    },
  };
}

/** Replaces `${Name}` placeholders in every string of the definition (what CDK's substitution does). */
export function substituteDefinition(definition: Record<string, unknown>, values: Record<DefinitionPlaceholder, string>): Record<string, unknown> {
  const text = JSON.stringify(definition).replace(/\$\{(\w+)\}/g, (whole, name: string) => {
    const value = (values as Record<string, string>)[name];
    if (value === undefined) throw new Error(`No value for definition placeholder ${whole}`);
    return JSON.stringify(value).slice(1, -1);
  });
  return JSON.parse(text) as Record<string, unknown>;
}
