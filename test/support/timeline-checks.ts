import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { expect } from 'vitest';
import type { TimeRange } from '../../shared/draft/draft.js';
import type { FakeSynthesis } from './fake-tts-services.js';
import { fakeWords } from './fake-speech.js';
import { framePixels, meanColour, type FrameArea } from './video-frames.js';

/**
 * What the timeline tests check in an exported mp4 against the draft.json that made it: colours
 * in a window of a frame, the frames either side of each cut, the music's level in a band — and
 * the tone narration they use, whose pauses are long enough to hear the music come back up.
 */
const FFMPEG = (createRequire(import.meta.url)('@ffmpeg-installer/ffmpeg') as { path: string }).path;

/** One frame of the pipeline's canvas (25 fps), seconds. */
/** Runs the pipeline's ffmpeg (quiet, overwriting), returning its stdout; throws with its stderr. */
export function ffmpeg(args: string[]): Buffer {
  const out = spawnSync(FFMPEG, ['-hide_banner', '-v', 'error', '-y', ...args], { maxBuffer: 64 * 1024 * 1024 });
  if (out.status !== 0) throw new Error(`ffmpeg ${args.join(' ')}: ${out.stderr.toString()}`);
  return out.stdout;
}

export const FRAME_S = 1 / 25;
export type RGB = [number, number, number];

/** 16 kHz speech stand-in: a 2 kHz tone per word, 0.1 s between words, 1.2 s after a sentence. */
export function toneSpeech(text: string): FakeSynthesis {
  const rate = 16_000;
  const words: FakeSynthesis['words'] = [];
  const spans: Array<[number, number]> = [];
  let t = 0.15;
  for (const w of fakeWords(text)) {
    if (spans.length) t += /[.!?]$/.test(words[words.length - 1].text) ? 1.2 : 0.1;
    words.push({ text: w, start_ms: Math.round(t * 1000), end_ms: Math.round((t + 0.3) * 1000) });
    spans.push([t, t + 0.3]);
    t += 0.3;
  }
  const samples = new Int16Array(Math.round((t + 0.3) * rate));
  for (const [a, b] of spans)
    for (let i = Math.round(a * rate); i < Math.round(b * rate); i++) samples[i] = Math.round(8000 * Math.sin((2 * Math.PI * 2000 * i) / rate));
  return { samples, sampleRate: rate, words };
}

/** The first frame shown at or after frame `n` (a seek shows the first frame at or after the time asked). */
export const atFrame = (n: number) => n * FRAME_S - 0.01;
/** A window in the upper part of the 1080x1920 canvas, and one in the lower part. */
export const TOP: FrameArea = { x: 340, y: 300, w: 400, h: 300 };
export const BOTTOM: FrameArea = { x: 340, y: 1350, w: 400, h: 300 };
export const colourAt = (video: string, seconds: number, area = TOP): RGB => meanColour(framePixels(video, seconds, area));
export const distance = (a: RGB, b: RGB) => Math.hypot(a[0] - b[0], a[1] - b[1], a[2] - b[2]);
export const near = (a: RGB, b: RGB, tolerance = 40) => distance(a, b) <= tolerance;

/** Mean level (dB) between `from` and `to` seconds in a band around `hz`. */
export function bandLevelDb(video: string, hz: number, from: number, to: number): number {
  const args = [
    '-hide_banner',
    '-ss',
    String(from),
    '-t',
    String(to - from),
    '-i',
    video,
    '-af',
    `bandpass=f=${hz}:width_type=q:w=8,volumedetect`,
    '-f',
    'null',
    '-',
  ];
  const out = spawnSync(FFMPEG, args);
  const m = /mean_volume: (-?[\d.]+|-inf) dB/.exec(out.stderr.toString());
  if (!m) throw new Error(out.stderr.toString());
  return m[1] === '-inf' ? -200 : Number(m[1]);
}

/** For every cut of the visual track: the frame before shows more of the outgoing visual, the frame after more of the incoming one. */
export function expectCutsWhereTheDraftSays<S extends { target: TimeRange }>(video: string, visual: S[], colourOf: (seg: S) => RGB) {
  for (let i = 1; i < visual.length; i++) {
    const cut = visual[i].target.start_us / 1e6;
    const frame = Math.round(cut / FRAME_S);
    expect(Math.abs(frame * FRAME_S - cut)).toBeLessThan(1e-6); // cuts on whole frames
    const [out, inc] = [colourOf(visual[i - 1]), colourOf(visual[i])];
    const before = colourAt(video, atFrame(frame - 1));
    const after = colourAt(video, atFrame(frame + 1));
    expect(distance(before, out), `frame before cut ${i} at ${cut} s`).toBeLessThan(distance(before, inc));
    expect(distance(after, inc), `frame after cut ${i} at ${cut} s`).toBeLessThan(distance(after, out));
  }
}
