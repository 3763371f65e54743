import { getObjectText, putObject } from '../../shared/artifacts.js';
import { StageInputError } from '../../shared/errors.js';
import { ARTIFACT, taskArtifactKey } from '../../shared/keys.js';
import type { Logger } from '../../shared/logger.js';
import { runRateLimitedStage, type RateLimitedStageOutput } from '../../shared/rate-limit/rate-limited-stage.js';
import { withRateLimit, type Sleep } from '../../shared/rate-limit/with-rate-limit.js';
import type { Runtime } from '../../shared/runtime.js';
import type { StageEvent } from '../../shared/stage.js';
import { FootageUnusableError } from '../../shared/story/footage-errors.js';
import { watchFootage } from '../../shared/story/footage-story.js';
import { GeminiMalformedOutputError } from '../../shared/story/gemini-errors.js';
import type { StoryProvider, StoryResult } from '../../shared/story/story-provider.js';
import type { VisualPlan } from '../../shared/video-options.js';

export interface StoryOutput {
  story_key: string;
  sentences: number;
  /** set when the narration follows a plan of the footage (`visual-plan.json`) */
  visual_plan_key?: string;
}

/**
 * Story: the task's source snapshot (and, with a provider that can watch them, the video's clips)
 * → narration script `story.txt` (one sentence a line), plus `visual-plan.json` when the
 * narration was planned over the clips. A provider with a shared limit (Gemini) is called through
 * the rate limiter; a wait longer than `RATE_LIMIT_MAX_WAIT_SECONDS` — or clips still uploading or
 * processing after `GEMINI_FILE_WAIT_SECONDS` — comes back as `{rate_limited: true,
 * retry_after_seconds}` for the state machine to wait out.
 */
export function createStoryHandler(rt: Runtime, story: StoryProvider, options: { sleep?: Sleep } = {}) {
  return (event: StageEvent): Promise<StoryOutput | RateLimitedStageOutput> =>
    runRateLimitedStage(rt, event, 'story', async (log) => {
      const snapshot = await getObjectText(rt, taskArtifactKey(event.task_id, ARTIFACT.source));
      const source = snapshot?.trim() ? snapshot : undefined;
      const limited = { waited_ms: 0, throttled: 0 };
      const rateLimited = async <T>(fn: () => Promise<T>): Promise<T> => {
        if (!story.rateLimit) return fn();
        const call = await withRateLimit(
          rt,
          {
            provider: story.rateLimit.provider,
            requestsPerMinute: story.rateLimit.requestsPerMinute,
            maxWaitSeconds: rt.settings.rateLimitMaxWaitSeconds,
            holder: event.task_id,
          },
          fn,
          { sleep: options.sleep, log },
        );
        limited.waited_ms += call.waited_ms;
        limited.throttled += call.throttled;
        return call.value;
      };
      const limitDetails = () => (story.rateLimit ? { rate_limit_wait_ms: limited.waited_ms, throttled: limited.throttled } : {});

      const written = await writeStory(rt, { event, story, source, log, rateLimited, sleep: options.sleep });
      const { sentences, details } = written.result;
      if (sentences.length === 0) throw new StageInputError('The source material has no speakable text (no letters or digits).');
      const key = taskArtifactKey(event.task_id, ARTIFACT.story);
      let planKey: string | undefined;
      if (written.plan) {
        planKey = taskArtifactKey(event.task_id, ARTIFACT.visualPlan);
        await putObject(rt, planKey, `${JSON.stringify(written.plan, null, 2)}\n`, 'application/json');
      }
      await putObject(rt, key, `${sentences.join('\n')}\n`, 'text/plain; charset=utf-8');
      return {
        output: { story_key: key, sentences: sentences.length, ...(planKey ? { visual_plan_key: planKey } : {}) },
        details: { ...details, characters: sentences.join('').length, ...limitDetails() },
      };
    });
}

/**
 * The narration, from the footage when the provider can watch it and the video has clips: a plan
 * that holds is the story (and `visual-plan.json`); one that does not falls back — to the source
 * text told the usual way (the clips then follow in name order), or without a source text to the
 * answer's own sentences — and the record says why (`visual_plan: {used: false, reason}`).
 */
async function writeStory(
  rt: Runtime,
  a: {
    event: StageEvent;
    story: StoryProvider;
    source: string | undefined;
    log: Logger;
    rateLimited: <T>(fn: () => Promise<T>) => Promise<T>;
    sleep?: Sleep;
  },
): Promise<{ result: StoryResult; plan?: VisualPlan }> {
  const { event, story, source, log } = a;
  const fromText = async (extra: Record<string, unknown>): Promise<{ result: StoryResult }> => {
    if (source === undefined) throw new StageInputError(`The source snapshot of task ${event.task_id} is missing.`);
    const result = await a.rateLimited(() => story.write(source));
    return { result: { sentences: result.sentences, details: { ...result.details, ...extra } } };
  };
  if (!story.footage) return fromText({});

  const outcome = await watchFootage(rt, {
    taskId: event.task_id,
    creatorId: event.creator_id,
    videoId: event.video_id,
    source: source ?? '',
    watcher: story.footage,
    log,
    rateLimited: a.rateLimited,
    sleep: a.sleep,
  });
  if (outcome.kind === 'no_clips') return fromText(source === undefined ? {} : { visual_plan: { used: false, reason: 'the video has no clips under media/' } });
  if (outcome.kind === 'unusable') {
    if (source === undefined) throw new FootageUnusableError(outcome.reason);
    log.warn('the footage cannot be watched: the source text is the story', { reason: outcome.reason });
    return fromText({ ...outcome.details, visual_plan: { used: false, reason: outcome.reason } });
  }
  const { check } = outcome;
  if (check.ok) {
    return {
      result: {
        sentences: check.sentences,
        details: { ...outcome.details, sentences: check.sentences.length, visual_plan: { used: true, sentences: check.plan.sentences.length } },
      },
      plan: check.plan,
    };
  }
  log.warn('the plan of the footage does not hold: falling back to the clips in name order', { reason: check.reason });
  const fallback = { visual_plan: { used: false, reason: check.reason } };
  if (source !== undefined) {
    const { footage } = outcome.details;
    return fromText({ footage, ...fallback });
  }
  if (check.sentences.length === 0)
    throw new GeminiMalformedOutputError(`the plan of the footage does not hold (${check.reason}) and it has no speakable sentence`);
  return { result: { sentences: check.sentences, details: { ...outcome.details, sentences: check.sentences.length, ...fallback } } };
}
