import type { Cue } from '../../shared/draft/subtitles.js';

/** A spoken word on the narration's timeline, as the fake service knows it (the truth). */
export interface TruthWord {
  text: string;
  start_ms: number;
  end_ms: number;
}

export interface CueAlignment {
  /** |cue boundary − word timing| for every cue boundary that falls on a word boundary of the truth */
  errors: number[];
  max_ms: number;
  /** the largest error at a cue edge next to a pause (sentence or clause punctuation) */
  max_at_pauses_ms: number;
  /** 95th percentile of the errors */
  p95_ms: number;
  /** boundaries compared (a cue edge inside one of the truth's words has no truth to compare with) */
  compared: number;
  /** the last cue's end against the last word's end */
  last_end_error_ms: number;
}

const compact = (text: string) => Array.from(text.replace(/\s+/gu, ''));

/**
 * Compares cue boundaries with the true word timings. Positions are counted in the narration's
 * characters without whitespace, so cue and word texts line up however each splits its words:
 * a cue's start is compared with the start of the word that begins at the same character, its
 * end with the end of the word that ends there.
 */
export function cueAlignment(cues: Cue[], truth: TruthWord[]): CueAlignment {
  const starts = new Map<number, number>();
  const ends = new Map<number, number>();
  let position = 0;
  for (const word of truth) {
    starts.set(position, word.start_ms);
    position += compact(word.text).length;
    ends.set(position, word.end_ms);
  }
  const errors: number[] = [];
  const atPauses: number[] = [];
  const PAUSE_AFTER = /[,;:，、；：.!?。！？…]$/u;
  position = 0;
  let previousText = '';
  for (const cue of cues) {
    const start = starts.get(position);
    if (start !== undefined) {
      errors.push(Math.abs(cue.start_ms - start));
      if (position === 0 || PAUSE_AFTER.test(previousText)) atPauses.push(Math.abs(cue.start_ms - start));
    }
    position += compact(cue.text).length;
    const end = ends.get(position);
    if (end !== undefined) {
      errors.push(Math.abs(cue.end_ms - end));
      if (PAUSE_AFTER.test(cue.text)) atPauses.push(Math.abs(cue.end_ms - end));
    }
    previousText = cue.text;
  }
  if (position !== Array.from(truth.map((w) => w.text).join('')).filter((c) => !/\s/u.test(c)).length) {
    throw new Error(`cues cover ${position} characters, the truth ${ends.size ? [...ends.keys()].pop() : 0}`);
  }
  const last = truth[truth.length - 1];
  const sorted = [...errors].sort((a, b) => a - b);
  return {
    errors,
    max_ms: Math.max(0, ...errors),
    max_at_pauses_ms: Math.max(0, ...atPauses),
    p95_ms: sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * 0.95))] ?? 0,
    compared: errors.length,
    last_end_error_ms: Math.abs(cues[cues.length - 1].end_ms - last.end_ms),
  };
}
