import { buildManifest, putObject } from '../../shared/artifacts.js';
import { LockLostError, TaskNotRunningError } from '../../shared/errors.js';
import { ARTIFACT, taskArtifactKey } from '../../shared/keys.js';
import { releaseVideoLock } from '../../shared/lock.js';
import { createLogger, taskLogFields } from '../../shared/logger.js';
import type { Runtime } from '../../shared/runtime.js';
import type { StageEvent } from '../../shared/stage.js';
import { getTask, markTaskSucceeded } from '../../shared/task-record.js';
import { enqueueCompletionWebhook } from '../../shared/webhook/webhook-queue.js';

/**
 * Last state: writes `manifest.json` (every artifact with size and sha256), marks the task
 * SUCCEEDED and releases the lock — in that order, so the lock frees only once the result is
 * complete and recorded. SUCCEEDED is conditional on the task's lock token (read from its
 * record): a task whose lock was taken over fails here with {@link LockLostError}.
 */
export function createFinalizeHandler(rt: Runtime) {
  return async (event: StageEvent): Promise<{ manifest_key: string; artifacts: number }> => {
    const log = createLogger(taskLogFields(event, 'finalize'));
    const task = await getTask(rt, event.task_id);
    if (!task || task.status !== 'RUNNING') throw new TaskNotRunningError(event.task_id, task?.status);
    // Checked before the manifest is written too, so a revoked task leaves no manifest behind.
    if (task.lock_lost) throw new LockLostError(event.task_id, task.lock_lost.to_task_id);
    const artifacts = await buildManifest(rt, task);
    const manifestKey = taskArtifactKey(event.task_id, ARTIFACT.manifest);
    await putObject(
      rt,
      manifestKey,
      JSON.stringify({ task_id: event.task_id, creator_id: event.creator_id, video_id: event.video_id, artifacts }, null, 2),
      'application/json',
    );
    await markTaskSucceeded(rt, event.task_id, artifacts, task.lock_fence);
    await releaseVideoLock(rt, { creatorId: event.creator_id, videoId: event.video_id, taskId: event.task_id });
    await enqueueCompletionWebhook(rt, { task, status: 'SUCCEEDED', artifacts }, log);
    log.info('task succeeded', { artifacts: artifacts.length });
    return { manifest_key: manifestKey, artifacts: artifacts.length };
  };
}
