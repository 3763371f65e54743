import { spawnSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Draft, DraftMaterial, DraftTrack, MediaSegment, SubtitlePosition, SubtitleStylePreset, TextSegment } from '../../shared/draft/draft.js';
import { duckingKeyframes } from '../../shared/render/music-ducking.js';
import { renderDraft } from '../../shared/render/render-draft.js';
import { framePixels, meanColour, type FrameArea } from '../support/video-frames.js';
import { bandLevelDb, ffmpeg } from '../support/timeline-checks.js';

/**
 * The timeline the renderer draws: clips and stills at their times, motion, cross-fades, fit,
 * rotation, clip sound, music ducked under speech and the caption presets — each checked in the
 * rendered mp4 (pixels sampled at chosen times, band energy of the sound). Media are generated
 * by ffmpeg here; canvases are small (360x640) and renders 1–3 s.
 */
const FFPROBE = (createRequire(import.meta.url)('@ffprobe-installer/ffprobe') as { path: string }).path;
const S = 1_000_000;
const W = 360;
const H = 640;
type RGB = [number, number, number];

let dir: string;
const file = (name: string) => path.join(dir, name);

/** A still picture from a lavfi source. */
function still(name: string, source: string): string {
  ffmpeg(['-f', 'lavfi', '-i', source, '-frames:v', '1', file(name)]);
  return file(name);
}

/** A clip from a lavfi video graph, with an optional sine tone as its sound. */
function clip(name: string, graph: string, seconds: number, toneHz?: number, extra: string[] = []): string {
  const audio = toneHz ? ['-f', 'lavfi', '-i', `sine=f=${toneHz}:r=48000:d=${seconds}`] : [];
  ffmpeg([
    '-f',
    'lavfi',
    '-i',
    graph,
    ...audio,
    '-t',
    String(seconds),
    '-c:v',
    'libx264',
    '-preset',
    'ultrafast',
    '-pix_fmt',
    'yuv420p',
    ...(toneHz ? ['-c:a', 'aac'] : []),
    ...extra,
    file(name),
  ]);
  return file(name);
}

/** Silence with a tone where the narration "speaks". */
function narration(name: string, seconds: number, speech: Array<[number, number]>, hz = 2000): string {
  const on = speech.map(([a, b]) => `between(t\\,${a}\\,${b})`).join('+');
  ffmpeg(['-f', 'lavfi', '-i', `aevalsrc=0.3*sin(2*PI*${hz}*t)*(${on || 0}):s=48000:d=${seconds}`, '-ac', '1', file(name)]);
  return file(name);
}

/** Mean RGB of a crop of the frame at `seconds`. */
const colourAt = (video: string, seconds: number, area: FrameArea): RGB => meanColour(framePixels(video, seconds, area));

const pixels = (video: string, seconds: number, area: FrameArea = { x: 0, y: 0, w: W, h: H }): Buffer => framePixels(video, seconds, area);

const near = (a: RGB, b: RGB, tolerance = 30) => a.every((v, i) => Math.abs(v - b[i]) <= tolerance);
const count = (px: Buffer, test: (r: number, g: number, b: number) => boolean) => {
  let n = 0;
  for (let i = 0; i < px.length; i += 3) if (test(px[i], px[i + 1], px[i + 2])) n++;
  return n;
};

const seg = (id: string, material_id: string, start: number, duration: number, more: Partial<MediaSegment> = {}): MediaSegment => ({
  id,
  material_id,
  target: { start_us: Math.round(start * S), duration_us: Math.round(duration * S) },
  ...more,
});
const image = (id: string): DraftMaterial => ({ id, type: 'image', key: `${id}.png`, content_type: 'image/png' });
const video = (id: string): DraftMaterial => ({ id, type: 'video', key: `${id}.mp4`, content_type: 'video/mp4' });

/** A draft of `seconds` at 360x640 25 fps: the narration, the given visuals, audio tracks and text. */
function draftOf(a: { seconds: number; materials: DraftMaterial[]; visual: MediaSegment[]; audio?: DraftTrack[]; text?: DraftTrack }): Draft {
  const duration_us = Math.round(a.seconds * S);
  return {
    version: 1,
    task_id: 'task-timeline',
    canvas: { width: W, height: H, fps: 25 },
    duration_us,
    language: 'en',
    materials: [{ id: 'narration', type: 'audio', key: 'n.wav', content_type: 'audio/wav', duration_us }, ...a.materials],
    tracks: [
      { type: 'audio', name: 'narration', segments: [seg('n', 'narration', 0, a.seconds)] },
      { type: 'video', name: 'visual', segments: a.visual },
      ...(a.audio ?? []),
      ...(a.text ? [a.text] : []),
    ],
  };
}

async function render(name: string, draft: Draft, media: Record<string, string>): Promise<string> {
  const outputPath = file(`${name}.mp4`);
  await renderDraft({ draft, media: { narration: file('silent.wav'), ...media }, outputPath, workDir: file(`work-${name}`) });
  return outputPath;
}

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'render-timeline-'));
  narration('silent.wav', 4, []);
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('visuals on the timeline', () => {
  it('shows each clip and still at its time, a clip from its source range, and holds a short clip on its last frame', async () => {
    // yellow for 1.5 s, then magenta: a segment cut from 1.5 s shows magenta
    const twoTone = clip('two-tone.mp4', 'color=c=yellow:s=320x568:r=25:d=1.5[a];color=c=magenta:s=320x568:r=25:d=1.5[b];[a][b]concat=n=2:v=1:a=0', 3);
    const blue = clip('blue-short.mp4', 'color=c=blue:s=320x568:r=25', 0.4);
    const green = still('green.png', 'color=c=0x00ff00:s=200x300');
    const draft = draftOf({
      seconds: 3,
      materials: [video('two-tone'), image('green'), video('blue')],
      visual: [seg('a', 'two-tone', 0, 1, { source: { start_us: 1.5 * S, duration_us: S } }), seg('b', 'green', 1, 1), seg('c', 'blue', 2, 1)],
    });

    const out = await render('sequence', draft, { 'two-tone': twoTone, green, blue });

    const centre = { x: 160, y: 300, w: 40, h: 40 };
    expect(near(colourAt(out, 0.5, centre), [255, 0, 255])).toBe(true);
    expect(near(colourAt(out, 1.5, centre), [0, 255, 0])).toBe(true);
    expect(near(colourAt(out, 2.2, centre), [0, 0, 255])).toBe(true);
    // the blue clip lasts 0.4 s: its last frame holds to the end
    expect(near(colourAt(out, 2.9, centre), [0, 0, 255])).toBe(true);
  }, 60_000);

  it("cuts on the draft's segment boundary to the frame", async () => {
    const red = still('red-cut.png', 'color=c=red:s=90x160');
    const blue = still('blue-cut.png', 'color=c=blue:s=90x160');
    const draft = draftOf({
      seconds: 2,
      materials: [image('red-cut'), image('blue-cut')],
      visual: [seg('r', 'red-cut', 0, 1.2), seg('b', 'blue-cut', 1.2, 0.8)],
    });

    const out = await render('cut', draft, { 'red-cut': red, 'blue-cut': blue });

    // stills only: 15 fps. Frame 17 (1.133 s) is the last red one, frame 18 (1.200 s) the first
    // blue one (a seek shows the first frame at or after the time asked)
    const area = { x: 100, y: 100, w: 40, h: 40 };
    expect(near(colourAt(out, 1.13, area), [255, 0, 0])).toBe(true);
    expect(near(colourAt(out, 1.19, area), [0, 0, 255])).toBe(true);
  }, 60_000);

  it('cross-fades between visuals with the boundary at the fade midpoint', async () => {
    const red = still('red.png', 'color=c=red:s=180x320');
    const blue = still('blue.png', 'color=c=blue:s=180x320');
    const draft = draftOf({
      seconds: 2,
      materials: [image('red'), image('blue')],
      visual: [seg('r', 'red', 0, 1), seg('b', 'blue', 1, 1, { transition_in: { type: 'fade', duration_us: 0.48 * S } })],
    });

    const out = await render('fade', draft, { red, blue });

    const area = { x: 100, y: 100, w: 50, h: 50 };
    expect(near(colourAt(out, 0.6, area), [255, 0, 0])).toBe(true);
    const middle = colourAt(out, 1.0, area);
    // half way: as much red as blue
    expect(Math.abs(middle[0] - middle[2])).toBeLessThan(40);
    expect(middle[0]).toBeGreaterThan(80);
    // a quarter into the fade (0.76 → 1.24 s): mostly red, some blue already
    const early = colourAt(out, 0.88, area);
    expect(early[0]).toBeGreaterThan(early[2]);
    expect(early[2]).toBeGreaterThan(25);
    expect(near(colourAt(out, 1.4, area), [0, 0, 255])).toBe(true);
  }, 60_000);

  it('moves a still with motion (Ken Burns) and keeps a still without motion still', async () => {
    const pattern = still('pattern.png', 'testsrc=s=360x640');
    const draft = (motion: boolean) =>
      draftOf({
        seconds: 2,
        materials: [image('pattern')],
        visual: [seg('p', 'pattern', 0, 2, motion ? { motion: { start: { scale: 1, x: -1, y: 0 }, end: { scale: 1.25, x: 1, y: 0.5 } } } : {})],
      });

    const moving = await render('ken-burns', draft(true), { pattern });
    const standing = await render('no-motion', draft(false), { pattern });

    const difference = (a: Buffer, b: Buffer) => a.reduce((sum, v, i) => sum + Math.abs(v - b[i]), 0) / a.length;
    expect(difference(pixels(moving, 0.5), pixels(moving, 1.0))).toBeGreaterThan(3);
    expect(difference(pixels(standing, 0.5), pixels(standing, 1.0))).toBeLessThan(1);
    // the motion is smooth: consecutive frames differ less than frames 0.5 s apart
    expect(difference(pixels(moving, 0.96), pixels(moving, 1.0))).toBeLessThan(difference(pixels(moving, 0.5), pixels(moving, 1.0)));
  }, 60_000);

  it('shows a phone clip with rotation metadata upright', async () => {
    // recorded landscape 320x180 with the top-left quarter red, tagged as turned
    const raw = clip('raw.mp4', 'color=c=blue:s=320x180:r=25[b];color=c=red:s=160x90[r];[b][r]overlay=0:0:shortest=1', 1);
    ffmpeg(['-i', raw, '-c', 'copy', '-metadata:s:v:0', 'rotate=90', file('rotated.mp4')]);
    // volume 1 on a clip without a sound stream: it is mixed as silence (no `[n:a]` of a missing stream)
    const draft = draftOf({ seconds: 1, materials: [video('phone')], visual: [seg('v', 'phone', 0, 1, { volume: 1 })] });

    const out = await render('rotated', draft, { phone: file('rotated.mp4') });

    // The display matrix this ffmpeg writes for rotate=90 reads back as rotation=90 (ffprobe's
    // counter-clockwise angle): shown upright, the red corner is at the bottom left of a 9:16
    // picture filling the frame. Unrotated, the landscape frame would be centre-cropped with red at the top left.
    expect(near(colourAt(out, 0.5, { x: 10, y: H - 40, w: 30, h: 30 }), [255, 0, 0])).toBe(true);
    expect(near(colourAt(out, 0.5, { x: 10, y: 10, w: 30, h: 30 }), [0, 0, 255])).toBe(true);
    expect(near(colourAt(out, 0.5, { x: W - 40, y: H - 40, w: 30, h: 30 }), [0, 0, 255])).toBe(true);
  }, 60_000);

  it('renders a clip of variable frame rate at the canvas rate, every frame in its place', async () => {
    // 0.5 s red at 10 fps, then 0.5 s blue at 50 fps, written with its own timestamps (VFR)
    clip('vfr.mp4', 'color=c=red:s=180x320:r=10:d=0.5[a];color=c=blue:s=180x320:r=50:d=0.5[b];[a][b]concat=n=2:v=1:a=0', 1, undefined, ['-vsync', 'vfr']);
    const draft = draftOf({ seconds: 1, materials: [video('vfr')], visual: [seg('v', 'vfr', 0, 1)] });

    const out = await render('vfr', draft, { vfr: file('vfr.mp4') });

    const probe = spawnSync(FFPROBE, [
      '-v',
      'error',
      '-count_frames',
      '-select_streams',
      'v:0',
      '-show_entries',
      'stream=nb_read_frames,r_frame_rate',
      '-of',
      'json',
      out,
    ]);
    const stream = (JSON.parse(probe.stdout.toString()) as { streams: Array<{ nb_read_frames: string; r_frame_rate: string }> }).streams[0];
    expect(stream).toEqual({ nb_read_frames: '25', r_frame_rate: '25/1' });
    expect(near(colourAt(out, 0.3, { x: 100, y: 100, w: 40, h: 40 }), [255, 0, 0])).toBe(true);
    expect(near(colourAt(out, 0.8, { x: 100, y: 100, w: 40, h: 40 }), [0, 0, 255])).toBe(true);
  }, 60_000);

  it('fills the frame with landscape material (cover) or shows it whole over a blurred copy (blur)', async () => {
    // landscape 320x180: the left quarter red, the rest green
    const wide = still('wide.png', 'color=c=0x00ff00:s=320x180[g];color=c=red:s=80x180[r];[g][r]overlay=0:0');
    const draft = (fit: 'cover' | 'blur') => draftOf({ seconds: 1, materials: [image('wide')], visual: [seg('w', 'wide', 0, 1, { fit })] });

    const cover = await render('cover', draft('cover'), { wide });
    const blur = await render('blur', draft('blur'), { wide });

    const leftOfPicture = { x: 2, y: H / 2 - 10, w: 20, h: 20 };
    const top = { x: 150, y: 10, w: 60, h: 40 };
    // cover crops the centre: no red at the left; the picture fills the top too
    expect(near(colourAt(cover, 0.5, leftOfPicture), [0, 255, 0])).toBe(true);
    expect(near(colourAt(cover, 0.5, top), [0, 255, 0])).toBe(true);
    // blur shows the whole picture across the middle (its red quarter at the left) over a blurred cover copy
    expect(near(colourAt(blur, 0.5, leftOfPicture), [255, 0, 0])).toBe(true);
    expect(colourAt(blur, 0.5, top)[1]).toBeGreaterThan(150);
  }, 60_000);

  it("mutes a clip's own sound by default and mixes it at its source_audio_volume", async () => {
    const toned = clip('toned.mp4', 'color=c=gray:s=180x320:r=25', 2, 1000);
    const draft = (volume?: number) =>
      draftOf({ seconds: 2, materials: [video('toned')], visual: [seg('t', 'toned', 0, 2, volume === undefined ? {} : { volume })] });

    const muted = await render('muted', draft(), { toned });
    const mixed = await render('mixed', draft(0.5), { toned });

    expect(bandLevelDb(muted, 1000, 0.2, 1.8)).toBeLessThan(-70);
    expect(bandLevelDb(mixed, 1000, 0.2, 1.8)).toBeGreaterThan(-40);
  }, 60_000);
});

describe('music', () => {
  it('plays the music looped to the end, lower while the narration speaks than in a pause, faded out at the end', async () => {
    // narration speaks at 2 kHz from 0.8 to 1.8 s; the music is a 1.2 s tone at 440 Hz (shorter than the video)
    const speech: Array<[number, number]> = [[0.8, 1.8]];
    const voice = narration('speech.wav', 3, speech);
    ffmpeg(['-f', 'lavfi', '-i', 'sine=f=440:r=44100:d=1.2', '-c:a', 'libmp3lame', file('music.mp3')]);
    const keyframes = duckingKeyframes({ speech: speech.map(([a, b]) => ({ startUs: a * S, endUs: b * S })), durationUs: 3 * S, volume: 0.8, rampUs: 100_000 });
    still('grey.png', 'color=c=gray:s=90x160');
    const draft = draftOf({
      seconds: 3,
      materials: [image('grey'), { id: 'music', type: 'audio', key: 'music.mp3', content_type: 'audio/mpeg', duration_us: 1.2 * S }],
      visual: [seg('g', 'grey', 0, 3)],
      audio: [{ type: 'audio', name: 'music', segments: [seg('m', 'music', 0, 3, { volume_keyframes: keyframes, fade_out_us: 0.5 * S })] }],
    });

    const out = await render('music', draft, { narration: voice, grey: file('grey.png'), music: file('music.mp3') });

    const pause = bandLevelDb(out, 440, 0.1, 0.6);
    const underSpeech = bandLevelDb(out, 440, 1.0, 1.6);
    const afterLoop = bandLevelDb(out, 440, 2.0, 2.4);
    expect(pause).toBeGreaterThan(-40);
    expect(pause - underSpeech).toBeGreaterThan(6);
    // the 1.2 s music loops: heard again after the speech, at the pause level
    expect(Math.abs(afterLoop - pause)).toBeLessThan(3);
    // faded out over the last 0.5 s
    expect(bandLevelDb(out, 440, 2.85, 3.0)).toBeLessThan(pause - 10);
    // the narration is heard at its own level beside the music (amix's division compensated)
    expect(bandLevelDb(out, 2000, 1.0, 1.6)).toBeGreaterThan(bandLevelDb(voice, 2000, 1.0, 1.6) - 2);
  }, 60_000);
});

describe('caption presets', () => {
  const text = (style: SubtitleStylePreset, position: SubtitlePosition = 'bottom', segments?: TextSegment[]): DraftTrack => ({
    type: 'text',
    name: 'captions',
    style,
    position,
    segments: segments ?? [{ id: 'c', text: 'HELLO WORLD', target: { start_us: 0, duration_us: S } }],
  });
  const captionDraft = (track: DraftTrack) => draftOf({ seconds: 1, materials: [image('mid')], visual: [seg('g', 'mid', 0, 1)], text: track });
  const band = { x: 0, y: 380, w: W, h: 160 };
  const dark = (r: number, g: number, b: number) => r < 40 && g < 40 && b < 40;
  const white = (r: number, g: number, b: number) => r > 220 && g > 220 && b > 220;
  const yellow = (r: number, g: number, b: number) => r > 200 && g > 180 && b < 90;
  let mid: string;
  beforeAll(() => {
    mid = still('mid.png', 'color=c=0x808080:s=90x160');
  });

  it('bold_outline draws larger text with a thicker dark outline than plain', async () => {
    const plain = pixels(await render('plain', captionDraft(text('plain')), { mid }), 0.5, band);
    const bold = pixels(await render('bold', captionDraft(text('bold_outline')), { mid }), 0.5, band);

    expect(count(plain, white)).toBeGreaterThan(50);
    expect(count(bold, white)).toBeGreaterThan(count(plain, white) * 1.2);
    expect(count(bold, dark)).toBeGreaterThan(count(plain, dark) * 1.8);
  }, 60_000);

  it('boxed puts the text on a dark box', async () => {
    const boxed = pixels(await render('boxed', captionDraft(text('boxed')), { mid }), 0.5, band);
    const plain = pixels(await render('plain-2', captionDraft(text('plain')), { mid }), 0.5, band);
    // the box: a dark (25 % transparent black over grey) region around the text
    const boxish = (r: number, g: number, b: number) => r < 60 && g < 60 && b < 60;

    expect(count(boxed, white)).toBeGreaterThan(50);
    expect(count(boxed, boxish)).toBeGreaterThan(count(plain, boxish) * 3);
  }, 60_000);

  it('word_highlight lights the spoken word as it is said', async () => {
    const segments: TextSegment[] = [
      {
        id: 'c',
        text: 'HELLO WORLD',
        target: { start_us: 0, duration_us: S },
        words: [
          { text: 'HELLO', target: { start_us: 0, duration_us: 0.5 * S } },
          { text: 'WORLD', target: { start_us: 0.5 * S, duration_us: 0.5 * S } },
        ],
      },
    ];
    const out = await render('highlight', captionDraft(text('word_highlight', 'bottom', segments)), { mid });
    const left = { ...band, w: W / 2 };
    const right = { ...band, x: W / 2, w: W / 2 };

    expect(count(pixels(out, 0.25, left), yellow)).toBeGreaterThan(30);
    expect(count(pixels(out, 0.25, right), yellow)).toBeLessThan(5);
    expect(count(pixels(out, 0.75, right), yellow)).toBeGreaterThan(30);
    expect(count(pixels(out, 0.75, left), yellow)).toBeLessThan(5);
  }, 60_000);

  it('puts captions in the top safe area when asked', async () => {
    const out = await render('top', captionDraft(text('plain', 'top')), { mid });

    expect(count(pixels(out, 0.5, { x: 0, y: Math.round(H * 0.12), w: W, h: 80 }), white)).toBeGreaterThan(50);
    expect(count(pixels(out, 0.5, { x: 0, y: 0, w: W, h: Math.round(H * 0.1) }), white)).toBe(0);
    expect(count(pixels(out, 0.5, band), white)).toBe(0);
  }, 60_000);
});
