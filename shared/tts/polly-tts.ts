/**
 * Amazon Polly, neural voices. Each chunk of the story (≤ 3,000 characters, Polly's limit for
 * plain text) costs two SynthesizeSpeech requests: the audio as 16 kHz 16-bit PCM, and the word
 * speech marks (`OutputFormat: json`, `SpeechMarkTypes: ['word']`) that time the subtitles.
 * Both go through the stage's request call site.
 *
 * Voices (neural engine), gender → voice per language:
 *
 * | language | 1 male  | 2 female | 0 default |
 * | -------- | ------- | -------- | --------- |
 * | en (en-US) | Matthew | Joanna | Joanna    |
 * | cmn (cmn-CN) | Zhiyu* | Zhiyu | Zhiyu     |
 *
 * *Polly's only Mandarin voice, Zhiyu, is female: a male Mandarin request is narrated by Zhiyu
 * and the substitution is recorded in the task record. `POLLY_VOICE_<LANG>_<GENDER>` overrides
 * any cell.
 */
import { SynthesizeSpeechCommand, type Engine, type SynthesizeSpeechCommandOutput, type VoiceId } from '@aws-sdk/client-polly';
import { TtsFailedError } from '../errors.js';
import { checkSynthesisInput, chunkedSynthesisResult, synthesizeInChunks, type SpeechRetryOptions } from './chunked-narration.js';
import { pcm16leToSamples } from './speech-audio.js';
import type { AlignedSpeech } from './speech-alignment.js';
import type { SpeechChunk } from './speech-chunks.js';
import { SpeechServiceBusyError } from './tts-errors.js';
import {
  resolveNarrationLanguage,
  type Gender,
  type SynthesisContext,
  type SynthesisResult,
  type TtsProvider,
  type VoiceSubstitution,
  type WordTiming,
} from './tts-provider.js';
import { findVoicedRange, msToSamples, samplesToMs } from './wav.js';

/** Polly's limit of billed characters per SynthesizeSpeech request (plain text). */
export const POLLY_MAX_CHARS = 3000;
/** The PCM rate asked for (Polly's PCM offers 8000 and 16000 Hz). */
export const POLLY_PCM_SAMPLE_RATE = 16_000;

export type PollyLanguage = 'en' | 'cmn';

/** Neural voices by language and gender; `undefined` where Polly has none. */
export const POLLY_NEURAL_VOICES: Readonly<Record<PollyLanguage, { male?: string; female: string }>> = {
  en: { male: 'Matthew', female: 'Joanna' },
  cmn: { female: 'Zhiyu' },
};

/** Per-language voice overrides (`POLLY_VOICE_EN_MALE`, …). */
export type PollyVoiceOverrides = Partial<Record<PollyLanguage, { male?: string; female?: string }>>;

/** The Polly client surface this provider uses (a `PollyClient`, or a fake in tests). */
export interface PollyLike {
  send(command: SynthesizeSpeechCommand, options?: { abortSignal?: AbortSignal }): Promise<SynthesizeSpeechCommandOutput>;
}

/** Options of {@link PollyTtsProvider}. */
export interface PollyTtsOptions {
  client: PollyLike;
  /** default `neural` */
  engine?: Engine;
  voices?: PollyVoiceOverrides;
  /** characters per request, at most {@link POLLY_MAX_CHARS} */
  maxChars?: number;
  retry?: SpeechRetryOptions;
}

/**
 * The voice for a language and gender, and the substitution when Polly has no voice of that
 * gender (gender 0 is the female voice, the one every language has).
 */
export function pollyVoiceFor(
  language: PollyLanguage,
  gender: Gender,
  overrides: PollyVoiceOverrides = {},
): { voice: string; substitution?: VoiceSubstitution } {
  const table = { ...POLLY_NEURAL_VOICES[language], ...stripEmpty(overrides[language]) };
  if (gender !== 1) return { voice: table.female };
  if (table.male) return { voice: table.male };
  return {
    voice: table.female,
    substitution: {
      language,
      requested_gender: 'male',
      voice: table.female,
      reason: `Amazon Polly has no male ${language === 'cmn' ? 'Mandarin' : language} neural voice; ${table.female} (female) narrates instead`,
    },
  };
}

function stripEmpty(voices: { male?: string; female?: string } | undefined): { male?: string; female?: string } {
  const out: { male?: string; female?: string } = {};
  if (voices?.male) out.male = voices.male;
  if (voices?.female) out.female = voices.female;
  return out;
}

const TRANSIENT_POLLY_ERRORS = new Set(['ThrottlingException', 'ServiceFailureException', 'TimeoutError', 'RequestTimeout']);

/**
 * One function decides what a failed Polly call means:
 * - throttling, a 5xx, or no HTTP answer at all (connection refused/reset, timeout): retry;
 * - anything else Polly answered (text too long, bad voice or engine, no permission): terminal.
 */
export function pollyFailure(error: unknown): Error {
  const name = error instanceof Error ? error.name : 'Error';
  const message = error instanceof Error ? error.message : String(error);
  const status = (error as { $metadata?: { httpStatusCode?: number } })?.$metadata?.httpStatusCode;
  if (TRANSIENT_POLLY_ERRORS.has(name) || status === undefined || status >= 500 || status === 429) {
    return new SpeechServiceBusyError(`Polly is unavailable (${name}${status ? `, HTTP ${status}` : ''}): ${message}`, {
      throttled: name === 'ThrottlingException' || status === 429,
      cause: error,
    });
  }
  return new TtsFailedError(`Polly refused the request (${name}, HTTP ${status}): ${message}`, { cause: error });
}

/** A word speech mark: `time` in ms from the start of the audio, `start`/`end` UTF-8 byte offsets in the text. */
interface WordMark {
  time: number;
  start: number;
  end: number;
  value: string;
}

/** Parses Polly's speech marks (one JSON object per line), keeping word marks in time order. */
export function parseWordMarks(body: string): WordMark[] {
  const marks: WordMark[] = [];
  for (const line of body.split('\n')) {
    if (!line.trim()) continue;
    const mark = JSON.parse(line) as Partial<WordMark> & { type?: string };
    if (mark.type !== 'word' || typeof mark.time !== 'number' || typeof mark.start !== 'number') continue;
    marks.push({ time: mark.time, start: mark.start, end: mark.end ?? mark.start, value: String(mark.value ?? '') });
  }
  return marks.sort((a, b) => a.time - b.time || a.start - b.start);
}

/** UTF-16 index of every UTF-8 byte offset of `text` (speech marks count bytes). */
function utf16IndexByByte(text: string): (byte: number) => number {
  const starts: number[] = [];
  const units: number[] = [];
  let byte = 0;
  let unit = 0;
  for (const ch of text) {
    starts.push(byte);
    units.push(unit);
    byte += Buffer.byteLength(ch, 'utf8');
    unit += ch.length;
  }
  return (offset: number) => {
    let lo = 0;
    let hi = starts.length - 1;
    if (offset >= byte) return text.length;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (starts[mid] <= offset) lo = mid;
      else hi = mid - 1;
    }
    return units[lo] ?? 0;
  };
}

/** Silence kept after a word's last sound. */
const WORD_TAIL_PAD_MS = 15;

/**
 * Times each piece of a chunk from Polly's word marks: a word starts at its mark and lasts until
 * its sound ends before the next word (or the next piece) starts. A word's text runs from its
 * mark to the next mark, so punctuation stays with the word before it.
 */
export function piecesFromWordMarks(chunk: SpeechChunk, marks: WordMark[], samples: Int16Array, sampleRate: number): AlignedSpeech[] {
  const toUnit = utf16IndexByByte(chunk.text);
  const audioEndMs = samplesToMs(samples.length, sampleRate);
  const placed = marks.map((m) => ({ ...m, unit: toUnit(m.start) }));
  const pieceOf = (unit: number) => {
    for (let p = chunk.offsets.length - 1; p >= 0; p--) if (unit >= chunk.offsets[p].from) return p;
    return 0;
  };
  const byPiece: Array<typeof placed> = chunk.pieces.map(() => []);
  for (const mark of placed) byPiece[pieceOf(mark.unit)].push(mark);

  const soundEnd = (fromMs: number, toMs: number) => {
    const voiced = findVoicedRange(samples, sampleRate, { from: msToSamples(fromMs, sampleRate), to: msToSamples(toMs, sampleRate), padMs: WORD_TAIL_PAD_MS });
    return voiced ? Math.max(fromMs, samplesToMs(voiced.end, sampleRate)) : fromMs;
  };
  let previousEnd = 0;
  return byPiece.map((pieceMarks, p) => {
    const { from, to } = chunk.offsets[p];
    if (pieceMarks.length === 0) return { start_ms: previousEnd, end_ms: previousEnd, words: [] };
    const nextPieceStart = byPiece.slice(p + 1).find((m) => m.length)?.[0].time ?? audioEndMs;
    const words: WordTiming[] = pieceMarks.map((mark, i) => {
      const next = pieceMarks[i + 1];
      const textFrom = i === 0 ? from : mark.unit;
      const textTo = next ? next.unit : to;
      const start = Math.min(mark.time, audioEndMs);
      return { text: chunk.text.slice(textFrom, textTo).trim(), start_ms: start, end_ms: soundEnd(start, next ? next.time : nextPieceStart) };
    });
    for (let i = words.length - 1; i > 0; i--) {
      // A mark whose text is only punctuation or space belongs to the word before it.
      if (!/[\p{L}\p{N}]/u.test(words[i].text)) {
        words[i - 1].text += words[i].text;
        words[i - 1].end_ms = Math.max(words[i - 1].end_ms, words[i].end_ms);
        words.splice(i, 1);
      }
    }
    previousEnd = words[words.length - 1].end_ms;
    return { start_ms: words[0].start_ms, end_ms: previousEnd, words };
  });
}

/** Narrates with Amazon Polly neural voices; see the voice table above. */
export class PollyTtsProvider implements TtsProvider {
  readonly name = 'polly';
  private readonly client: PollyLike;
  private readonly engine: Engine;
  private readonly voices: PollyVoiceOverrides;
  private readonly maxChars: number;
  private readonly retry?: SpeechRetryOptions;

  constructor(options: PollyTtsOptions) {
    this.client = options.client;
    this.engine = options.engine ?? 'neural';
    this.voices = options.voices ?? {};
    this.maxChars = Math.min(POLLY_MAX_CHARS, options.maxChars ?? POLLY_MAX_CHARS);
    this.retry = options.retry;
  }

  /**
   * @throws {@link TtsInputError} for empty input or an unsupported language; {@link TtsFailedError}
   *   when Polly refuses a request; {@link TransientStageError} when Polly stays unavailable
   *   through the retries.
   */
  async synthesize(input: { sentences: string[]; gender: Gender; language?: string }, context?: SynthesisContext): Promise<SynthesisResult> {
    const startedAt = performance.now();
    const sentences = checkSynthesisInput(input);
    const language = resolveNarrationLanguage(input.language, sentences.join(' '));
    const { voice, substitution } = pollyVoiceFor(language, input.gender, this.voices);
    if (substitution) context?.log?.('tts.voice_substituted', { ...substitution });
    const base = { Engine: this.engine, VoiceId: voice as VoiceId, TextType: 'text' as const };

    const narration = await synthesizeInChunks({
      provider: this.name,
      sentences,
      maxChars: this.maxChars,
      context,
      retry: this.retry,
      synthesizeChunk: async (chunk, send) => {
        const pcm = await send('audio', () =>
          this.call(new SynthesizeSpeechCommand({ ...base, Text: chunk.text, OutputFormat: 'pcm', SampleRate: String(POLLY_PCM_SAMPLE_RATE) })),
        );
        const marks = await send('speech_marks', () =>
          this.call(new SynthesizeSpeechCommand({ ...base, Text: chunk.text, OutputFormat: 'json', SpeechMarkTypes: ['word'] })),
        );
        const samples = pcm16leToSamples(pcm);
        let wordMarks: WordMark[];
        try {
          wordMarks = parseWordMarks(Buffer.from(marks).toString('utf8'));
        } catch (error: unknown) {
          throw new TtsFailedError(`Polly's speech marks for request ${chunk.index + 1} are not JSON lines`, { cause: error });
        }
        return {
          audio: { samples, sampleRate: POLLY_PCM_SAMPLE_RATE },
          pieces: piecesFromWordMarks(chunk, wordMarks, samples, POLLY_PCM_SAMPLE_RATE),
          voice,
        };
      },
    });
    return chunkedSynthesisResult(narration, {
      voice,
      language,
      startedAt,
      wordTiming: 'polly speech marks',
      details: { engine: this.engine },
      voiceSubstitution: substitution,
    });
  }

  /** One SynthesizeSpeech request, its whole stream read. */
  private async call(command: SynthesizeSpeechCommand): Promise<Uint8Array> {
    try {
      const out = await this.client.send(command);
      if (!out.AudioStream) throw new TtsFailedError('Polly answered without an audio stream');
      return await out.AudioStream.transformToByteArray();
    } catch (error: unknown) {
      if (error instanceof TtsFailedError) throw error;
      throw pollyFailure(error);
    }
  }
}
