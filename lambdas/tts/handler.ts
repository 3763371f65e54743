import { getObjectText, putObject } from '../../shared/artifacts.js';
import { StageInputError, TtsFailedError, errorMessage } from '../../shared/errors.js';
import { ARTIFACT, taskArtifactKey } from '../../shared/keys.js';
import type { Logger } from '../../shared/logger.js';
import type { Runtime } from '../../shared/runtime.js';
import { runStage, type StageEvent } from '../../shared/stage.js';
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

/** What the draft stage reads: the narration's sentence and word timeline. */
export interface NarrationTimings {
  language: string;
  voice: string;
  duration_ms: number;
  content_type: string;
  sentences: SynthesisResult['sentences'];
}

// ─────────────────────────────────────────────────────────────────────────────────────────────
// THE CALL SITE OF EVERY TTS PROVIDER REQUEST.
// Each request a cloud provider sends — one Polly SynthesizeSpeech call (audio or speech marks),
// one POST to TTS_URL — goes out through this function, once per attempt (provider retries come
// back through it). This is where the shared rate limiter (TTS_RPM, TTS_MAX_CONCURRENCY) wraps
// the request; `send` performs exactly one network request and reads its whole answer.
// The offline eSpeak provider sends no requests and never comes here.
// ─────────────────────────────────────────────────────────────────────────────────────────────
export async function requestSpeech<T>(
  _rt: Runtime,
  _event: TtsEvent,
  _request: SpeechRequestInfo,
  send: () => Promise<T>,
  _log: Logger,
): Promise<T> {
  return send();
}

/** TTS: `story.txt` → narration audio plus its word timings (subtitle timing comes from them). */
export function createTtsHandler(rt: Runtime, tts: TtsProvider) {
  return (event: TtsEvent): Promise<TtsOutput> =>
    runStage(rt, event, 'tts', async (log) => {
      const story = await getObjectText(rt, event.story_key);
      if (story === undefined) throw new StageInputError(`The story of task ${event.task_id} is missing.`);
      const sentences = story.split('\n').map((s) => s.trim()).filter(Boolean);
      let result: SynthesisResult;
      try {
        result = await tts.synthesize(
          { sentences, gender: event.gender },
          {
            requestSpeech: (request, send) => requestSpeech(rt, event, request, send, log),
            log: (message, data) => log.info(message, data as Record<string, unknown> | undefined),
          },
        );
      } catch (error: unknown) {
        // Named errors (TtsInputError, TtsFailedError, TransientStageError, a rate limiter's) keep
        // their name: the state machine's Retry/Catch match on it.
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
        },
      };
    });
}
