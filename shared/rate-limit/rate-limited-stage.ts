import { isoNow } from '../clock.js';
import { createLogger, taskLogFields } from '../logger.js';
import { emitMetric } from '../metrics.js';
import type { Runtime } from '../runtime.js';
import { runStage, type StageEvent, type StageWork } from '../stage.js';
import { recordRateLimitWait, type StageName } from '../task-record.js';
import { RateLimitHandBackError, RateLimitWaitsExhaustedError } from './errors.js';

/**
 * What a stage returns instead of its output when the rate limiter asks for a wait longer than a
 * Lambda should sleep. The state machine's Choice after the stage sends it to a Wait state
 * (`SecondsPath: $.<stage>.retry_after_seconds`) and back to the stage, a bounded number of times.
 * Returned as data, never as an error: a Catch `Cause` differs between AWS and the embedded world.
 */
export interface RateLimitedStageOutput {
  rate_limited: true;
  /** whole seconds, 1–900 */
  retry_after_seconds: number;
}

export function isRateLimitedStageOutput(value: unknown): value is RateLimitedStageOutput {
  return typeof value === 'object' && value !== null && (value as { rate_limited?: unknown }).rate_limited === true;
}

/**
 * `runStage` with a third outcome. The stage is marked `running` (attempts + 1, fenced on the task
 * still RUNNING) before the work; the work either returns its output (the stage is marked
 * `succeeded` with its details), throws (the state machine's Retry/Catch decide), or throws
 * {@link RateLimitHandBackError} (from `withRateLimit`, possibly deep inside a provider): then the
 * stage stays `running`, nothing is written, and the state machine is told when to come back —
 * unless this is the last allowed attempt (`event.rate_limit_give_up`): then it throws
 * {@link RateLimitWaitsExhaustedError} with that sentence, and the execution fails at the stage.
 */
export async function runRateLimitedStage<T>(rt: Runtime, event: StageEvent, stage: StageName, work: StageWork<T>): Promise<T | RateLimitedStageOutput> {
  let provider = '';
  const result = await runStage(rt, event, stage, work, (error, log, durationMs): RateLimitedStageOutput | undefined => {
    if (!(error instanceof RateLimitHandBackError)) return undefined;
    if (event.rate_limit_give_up !== undefined) {
      log.error('stage still rate limited on its last attempt: the task gives up', { provider: error.provider, reason: error.reason, duration_ms: durationMs });
      throw new RateLimitWaitsExhaustedError(event.rate_limit_give_up, { cause: error });
    }
    log.info('stage rate limited: the state machine waits before the next attempt', {
      provider: error.provider,
      reason: error.reason,
      retry_after_seconds: error.retryAfterSeconds,
      duration_ms: durationMs,
    });
    emitMetric('RateLimitWaits', 1, 'Count', {}, { task_id: event.task_id, stage, provider: error.provider, reason: error.reason });
    provider = error.provider;
    return { rate_limited: true, retry_after_seconds: error.retryAfterSeconds };
  });
  if (isRateLimitedStageOutput(result)) {
    // Bookkeeping for the task's timeline: the wait happens whether or not it is written.
    await recordRateLimitWait(rt, event.task_id, stage, { at: isoNow(rt.clock), seconds: result.retry_after_seconds, provider }).catch((error: unknown) =>
      createLogger(taskLogFields(event, stage)).warn('rate-limit wait not recorded on the task', { error }),
    );
  }
  return result;
}
