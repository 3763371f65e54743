import type { FailureStage, TaskError, TaskRecord } from './task-record.js';

/** What Catch hands the fail handler (`$.error`), the same shape in both worlds. */
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
 * The human sentence inside a Catch `Cause`: Lambda errors arrive as the JSON envelope
 * `{errorType, errorMessage, trace}`; service errors (States.Timeout, SQS) as plain text.
 */
export function causeMessage(cause: string | undefined): string {
  if (!cause) return '';
  try {
    const parsed: unknown = JSON.parse(cause);
    if (parsed && typeof parsed === 'object' && 'errorMessage' in parsed) {
      const message = (parsed).errorMessage;
      if (typeof message === 'string') return message;
    }
  } catch {
    // not JSON: a plain cause
  }
  return cause;
}

export function taskErrorFromCatch(stage: FailureStage, caught: CaughtError): TaskError {
  const message = causeMessage(caught.Cause);
  if (caught.Error === 'States.Timeout') {
    return { stage, code: 'stage_timed_out', message: `The ${stage} stage did not finish within its time limit.${message ? ` ${message}` : ''}` };
  }
  return { stage, code: errorCode(caught.Error), message: message || caught.Error };
}

/** An execution ending that Catch cannot see: its own timeout, a stop, a runtime error. */
export function taskErrorFromExecutionEnd(
  record: TaskRecord | undefined,
  status: string,
  error?: string,
  cause?: string,
): TaskError {
  const current = record?.stage;
  const stage: FailureStage =
    current && current !== 'submitted' && current !== 'done' ? current : 'execution';
  if (status === 'TIMED_OUT') {
    return { stage, code: 'execution_timed_out', message: 'The task exceeded the pipeline\'s time limit and was stopped.' };
  }
  if (status === 'ABORTED') {
    return { stage, code: 'execution_aborted', message: `The task's execution was stopped from outside${cause ? `: ${causeMessage(cause)}` : '.'}` };
  }
  return {
    stage,
    code: error ? errorCode(error) : 'execution_failed',
    message: causeMessage(cause) || error || 'The execution failed without a reason.',
  };
}
