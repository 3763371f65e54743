import { STAGES, type FailureStage, type TaskError, type TaskRecord } from './task-record.js';

/** A state's error as Step Functions reports it (a Catch result, or a failed execution's error and cause), the same shape in both worlds. */
export interface CaughtError {
  Error: string;
  Cause?: string;
}

/** `TtsFailedError` → `tts_failed`, `States.Timeout` → `states_timeout`. */
export function errorCode(name: string): string {
  return (
    name
      .replace(/Error$/, '')
      .replace(/[.\s]+/g, '_')
      .replace(/([a-z0-9])([A-Z])/g, '$1_$2')
      .toLowerCase() || 'error'
  );
}

/**
 * The human sentence inside a state error's `Cause`: Lambda errors arrive as the JSON envelope
 * `{errorType, errorMessage, trace}`; service errors (States.Timeout, SQS) as plain text.
 */
export function causeMessage(cause: string | undefined): string {
  if (!cause) return '';
  try {
    const parsed: unknown = JSON.parse(cause);
    if (parsed && typeof parsed === 'object' && 'errorMessage' in parsed) {
      const message = parsed.errorMessage;
      if (typeof message === 'string') return message;
    }
  } catch {
    // not JSON: a plain cause
  }
  return cause;
}

/** The task error of a stage error, from its Error name and Cause (a Catch result's shape). */
export function taskErrorFromCatch(stage: FailureStage, caught: CaughtError): TaskError {
  const message = causeMessage(caught.Cause);
  if (caught.Error === 'States.Timeout') {
    return { stage, code: 'stage_timed_out', message: `The ${stage} stage did not finish within its time limit.${message ? ` ${message}` : ''}` };
  }
  return { stage, code: errorCode(caught.Error), message: message || caught.Error };
}

/** Errors only the Start state throws: a failure with one of them before Story ran is Start's. */
const START_ERRORS: ReadonlySet<string> = new Set(['LockLostError', 'TaskNotRunningError']);

/**
 * The stage an ended execution was in, from the task record (the execution-status event does not
 * name the state): the stage marked `running` or `queued`; else the first stage not finished yet
 * (a failure before its handler marked it, e.g. a Lambda that did not start); `start` when that
 * is a Story never attempted and the error is one of Start's; `finalize` when every stage finished.
 */
export function failingStage(record: TaskRecord | undefined, error?: string): FailureStage {
  if (!record) return 'execution';
  const current = STAGES.find((stage) => stage === record.stage);
  const status = current && record.stages[current]?.status;
  if (current && (status === 'running' || status === 'queued')) return current;
  if (record.stage === 'done') return 'execution';
  const next = STAGES.find((stage) => !['succeeded', 'skipped'].includes(record.stages[stage]?.status ?? 'pending'));
  if (!next) return 'finalize';
  if (next === 'story' && (record.stages.story?.attempts ?? 0) === 0 && START_ERRORS.has(error ?? '')) return 'start';
  return next;
}

/**
 * The task error of an ended execution (the EventBridge status change on AWS, the interpreter's
 * end locally): a stage error (the definition has no Catch, so the execution fails at the stage
 * with the stage's error name and the Lambda error envelope as cause), a stage timeout, the
 * execution's own timeout, a stop.
 */
export function taskErrorFromExecutionEnd(record: TaskRecord | undefined, status: string, error?: string, cause?: string): TaskError {
  // A stop or the execution's timeout names the stage that ran last, as it always has; a failure
  // names the stage that failed, which may not have marked itself running yet.
  const current = record?.stage;
  const lastRan: FailureStage = current && current !== 'submitted' && current !== 'done' ? current : 'execution';
  const stage = status === 'FAILED' ? failingStage(record, error) : lastRan;
  if (status === 'TIMED_OUT') {
    return { stage, code: 'execution_timed_out', message: "The task exceeded the pipeline's time limit and was stopped." };
  }
  if (status === 'ABORTED') {
    return { stage, code: 'execution_aborted', message: `The task's execution was stopped from outside${cause ? `: ${causeMessage(cause)}` : '.'}` };
  }
  if (error) return taskErrorFromCatch(stage, { Error: error, Cause: cause });
  return { stage, code: 'execution_failed', message: causeMessage(cause) || 'The execution failed without a reason.' };
}
