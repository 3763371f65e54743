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
  /** 'audio/wav'. */
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
}

/** A text-to-speech engine that narrates a list of sentences. */
export interface TtsProvider {
  readonly name: string;
  synthesize(input: { sentences: string[]; gender: Gender; language?: string }): Promise<SynthesisResult>;
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
