import type { SynthesisResult } from './tts-provider.js';

/**
 * The contract between two stages: the Tts stage writes this JSON (`timings.json`) beside the
 * narration, the Draft stage reads it to lay out pictures and subtitles. It lives in `shared/`
 * because neither stage may import the other's folder.
 */
export interface NarrationTimings {
  language: string;
  voice: string;
  duration_ms: number;
  content_type: string;
  sentences: SynthesisResult['sentences'];
}
