import type { SpokenSentence } from '../tts/tts-provider.js';

export interface Cue {
  text: string;
  start_ms: number;
  end_ms: number;
}

const isWide = (ch: string) => /[\u1100-\u11ff\u2e80-\ua4cf\uac00-\ud7af\uf900-\ufaff\ufe30-\ufe4f\uff00-\uffef]/u.test(ch);
/** display width: a CJK character counts two, so 16 CJK ≈ 32 Latin on a 1080-wide frame */
const width = (text: string) => [...text].reduce((w, ch) => w + (isWide(ch) ? 2 : 1), 0);
export const MAX_CUE_WIDTH = 34;

/** punctuation after which the voice pauses: the best place to end a cue */
const CLAUSE_END = /[,;:，、；：.!?。！？…—)）」』”]$/u;
/** words a cue should not end on: they belong with the word after them */
const LEADING_WORD = /^(a|an|the|of|to|in|on|at|by|for|with|from|and|or|but|my|your|his|her|its|our|their|this|that)$/i;

/**
 * Where to cut one sentence's words into cues: the fewest cues that fit `maxWidth`, then the
 * cut that ends cues at clause punctuation (where the voice pauses, so the cue boundary is where
 * the listener hears it), not on an article or preposition, and keeps cues of similar width.
 *
 * @returns the index of the first word of each cue.
 */
export function cueBreaks(words: string[], maxWidth: number): number[] {
  const n = words.length;
  const best = new Array<number>(n + 1).fill(Number.POSITIVE_INFINITY);
  const from = new Array<number>(n + 1).fill(-1);
  best[0] = 0;
  for (let end = 1; end <= n; end++) {
    for (let start = end - 1; start >= 0; start--) {
      const w = width(joinWords(words.slice(start, end)));
      if (w > maxWidth && end - start > 1) break;
      const slack = (maxWidth - Math.min(w, maxWidth)) / maxWidth;
      const atPause = end < n && CLAUSE_END.test(words[end - 1].trim());
      const dangling = end < n && LEADING_WORD.test(words[end - 1].trim());
      // 1 per cue dominates: a clause break never costs an extra cue unless balance gains too.
      const cost = best[start] + 1 + (end < n ? 0.5 * slack * slack : 0) - (atPause ? 0.6 : 0) + (dangling ? 0.3 : 0);
      if (cost < best[end]) {
        best[end] = cost;
        from[end] = start;
      }
    }
  }
  const starts: number[] = [];
  for (let end = n; end > 0; end = from[end]) starts.unshift(from[end]);
  return starts;
}

/**
 * Subtitle cues from the narration's sentences: one cue per sentence, or several when the
 * sentence is too wide for one line — cut at word boundaries ({@link cueBreaks}) with each part
 * timed by its own words, so cues follow the voice.
 */
export function cuesFromSentences(sentences: SpokenSentence[], maxWidth = MAX_CUE_WIDTH): Cue[] {
  const cues: Cue[] = [];
  for (const s of sentences) {
    const text = s.text.trim();
    if (!text) continue;
    if (width(text) <= maxWidth || s.words.length < 2) {
      cues.push({ text, start_ms: s.start_ms, end_ms: s.end_ms });
      continue;
    }
    const starts = cueBreaks(
      s.words.map((w) => w.text),
      maxWidth,
    );
    starts.forEach((first, i) => {
      const last = i + 1 < starts.length ? starts[i + 1] - 1 : s.words.length - 1;
      const group = s.words.slice(first, last + 1);
      const previous = cues[cues.length - 1];
      cues.push({
        text: joinWords(group.map((w) => w.text)),
        start_ms: i === 0 ? s.start_ms : previous && previous.end_ms > group[0].start_ms ? previous.end_ms : group[0].start_ms,
        end_ms: last === s.words.length - 1 ? s.end_ms : group[group.length - 1].end_ms,
      });
    });
  }
  // Cues never overlap and never run backwards.
  for (let i = 1; i < cues.length; i++) {
    if (cues[i].start_ms < cues[i - 1].end_ms) cues[i].start_ms = cues[i - 1].end_ms;
    if (cues[i].end_ms < cues[i].start_ms) cues[i].end_ms = cues[i].start_ms;
  }
  return cues;
}

function joinWords(words: string[]): string {
  let out = '';
  for (const w of words) {
    const t = w.trim();
    if (!t) continue;
    if (out && !(isWide(out[out.length - 1]) || isWide(t[0]) || /^[,.!?;:，。！？；：、]/u.test(t))) out += ' ';
    out += t;
  }
  return out;
}

function srtTime(ms: number): string {
  const total = Math.max(0, Math.round(ms));
  const h = Math.floor(total / 3_600_000);
  const m = Math.floor((total % 3_600_000) / 60_000);
  const s = Math.floor((total % 60_000) / 1000);
  const r = total % 1000;
  const p = (n: number, d = 2) => String(n).padStart(d, '0');
  return `${p(h)}:${p(m)}:${p(s)},${p(r, 3)}`;
}

/** SubRip text of the cues (the same cues as the draft's text track). */
export function toSrt(cues: Cue[]): string {
  return cues.map((c, i) => `${i + 1}\n${srtTime(c.start_ms)} --> ${srtTime(c.end_ms)}\n${c.text}\n`).join('\n');
}
