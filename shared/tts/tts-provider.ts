/**
 * The contract every narration engine (offline eSpeak, AWS Polly, …) fulfils for the TTS stage.
 */

/** Requested voice gender: 0 provider default, 1 male, 2 female. */
export type Gender = 0 | 1 | 2;

/** One spoken word, in milliseconds on the whole narration's timeline. */
export interface WordTiming {
  text: string;
  start_ms: number;
  end_ms: number;
}

/** One input sentence as spoken, in milliseconds on the whole narration's timeline. */
export interface SpokenSentence {
  text: string;
  start_ms: number;
  end_ms: number;
  words: WordTiming[];
  /** Wall-clock time the engine spent on this sentence, when the provider measures it. */
  synthesis_ms?: number;
}

/** Engine timings of one {@link TtsProvider.synthesize} call. */
export interface SynthesisTimings {
  /** Time spent loading the engine during this call (0 once it is loaded). */
  engine_load_ms: number;
  /** Wall-clock time of the whole call. */
  total_ms: number;
}

/** A whole narration with its sentence and word timeline. */
export interface SynthesisResult {
  /** The whole narration. */
  audio: Buffer;
  /** 'audio/wav' (every provider delivers one mono 16-bit WAV). */
  content_type: string;
  /** 'wav'. */
  extension: string;
  /** Measured from the audio itself. */
  duration_ms: number;
  /** One per input sentence, in input order; times on the whole narration's timeline. */
  sentences: SpokenSentence[];
  /** The engine voice actually used, e.g. 'cmn+f3'. */
  voice: string;
  /** 'cmn' | 'en' (what was detected/used). */
  language: string;
  /** Sample rate of `audio`, when it is PCM. */
  sample_rate?: number;
  /** How long the engine took, when the provider measures it. */
  timings?: SynthesisTimings;
  /** Set when the voice differs from the asked gender (Polly has no male Mandarin voice). */
  voice_substitution?: VoiceSubstitution;
  /** What a cloud provider did: requests, chunks, part durations. Stored in the task record. */
  details?: Record<string, unknown>;
}

/** A voice used instead of the one asked for, recorded in the task record's tts `details`. */
export interface VoiceSubstitution {
  language: string;
  requested_gender: 'male' | 'female';
  voice: string;
  reason: string;
}

/**
 * One request a provider is about to send to a speech service (one Polly SynthesizeSpeech call,
 * one POST to the team's TTS service). What a rate limiter counts.
 */
export interface SpeechRequestInfo {
  /** provider name, e.g. `polly`, `http` */
  provider: string;
  /** `audio` for sound, `speech_marks` for Polly's word timings */
  kind: 'audio' | 'speech_marks';
  /** 0-based chunk of the narration this request is for, and how many chunks there are */
  chunk: number;
  chunks: number;
  /** characters of text sent (Polly bills by them) */
  characters: number;
  /** 1 for the first try of this request, 2+ for a retry after a transient failure */
  attempt: number;
}

/**
 * Sends one provider request: calls `send` (which performs exactly one network request) and
 * returns its result. The TTS stage passes its own implementation so that every request leaves
 * through a single call site, where rate limits apply.
 */
export type RequestSpeech = <T>(request: SpeechRequestInfo, send: () => Promise<T>) => Promise<T>;

/** Per-call collaborators of {@link TtsProvider.synthesize}. */
export interface SynthesisContext {
  /** Every network request goes through it; default: send at once. */
  requestSpeech?: RequestSpeech;
  /** Structured log sink. */
  log?: (msg: string, data?: object) => void;
}

/** Sends at once: what {@link SynthesisContext.requestSpeech} defaults to. */
export const sendSpeechRequestNow: RequestSpeech = (_request, send) => send();

/** A text-to-speech engine that narrates a list of sentences. */
export interface TtsProvider {
  readonly name: string;
  synthesize(input: { sentences: string[]; gender: Gender; language?: string }, context?: SynthesisContext): Promise<SynthesisResult>;
}

/**
 * Error for a request no engine can narrate (no sentences, a blank sentence, an unsupported
 * language). Terminal: retrying the same input fails the same way.
 */
export class TtsInputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TtsInputError';
  }
}

// CJK Unified Ideographs and their extensions / compatibility blocks.
const HAN_PATTERN = /\p{Script=Han}/u;

/** Picks the narration language: 'cmn' when the text holds any CJK ideograph, else 'en'. */
export function detectLanguage(text: string): 'cmn' | 'en' {
  return HAN_PATTERN.test(text) ? 'cmn' : 'en';
}

/**
 * Maps a requested language (BCP 47-ish: 'zh-CN', 'cmn', 'en-US', …) to a narration language;
 * without one, detects it from the text.
 *
 * @throws {@link TtsInputError} for a language the providers do not narrate.
 */
export function resolveNarrationLanguage(requested: string | undefined, text: string): 'cmn' | 'en' {
  if (requested === undefined || requested.trim() === '') return detectLanguage(text);
  const tag = requested.trim().toLowerCase();
  if (/^(cmn|zh)([-_]|$)/.test(tag) || tag === 'mandarin' || tag === 'chinese') return 'cmn';
  if (/^en([-_]|$)/.test(tag) || tag === 'english') return 'en';
  throw new TtsInputError(`language '${requested}' is not supported (cmn, en)`);
}
