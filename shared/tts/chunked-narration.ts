/**
 * The narration of a cloud provider: the story is split into requests under the provider's
 * character limit ({@link planSpeechChunks}), each request is sent through the stage's single
 * request call site ({@link SynthesisContext.requestSpeech}), and the answers are joined into one
 * mono WAV whose timeline carries every sentence and word.
 *
 * Joining: the parts are laid end to end as the service sent them, each with its own leading and
 * trailing silence (that silence is the pause between two requests), and a 5 ms fade at each part
 * edge so no join clicks. Nothing is trimmed or inserted, so the narration lasts exactly the sum
 * of its parts (to the sample, when the parts share a sample rate).
 */
import { TransientStageError } from '../errors.js';
import { sleep as realSleep } from '../wait.js';
import { planSpeechChunks, type SpeechChunk } from './speech-chunks.js';
import type { MonoPcm } from './speech-audio.js';
import type { AlignedSpeech } from './speech-alignment.js';
import {
  sendSpeechRequestNow,
  TtsInputError,
  type Gender,
  type SpeechRequestInfo,
  type SpokenSentence,
  type SynthesisContext,
  type SynthesisResult,
  type VoiceSubstitution,
  type WordTiming,
} from './tts-provider.js';
import { DEFAULT_JOIN_FADE_MS, encodeWav, joinPcmClips } from './wav.js';

/** What one request produced. */
export interface ChunkSpeech {
  audio: MonoPcm;
  /** one per piece of the chunk, in ms from the start of `audio` */
  pieces: AlignedSpeech[];
  /** the voice the service reports having used, if it says */
  voice?: string;
}

/** Sends one request of the current chunk through the stage's call site, retrying transient failures. */
export type ChunkRequestSender = <T>(kind: SpeechRequestInfo['kind'], send: () => Promise<T>) => Promise<T>;

/** Retries of one request after a transient failure (a 5xx, a throttle, a dropped connection). */
export interface SpeechRetryOptions {
  /** tries in all, the first included; default 3 */
  attempts?: number;
  /** first backoff; doubles each time, full jitter; default 500 ms */
  baseDelayMs?: number;
  sleep?: (ms: number) => Promise<void>;
  random?: () => number;
}

/** One joined part, as reported in the task record. */
export interface NarrationPart {
  chunk: number;
  characters: number;
  sentences: number;
  duration_ms: number;
  sample_rate: number;
}

/** A joined narration. */
export interface ChunkedNarration {
  audio: Buffer;
  sampleRate: number;
  duration_ms: number;
  sentences: SpokenSentence[];
  parts: NarrationPart[];
  /** requests sent, retries included */
  requests: number;
  voices: string[];
}

/**
 * A cloud provider's {@link SynthesisResult} for a chunked narration: the joined WAV, its
 * sentences, and in `details` what the requests did (stored in the task record), after the
 * provider's own `details`.
 */
export function chunkedSynthesisResult(
  narration: ChunkedNarration,
  o: { voice: string; language: string; startedAt: number; wordTiming: string; details?: Record<string, unknown>; voiceSubstitution?: VoiceSubstitution },
): SynthesisResult {
  return {
    audio: narration.audio,
    content_type: 'audio/wav',
    extension: 'wav',
    duration_ms: narration.duration_ms,
    sentences: narration.sentences,
    voice: o.voice,
    language: o.language,
    sample_rate: narration.sampleRate,
    timings: { engine_load_ms: 0, total_ms: Math.round(performance.now() - o.startedAt) },
    ...(o.voiceSubstitution ? { voice_substitution: o.voiceSubstitution } : {}),
    details: {
      ...o.details,
      requests: narration.requests,
      chunks: narration.parts.length,
      parts_ms: narration.parts.map((p) => p.duration_ms),
      word_timing: o.wordTiming,
      ...(o.voiceSubstitution ? { voice_substitution: o.voiceSubstitution } : {}),
    },
  };
}

/**
 * Narrates `sentences` in requests of at most `maxChars` characters and joins the answers.
 *
 * @throws whatever `synthesizeChunk` throws (after retries for {@link TransientStageError}).
 */
export async function synthesizeInChunks(a: {
  provider: string;
  sentences: string[];
  maxChars: number;
  context?: SynthesisContext;
  retry?: SpeechRetryOptions;
  fadeMs?: number;
  synthesizeChunk: (chunk: SpeechChunk, send: ChunkRequestSender) => Promise<ChunkSpeech>;
}): Promise<ChunkedNarration> {
  const chunks = planSpeechChunks(a.sentences, a.maxChars);
  const requestSpeech = a.context?.requestSpeech ?? sendSpeechRequestNow;
  const attempts = Math.max(1, a.retry?.attempts ?? 3);
  const baseDelayMs = a.retry?.baseDelayMs ?? 500;
  const sleep = a.retry?.sleep ?? realSleep;
  const random = a.retry?.random ?? Math.random;
  let requests = 0;

  const results: ChunkSpeech[] = [];
  for (const chunk of chunks) {
    const characters = Array.from(chunk.text).length;
    const send: ChunkRequestSender = async (kind, call) => {
      for (let attempt = 1; ; attempt++) {
        const info: SpeechRequestInfo = { provider: a.provider, kind, chunk: chunk.index, chunks: chunks.length, characters, attempt };
        requests++;
        try {
          return await requestSpeech(info, call);
        } catch (error: unknown) {
          if (!(error instanceof TransientStageError) || attempt >= attempts) throw error;
          const delay = Math.round(random() * baseDelayMs * 2 ** (attempt - 1));
          a.context?.log?.('tts.request.retry', { ...info, delay_ms: delay, error: error.message });
          await sleep(delay);
        }
      }
    };
    const result = await a.synthesizeChunk(chunk, send);
    if (result.pieces.length !== chunk.pieces.length) {
      throw new Error(`chunk ${chunk.index}: ${result.pieces.length} timed pieces for ${chunk.pieces.length} pieces`);
    }
    results.push(result);
    a.context?.log?.('tts.chunk', {
      chunk: chunk.index,
      chunks: chunks.length,
      characters,
      audio_ms: Math.round((result.audio.samples.length * 1000) / result.audio.sampleRate),
    });
  }

  const joined = joinPcmClips(
    results.map((r) => ({ samples: r.audio.samples, sampleRate: r.audio.sampleRate })),
    { gapMs: 0, fadeMs: a.fadeMs ?? DEFAULT_JOIN_FADE_MS },
  );
  const sentences: SpokenSentence[] = a.sentences.map((text) => ({ text, start_ms: -1, end_ms: -1, words: [] }));
  chunks.forEach((chunk, c) => {
    const placement = joined.placements[c];
    // Exact offset of the part (not rounded to whole ms) so no error builds up over many parts.
    const offsetMs = (placement.startSample * 1000) / joined.sampleRate;
    const partEndMs = Math.floor((placement.endSample * 1000) / joined.sampleRate);
    const at = (ms: number) => Math.min(partEndMs, Math.round(offsetMs + ms));
    chunk.pieces.forEach((piece, p) => {
      const timed = results[c].pieces[p];
      const sentence = sentences[piece.sentence];
      if (sentence.start_ms < 0) sentence.start_ms = at(timed.start_ms);
      sentence.end_ms = at(timed.end_ms);
      sentence.words.push(...timed.words.map((w): WordTiming => ({ text: w.text, start_ms: at(w.start_ms), end_ms: at(w.end_ms) })));
    });
  });
  const audio = encodeWav(joined.samples, joined.sampleRate);
  return {
    audio,
    sampleRate: joined.sampleRate,
    duration_ms: (joined.samples.length * 1000) / joined.sampleRate,
    sentences,
    parts: results.map((r, c) => ({
      chunk: c,
      characters: Array.from(chunks[c].text).length,
      sentences: new Set(chunks[c].pieces.map((p) => p.sentence)).size,
      duration_ms: Math.round(((r.audio.samples.length * 1000) / r.audio.sampleRate) * 10) / 10,
      sample_rate: r.audio.sampleRate,
    })),
    requests,
    voices: [...new Set(results.map((r) => r.voice).filter((v): v is string => Boolean(v)))],
  };
}

/**
 * Checks what every cloud provider is asked to narrate; returns the trimmed sentences.
 *
 * @throws {@link TtsInputError} when there is no sentence, a sentence is blank, or the gender is not 0, 1 or 2.
 */
export function checkSynthesisInput(input: { sentences: string[]; gender: Gender }): string[] {
  const sentences = input.sentences.map((sentence) => sentence.trim());
  if (sentences.length === 0) throw new TtsInputError('no sentences to narrate');
  const blank = sentences.findIndex((sentence) => sentence === '');
  if (blank >= 0) throw new TtsInputError(`sentence ${blank} is blank`);
  if (![0, 1, 2].includes(input.gender)) throw new TtsInputError(`gender must be 0, 1 or 2, got ${input.gender}`);
  return sentences;
}
