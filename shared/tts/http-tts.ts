/**
 * The team's own TTS service over HTTP (`TTS_URL`). The contract (also in docs/providers.md):
 *
 * ```
 * POST {TTS_URL}
 * content-type: application/json; charset=utf-8
 * accept: audio/wav, audio/mpeg
 * {"text": "<one or more whole sentences, ≤ TTS_MAX_CHARS_PER_REQUEST characters>",
 *  "gender": 0 | 1 | 2,            // 0 the service's default voice, 1 male, 2 female
 *  "language": "cmn" | "en"}       // detected from the text (CJK ideographs → cmn)
 *
 * 200  content-type: audio/wav (16-bit PCM, any rate, mono or stereo)  or  audio/mpeg (MP3)
 *      body: the speech of exactly that text, nothing else
 *      x-tts-voice: <name>          optional; recorded in the task record
 * 429                               too many requests: the TTS stage's rate limiter retries it
 *                                   no sooner than Retry-After (lambdas/tts/handler.ts)
 * 408, 425, 5xx, no answer          transient: retried (here, then by the state machine)
 * other 4xx                          the text was refused: the task fails with the service's reason
 * ```
 *
 * The service answers audio only; word timings come from lining the text up with the pauses in
 * the audio ({@link alignPiecesToAudio}).
 */
import { TtsFailedError } from '../errors.js';
import { checkSynthesisInput, chunkedSynthesisResult, synthesizeInChunks, type SpeechRetryOptions } from './chunked-narration.js';
import { decodeSpeechAudio, SpeechAudioError } from './speech-audio.js';
import { alignPiecesToAudio } from './speech-alignment.js';
import { retryAfterSeconds, SpeechServiceBusyError } from './tts-errors.js';
import { resolveNarrationLanguage, type Gender, type SynthesisContext, type SynthesisResult, type TtsProvider } from './tts-provider.js';

/** Characters per request unless `TTS_MAX_CHARS_PER_REQUEST` says otherwise. */
export const DEFAULT_HTTP_TTS_MAX_CHARS = 1000;
/** Time one request may take (the whole answer read) unless `TTS_HTTP_TIMEOUT_SECONDS` says otherwise. */
export const DEFAULT_HTTP_TTS_TIMEOUT_MS = 120_000;

/** The request body of the contract. */
export interface HttpTtsRequestBody {
  text: string;
  gender: Gender;
  language: 'cmn' | 'en';
}

/** Options of {@link HttpTtsProvider}. */
export interface HttpTtsOptions {
  url: string;
  maxChars?: number;
  timeoutMs?: number;
  retry?: SpeechRetryOptions;
  /** ffmpeg for MP3 answers; default the one from `@ffmpeg-installer/ffmpeg` */
  ffmpegPath?: string;
  fetch?: typeof fetch;
}

const GENDER_NAMES: Record<Gender, string> = { 0: 'default', 1: 'male', 2: 'female' };
const TRANSIENT_STATUS = new Set([408, 425, 429]);

/**
 * One function decides what a failed request means:
 * - 408/425/429 and 5xx: the service is busy or broken for now — retry;
 * - any other 4xx: the service refuses this text — retrying sends the same text, fail the task.
 */
export function httpTtsFailure(status: number, body: string, retryAfter: string | null): Error {
  const reason = body.replace(/\s+/g, ' ').trim().slice(0, 300) || '(no body)';
  if (status >= 500 || TRANSIENT_STATUS.has(status)) {
    return new SpeechServiceBusyError(`The TTS service answered HTTP ${status}${retryAfter ? ` (Retry-After ${retryAfter})` : ''}: ${reason}`, {
      throttled: status === 429,
      retryAfterSeconds: retryAfterSeconds(retryAfter),
    });
  }
  return new TtsFailedError(`The TTS service refused the text (HTTP ${status}): ${reason}`);
}

/** Narrates through the team's TTS service; see the contract above. */
export class HttpTtsProvider implements TtsProvider {
  readonly name = 'http';
  private readonly options: Required<Pick<HttpTtsOptions, 'url' | 'maxChars' | 'timeoutMs'>> & HttpTtsOptions;

  constructor(options: HttpTtsOptions) {
    if (!/^https?:\/\//i.test(options.url)) throw new RangeError(`TTS_URL must be an http(s) URL, got "${options.url}"`);
    this.options = { ...options, maxChars: options.maxChars ?? DEFAULT_HTTP_TTS_MAX_CHARS, timeoutMs: options.timeoutMs ?? DEFAULT_HTTP_TTS_TIMEOUT_MS };
  }

  /**
   * @throws {@link TtsInputError} for empty input; {@link TtsFailedError} when the service refuses
   *   the text or answers something that is not audio; {@link TransientStageError} when it stays
   *   busy or unreachable through the retries.
   */
  async synthesize(input: { sentences: string[]; gender: Gender; language?: string }, context?: SynthesisContext): Promise<SynthesisResult> {
    const startedAt = performance.now();
    const sentences = checkSynthesisInput(input);
    const language = resolveNarrationLanguage(input.language, sentences.join(' '));
    const narration = await synthesizeInChunks({
      provider: this.name,
      sentences,
      maxChars: this.options.maxChars,
      context,
      retry: this.options.retry,
      synthesizeChunk: async (chunk, send) => {
        const answer = await send('audio', () => this.post({ text: chunk.text, gender: input.gender, language }));
        let audio;
        try {
          audio = await decodeSpeechAudio(answer.bytes, answer.contentType, { ffmpegPath: this.options.ffmpegPath });
        } catch (error: unknown) {
          if (error instanceof SpeechAudioError)
            throw new TtsFailedError(`The TTS service's answer to request ${chunk.index + 1} is not usable audio: ${error.message}`, { cause: error });
          throw error;
        }
        return {
          audio,
          pieces: alignPiecesToAudio(
            audio.samples,
            audio.sampleRate,
            chunk.pieces.map((p) => p.text),
          ),
          voice: answer.voice,
        };
      },
    });
    const voice = narration.voices.join(',') || `http:${GENDER_NAMES[input.gender]}`;
    return chunkedSynthesisResult(narration, { voice, language, startedAt, wordTiming: 'aligned from audio pauses' });
  }

  /** One request of the contract; the whole answer is read before it returns. */
  private async post(body: HttpTtsRequestBody): Promise<{ bytes: Uint8Array; contentType: string | null; voice?: string }> {
    const doFetch = this.options.fetch ?? fetch;
    let response: Response;
    let bytes: Uint8Array;
    try {
      response = await doFetch(this.options.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json; charset=utf-8', accept: 'audio/wav, audio/mpeg' },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(this.options.timeoutMs),
      });
      bytes = new Uint8Array(await response.arrayBuffer());
    } catch (error: unknown) {
      const why = error instanceof Error ? (error.name === 'TimeoutError' ? `no answer within ${this.options.timeoutMs} ms` : error.message) : String(error);
      throw new SpeechServiceBusyError(`The TTS service at ${this.options.url} could not be reached: ${why}`, { cause: error });
    }
    if (!response.ok) throw httpTtsFailure(response.status, Buffer.from(bytes).toString('utf8'), response.headers.get('retry-after'));
    return { bytes, contentType: response.headers.get('content-type'), voice: response.headers.get('x-tts-voice') ?? undefined };
  }
}
