import { buildManifest, putObject } from '../../shared/artifacts.js';
import { TaskNotRunningError } from '../../shared/errors.js';
import { ARTIFACT, taskArtifactKey } from '../../shared/keys.js';
import { releaseVideoLock } from '../../shared/lock.js';
import { createLogger, taskLogFields } from '../../shared/logger.js';
import type { Runtime } from '../../shared/runtime.js';
import type { StageEvent } from '../../shared/stage.js';
import { getTask, markTaskSucceeded } from '../../shared/task-record.js';

/**
 * Last state: writes `manifest.json` (every artifact with size and sha256), marks the task
 * SUCCEEDED and releases the lock — in that order, so the lock frees only once the result is
 * complete and recorded.
 */
export function createFinalizeHandler(rt: Runtime) {
  return async (event: StageEvent): Promise<{ manifest_key: string; artifacts: number }> => {
    const log = createLogger(taskLogFields(event, 'finalize'));
    const task = await getTask(rt, event.task_id);
    if (!task || task.status !== 'RUNNING') throw new TaskNotRunningError(event.task_id, task?.status);
    const artifacts = await buildManifest(rt, event.task_id);
    const manifestKey = taskArtifactKey(event.task_id, ARTIFACT.manifest);
    await putObject(
      rt,
      manifestKey,
      JSON.stringify({ task_id: event.task_id, creator_id: event.creator_id, video_id: event.video_id, artifacts }, null, 2),
      'application/json',
    );
    await markTaskSucceeded(rt, event.task_id, artifacts);
    await releaseVideoLock(rt, { creatorId: event.creator_id, videoId: event.video_id, taskId: event.task_id });
    log.info('task succeeded', { artifacts: artifacts.length });
    return { manifest_key: manifestKey, artifacts: artifacts.length };
  };
}
