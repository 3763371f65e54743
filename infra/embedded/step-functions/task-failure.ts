/**
 * How a Task attempt fails, in Step Functions' terms: `TaskFailure` carries the Error matched by
 * `ErrorEquals` and the Cause; `outcomeOf` turns the interpreter's rejection into the status,
 * error and cause DescribeExecution reports.
 */
import { ExecutionAbortedError, ExecutionError, ExecutionTimeoutError } from 'aws-local-stepfunctions';
import type { ExecutionEnded, ExecutionSummary } from './local-step-functions.js';
import type { JSONValue } from './json.js';

const FAIL_STATE_DEFAULT_CAUSE = 'Execution failed because of a Fail state';

/** How an execution ended: what DescribeExecution shows besides the dates. */
export type Outcome = Pick<ExecutionSummary, 'output' | 'error' | 'cause'> & { status: ExecutionEnded['status'] };

/**
 * A Task failure as Step Functions reports it: `name` is the Error matched by `ErrorEquals`,
 * `message` the Cause. The interpreter reads `isRetryable` / `isCatchable`.
 */
export class TaskFailure extends Error {
  readonly isRetryable: boolean;
  readonly isCatchable: boolean;
  constructor(error: string, cause: string, options: { terminal?: boolean } = {}) {
    super(cause);
    this.name = error;
    this.isRetryable = !options.terminal;
    this.isCatchable = !options.terminal;
  }
}

/** Rejects a Task attempt of an execution that has ended; neither retried nor caught. */
export class ExecutionEndedError extends TaskFailure {
  constructor() {
    super('States.Runtime', 'The execution has already ended', { terminal: true });
  }
}

/** Rejects the attempt as soon as the execution ends, so late results cannot reach the interpreter. */
export function settleWhenEnded(ended: AbortSignal, attempt: Promise<JSONValue>): Promise<JSONValue> {
  if (ended.aborted) {
    attempt.catch(() => undefined);
    return Promise.reject(new ExecutionEndedError());
  }
  return new Promise((resolve, reject) => {
    const onEnded = () => reject(new ExecutionEndedError());
    ended.addEventListener('abort', onEnded, { once: true });
    attempt.then(
      (value) => {
        ended.removeEventListener('abort', onEnded);
        resolve(value);
      },
      (error: unknown) => {
        ended.removeEventListener('abort', onEnded);
        reject(error instanceof Error ? error : new Error(String(error)));
      },
    );
  });
}

/** The execution's end as AWS reports it, from the interpreter's rejection. */
export function outcomeOf(error: unknown): Outcome {
  if (error instanceof ExecutionTimeoutError) return { status: 'TIMED_OUT', error: 'States.Timeout' };
  if (error instanceof ExecutionAbortedError) return { status: 'ABORTED' };
  if (error instanceof ExecutionError && error.cause instanceof Error) {
    const failure = error.cause;
    // A Fail state without Error/Cause: the interpreter fills in defaults that AWS does not report.
    const fromFailState = !(failure instanceof TaskFailure);
    return {
      status: 'FAILED',
      error: fromFailState && failure.name === 'FailStateError' ? undefined : failure.name,
      cause: fromFailState && failure.message === FAIL_STATE_DEFAULT_CAUSE ? undefined : failure.message,
    };
  }
  return { status: 'FAILED', error: 'States.Runtime', cause: error instanceof Error ? error.message : String(error) };
}
