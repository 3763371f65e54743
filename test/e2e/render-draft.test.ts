import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Draft, DraftMaterial, DraftTrack } from '../../shared/draft/draft.js';
import { probeVideo } from '../../shared/render/probe-video.js';
import { renderDraft } from '../../shared/render/render-draft.js';
import { wrapSubtitleLine } from '../../shared/render/subtitle-layout.js';
import { encodeWav } from '../../shared/tts/wav.js';
import { framePixels, meanColour } from '../support/video-frames.js';

const FFMPEG = (createRequire(import.meta.url)('@ffmpeg-installer/ffmpeg') as { path: string }).path;
const TOP: [number, number, number] = [0x1e, 0x3a, 0x8a];
const BOTTOM: [number, number, number] = [0x0f, 0x17, 0x2a];
const SRT = '1\n00:00:00,000 --> 00:00:01,200\nHello from the narration.\n\n2\n00:00:01,200 --> 00:00:03,000\n你好，这是旁白字幕。\n';

let dir: string;

/** A mono sine WAV of `seconds`. */
function sineWav(seconds: number, sampleRate = 22_050): Buffer {
  const samples = new Float32Array(Math.round(seconds * sampleRate));
  for (let i = 0; i < samples.length; i++) samples[i] = 0.3 * Math.sin((2 * Math.PI * 440 * i) / sampleRate);
  return encodeWav(samples, sampleRate);
}

/** A draft of `seconds` with the narration and the given pictures on the visual track. */
function draftOf(seconds: number, visual: { materials: DraftMaterial[]; track: DraftTrack }, subtitles = true): Draft {
  const duration_us = Math.round(seconds * 1_000_000);
  return {
    version: 1,
    task_id: 'task-render-test',
    canvas: { width: 1080, height: 1920, fps: 25 },
    duration_us,
    language: 'cmn',
    materials: [
      { id: 'narration', type: 'audio', key: 'narration.wav', content_type: 'audio/wav', duration_us },
      ...visual.materials,
      ...(subtitles ? [{ id: 'subtitles', type: 'subtitles' as const, key: 'subtitles.srt', content_type: 'application/x-subrip' as const }] : []),
    ],
    tracks: [{ type: 'audio', name: 'narration', segments: [{ id: 'n-1', material_id: 'narration', target: { start_us: 0, duration_us } }] }, visual.track],
  };
}

function backgroundDraft(seconds: number): Draft {
  const duration_us = Math.round(seconds * 1_000_000);
  return draftOf(seconds, {
    materials: [{ id: 'background', type: 'generated_background', colors: ['#1e3a8a', '#0f172a'] }],
    track: { type: 'video', name: 'visual', segments: [{ id: 'bg-1', material_id: 'background', target: { start_us: 0, duration_us } }] },
  });
}

/** Pixels that are near white (subtitle text fill). */
function whitePixels(pixels: Buffer): number {
  let n = 0;
  for (let i = 0; i < pixels.length; i += 3) if (pixels[i] > 200 && pixels[i + 1] > 200 && pixels[i + 2] > 200) n++;
  return n;
}

/** Peak level of the file's audio, dBFS. */
function maxVolumeDb(file: string): number {
  const out = spawnSync(FFMPEG, ['-hide_banner', '-i', file, '-af', 'volumedetect', '-f', 'null', '-']);
  const match = /max_volume: (-?[\d.]+) dB/.exec(out.stderr.toString());
  if (!match) throw new Error(out.stderr.toString());
  return Number(match[1]);
}

function expectColorNear(actual: [number, number, number], expected: [number, number, number], tolerance = 12): void {
  for (let c = 0; c < 3; c++) expect(Math.abs(actual[c] - expected[c])).toBeLessThanOrEqual(tolerance);
}

beforeAll(async () => {
  // Quotes, commas, colons, brackets and a space: the paths must survive filtergraph escaping.
  dir = await mkdtemp(path.join(os.tmpdir(), "render draft, [test]: it's-"));
  await writeFile(path.join(dir, 'narration.wav'), sineWav(3));
  await writeFile(path.join(dir, "subs, [zh]: it's.srt"), SRT);
  await writeFile(path.join(dir, 'corrupt.wav'), Buffer.concat([Buffer.from('RIFF\u0000\u0000\u0000\u0000WAVEjunk'), Buffer.alloc(4096, 7)]));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('renderDraft', () => {
  it('renders a 1080x1920 h264/aac mp4 as long as the narration with a gradient and both subtitle cues burned in', async () => {
    const output = path.join(dir, 'background.mp4');

    const result = await renderDraft({
      draft: backgroundDraft(3),
      media: { narration: path.join(dir, 'narration.wav'), subtitles: path.join(dir, "subs, [zh]: it's.srt") },
      outputPath: output,
      workDir: path.join(dir, 'work, [a]: 1'),
    });

    const probe = await probeVideo(output);
    expect(probe).toMatchObject({ codec: 'h264', width: 1080, height: 1920, audio_codec: 'aac' });
    expect(Math.abs(probe.duration_ms - 3000)).toBeLessThanOrEqual(500);
    expect(result.duration_ms).toBe(probe.duration_ms);
    expect(result.render_ms).toBeGreaterThan(0);
    // the mono narration (sine at 0.3 = -10.5 dBFS) plays at its own level on both channels
    expect(Math.abs(maxVolumeDb(output) - 20 * Math.log10(0.3))).toBeLessThanOrEqual(1);
    expectColorNear(meanColour(framePixels(output, 1, { x: 500, y: 0, w: 80, h: 8 })), TOP);
    expectColorNear(meanColour(framePixels(output, 1, { x: 500, y: 1912, w: 80, h: 8 })), BOTTOM);
    // The subtitle band sits above the bottom 18 %: white text in the English and the Chinese cue, none at the top.
    const band = { x: 0, y: 1300, w: 1080, h: 300 };
    expect(whitePixels(framePixels(output, 0.5, band))).toBeGreaterThan(500);
    expect(whitePixels(framePixels(output, 2.0, band))).toBeGreaterThan(500);
    expect(whitePixels(framePixels(output, 2.0, { x: 0, y: 0, w: 1080, h: 600 }))).toBe(0);
  }, 30_000);

  it('shows image segments in sequence, each cropped to fill the frame', async () => {
    const red = path.join(dir, 'red.png');
    const green = path.join(dir, 'green.png');
    for (const [file, color, size] of [
      [red, 'red', '320x240'],
      [green, 'green', '200x400'],
    ]) {
      spawnSync(FFMPEG, ['-v', 'error', '-f', 'lavfi', '-i', `color=c=${color}:s=${size}`, '-frames:v', '1', '-y', file]);
    }
    const second = 1_000_000;
    const draft = draftOf(
      2,
      {
        materials: [
          { id: 'img-red', type: 'image', key: 'red.png', content_type: 'image/png' },
          { id: 'img-green', type: 'image', key: 'green.png', content_type: 'image/png' },
        ],
        track: {
          type: 'video',
          name: 'visual',
          segments: [
            { id: 'i-1', material_id: 'img-red', target: { start_us: 0, duration_us: second } },
            { id: 'i-2', material_id: 'img-green', target: { start_us: second, duration_us: second } },
          ],
        },
      },
      false,
    );
    const output = path.join(dir, 'images.mp4');

    await renderDraft({
      draft,
      media: { narration: path.join(dir, 'narration.wav'), 'img-red': red, 'img-green': green },
      outputPath: output,
      workDir: path.join(dir, 'work-images'),
    });

    const probe = await probeVideo(output);
    expect(probe).toMatchObject({ codec: 'h264', width: 1080, height: 1920, audio_codec: 'aac' });
    expect(Math.abs(probe.duration_ms - 2000)).toBeLessThanOrEqual(500);
    for (const corner of [
      { x: 0, y: 0 },
      { x: 1064, y: 1904 },
    ]) {
      expectColorNear(meanColour(framePixels(output, 0.5, { ...corner, w: 16, h: 16 })), [255, 0, 0], 20);
      expectColorNear(meanColour(framePixels(output, 1.5, { ...corner, w: 16, h: 16 })), [0, 128, 0], 20);
    }
  }, 30_000);

  it('kills ffmpeg and rejects with an AbortError when the signal aborts', async () => {
    const controller = new AbortController();
    const output = path.join(dir, 'aborted.mp4');
    let pid: number | undefined;

    const rendering = renderDraft({
      draft: backgroundDraft(300),
      media: { narration: path.join(dir, 'narration.wav'), subtitles: path.join(dir, "subs, [zh]: it's.srt") },
      outputPath: output,
      workDir: path.join(dir, 'work-abort'),
      signal: controller.signal,
      log: (msg, data) => {
        if (msg === 'ffmpeg started' && data && 'pid' in data && typeof data.pid === 'number') {
          pid = data.pid;
          setTimeout(() => controller.abort(), 300);
        }
      },
    });

    await expect(rendering).rejects.toMatchObject({ name: 'AbortError' });
    expect(pid).toBeTypeOf('number');
    expect(() => process.kill(pid as number, 0)).toThrow(/ESRCH/);
    expect(existsSync(output)).toBe(false);
    expect(existsSync(`${output}.part`)).toBe(false);
  }, 30_000);

  it('rejects with RenderFailedError carrying ffmpeg stderr when the narration is not audio', async () => {
    const output = path.join(dir, 'corrupt.mp4');

    const rendering = renderDraft({
      draft: backgroundDraft(2),
      media: { narration: path.join(dir, 'corrupt.wav'), subtitles: path.join(dir, "subs, [zh]: it's.srt") },
      outputPath: output,
      workDir: path.join(dir, 'work-corrupt'),
    });

    await expect(rendering).rejects.toMatchObject({ name: 'RenderFailedError', message: expect.stringMatching(/ffmpeg exited with code [1-9]/) });
    await rendering.catch((error: unknown) => {
      expect(error).toHaveProperty('stderrTail', expect.arrayContaining([expect.stringMatching(/corrupt\.wav|Invalid data/)]));
    });
    expect(existsSync(output)).toBe(false);
  }, 30_000);

  it('rejects a draft whose material has no file with InvalidDraftError before starting ffmpeg', async () => {
    const rendering = renderDraft({
      draft: backgroundDraft(2),
      media: { narration: path.join(dir, 'narration.wav') },
      outputPath: path.join(dir, 'never.mp4'),
      workDir: path.join(dir, 'work-invalid'),
    });

    await expect(rendering).rejects.toMatchObject({ name: 'InvalidDraftError', message: expect.stringContaining('"subtitles"') });
  });
});

describe('wrapSubtitleLine', () => {
  it('breaks a long Chinese line into balanced lines that fit and keeps closing punctuation at line ends', () => {
    const line = '这是一个很长的中文字幕句子，用来测试自动换行是否能够正常工作。';

    const lines = wrapSubtitleLine(line, 28);

    expect(lines.join('')).toBe(line);
    expect(lines.length).toBe(3);
    for (const l of lines) expect([...l].length * 2).toBeLessThanOrEqual(28 + 2);
    for (const l of lines.slice(1)) expect(l).not.toMatch(/^[，。]/);
  });

  it('leaves lines without CJK to libass, which wraps them at spaces', () => {
    const line = 'This is a rather long English subtitle line that libass wraps on its own.';

    expect(wrapSubtitleLine(line, 28)).toEqual([line]);
  });

  it('never splits a Latin word inside a mixed line', () => {
    const lines = wrapSubtitleLine('我们今天讨论 TypeScript 和 ffmpeg 的用法以及字幕换行', 20);

    expect(lines.some((l) => l.includes('TypeScript'))).toBe(true);
    expect(lines.some((l) => l.includes('ffmpeg'))).toBe(true);
  });
});
