/**
 * Word timings for speech that arrives without them (the team's HTTP TTS service answers audio
 * only): the text is lined up with the pauses in the sound.
 *
 * ```
 * chunk audio  ▁▅▇▆▅▁▁▁▁▆▇▅▇▆▁▁▆▅▁▁▁▁▁▁▇▆▅▆▇▁   ▁ = silent 5 ms frame
 *              └sentence 1┘    └─ sentence 2 ─┘  └sentence 3┘
 *                         ▲ pauses: candidates for a sentence boundary ▲
 * ```
 *
 * 1. Sentences: of all pauses in the chunk, choose as many as there are sentence boundaries, so
 *    that each sentence's length matches its expected spoken length (a dynamic programme: log
 *    length ratio, plus a bonus for longer pauses). Sentence ends get the longest pauses in speech
 *    of every TTS engine, and the length model keeps the choice in order even where a comma pause
 *    is as long.
 * 2. Clauses inside a sentence (after `,` `，` `;` …): the same, with the sentence's own pauses.
 * 3. Words inside a clause: spread by their expected spoken length, then snapped to a pause
 *    close to the expected boundary, or else to a clear energy dip within 60 ms of it (words
 *    usually meet in one).
 *
 * The expected length of a word comes from {@link tokenWeight}. Measured on eSpeak speech (its own
 * word events as the truth): cue boundaries 12–38 ms off on average; at pauses within a few tens
 * of ms, inside a long clause up to about 200 ms — audio alone cannot place every word.
 */
import type { WordTiming } from './tts-provider.js';

/** A word as written, with its expected spoken length in letter units ({@link tokenWeight}). */
export interface SpokenToken {
  text: string;
  weight: number;
  /** ends with clause or sentence punctuation (a pause usually follows) */
  clauseEnd: boolean;
}

/** A sentence (or piece of one) lined up with the audio, in ms from the start of the clip. */
export interface AlignedSpeech {
  start_ms: number;
  end_ms: number;
  words: WordTiming[];
}

const FRAME_MS = 5;
/** a word boundary without a pause snaps to the quietest frame this close to where it is expected… */
const DIP_REACH_MS = 60;
/** …when that frame is this much quieter than the clause's median level (words meet in an energy dip) */
const DIP_RATIO = 0.35;
const HAN = /\p{Script=Han}/u;
const HAS_SPOKEN = /[\p{L}\p{N}]/u;
const CLAUSE_END = /[,;:，、；：.!?。！？…—)）」』”]$/u;
const HAN_WEIGHT = 5.5;
const DIGIT_WEIGHT = 4.5;
const WORD_BASE_WEIGHT = 0.9;
/** the last word before a pause is drawn out (pre-pausal lengthening, in every TTS engine) */
const PREPAUSAL_LENGTHENING = 1.25;
/** an expected comma pause, in letter units, counted into the length of the clause before it */
const CLAUSE_PAUSE_WEIGHT = 3;
/** silence below this is never a pause between words (stop consonants close for 30–60 ms) */
const MIN_WORD_PAUSE_MS = 60;
const MIN_PAUSE_MS = 40;

/**
 * Expected spoken length of a written word, in "letter" units (about 45 ms of English speech):
 * speech time follows the number of sounds far more than the number of syllables ("the" is short,
 * "grandmother" long), and letters count sounds well enough. A Han character is one syllable,
 * about five units; a digit is read as a number word, about four and a half.
 */
export function tokenWeight(text: string): number {
  let weight = 0;
  for (const ch of text) if (HAN.test(ch)) weight += HAN_WEIGHT;
  const latin = text.replace(/\p{Script=Han}/gu, ' ');
  for (const word of latin.split(/[^\p{L}\p{N}]+/u).filter(Boolean)) {
    const digits = (word.match(/\p{N}/gu) ?? []).length;
    const letters = Array.from(word).length - digits;
    weight += WORD_BASE_WEIGHT + letters + digits * DIGIT_WEIGHT;
  }
  return weight;
}

/**
 * Splits text into the words a subtitle shows: Latin words at spaces, Chinese character by
 * character; punctuation stays with the word before it (or the first word, at the start). The
 * words joined back give the text.
 */
export function spokenTokens(text: string): SpokenToken[] {
  const raw = text.match(/\p{Script=Han}|[^\s\p{Script=Han}]+/gu) ?? [];
  const tokens: SpokenToken[] = [];
  let leading = '';
  for (const part of raw) {
    if (!HAS_SPOKEN.test(part)) {
      if (tokens.length) tokens[tokens.length - 1].text += part;
      else leading += part;
      continue;
    }
    tokens.push({ text: leading + part, weight: 0, clauseEnd: false });
    leading = '';
  }
  if (leading && tokens.length === 0) tokens.push({ text: leading, weight: 0, clauseEnd: false });
  for (const token of tokens) {
    token.clauseEnd = CLAUSE_END.test(token.text);
    token.weight = Math.max(0.5, tokenWeight(token.text)) * (token.clauseEnd ? PREPAUSAL_LENGTHENING : 1);
  }
  return tokens;
}

// --- Sound analysis ---------------------------------------------------------------------------

interface Pause {
  start: number;
  end: number;
  /** a stand-in boundary where no pause was found (zero length) */
  virtual?: boolean;
}

interface SoundMap {
  /** samples per frame (the frame lasts frameSamples / sampleRate, not exactly FRAME_MS) */
  frameSamples: number;
  /** RMS level of each frame */
  levels: Float32Array;
  /** true for a silent frame */
  silent: Uint8Array;
  frames: number;
}

function analyse(samples: Int16Array, sampleRate: number): SoundMap {
  const frameSamples = Math.max(1, Math.round((sampleRate * FRAME_MS) / 1000));
  const frames = Math.ceil(samples.length / frameSamples);
  const levels = new Float32Array(frames);
  for (let f = 0; f < frames; f++) {
    let sum = 0;
    const from = f * frameSamples;
    const to = Math.min(samples.length, from + frameSamples);
    for (let i = from; i < to; i++) sum += samples[i] * samples[i];
    levels[f] = Math.sqrt(sum / Math.max(1, to - from));
  }
  // Silence is relative to the speech level (a quiet recording has quiet pauses), never below
  // about -52 dBFS.
  const sorted = Float32Array.from(levels).sort();
  const loud = sorted[Math.floor(sorted.length * 0.95)] ?? 0;
  const threshold = Math.max(80, loud * 0.05);
  const silent = new Uint8Array(frames);
  for (let f = 0; f < frames; f++) silent[f] = levels[f] < threshold ? 1 : 0;
  return { frameSamples, levels, silent, frames };
}

/** First and one-past-last sounding frame in [from, to) (frame indices), or undefined. */
function voicedFrames(map: SoundMap, from: number, to: number): { start: number; end: number } | undefined {
  let start = -1;
  for (let f = Math.max(0, from); f < Math.min(map.frames, to); f++) {
    if (!map.silent[f]) {
      start = f;
      break;
    }
  }
  if (start < 0) return undefined;
  let end = start + 1;
  for (let f = Math.min(map.frames, to) - 1; f > start; f--) {
    if (!map.silent[f]) {
      end = f + 1;
      break;
    }
  }
  return { start, end };
}

/** Silent runs of at least `minMs` strictly inside [from, to) (frame indices), as frame ranges. */
function pausesWithin(map: SoundMap, from: number, to: number, minMs: number): Pause[] {
  const minFrames = Math.ceil(minMs / FRAME_MS);
  const pauses: Pause[] = [];
  let runStart = -1;
  for (let f = from; f < to; f++) {
    if (map.silent[f]) {
      if (runStart < 0) runStart = f;
    } else if (runStart >= 0) {
      if (f - runStart >= minFrames && runStart > from) pauses.push({ start: runStart, end: f });
      runStart = -1;
    }
  }
  return pauses;
}

// --- Boundaries by expected length ----------------------------------------------------------

interface BoundaryOptions {
  /** standard deviation of the log ratio actual/expected length of one segment */
  logSigma: number;
  /** reward per natural-log unit of pause length (longer pauses make likelier boundaries) */
  pauseBonus: number;
  /** cost of a boundary that falls on no pause */
  virtualPenalty: number;
}

/**
 * Chooses `weights.length - 1` boundaries in the frame span [start, end) among `pauses` (plus
 * zero-length stand-ins at the proportional positions), minimizing the length mismatch of the
 * segments between them. Returns one pause per boundary, in order.
 */
function chooseBoundaries(span: { start: number; end: number }, weights: number[], pauses: Pause[], options: BoundaryOptions): Pause[] {
  const boundaries = weights.length - 1;
  if (boundaries <= 0) return [];
  const total = weights.reduce((sum, w) => sum + w, 0);
  const length = span.end - span.start;
  const cumulative: number[] = [];
  weights.reduce((sum, w) => {
    cumulative.push(sum + w);
    return sum + w;
  }, 0);
  // Speech rate: the span without the pauses that will separate the segments.
  const longest = pauses
    .map((p) => p.end - p.start)
    .sort((a, b) => b - a)
    .slice(0, boundaries);
  const speaking = Math.max(length * 0.5, length - longest.reduce((sum, d) => sum + d, 0));
  const framesPerWeight = speaking / total;

  const candidates: Pause[] = [...pauses];
  for (let k = 0; k < boundaries; k++) {
    const at = Math.round(span.start + (length * cumulative[k]) / total);
    candidates.push({ start: at, end: at, virtual: true });
  }
  candidates.sort((a, b) => a.start - b.start || a.end - b.end);

  const segmentCost = (frames: number, weight: number) => {
    if (frames <= 0) return Number.POSITIVE_INFINITY;
    const ratio = Math.log(frames / Math.max(0.5, weight * framesPerWeight));
    return (ratio * ratio) / (2 * options.logSigma * options.logSigma);
  };
  const candidateCost = (c: Pause) =>
    c.virtual ? options.virtualPenalty : -options.pauseBonus * Math.log(Math.max(1, c.end - c.start) / (MIN_PAUSE_MS / FRAME_MS));

  const C = candidates.length;
  const cost: Float64Array[] = Array.from({ length: boundaries }, () => new Float64Array(C).fill(Number.POSITIVE_INFINITY));
  const from: Int32Array[] = Array.from({ length: boundaries }, () => new Int32Array(C).fill(-1));
  for (let i = 0; i < C; i++) {
    cost[0][i] = segmentCost(candidates[i].start - span.start, weights[0]) + candidateCost(candidates[i]);
  }
  for (let k = 1; k < boundaries; k++) {
    for (let i = 0; i < C; i++) {
      const own = candidateCost(candidates[i]);
      for (let j = 0; j < i; j++) {
        if (!Number.isFinite(cost[k - 1][j]) || candidates[j].end >= candidates[i].start) continue;
        const c = cost[k - 1][j] + segmentCost(candidates[i].start - candidates[j].end, weights[k]) + own;
        if (c < cost[k][i]) {
          cost[k][i] = c;
          from[k][i] = j;
        }
      }
    }
  }
  let best = -1;
  let bestCost = Number.POSITIVE_INFINITY;
  for (let i = 0; i < C; i++) {
    const c = cost[boundaries - 1][i] + segmentCost(span.end - candidates[i].end, weights[boundaries]);
    if (c < bestCost) {
      bestCost = c;
      best = i;
    }
  }
  if (best < 0) {
    // Too short to place them in order: fall back to proportional positions.
    return candidates.filter((c) => c.virtual);
  }
  const chosen: Pause[] = [];
  for (let k = boundaries - 1, i = best; k >= 0; k--) {
    chosen.unshift(candidates[i]);
    i = from[k][i];
  }
  return chosen;
}

/** Segments of `span` between consecutive boundaries (boundary pauses excluded). */
function segmentsBetween(span: { start: number; end: number }, boundaries: Pause[]): Array<{ start: number; end: number }> {
  const out: Array<{ start: number; end: number }> = [];
  let cursor = span.start;
  for (const b of boundaries) {
    out.push({ start: cursor, end: Math.max(cursor, b.start) });
    cursor = Math.max(cursor, b.end);
  }
  out.push({ start: cursor, end: Math.max(cursor, span.end) });
  return out;
}

/** Words of one clause over its frame span: proportional to weight, snapped to nearby pauses. */
function placeWords(map: SoundMap, span: { start: number; end: number }, tokens: SpokenToken[]): Array<{ start: number; end: number }> {
  if (tokens.length === 1) return [{ ...span }];
  const total = tokens.reduce((sum, t) => sum + t.weight, 0);
  const length = span.end - span.start;
  const pauses = pausesWithin(map, span.start, span.end, MIN_WORD_PAUSE_MS);
  const inside = Float32Array.from(map.levels.subarray(span.start, span.end)).sort();
  const typical = inside[inside.length >> 1] ?? 0;
  const out: Array<{ start: number; end: number }> = [];
  let cursor = span.start;
  let used = -1;
  let remaining = total;
  for (let k = 0; k < tokens.length - 1; k++) {
    // Spread what is left after the last boundary: a snapped boundary re-anchors the rest.
    const expected = cursor + ((span.end - cursor) * tokens[k].weight) / remaining;
    remaining -= tokens[k].weight;
    const window = Math.max(80 / FRAME_MS, (0.5 * length * Math.min(tokens[k].weight, tokens[k + 1].weight)) / total);
    let pick = -1;
    for (let p = used + 1; p < pauses.length; p++) {
      const centre = (pauses[p].start + pauses[p].end) / 2;
      if (pauses[p].start <= cursor) continue;
      if (
        Math.abs(centre - expected) <= window &&
        (pick < 0 || Math.abs(centre - expected) < Math.abs((pauses[pick].start + pauses[pick].end) / 2 - expected))
      ) {
        pick = p;
      }
    }
    if (pick >= 0) {
      out.push({ start: cursor, end: pauses[pick].start });
      cursor = pauses[pick].end;
      used = pick;
    } else {
      let at = Math.min(span.end, Math.max(cursor + 1, Math.round(expected)));
      const reach = Math.round(DIP_REACH_MS / FRAME_MS);
      let quietest = -1;
      for (let f = Math.max(cursor + 1, at - reach); f <= Math.min(span.end - 1, at + reach); f++) {
        if (quietest < 0 || map.levels[f] < map.levels[quietest]) quietest = f;
      }
      if (quietest >= 0 && map.levels[quietest] < DIP_RATIO * typical) at = quietest;
      out.push({ start: cursor, end: at });
      cursor = at;
    }
  }
  out.push({ start: cursor, end: span.end });
  return out;
}

/**
 * Lines `pieces` (the texts of one request, in order) up with their audio.
 *
 * @returns one entry per piece, times in ms from the start of `samples`.
 */
export function alignPiecesToAudio(samples: Int16Array, sampleRate: number, pieces: string[]): AlignedSpeech[] {
  const map = analyse(samples, sampleRate);
  // Exact frame times: a frame is a whole number of samples, so FRAME_MS × index would drift.
  const toMs = (frame: number) => Math.round((Math.min(samples.length, frame * map.frameSamples) * 1000) / sampleRate);
  const voiced = voicedFrames(map, 0, map.frames);
  const tokenLists = pieces.map((piece) => spokenTokens(piece));
  if (!voiced) {
    return tokenLists.map((tokens) => ({ start_ms: 0, end_ms: 0, words: tokens.map((t) => ({ text: t.text, start_ms: 0, end_ms: 0 })) }));
  }
  const pieceWeights = tokenLists.map((tokens) =>
    Math.max(
      0.3,
      tokens.reduce((sum, t, i) => sum + t.weight + (t.clauseEnd && i < tokens.length - 1 ? CLAUSE_PAUSE_WEIGHT : 0), 0),
    ),
  );
  const sentencePauses = pausesWithin(map, voiced.start, voiced.end, MIN_PAUSE_MS);
  const boundaries = chooseBoundaries(voiced, pieceWeights, sentencePauses, { logSigma: 0.3, pauseBonus: 1, virtualPenalty: 3 });
  const pieceSpans = segmentsBetween(voiced, boundaries);

  return tokenLists.map((tokens, index) => {
    const rough = pieceSpans[index];
    const span = voicedFrames(map, rough.start, rough.end) ?? rough;
    if (tokens.length === 0) return { start_ms: toMs(span.start), end_ms: toMs(span.end), words: [] };
    // Clauses of the sentence, then words of each clause.
    const clauses: SpokenToken[][] = [[]];
    tokens.forEach((token, i) => {
      clauses[clauses.length - 1].push(token);
      if (token.clauseEnd && i < tokens.length - 1) clauses.push([]);
    });
    const clauseWeights = clauses.map((c) => c.reduce((sum, t) => sum + t.weight, 0));
    const clauseBoundaries = chooseBoundaries(span, clauseWeights, pausesWithin(map, span.start, span.end, MIN_PAUSE_MS), {
      logSigma: 0.4,
      pauseBonus: 1,
      virtualPenalty: 2,
    });
    const clauseSpans = segmentsBetween(span, clauseBoundaries);
    const words: WordTiming[] = [];
    clauses.forEach((clause, c) => {
      const clauseSpan = voicedFrames(map, clauseSpans[c].start, clauseSpans[c].end) ?? clauseSpans[c];
      placeWords(map, clauseSpan, clause).forEach((frames, w) => {
        words.push({ text: clause[w].text, start_ms: toMs(frames.start), end_ms: toMs(frames.end) });
      });
    });
    return { start_ms: toMs(span.start), end_ms: toMs(span.end), words };
  });
}
