import { isTaskId } from '../../shared/ids.js';
import { releaseVideoLock } from '../../shared/lock.js';
import { createLogger, taskLogFields } from '../../shared/logger.js';
import type { Runtime } from '../../shared/runtime.js';
import { taskErrorFromCatch, taskErrorFromExecutionEnd, type CaughtError } from '../../shared/failure.js';
import { getTask, markTaskFailed, type FailureStage, type TaskError } from '../../shared/task-record.js';
import { enqueueCompletionWebhook } from '../../shared/webhook/webhook-queue.js';

/**
 * From a Catch path: the definition no longer has one (a failed execution stays failed at its
 * stage, so a redrive re-runs it), but executions started under the earlier definition still
 * send this until they end.
 */
export interface CatchFailureEvent {
  task_id: string;
  creator_id: string;
  video_id: string;
  failed_stage: FailureStage;
  error: CaughtError;
}

/**
 * From an execution-status change (EventBridge on AWS, the interpreter's rejection locally): the
 * path of every failure. For FAILED, `error` and `cause` are the failing state's Error and Cause
 * (for a stage Lambda: the error's name and the `{errorType, errorMessage, trace}` envelope).
 */
export interface ExecutionStatusEvent {
  source: 'aws.states';
  'detail-type': string;
  /** `redriveCount`: which run of the execution ended (0 before any redrive) */
  detail: { executionArn: string; name: string; status: string; error?: string | null; cause?: string | null; redriveCount?: number };
}

export type FailEvent = CatchFailureEvent | ExecutionStatusEvent;

const isStatusEvent = (e: FailEvent): e is ExecutionStatusEvent => 'detail' in e;

/**
 * Records a failure at its stage (read from the task record: see `failingStage`) and releases the
 * lock. Idempotent: an event may be delivered twice; the record is written only while RUNNING,
 * and the lock released only by its owner — so a report about an old task can never free a newer
 * task's lock, and an event from before the latest redrive is ignored.
 */
export function createFailHandler(rt: Runtime) {
  return async (event: FailEvent): Promise<{ recorded: boolean; lock_released: boolean }> => {
    const taskId = isStatusEvent(event) ? event.detail.name : event.task_id;
    if (!isTaskId(taskId)) return { recorded: false, lock_released: false };
    const record = await getTask(rt, taskId);
    const log = createLogger(taskLogFields({ task_id: taskId, creator_id: record?.creator_id, video_id: record?.video_id }, 'fail'));
    if (!record) {
      log.warn('failure reported for an unknown task');
      return { recorded: false, lock_released: false };
    }
    // A late event about a run from before the latest redrive must not undo the redriven task.
    if (isStatusEvent(event) && (event.detail.redriveCount ?? 0) < (record.redrives ?? 0)) {
      log.info('execution event from before the latest redrive ignored', { redrive_count: event.detail.redriveCount ?? 0, redrives: record.redrives });
      return { recorded: false, lock_released: false };
    }
    let taskError: TaskError;
    if (isStatusEvent(event)) {
      if (event.detail.status === 'SUCCEEDED' || event.detail.status === 'RUNNING') return { recorded: false, lock_released: false };
      taskError = taskErrorFromExecutionEnd(record, event.detail.status, event.detail.error ?? undefined, event.detail.cause ?? undefined);
    } else {
      taskError = taskErrorFromCatch(event.failed_stage, event.error);
    }
    const recorded = await markTaskFailed(rt, taskId, taskError);
    const released = await releaseVideoLock(rt, { creatorId: record.creator_id, videoId: record.video_id, taskId });
    // Only the report that ended the task queues its webhook (a repeated event finds it ended).
    if (recorded) await enqueueCompletionWebhook(rt, { task: record, status: 'FAILED', error: taskError }, log);
    if (recorded) log.error('task failed', { error: taskError, lock_released: released });
    else log.info('failure report for a task that had already ended', { status: record.status, lock_released: released });
    return { recorded, lock_released: released };
  };
}
