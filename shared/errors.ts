/**
 * One class per failure a caller must tell apart. `name` is part of the state machine's
 * contract: Step Functions matches Retry/Catch `ErrorEquals` on it.
 */
export class PipelineError extends Error {
  /** stable machine-readable code shown in task records and API answers */
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'PipelineError';
    this.code = code;
  }
}

/** Request body failed validation. HTTP 400. */
export class InvalidRequestError extends PipelineError {
  readonly details: unknown;
  constructor(message: string, details?: unknown, code = 'invalid_request') {
    super(code, message);
    this.name = 'InvalidRequestError';
    this.details = details;
  }
}

/** Another task holds the creator+video lock. HTTP 409. */
export class DuplicateTaskError extends PipelineError {
  readonly holderTaskId: string | undefined;
  constructor(creatorId: string, videoId: string, holderTaskId: string | undefined) {
    super(
      'duplicate_task',
      `A task for creator "${creatorId}" and video "${videoId}" is already running` +
        (holderTaskId ? ` (task ${holderTaskId}).` : '.') +
        ' Wait for it to finish, or cancel it, before submitting again.',
    );
    this.name = 'DuplicateTaskError';
    this.holderTaskId = holderTaskId;
  }
}

/** Neither `source_text` nor a stored source object exists. HTTP 422. */
export class SourceMissingError extends PipelineError {
  constructor(creatorId: string, videoId: string, sourceKey: string) {
    super(
      'source_missing',
      `No source material for creator "${creatorId}" and video "${videoId}": send "source_text" in the request, ` +
        `or upload it first with PUT /api/pipeline/sources/${creatorId}/${videoId}/source.txt (object key "${sourceKey}").`,
    );
    this.name = 'SourceMissingError';
  }
}

/** The request names a `music` file that is not under the video's `music/` folder. HTTP 422. */
export class MusicMissingError extends PipelineError {
  constructor(creatorId: string, videoId: string, name: string) {
    super(
      'music_missing',
      `No music file "${name}" for creator "${creatorId}" and video "${videoId}": upload it first with ` +
        `PUT /api/pipeline/sources/${creatorId}/${videoId}/music/${encodeURIComponent(name)}, leave "music" out to use the first file there, ` +
        `or send "music": null for none.`,
    );
    this.name = 'MusicMissingError';
  }
}

/** The orchestrator refused to start the execution. HTTP 503; the lock is released. */
export class StartExecutionFailedError extends PipelineError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('start_failed', message, options);
    this.name = 'StartExecutionFailedError';
  }
}

/** A task id that does not exist. HTTP 404. */
export class TaskNotFoundError extends PipelineError {
  constructor(taskId: string) {
    super('task_not_found', `No task with id "${taskId}".`);
    this.name = 'TaskNotFoundError';
  }
}

/**
 * The task is no longer RUNNING (cancelled, failed, finished): a late stage must stop and
 * write nothing. Not retried by the state machine.
 */
export class TaskNotRunningError extends PipelineError {
  constructor(taskId: string, status?: string) {
    super('task_not_running', `Task ${taskId} is no longer running${status ? ` (status ${status})` : ''}.`);
    this.name = 'TaskNotRunningError';
  }
}

/**
 * The task no longer holds its creator+video lock: its lease ran out, or another task took the
 * lock over and revoked this task's fencing token. Whatever the task still does cannot become
 * its result. Terminal: not retried by the state machine.
 */
export class LockLostError extends PipelineError {
  constructor(taskId: string, takenOverBy?: string) {
    super(
      'lock_lost',
      `Task ${taskId} no longer holds its creator+video lock` +
        (takenOverBy ? ` (task ${takenOverBy} took it over after this task's lease expired)` : ' (its lease expired)') +
        '; it stops here and nothing it produced is kept as its result.',
    );
    this.name = 'LockLostError';
  }
}

/** A stage's input artifact is missing or malformed: retrying will not help. */
export class StageInputError extends PipelineError {
  constructor(message: string) {
    super('stage_input_invalid', message);
    this.name = 'StageInputError';
  }
}

/** A passing fault (network, throttling, a busy dependency). Retried by the state machine. */
export class TransientStageError extends PipelineError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('transient', message, options);
    this.name = 'TransientStageError';
  }
}

/** Speech synthesis failed for the given text. */
export class TtsFailedError extends PipelineError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('tts_failed', message, options);
    this.name = 'TtsFailedError';
  }
}

/** The exporter reported that the render itself failed (bad draft, ffmpeg error): terminal. */
export class ExportFailedError extends PipelineError {
  constructor(message: string) {
    super('export_failed', message);
    this.name = 'ExportFailedError';
  }
}

/** The export attempt failed in a way a fresh attempt may fix. Retried with a new message/token. */
export class ExportRetryableError extends PipelineError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('export_retryable', message, options);
    this.name = 'ExportRetryableError';
  }
}

/** A required setting is missing at start-up. */
export class ConfigError extends Error {
  constructor(setting: string, hint?: string) {
    super(`Missing required setting ${setting}${hint ? `: ${hint}` : ''}.`);
    this.name = 'ConfigError';
  }
}

/**
 * Error names the state machine retries (with backoff and jitter): ours, and the Lambda service
 * exceptions AWS's Step Functions best practice lists ("Handle Lambda service exceptions"),
 * plus throttling.
 */
export const RETRYABLE_ERROR_NAMES = [
  'TransientStageError',
  'Lambda.ClientExecutionTimeoutException',
  'Lambda.ServiceException',
  'Lambda.AWSLambdaException',
  'Lambda.SdkClientException',
  'Lambda.TooManyRequestsException',
] as const;

/** Narrow an unknown thrown value to a message. */
export function errorMessage(error: unknown): string {
  if (error instanceof Error) return error.message;
  return typeof error === 'string' ? error : JSON.stringify(error);
}

/** Narrow an unknown thrown value to its name. */
export function errorName(error: unknown): string {
  if (error instanceof Error) return error.name;
  return 'Error';
}

/**
 * What Step Functions answers to a SendTask* call whose task already ended: its token timed out
 * (`TaskTimedOut`), was used or never existed (`InvalidToken`), or its execution is gone
 * (`TaskDoesNotExist`). A late or duplicate report: log it and drop it, never retry.
 */
export const STALE_TASK_TOKEN_ERRORS: readonly string[] = ['TaskTimedOut', 'InvalidToken', 'TaskDoesNotExist'];

/** Whether a SendTask* call failed because its task had already ended ({@link STALE_TASK_TOKEN_ERRORS}). */
export function isStaleTaskTokenError(error: unknown): boolean {
  return STALE_TASK_TOKEN_ERRORS.includes(errorName(error));
}
