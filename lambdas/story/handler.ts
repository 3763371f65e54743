import { getObjectText, putObject } from '../../shared/artifacts.js';
import { StageInputError } from '../../shared/errors.js';
import { ARTIFACT, taskArtifactKey } from '../../shared/keys.js';
import { runRateLimitedStage, type RateLimitedStageOutput } from '../../shared/rate-limit/rate-limited-stage.js';
import { withRateLimit, type Sleep } from '../../shared/rate-limit/with-rate-limit.js';
import type { Runtime } from '../../shared/runtime.js';
import type { StageEvent } from '../../shared/stage.js';
import type { StoryProvider, StoryResult } from '../../shared/story/story-provider.js';

export interface StoryOutput {
  story_key: string;
  sentences: number;
}

/**
 * Story: the task's source snapshot → narration script `story.txt` (one sentence a line).
 * A provider with a shared limit (Gemini) is called through the rate limiter; a wait longer than
 * `RATE_LIMIT_MAX_WAIT_SECONDS` comes back as `{rate_limited: true, retry_after_seconds}` for the
 * state machine to wait out.
 */
export function createStoryHandler(rt: Runtime, story: StoryProvider, options: { sleep?: Sleep } = {}) {
  return (event: StageEvent): Promise<StoryOutput | RateLimitedStageOutput> =>
    runRateLimitedStage(rt, event, 'story', async (log) => {
      const source = await getObjectText(rt, taskArtifactKey(event.task_id, ARTIFACT.source));
      if (source === undefined) throw new StageInputError(`The source snapshot of task ${event.task_id} is missing.`);
      let result: StoryResult;
      let limited: Record<string, unknown> = {};
      if (story.rateLimit) {
        const call = await withRateLimit(
          rt,
          {
            provider: story.rateLimit.provider,
            requestsPerMinute: story.rateLimit.requestsPerMinute,
            maxWaitSeconds: rt.settings.rateLimitMaxWaitSeconds,
            holder: event.task_id,
          },
          () => story.write(source),
          { sleep: options.sleep, log },
        );
        result = call.value;
        limited = { rate_limit_wait_ms: call.waited_ms, throttled: call.throttled };
      } else {
        result = await story.write(source);
      }
      const { sentences, details } = result;
      if (sentences.length === 0) throw new StageInputError('The source material has no speakable text (no letters or digits).');
      const key = taskArtifactKey(event.task_id, ARTIFACT.story);
      await putObject(rt, key, `${sentences.join('\n')}\n`, 'text/plain; charset=utf-8');
      return {
        output: { story_key: key, sentences: sentences.length },
        details: { ...details, characters: sentences.join('').length, ...limited },
      };
    });
}
