import { ExecutionDoesNotExist, StopExecutionCommand } from '@aws-sdk/client-sfn';
import { PipelineError, TaskNotFoundError } from './errors.js';
import { releaseVideoLock } from './lock.js';
import type { Logger } from './logger.js';
import type { Runtime } from './runtime.js';
import { enqueueCompletionWebhook } from './webhook/webhook-queue.js';
import { STAGES, getTask, markTaskCancelled, type StageName, type TaskRecord, type TaskStatus } from './task-record.js';

/** Only a RUNNING task can be cancelled. HTTP 409 with its status. */
export class TaskNotCancellableError extends PipelineError {
  readonly status: TaskStatus;
  constructor(taskId: string, status: TaskStatus) {
    super('task_not_running', `Task ${taskId} has already ended with status ${status}; there is nothing to cancel.`);
    this.name = 'TaskNotCancellableError';
    this.status = status;
  }
}

/** The execution ARN of a task: its execution is named by the task id. */
export function executionArnOf(stateMachineArn: string, taskId: string): string {
  return `${stateMachineArn.replace(':stateMachine:', ':execution:')}:${taskId}`;
}

/**
 * Cancels a running task: the record becomes CANCELLED first (so every later stage write and the
 * export worker see it), then the execution is stopped and the lock released. The export worker,
 * watching the record while a job runs, cancels the job at the exporter; a queued export message
 * of a cancelled task is deleted when the worker receives it.
 */
export async function cancelTask(rt: Runtime, taskId: string, log: Logger): Promise<TaskRecord> {
  const task = await getTask(rt, taskId);
  if (!task) throw new TaskNotFoundError(taskId);
  if (task.status !== 'RUNNING') throw new TaskNotCancellableError(taskId, task.status);
  const stage = (STAGES as readonly string[]).includes(task.stage) ? (task.stage as StageName) : undefined;
  if (!(await markTaskCancelled(rt, taskId, stage))) {
    const now = await getTask(rt, taskId);
    throw new TaskNotCancellableError(taskId, now?.status ?? task.status);
  }
  const taskLog = log.child({ task_id: taskId, creator_id: task.creator_id, video_id: task.video_id, stage: 'cancel' });
  try {
    await rt.sfn.send(
      new StopExecutionCommand({
        executionArn: task.execution_arn ?? executionArnOf(rt.settings.stateMachineArn, taskId),
        error: 'TaskCancelled',
        cause: 'Cancelled through the API.',
      }),
    );
  } catch (error: unknown) {
    // Already ended (or not started yet): the CANCELLED record is what stops the rest.
    if (!(error instanceof ExecutionDoesNotExist)) taskLog.warn('stop execution failed after cancel', { error });
  }
  await releaseVideoLock(rt, { creatorId: task.creator_id, videoId: task.video_id, taskId });
  const cancelled = (await getTask(rt, taskId)) ?? task;
  await enqueueCompletionWebhook(
    rt,
    { task: cancelled, status: 'CANCELLED', error: { stage: stage ?? 'execution', code: 'cancelled', message: 'The task was cancelled through the API.' } },
    taskLog,
  );
  taskLog.info('task cancelled', { stage_at_cancel: task.stage });
  return cancelled;
}
