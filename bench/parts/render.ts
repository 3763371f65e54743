/**
 * Part `render` — the renderer alone on a publishable timeline: narration over three
 * clips (landscape, portrait, a phone clip tagged rotate=90) and three stills with Ken Burns
 * motion and cross-fades, looped music ducked under speech, word-highlight captions, at
 * 1080x1920 25 fps. Measured per narration length (60 s and 180 s by default; the footage grows
 * with it): wall time as × real time and frames/s, and the peak memory of the worker (this
 * process's RSS, sampled) and of ffmpeg (its VmHWM from /proc). Also the cost of one Ken Burns
 * still alone (zoompan over a 1×, 2× and 4× upscale, decoded to null, no encode).
 *
 * Media are generated here by ffmpeg (test patterns, tones); nothing is committed.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { CaptionWord, Draft, DraftMaterial, MediaSegment, TextSegment } from '../../shared/draft/draft.js';
import { defaultFfmpegPath } from '../../shared/render/ffmpeg-process.js';
import { duckingKeyframes } from '../../shared/render/music-ducking.js';
import { renderDraft } from '../../shared/render/render-draft.js';
import { sampleLoad, type LoadSummary } from '../support/machine.js';

export interface RenderRun {
  narration_s: number;
  frames: number;
  render_ms: number;
  x_real_time: number;
  frames_per_s: number;
  worker_peak_rss_mb: number;
  ffmpeg_peak_rss_mb: number | null;
  load: LoadSummary;
}

export interface RenderBenchResult {
  canvas: string;
  fps: number;
  timeline: string;
  runs: RenderRun[];
  /** one still with Ken Burns motion, 10 s at 25 fps through zoompan only (decode to null) */
  ken_burns_still_x_real_time: Record<string, number>;
}

const S = 1_000_000;
const FPS = 25;
const W = 1080;
const H = 1920;

export async function runRenderBench(opts: { lengths: number[] }, progress: (line: string) => void): Promise<RenderBenchResult> {
  const ffmpeg = defaultFfmpegPath();
  const dir = await mkdtemp(path.join(os.tmpdir(), 'bench-render-'));
  const run = (args: string[]) => {
    const out = spawnSync(ffmpeg, ['-hide_banner', '-v', 'error', '-y', ...args]);
    if (out.status !== 0) throw new Error(`ffmpeg ${args.join(' ')}: ${out.stderr.toString()}`);
  };
  try {
    const kenBurns: Record<string, number> = {};
    const still = path.join(dir, 'still-a.png');
    run(['-f', 'lavfi', '-i', 'testsrc2=s=1920x1080', '-frames:v', '1', still]);
    for (const k of [1, 2, 4]) {
      const frames = 10 * FPS;
      const started = performance.now();
      run([
        '-i',
        still,
        '-filter_complex',
        `[0:v]scale=${k * W}:${k * H}:force_original_aspect_ratio=increase,crop=${k * W}:${k * H},format=yuv420p,` +
          `zoompan=z='1+0.2*(1-cos(PI*on/${frames - 1}))/2':x='(iw-iw/zoom)/2':y='(ih-ih/zoom)/2':d=${frames}:s=${W}x${H}:fps=${FPS}[v]`,
        '-map',
        '[v]',
        '-f',
        'null',
        '-',
      ]);
      kenBurns[`upscale_${k}x`] = round2(10_000 / (performance.now() - started));
      progress(`  Ken Burns still, upscale ${k}×: ${kenBurns[`upscale_${k}x`]}× real time`);
    }

    const runs: RenderRun[] = [];
    for (const seconds of opts.lengths) {
      progress(`  making ${seconds} s of footage, stills, music and narration`);
      const { draft, media } = makeTimeline(dir, seconds, run);
      progress(`  rendering ${seconds} s at ${W}x${H} ${FPS} fps`);
      runs.push(await measure(draft, media, path.join(dir, `out-${seconds}.mp4`), path.join(dir, `work-${seconds}`)));
      const r = runs[runs.length - 1];
      progress(`  ${seconds} s: ${r.x_real_time}× real time, ${r.frames_per_s} frames/s, worker ${r.worker_peak_rss_mb} MB, ffmpeg ${r.ffmpeg_peak_rss_mb} MB`);
    }
    return {
      canvas: `${W}x${H}`,
      fps: FPS,
      timeline:
        '3 clips (1280x720 landscape, 720x1280 portrait, 1280x720 tagged rotate=90) + 3 stills with Ken Burns, 0.4 s cross-fades, looped music ducked under speech, word_highlight captions',
      runs,
      ken_burns_still_x_real_time: kenBurns,
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

export async function measure(draft: Draft, media: Record<string, string>, outputPath: string, workDir: string): Promise<RenderRun> {
  const load = sampleLoad();
  let workerPeak = process.memoryUsage().rss;
  let ffmpegPeak: number | null = null;
  let pid: number | undefined;
  const timer = setInterval(() => {
    workerPeak = Math.max(workerPeak, process.memoryUsage().rss);
    if (pid === undefined) return;
    try {
      const hwm = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
      if (hwm) ffmpegPeak = Math.max(ffmpegPeak ?? 0, Number(hwm[1]) * 1024);
    } catch {
      // ffmpeg has exited; its last reading stands
    }
  }, 100);
  try {
    const result = await renderDraft({
      draft,
      media,
      outputPath,
      workDir,
      log: (msg, data) => {
        if (msg === 'ffmpeg started' && data && 'pid' in data && typeof data.pid === 'number') pid = data.pid;
      },
    });
    const frames = Math.round((draft.duration_us / S) * FPS);
    return {
      narration_s: draft.duration_us / S,
      frames,
      render_ms: result.render_ms,
      x_real_time: round2(draft.duration_us / 1000 / result.render_ms),
      frames_per_s: round2(frames / (result.render_ms / 1000)),
      worker_peak_rss_mb: Math.round(workerPeak / 2 ** 20),
      ffmpeg_peak_rss_mb: ffmpegPeak === null ? null : Math.round(ffmpegPeak / 2 ** 20),
      load: load.stop(),
    };
  } finally {
    clearInterval(timer);
  }
}

/** The media and the draft of a `seconds`-long timeline; the footage is as long as the narration. */
export function makeTimeline(dir: string, seconds: number, run: (args: string[]) => void): { draft: Draft; media: Record<string, string> } {
  const f = (name: string) => path.join(dir, `${seconds}-${name}`);
  const share = seconds / 6;
  const clip = (name: string, size: string, source: string, extra: string[] = []) => {
    run([
      '-f',
      'lavfi',
      '-i',
      `${source}=s=${size}:r=30`,
      '-f',
      'lavfi',
      '-i',
      `sine=f=330:r=48000`,
      '-t',
      String(share + 1),
      '-c:v',
      'libx264',
      '-preset',
      'ultrafast',
      '-pix_fmt',
      'yuv420p',
      '-c:a',
      'aac',
      ...extra,
      f(name),
    ]);
    return f(name);
  };
  clip('clip-1.mp4', '1280x720', 'testsrc2');
  clip('clip-2.mp4', '720x1280', 'testsrc');
  const raw = clip('raw-3.mp4', '1280x720', 'mandelbrot');
  run(['-i', raw, '-c', 'copy', '-metadata:s:v:0', 'rotate=90', f('clip-3.mp4')]);
  run(['-f', 'lavfi', '-i', 'testsrc2=s=1920x1080', '-frames:v', '1', f('still-4.png')]);
  run(['-f', 'lavfi', '-i', 'testsrc=s=1080x1920', '-frames:v', '1', f('still-5.jpg')]);
  run(['-f', 'lavfi', '-i', 'mandelbrot=s=1200x1200', '-frames:v', '1', f('still-6.png')]);
  // 20 s of music, looped under a longer narration
  run([
    '-f',
    'lavfi',
    '-i',
    'sine=f=220:r=44100:d=20',
    '-f',
    'lavfi',
    '-i',
    'sine=f=330:r=44100:d=20',
    '-filter_complex',
    'amix=inputs=2',
    '-c:a',
    'libmp3lame',
    f('music.mp3'),
  ]);
  // narration: 3 s sentences with 0.6 s pauses, a 1 kHz tone while "speaking"
  const sentences: Array<{ start: number; end: number }> = [];
  for (let t = 0.3; t + 3 < seconds; t += 3.6) sentences.push({ start: t, end: t + 3 });
  const on = sentences.map((s) => `between(t\\,${s.start.toFixed(2)}\\,${s.end.toFixed(2)})`).join('+');
  run(['-f', 'lavfi', '-i', `aevalsrc=0.3*sin(2*PI*1000*t)*(${on}):s=22050:d=${seconds}`, '-ac', '1', f('narration.wav')]);

  const duration_us = seconds * S;
  const materials: DraftMaterial[] = [
    { id: 'narration', type: 'audio', key: 'narration.wav', content_type: 'audio/wav', duration_us },
    { id: 'music', type: 'audio', key: 'music.mp3', content_type: 'audio/mpeg', duration_us: 20 * S },
    { id: 'clip-1', type: 'video', key: 'clip-1.mp4', content_type: 'video/mp4' },
    { id: 'clip-2', type: 'video', key: 'clip-2.mp4', content_type: 'video/mp4' },
    { id: 'clip-3', type: 'video', key: 'clip-3.mp4', content_type: 'video/mp4' },
    { id: 'still-4', type: 'image', key: 'still-4.png', content_type: 'image/png' },
    { id: 'still-5', type: 'image', key: 'still-5.jpg', content_type: 'image/jpeg' },
    { id: 'still-6', type: 'image', key: 'still-6.png', content_type: 'image/png' },
  ];
  const order = ['clip-1', 'still-4', 'clip-2', 'still-5', 'clip-3', 'still-6'];
  const motions = [
    { start: { scale: 1, x: -1, y: 0 }, end: { scale: 1.15, x: 1, y: 0 } },
    { start: { scale: 1.15, x: 0, y: 1 }, end: { scale: 1, x: 0, y: -1 } },
    { start: { scale: 1, x: 1, y: -1 }, end: { scale: 1.2, x: -1, y: 1 } },
  ];
  const visual: MediaSegment[] = order.map((id, i) => ({
    id: `v-${i}`,
    material_id: id,
    target: { start_us: Math.round(i * share * S), duration_us: Math.round(share * S) },
    ...(id.startsWith('clip')
      ? { source: { start_us: 0, duration_us: Math.round(share * S) }, fit: i === 0 ? ('blur' as const) : ('cover' as const) }
      : { motion: motions[(i - 1) >> 1] }),
    ...(i > 0 ? { transition_in: { type: 'fade' as const, duration_us: 400_000 } } : {}),
  }));
  const captions: TextSegment[] = sentences.map((s, i) => {
    const words = ['这是', '第', String(i + 1), '句', '旁白', '字幕', '逐字', '高亮'];
    const step = (s.end - s.start) / words.length;
    const timed: CaptionWord[] = words.map((w, j) => ({
      text: w,
      target: { start_us: Math.round((s.start + j * step) * S), duration_us: Math.round(step * S) },
    }));
    return { id: `c-${i}`, text: words.join(''), target: { start_us: Math.round(s.start * S), duration_us: Math.round((s.end - s.start) * S) }, words: timed };
  });
  const draft: Draft = {
    version: 1,
    task_id: `bench-render-${seconds}`,
    canvas: { width: W, height: H, fps: FPS },
    duration_us,
    language: 'cmn',
    materials,
    tracks: [
      { type: 'audio', name: 'narration', segments: [{ id: 'n', material_id: 'narration', target: { start_us: 0, duration_us } }] },
      { type: 'video', name: 'visual', segments: visual },
      {
        type: 'audio',
        name: 'music',
        segments: [
          {
            id: 'm',
            material_id: 'music',
            target: { start_us: 0, duration_us },
            volume_keyframes: duckingKeyframes({
              speech: sentences.map((s) => ({ startUs: s.start * S, endUs: s.end * S })),
              durationUs: duration_us,
              volume: 0.5,
            }),
            fade_out_us: 2 * S,
          },
        ],
      },
      { type: 'text', name: 'captions', style: 'word_highlight', segments: captions },
    ],
  };
  const media = Object.fromEntries(materials.map((m) => [m.id, f('key' in m ? m.key : '')]));
  return { draft, media };
}

const round2 = (v: number) => Math.round(v * 100) / 100;
