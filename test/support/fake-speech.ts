/**
 * Speech-like audio with known word timings, made in milliseconds instead of synthesized: each
 * word is a voiced harmonic tone (random pitch, a 5 Hz syllable wobble, soft attack and release)
 * whose length follows its letters with ±25 % jitter; words of a clause run into each other with
 * no silence (or a gap too short to count as a pause), commas pause 170–260 ms, sentence ends
 * 380–520 ms, and every answer starts and ends with its own silence — as a TTS service's does.
 * Deterministic for a given text and seed.
 */

export interface FakeWord {
  text: string;
  start_ms: number;
  end_ms: number;
}

export interface FakeSpeech {
  samples: Int16Array;
  sampleRate: number;
  words: FakeWord[];
  duration_ms: number;
}

/** A small seeded generator (mulberry32). */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A stable 32-bit hash of a string (FNV-1a), to seed by text. */
export function hashText(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** Words as the fake speaks them: Latin words at spaces, Han characters one by one, punctuation kept with the word before. */
export function fakeWords(text: string): string[] {
  const parts = text.match(/\p{Script=Han}|[^\s\p{Script=Han}]+/gu) ?? [];
  const words: string[] = [];
  for (const part of parts) {
    if (!/[\p{L}\p{N}]/u.test(part) && words.length) words[words.length - 1] += part;
    else words.push(part);
  }
  return words;
}

const SINE_TABLE_SIZE = 4096;
const SINE_TABLE = Float32Array.from({ length: SINE_TABLE_SIZE }, (_, i) => Math.sin((2 * Math.PI * i) / SINE_TABLE_SIZE));
/** sin(2π · phase / SINE_TABLE_SIZE), from a table (Math.sin per sample is the slow part of a 3-minute fake). */
const sine = (phase: number) => SINE_TABLE[Math.floor(phase) & (SINE_TABLE_SIZE - 1)];

export function fakeSpeech(text: string, options: { sampleRate?: number; seed?: number } = {}): FakeSpeech {
  const sampleRate = options.sampleRate ?? 22_050;
  const random = seededRandom(options.seed ?? hashText(text));
  const between = (lo: number, hi: number) => lo + (hi - lo) * random();
  const words = fakeWords(text);
  const plan: Array<{ text: string; startMs: number; lengthMs: number; pitch: number }> = [];
  let cursor = between(120, 220);
  words.forEach((word, i) => {
    const sentenceEnd = /[.!?。！？…]["”’」』)）]*$/u.test(word);
    const clauseEnd = !sentenceEnd && /[,;:，、；：—]$/u.test(word);
    const han = (word.match(/\p{Script=Han}/gu) ?? []).length;
    const digits = (word.match(/\p{N}/gu) ?? []).length;
    const letters = (word.match(/\p{L}/gu) ?? []).length - han;
    // A digit is read as a number word ("1966" → "nineteen sixty-six"): about four letters' worth.
    const base = han > 0 ? 240 * han + 45 * (letters + 4 * digits) : 40 + 45 * (letters + 4 * digits);
    const lengthMs = base * between(0.8, 1.25) * (sentenceEnd || clauseEnd ? 1.15 : 1);
    plan.push({ text: word, startMs: cursor, lengthMs, pitch: between(110, 220) });
    cursor += lengthMs;
    if (i === words.length - 1) return;
    if (sentenceEnd) cursor += between(380, 520);
    else if (clauseEnd) cursor += between(170, 260);
    else if (random() < 0.3) cursor += between(15, 35);
  });
  const durationMs = cursor + between(200, 320);
  const samples = new Int16Array(Math.round((durationMs * sampleRate) / 1000));
  for (let i = 0; i < samples.length; i++) samples[i] = Math.round((random() - 0.5) * 60); // noise floor
  for (const w of plan) {
    const from = Math.round((w.startMs * sampleRate) / 1000);
    const to = Math.min(samples.length, Math.round(((w.startMs + w.lengthMs) * sampleRate) / 1000));
    const attack = Math.round(0.015 * sampleRate);
    const release = Math.round(0.02 * sampleRate);
    const step = (w.pitch * SINE_TABLE_SIZE) / sampleRate;
    const wobbleStep = (2.5 * SINE_TABLE_SIZE) / sampleRate;
    for (let i = from; i < to; i++) {
      const n = i - from;
      const edge = Math.min(1, n / attack, (to - 1 - i) / release);
      const wobble = 0.65 + 0.35 * Math.abs(sine(n * wobbleStep));
      const phase = n * step;
      const tone = sine(phase) + 0.5 * sine(2 * phase) + 0.25 * sine(3 * phase);
      samples[i] = Math.max(-32768, Math.min(32767, samples[i] + Math.round(9000 * edge * wobble * (tone / 1.75))));
    }
  }
  return {
    samples,
    sampleRate,
    words: plan.map((w) => ({ text: w.text, start_ms: Math.round(w.startMs), end_ms: Math.round(w.startMs + w.lengthMs) })),
    duration_ms: (samples.length * 1000) / sampleRate,
  };
}
