import { createLogger, taskLogFields, type Logger } from './logger.js';
import type { Runtime } from './runtime.js';
import { markStageRunning, markStageSucceeded, type StageName } from './task-record.js';

export interface StageEvent {
  task_id: string;
  creator_id: string;
  video_id: string;
}

/**
 * The bookkeeping around every stage: `running` (attempts + 1) before the work, `succeeded`
 * with the stage's details after it — both conditional on the task still RUNNING, so a stage
 * of a cancelled or failed task stops before doing work and cannot write a late status.
 */
export async function runStage<T>(
  rt: Runtime,
  event: StageEvent,
  stage: StageName,
  work: (log: Logger) => Promise<{ output: T; details?: Record<string, unknown> }>,
): Promise<T> {
  const log = createLogger(taskLogFields(event, stage));
  const started = rt.clock.now();
  await markStageRunning(rt, event.task_id, stage);
  log.info('stage started');
  try {
    const { output, details } = await work(log);
    await markStageSucceeded(rt, event.task_id, stage, details);
    log.info('stage succeeded', { duration_ms: rt.clock.now() - started, ...details });
    return output;
  } catch (error: unknown) {
    log.error('stage failed', { error, duration_ms: rt.clock.now() - started });
    throw error;
  }
}
