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

/**
 * Subtitle cues from the narration's sentences: one cue per sentence, or several when the
 * sentence is too wide for one line — split at word boundaries with each part timed by its
 * own words, so cues follow the voice.
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
    let group: typeof s.words = [];
    const flush = (last: boolean) => {
      if (!group.length) return;
      const joined = joinWords(group.map((w) => w.text));
      cues.push({
        text: joined,
        start_ms: cues.length && cues[cues.length - 1].end_ms > group[0].start_ms ? cues[cues.length - 1].end_ms : Math.max(s.start_ms, group[0].start_ms),
        end_ms: last ? s.end_ms : group[group.length - 1].end_ms,
      });
      group = [];
    };
    for (const w of s.words) {
      if (group.length && width(joinWords([...group.map((g) => g.text), w.text])) > maxWidth) flush(false);
      group.push(w);
    }
    flush(true);
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
