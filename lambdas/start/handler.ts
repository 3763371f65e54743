import { LockLostError } from '../../shared/errors.js';
import { extendVideoLock } from '../../shared/lock.js';
import { createLogger, taskLogFields } from '../../shared/logger.js';
import type { Runtime } from '../../shared/runtime.js';
import type { StageEvent } from '../../shared/stage.js';
import { getTask } from '../../shared/task-record.js';
import { TaskNotRunningError } from '../../shared/errors.js';

export interface StartEvent extends StageEvent {
  lease_seconds: number;
}

/**
 * First state: extends the short submit lease to the execution's own time limit plus a margin,
 * so a task that waits hours for the exporter keeps its lock.
 */
export function createStartHandler(rt: Runtime) {
  return async (event: StartEvent): Promise<void> => {
    const log = createLogger(taskLogFields(event, 'start'));
    const task = await getTask(rt, event.task_id);
    if (!task || task.status !== 'RUNNING') throw new TaskNotRunningError(event.task_id, task?.status);
    if (task.lock_lost) throw new LockLostError(event.task_id, task.lock_lost.to_task_id);
    // The token comes from the task record, never from the execution input.
    const held = await extendVideoLock(rt, {
      creatorId: event.creator_id,
      videoId: event.video_id,
      taskId: event.task_id,
      fence: task.lock_fence,
      leaseSeconds: event.lease_seconds,
    });
    if (!held) throw new LockLostError(event.task_id);
    log.info('lock lease extended for the execution', { lease_seconds: event.lease_seconds });
  };
}
