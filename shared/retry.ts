import { DescribeExecutionCommand, RedriveExecutionCommand } from '@aws-sdk/client-sfn';
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { executionArnOf } from './cancel.js';
import { isoNow } from './clock.js';
import { PipelineError, TaskNotFoundError } from './errors.js';
import { taskKey } from './keys.js';
import { acquireVideoLock, releaseVideoLock } from './lock.js';
import type { Logger } from './logger.js';
import type { Runtime } from './runtime.js';
import { DEFAULT_DEFINITION_OPTIONS } from './state-machine.js';
import { getTask, markTaskFailed, type TaskRecord, type TaskStatus } from './task-record.js';

/**
 * Retry of an ended task: its execution is redriven (RedriveExecution, the same call on AWS and
 * on the embedded stack), so it continues at the stage where it ended with the same task id;
 * finished stages are not run again.
 *
 *   take the lock again (409 naming the holder if another task of the creator+video runs)
 *     → record back to RUNNING: `redrives` + 1, the new fencing token, no error, no lock_lost
 *     → RedriveExecution (Start is not re-run, so the lock lease set here covers the execution)
 *     → refused? the record goes back to FAILED with the reason, the lock is released.
 *
 * Which tasks: FAILED ones (a stage error, a stage or execution timeout, a stop) and CANCELLED
 * ones (the execution is ABORTED). The definition has no Catch, so a failed execution ends at the
 * stage that failed, and the redrive runs that stage again with the input it had.
 */

/** Only an ended task can be retried: RUNNING and SUCCEEDED answer 409 with the status. */
export class TaskNotRetryableError extends PipelineError {
  readonly status: TaskStatus;
  constructor(taskId: string, status: TaskStatus, reason: string) {
    super(status === 'RUNNING' || status === 'SUCCEEDED' ? 'task_not_retryable' : 'task_not_redrivable', `Task ${taskId} cannot be retried: ${reason}`);
    this.name = 'TaskNotRetryableError';
    this.status = status;
  }
}

/** How long a retry waits for an execution whose record already says FAILED to end. */
const EXECUTION_END_WAIT_MS = 5_000;

/**
 * Retries an ended task by redriving its execution; returns the task as it is then (RUNNING).
 *
 * @example
 * const task = await retryTask(rt, taskId, log); // 409 DuplicateTaskError / TaskNotRetryableError
 */
export async function retryTask(rt: Runtime, taskId: string, log: Logger): Promise<TaskRecord> {
  const task = await getTask(rt, taskId);
  if (!task) throw new TaskNotFoundError(taskId);
  if (task.status === 'RUNNING' || task.status === 'SUCCEEDED') {
    throw new TaskNotRetryableError(taskId, task.status, `it is ${task.status}.`);
  }
  const executionArn = task.execution_arn ?? executionArnOf(rt.settings.stateMachineArn, taskId);
  await waitForExecutionEnd(rt, executionArn);
  const { executionTimeoutSeconds, lockLeaseMarginSeconds } = DEFAULT_DEFINITION_OPTIONS;
  // Throws DuplicateTaskError naming the holder; nothing has changed then.
  const fence = await acquireVideoLock(rt, {
    creatorId: task.creator_id,
    videoId: task.video_id,
    taskId,
    leaseSeconds: executionTimeoutSeconds + lockLeaseMarginSeconds,
  });
  const redrives = (task.redrives ?? 0) + 1;
  if (!(await markTaskRedriven(rt, task, { fence, redrives }))) {
    await releaseVideoLock(rt, { creatorId: task.creator_id, videoId: task.video_id, taskId });
    const now = await getTask(rt, taskId);
    throw new TaskNotRetryableError(taskId, now?.status ?? task.status, 'it changed while the retry started; look at it again.');
  }
  const taskLog = log.child({ task_id: taskId, creator_id: task.creator_id, video_id: task.video_id, stage: 'retry' });
  try {
    await rt.sfn.send(new RedriveExecutionCommand({ executionArn }));
  } catch (error: unknown) {
    const reason = error instanceof Error ? error.message : String(error);
    await markTaskFailed(rt, taskId, { stage: 'execution', code: 'redrive_refused', message: `The retry could not redrive the execution: ${reason}` });
    await releaseVideoLock(rt, { creatorId: task.creator_id, videoId: task.video_id, taskId });
    taskLog.warn('redrive refused', { error });
    throw new TaskNotRetryableError(taskId, 'FAILED', `Step Functions refused the redrive (${reason}).`);
  }
  taskLog.info('task retried: execution redriven', { redrives, lock_fence: fence, previous_status: task.status });
  return (await getTask(rt, taskId)) ?? task;
}

/** The record says it ended; its execution may take a moment longer (the fail path runs first). */
async function waitForExecutionEnd(rt: Runtime, executionArn: string): Promise<void> {
  const deadline = Date.now() + EXECUTION_END_WAIT_MS;
  for (;;) {
    const { status } = await rt.sfn.send(new DescribeExecutionCommand({ executionArn }));
    if (status !== 'RUNNING' || Date.now() >= deadline) return;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

/** FAILED or CANCELLED → RUNNING again, only from the status it was read in. */
async function markTaskRedriven(rt: Runtime, task: TaskRecord, a: { fence: number; redrives: number }): Promise<boolean> {
  try {
    await rt.ddb.send(
      new UpdateCommand({
        TableName: rt.settings.tableName,
        Key: { pk: taskKey(task.task_id) },
        UpdateExpression:
          'SET #status = :running, lock_fence = :fence, redrives = :redrives, updated_at = :now REMOVE #error, ended_at, cancelled_at, lock_lost',
        ConditionExpression: '#status = :was',
        ExpressionAttributeNames: { '#status': 'status', '#error': 'error' },
        ExpressionAttributeValues: { ':running': 'RUNNING', ':fence': a.fence, ':redrives': a.redrives, ':now': isoNow(rt.clock), ':was': task.status },
      }),
    );
    return true;
  } catch (error: unknown) {
    if (error instanceof ConditionalCheckFailedException) return false;
    throw error;
  }
}
