/**
 * Offline narration with eSpeak NG compiled to WebAssembly (`@echogarden/espeak-ng-emscripten`,
 * GPL-3.0). Each sentence is synthesized on its own, its word events become word timings, and the
 * sentences are joined into one WAV with {@link joinPcmClips}.
 */
// @ts-expect-error -- the package ships no type declarations; the part we use is typed below (EspeakModuleFactory).
import espeakModuleFactory from '@echogarden/espeak-ng-emscripten';
import { detectLanguage, TtsInputError, type Gender, type SpokenSentence, type SynthesisResult, type TtsProvider, type WordTiming } from './tts-provider.js';
import { DEFAULT_JOIN_FADE_MS, DEFAULT_SENTENCE_GAP_MS, encodeWav, findVoicedRange, joinPcmClips, msToSamples, parseWav, samplesToMs } from './wav.js';

/** Languages this provider narrates. */
export type EspeakLanguage = 'cmn' | 'en';

/** Options of {@link EspeakTtsProvider}. */
export interface EspeakTtsOptions {
  /** Pause between sentences. Default 250 ms. */
  gapMs?: number;
  /** Fade at each sentence edge. Default 5 ms. */
  fadeMs?: number;
  /** Speaking rate in words per minute, per language. Defaults {@link DEFAULT_ESPEAK_RATE_WPM}. */
  rateWpm?: Partial<Record<EspeakLanguage, number>>;
  /** Structured log sink; called once per sentence and once per narration. */
  log?: (msg: string, data?: object) => void;
}

/**
 * Speaking rates (eSpeak words per minute, its own default is 175). Mandarin at 175 comes out near
 * 3.6 syllables/s, slow for a short video; 190 gives about 4 syllables/s.
 */
export const DEFAULT_ESPEAK_RATE_WPM: Readonly<Record<EspeakLanguage, number>> = { en: 175, cmn: 190 };

/** eSpeak voice variants used per gender; both ship in the emscripten build (`voices/!v/m3`, `f3`). */
export const ESPEAK_GENDER_VARIANTS: Readonly<Record<Gender, string>> = { 0: '', 1: '+m3', 2: '+f3' };

const ESPEAK_BASE_VOICES: Readonly<Record<EspeakLanguage, string>> = { en: 'en-us', cmn: 'cmn' };

const HAN_CHARACTER = /\p{Script=Han}/u;

/** Silence kept around each sentence's sound after trimming the engine's own leading/trailing silence. */
const SENTENCE_PAD_MS = 10;
/** Silence kept after a word's last sound before the next word or clause end. */
const WORD_TAIL_PAD_MS = 15;

/**
 * Error for a failure inside the eSpeak engine (module load, voice selection). Not caused by the
 * text; a retry on a fresh process may succeed.
 */
export class EspeakEngineError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'EspeakEngineError';
  }
}

/** The engine voice for a language and gender, e.g. `espeakVoiceFor('cmn', 2)` → `'cmn+f3'`. */
export function espeakVoiceFor(language: EspeakLanguage, gender: Gender): string {
  return `${ESPEAK_BASE_VOICES[language]}${ESPEAK_GENDER_VARIANTS[gender]}`;
}

/**
 * Maps a requested language (BCP 47-ish: 'zh-CN', 'cmn', 'en-US', …) to one this provider speaks;
 * without one, detects it from the text.
 *
 * @throws {@link TtsInputError} for any other language.
 */
export function resolveEspeakLanguage(requested: string | undefined, text: string): EspeakLanguage {
  if (requested === undefined || requested.trim() === '') return detectLanguage(text);
  const tag = requested.trim().toLowerCase();
  if (/^(cmn|zh)([-_]|$)/.test(tag) || tag === 'mandarin' || tag === 'chinese') return 'cmn';
  if (/^en([-_]|$)/.test(tag) || tag === 'english') return 'en';
  throw new TtsInputError(`language '${requested}' is not supported by the espeak provider (cmn, en)`);
}

// --- The engine: one WASM instance per process, used by one caller at a time. ---

interface EspeakEvent {
  type: 'list_terminated' | 'word' | 'sentence' | 'mark' | 'play' | 'end' | 'msg_terminated' | 'phoneme' | 'samplerate';
  /** 1-based position in the input text, counted in Unicode code points. */
  text_position: number;
  /** Length in code points (for word events). */
  word_length: number;
  /** Milliseconds from the start of this synthesis call. */
  audio_position: number;
  id?: string | number;
}

interface EspeakWorker {
  readonly samplerate: number;
  set_voice(name: string): number;
  set_rate(wordsPerMinute: number): number;
  /** Synchronous; the callback runs once per audio chunk. Returning a truthy value aborts synthesis. */
  synthesize(text: string, onChunk: (samples: Int16Array, events: EspeakEvent[]) => void): void;
}

interface EspeakModule {
  eSpeakNGWorker: new () => EspeakWorker;
}

type EspeakModuleFactory = (moduleArg?: object) => Promise<EspeakModule>;

let enginePromise: Promise<EspeakWorker> | undefined;
let engineLoaded = false;
let engineQueue: Promise<unknown> = Promise.resolve();
/** Voice the engine is set to, so consecutive sentences of one narration skip `set_voice`. */
let engineVoice: string | undefined;
const voicesUsed = new Set<string>();

/** Whether this process has loaded the engine. */
export function espeakEngineLoaded(): boolean {
  return engineLoaded;
}

const WARM_UP_SENTENCES: Readonly<Record<EspeakLanguage, string>> = {
  en: 'The old lighthouse keeper walked along the shore before sunrise, counting the boats that came home late.',
  cmn: '清晨的河边很安静，我们沿着河岸一直走到太阳下山。',
};

/**
 * Loads the engine and speaks one sentence in every voice it narrates with (both languages,
 * three genders), a yield to the event loop between them. A freshly loaded engine is slow: the
 * first narration in a voice loads that voice and runs WASM code not yet optimized, and took
 * 0.4–1.1 s for a 19 s narration that takes 60–150 ms once warm (measured here); warming costs
 * about 1.4 s of CPU, paid while the process starts instead of by its first task.
 */
export async function warmEspeakEngine(): Promise<void> {
  const engine = await getEngine();
  for (const language of ['en', 'cmn'] as const) {
    for (const gender of [0, 1, 2] as const) {
      await new Promise<void>((resolve) => setImmediate(resolve));
      const voice = espeakVoiceFor(language, gender);
      await runExclusive(() => synthesizeSentenceNow(engine, WARM_UP_SENTENCES[language], voice, DEFAULT_ESPEAK_RATE_WPM[language]));
    }
  }
}

/** The voices this process's engine has spoken with so far. */
export function espeakVoicesUsed(): string[] {
  return [...voicesUsed];
}

function getEngine(): Promise<EspeakWorker> {
  enginePromise ??= (async () => {
    try {
      const module = await (espeakModuleFactory as EspeakModuleFactory)();
      const worker = new module.eSpeakNGWorker();
      engineLoaded = true;
      return worker;
    } catch (error: unknown) {
      enginePromise = undefined; // let a later call try again instead of caching the failure
      throw new EspeakEngineError('failed to load the eSpeak NG WASM module', { cause: error });
    }
  })();
  return enginePromise;
}

/**
 * Runs `task` when every earlier task has finished. The emscripten module holds one voice/rate
 * state, so set-voice + synthesize must never interleave between two narrations.
 */
function runExclusive<T>(task: () => T): Promise<T> {
  const result = engineQueue.then(task);
  engineQueue = result.catch(() => undefined);
  return result;
}

interface RawSentenceAudio {
  samples: Int16Array;
  events: EspeakEvent[];
  sampleRate: number;
  synthesisMs: number;
}

// This build always parses SSML: a '<' in narration text could swallow words as a "tag". The
// replacements are one code point each, so eSpeak's text positions still index the original text.
function neutralizeMarkup(text: string): string {
  return text.replace(/</g, '‹').replace(/>/g, '›');
}

function synthesizeSentenceNow(engine: EspeakWorker, text: string, voice: string, rateWpm: number): RawSentenceAudio {
  const startedAt = performance.now();
  if (engineVoice !== voice) {
    engineVoice = undefined;
    const status = engine.set_voice(voice);
    if (status !== 0) throw new EspeakEngineError(`eSpeak rejected voice '${voice}' (status ${status})`);
    engineVoice = voice;
    voicesUsed.add(voice);
  }
  engine.set_rate(rateWpm);
  const chunks: Int16Array[] = [];
  const events: EspeakEvent[] = [];
  engine.synthesize(neutralizeMarkup(text), (samples, chunkEvents) => {
    if (samples.length > 0) chunks.push(samples);
    events.push(...chunkEvents);
  });
  const samples = new Int16Array(chunks.reduce((sum, chunk) => sum + chunk.length, 0));
  let offset = 0;
  for (const chunk of chunks) {
    samples.set(chunk, offset);
    offset += chunk.length;
  }
  return { samples, events, sampleRate: engine.samplerate, synthesisMs: performance.now() - startedAt };
}

// --- From engine events to word timings. ---

/** A word as sample positions inside its sentence clip. */
interface ClipWord {
  text: string;
  startSample: number;
  endSample: number;
}

/**
 * Turns eSpeak word events into words. eSpeak emits several events for one written token (a number
 * read as several words: "5.50", "2024") and sometimes one event for several characters (a Mandarin
 * compound such as 很好 reports only 很). So events whose text spans overlap or touch are merged,
 * and each word's text runs up to the next word's start: the words always add up to the sentence.
 */
function wordsFromEvents(text: string, events: EspeakEvent[], samples: Int16Array, sampleRate: number): ClipWord[] {
  const codePoints = Array.from(text);
  const groups: Array<{ from: number; to: number; audioMs: number }> = [];
  for (const event of events) {
    if (event.type !== 'word') continue;
    const from = Math.max(0, event.text_position - 1);
    const to = from + Math.max(1, event.word_length);
    const spoken = codePoints.slice(from, to).join('');
    const last = groups[groups.length - 1];
    // Overlapping spans belong to one written token; a blank span is a reading artefact (eSpeak
    // spells an emoji's name as extra words pointing at the following space).
    if (last && (from < last.to || spoken.trim() === '')) {
      last.to = Math.max(last.to, to);
      continue;
    }
    groups.push({ from, to, audioMs: event.audio_position });
  }
  // A written token read as several words ("$5.50", "iPhone", "well-known") is one subtitle word:
  // merge groups that touch without whitespace, except at a Han character (Chinese has no spaces).
  for (let index = groups.length - 1; index > 0; index--) {
    const before = codePoints[groups[index].from - 1] ?? ' ';
    const after = codePoints[groups[index].from] ?? ' ';
    const touching = !/\s/u.test(before) && !/\s/u.test(after);
    if (touching && !HAN_CHARACTER.test(before) && !HAN_CHARACTER.test(after)) {
      groups[index - 1].to = Math.max(groups[index - 1].to, groups[index].to);
      groups.splice(index, 1);
    }
  }

  const clauseEndsMs = events.filter((event) => event.type === 'end').map((event) => event.audio_position);
  const words: ClipWord[] = [];
  groups.forEach((group, index) => {
    const next = groups[index + 1];
    const textFrom = index === 0 ? 0 : group.from;
    const textTo = next ? next.from : codePoints.length;
    const wordText = codePoints.slice(textFrom, textTo).join('').trim();
    const startSample = Math.min(samples.length, msToSamples(group.audioMs, sampleRate));
    // The word lasts until the next word starts or its clause ends (a comma pause is not the word).
    const nextStartMs = next ? next.audioMs : Number.POSITIVE_INFINITY;
    const clauseEndMs = clauseEndsMs.find((endMs) => endMs > group.audioMs) ?? Number.POSITIVE_INFINITY;
    const boundaryMs = Math.min(nextStartMs, clauseEndMs);
    const boundary = Number.isFinite(boundaryMs) ? Math.min(samples.length, msToSamples(boundaryMs, sampleRate)) : samples.length;
    const voiced = findVoicedRange(samples, sampleRate, { from: startSample, to: boundary, padMs: WORD_TAIL_PAD_MS });
    const endSample = Math.max(startSample, voiced ? voiced.end : boundary);
    if (wordText === '' && words.length > 0) {
      words[words.length - 1].endSample = Math.max(words[words.length - 1].endSample, endSample);
      return;
    }
    words.push({ text: wordText, startSample, endSample });
  });
  return words;
}

/**
 * Narrates sentences offline with eSpeak NG (WASM). Mandarin uses the `cmn` voice (real Mandarin
 * from `cmn_dict`, tones included), English `en-us`; gender picks the `+m3` / `+f3` variant.
 *
 * The WASM module (24 MB of voice data) loads once per process on first use and is shared by all
 * instances; sentences are synthesized one at a time across the whole process. Synthesis runs on
 * the calling thread (roughly 20–250 ms per sentence), with a yield to the event loop between
 * sentences.
 */
export class EspeakTtsProvider implements TtsProvider {
  readonly name = 'espeak';
  private readonly gapMs: number;
  private readonly fadeMs: number;
  private readonly rateWpm: Record<EspeakLanguage, number>;
  private readonly log?: (msg: string, data?: object) => void;

  constructor(options: EspeakTtsOptions = {}) {
    this.gapMs = options.gapMs ?? DEFAULT_SENTENCE_GAP_MS;
    this.fadeMs = options.fadeMs ?? DEFAULT_JOIN_FADE_MS;
    this.rateWpm = { ...DEFAULT_ESPEAK_RATE_WPM, ...options.rateWpm };
    this.log = options.log;
  }

  /**
   * Synthesizes each sentence, joins them with a pause, and returns a mono 16-bit WAV with the
   * sentence and word timeline.
   *
   * @throws {@link TtsInputError} when there is no sentence, a sentence is blank, or the language
   *   is neither Mandarin nor English.
   * @throws {@link EspeakEngineError} when the engine cannot load or rejects the voice.
   */
  async synthesize(input: { sentences: string[]; gender: Gender; language?: string }): Promise<SynthesisResult> {
    const startedAt = performance.now();
    const sentences = input.sentences.map((sentence) => sentence.trim());
    if (sentences.length === 0) throw new TtsInputError('no sentences to narrate');
    const blank = sentences.findIndex((sentence) => sentence === '');
    if (blank >= 0) throw new TtsInputError(`sentence ${blank} is blank`);
    if (![0, 1, 2].includes(input.gender)) throw new TtsInputError(`gender must be 0, 1 or 2, got ${input.gender}`);
    const language = resolveEspeakLanguage(input.language, sentences.join(' '));
    const voice = espeakVoiceFor(language, input.gender);
    const rateWpm = this.rateWpm[language];

    const wasLoaded = engineLoaded;
    const engine = await getEngine();
    const engineLoadMs = wasLoaded ? 0 : performance.now() - startedAt;

    const raw: RawSentenceAudio[] = [];
    for (const [index, sentence] of sentences.entries()) {
      if (index > 0) await new Promise<void>((resolve) => setImmediate(resolve));
      const audio = await runExclusive(() => synthesizeSentenceNow(engine, sentence, voice, rateWpm));
      raw.push(audio);
      this.log?.('tts.sentence', {
        index,
        chars: sentence.length,
        voice,
        synthesis_ms: round1(audio.synthesisMs),
        audio_ms: samplesToMs(audio.samples.length, audio.sampleRate),
      });
    }

    // Trim the engine's own leading/trailing silence so the gap between sentences is exactly gapMs.
    const clips = raw.map((audio, index) => {
      const words = wordsFromEvents(sentences[index], audio.events, audio.samples, audio.sampleRate);
      const voiced = findVoicedRange(audio.samples, audio.sampleRate, { padMs: SENTENCE_PAD_MS }) ?? {
        start: 0,
        end: audio.samples.length,
      };
      return {
        samples: audio.samples.subarray(voiced.start, voiced.end),
        sampleRate: audio.sampleRate,
        words,
        trimStart: voiced.start,
      };
    });
    const joined = joinPcmClips(clips, { gapMs: this.gapMs, fadeMs: this.fadeMs });
    const audio = encodeWav(joined.samples, joined.sampleRate);
    const durationMs = parseWav(audio).durationMs;

    const spoken: SpokenSentence[] = clips.map((clip, index) => {
      const placement = joined.placements[index];
      // Clip sample → narration ms, kept inside the sentence (a word may begin in trimmed silence).
      const toMs = (clipSample: number): number => {
        const inClip = Math.min(Math.max(clipSample - clip.trimStart, 0), clip.samples.length);
        return samplesToMs(placement.startSample + inClip, joined.sampleRate);
      };
      const words: WordTiming[] = clip.words.map((word) => ({
        text: word.text,
        start_ms: toMs(word.startSample),
        end_ms: toMs(word.endSample),
      }));
      return {
        text: sentences[index],
        start_ms: placement.start_ms,
        end_ms: placement.end_ms,
        words,
        synthesis_ms: round1(raw[index].synthesisMs),
      };
    });

    const totalMs = performance.now() - startedAt;
    this.log?.('tts.narration', {
      sentences: sentences.length,
      language,
      voice,
      duration_ms: Math.round(durationMs),
      engine_load_ms: round1(engineLoadMs),
      total_ms: round1(totalMs),
    });
    return {
      audio,
      content_type: 'audio/wav',
      extension: 'wav',
      duration_ms: durationMs,
      sentences: spoken,
      voice,
      language,
      sample_rate: joined.sampleRate,
      timings: { engine_load_ms: round1(engineLoadMs), total_ms: round1(totalMs) },
    };
  }
}

function round1(value: number): number {
  return Math.round(value * 10) / 10;
}
