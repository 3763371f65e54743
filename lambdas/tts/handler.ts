import { getObjectText, putObject } from '../../shared/artifacts.js';
import { StageInputError, TtsFailedError, errorMessage } from '../../shared/errors.js';
import { ARTIFACT, taskArtifactKey } from '../../shared/keys.js';
import type { Logger } from '../../shared/logger.js';
import { ProviderThrottledError } from '../../shared/rate-limit/errors.js';
import { runRateLimitedStage, type RateLimitedStageOutput } from '../../shared/rate-limit/rate-limited-stage.js';
import { withRateLimit, type Sleep } from '../../shared/rate-limit/with-rate-limit.js';
import type { Runtime } from '../../shared/runtime.js';
import type { StageEvent } from '../../shared/stage.js';
import type { NarrationTimings } from '../../shared/tts/narration-timings.js';
import { SpeechServiceBusyError } from '../../shared/tts/tts-errors.js';
import type { Gender, SpeechRequestInfo, SynthesisResult, TtsProvider } from '../../shared/tts/tts-provider.js';

export interface TtsEvent extends StageEvent {
  gender: Gender;
  story_key: string;
}

export interface TtsOutput {
  audio_key: string;
  timings_key: string;
  duration_ms: number;
}

/**
 * A throttle that names no delay (Polly's ThrottlingException, a 429 without Retry-After) is
 * retried after this long. Polly's quotas are per second, so a second is enough to get back under.
 */
export const TTS_THROTTLE_RETRY_SECONDS = 1;

/** What the limiter cost one narration, summed over its requests (recorded in the task record). */
export interface RateLimitTally {
  /** requests that went through the limiter */
  requests: number;
  waited_ms: number;
  throttled: number;
}

// ─────────────────────────────────────────────────────────────────────────────────────────────
// THE CALL SITE OF EVERY TTS PROVIDER REQUEST.
// Each request a cloud provider sends — one Polly SynthesizeSpeech call (audio or speech marks),
// one POST to TTS_URL — goes out through this function, once per attempt (provider retries come
// back through it), under the shared limiter: a concurrency slot (TTS_MAX_CONCURRENCY), then a
// reserved moment in the request-rate bucket (TTS_RPM), then `send`, which performs exactly one
// network request and reads its whole answer. Each request may wait RATE_LIMIT_MAX_WAIT_SECONDS
// inside the stage; a longer wait throws RateLimitHandBackError, and the stage hands the wait to
// the state machine (TtsRateLimited). A provider's "too many requests" (SpeechServiceBusyError
// with `throttled`) becomes ProviderThrottledError here, so it takes the same path and is retried
// no sooner than its Retry-After — not by the provider's own quick backoff.
//
// The limiter items are named by provider (`RATE#polly`, `RATE#http`), not one `tts` bucket: the
// limits are the provider's quota (an AWS account's Polly rate, the team service's capacity), so
// switching TTS_PROVIDER starts from a fresh bucket and slots instead of inheriting another
// service's state. The offline eSpeak provider sends no requests and never comes here: unlimited.
// ─────────────────────────────────────────────────────────────────────────────────────────────
/**
 * Sends one provider request under the TTS limits (see the comment above).
 *
 * @throws RateLimitHandBackError when the request may not go out within the in-stage budget;
 *   whatever `send` throws otherwise (a throttle only after the limiter's own retries).
 */
export async function requestSpeech<T>(
  rt: Runtime,
  a: { event: TtsEvent; request: SpeechRequestInfo; send: () => Promise<T>; log: Logger; tally: RateLimitTally; sleep?: Sleep },
): Promise<T> {
  const call = await withRateLimit(
    rt,
    {
      provider: a.request.provider,
      requestsPerMinute: rt.settings.ttsRpm,
      maxConcurrency: rt.settings.ttsMaxConcurrency,
      leaseSeconds: rt.settings.rateLimitLeaseSeconds,
      maxWaitSeconds: rt.settings.rateLimitMaxWaitSeconds,
      holder: a.event.task_id,
    },
    () => sendReportingThrottles(a.request.provider, a.send),
    { sleep: a.sleep, log: a.log },
  );
  a.tally.requests += 1;
  a.tally.waited_ms += call.waited_ms;
  a.tally.throttled += call.throttled;
  return call.value;
}

/** `send`, with the provider's "too many requests" turned into the limiter's {@link ProviderThrottledError}. */
async function sendReportingThrottles<T>(provider: string, send: () => Promise<T>): Promise<T> {
  try {
    return await send();
  } catch (error: unknown) {
    if (error instanceof SpeechServiceBusyError && error.throttled) {
      throw new ProviderThrottledError(provider, error.retryAfterSeconds ?? TTS_THROTTLE_RETRY_SECONDS, error.message, { cause: error });
    }
    throw error;
  }
}

/**
 * TTS: `story.txt` → narration audio plus its word timings (subtitle timing comes from them).
 * Provider requests go out under the shared limits ({@link requestSpeech}); a wait longer than
 * `RATE_LIMIT_MAX_WAIT_SECONDS` comes back as `{rate_limited: true, retry_after_seconds}` for the
 * state machine to wait out. `sleep` is injectable so tests move a virtual clock.
 */
export function createTtsHandler(rt: Runtime, tts: TtsProvider, options: { sleep?: Sleep } = {}) {
  return (event: TtsEvent): Promise<TtsOutput | RateLimitedStageOutput> =>
    runRateLimitedStage(rt, event, 'tts', async (log) => {
      const story = await getObjectText(rt, event.story_key);
      if (story === undefined) throw new StageInputError(`The story of task ${event.task_id} is missing.`);
      const sentences = story
        .split('\n')
        .map((s) => s.trim())
        .filter(Boolean);
      let result: SynthesisResult;
      const tally: RateLimitTally = { requests: 0, waited_ms: 0, throttled: 0 };
      try {
        result = await tts.synthesize(
          { sentences, gender: event.gender },
          {
            requestSpeech: (request, send) => requestSpeech(rt, { event, request, send, log, tally, sleep: options.sleep }),
            log: (message, data) => log.info(message, data as Record<string, unknown> | undefined),
          },
        );
      } catch (error: unknown) {
        // Named errors (TtsInputError, TtsFailedError, TransientStageError, a rate limiter's) keep
        // their name: the state machine's Retry/Catch match on it, and runRateLimitedStage turns
        // a RateLimitHandBackError into the hand-back output.
        if (error instanceof Error && error.name !== 'Error') throw error;
        throw new TtsFailedError(`Speech synthesis failed: ${errorMessage(error)}`, { cause: error });
      }
      const audioKey = taskArtifactKey(event.task_id, ARTIFACT.narration);
      const timingsKey = taskArtifactKey(event.task_id, ARTIFACT.narrationTimings);
      const timings: NarrationTimings = {
        language: result.language,
        voice: result.voice,
        duration_ms: result.duration_ms,
        content_type: result.content_type,
        sentences: result.sentences,
      };
      await putObject(rt, audioKey, result.audio, result.content_type);
      await putObject(rt, timingsKey, JSON.stringify(timings), 'application/json');
      return {
        output: { audio_key: audioKey, timings_key: timingsKey, duration_ms: result.duration_ms },
        details: {
          provider: tts.name,
          voice: result.voice,
          language: result.language,
          duration_ms: result.duration_ms,
          sentences: sentences.length,
          ...result.details,
          ...(result.voice_substitution ? { voice_substitution: result.voice_substitution } : {}),
          // eSpeak sends no requests: nothing was limited, nothing to record
          ...(tally.requests > 0 ? { rate_limit_wait_ms: tally.waited_ms, throttled: tally.throttled } : {}),
        },
      };
    });
}
