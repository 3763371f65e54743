import { createLogger, taskLogFields, type Logger } from './logger.js';
import { emitMetric } from './metrics.js';
import type { Runtime } from './runtime.js';
import { markStageRunning, markStageSucceeded, type StageName } from './task-record.js';

export interface StageEvent {
  task_id: string;
  creator_id: string;
  video_id: string;
  /**
   * Set only by a rate-limited stage's last attempt (`<State>LastAttempt` in the definition): the
   * sentence to fail with if the stage is still rate limited instead of asking for another wait.
   */
  rate_limit_give_up?: string;
}

export type StageWork<T> = (log: Logger) => Promise<{ output: T; details?: Record<string, unknown> }>;

/**
 * The bookkeeping around every stage: `running` (attempts + 1) before the work, `succeeded`
 * with the stage's details after it — both conditional on the task still RUNNING, so a stage
 * of a cancelled or failed task stops before doing work and cannot write a late status.
 *
 * `settle` may turn a thrown error into an output instead (the rate limiter's hand-back to the
 * state machine); the stage then stays `running` and nothing more is written.
 */
export async function runStage<T, R = never>(
  rt: Runtime,
  event: StageEvent,
  stage: StageName,
  work: StageWork<T>,
  settle?: (error: unknown, log: Logger, durationMs: number) => R | undefined,
): Promise<T | R> {
  const log = createLogger(taskLogFields(event, stage));
  const started = rt.clock.now();
  await markStageRunning(rt, event.task_id, stage);
  log.info('stage started');
  try {
    const { output, details } = await work(log);
    await markStageSucceeded(rt, event.task_id, stage, details);
    const durationMs = rt.clock.now() - started;
    log.info('stage succeeded', { duration_ms: durationMs, ...details });
    emitMetric('StageDurationMs', durationMs, 'Milliseconds', { Stage: stage }, { task_id: event.task_id });
    return output;
  } catch (error: unknown) {
    const settled = settle?.(error, log, rt.clock.now() - started);
    if (settled !== undefined) return settled;
    log.error('stage failed', { error, duration_ms: rt.clock.now() - started });
    throw error;
  }
}
