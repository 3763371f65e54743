/**
 * `npm run demo`: a newcomer's first video in one command, against a running `npm start`.
 * Makes sample footage, pictures and music with ffmpeg, uploads them through the media routes,
 * submits a task with the chosen options, prints a line per stage as it runs, then downloads the
 * mp4 and the editing-draft archive and prints where they are.
 *
 *   npm run demo                                  # http://127.0.0.1:51082, default options
 *   npm run demo -- --subtitle-style word_highlight --visual-fit cover --music none
 *   npm run demo -- --contact-sheet docs/showcase  # renders the option variants, writes PNG frames
 */
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { SUBTITLE_STYLES, type SubtitleStylePreset, type VisualFit } from '../shared/draft/draft.js';
import { defaultFfmpegPath } from '../shared/render/ffmpeg-process.js';
import { VISUAL_FITS } from '../shared/request.js';

export const DEFAULT_API = 'http://127.0.0.1:51082';

export interface DemoOptions {
  api: string;
  creatorId: string;
  videoId: string;
  /** where the mp4 and the draft archive are downloaded */
  outDir: string;
  /** one-second media and one short sentence (tests, a quick look) */
  short: boolean;
  visualFit?: VisualFit;
  subtitleStyle?: SubtitleStylePreset;
  /** a file name under music/, `null` for none, undefined for the first file there */
  music?: string | null;
  musicVolume?: number;
  sourceAudioVolume?: number;
  /** gives up following the task after this long */
  timeoutSeconds: number;
}

export interface DemoResult {
  taskId: string;
  status: string;
  videoPath?: string;
  draftArchivePath?: string;
  videoUrl?: string;
  draftArchiveUrl?: string;
}

/** A sample file: where it goes (`media/` or `music/`), its name there, and the ffmpeg arguments that make it. */
interface SampleFile {
  folder: 'media' | 'music';
  name: string;
  args: string[];
}

const TEXT = {
  short: '山顶的日出很美。',
  full:
    '清晨五点，我们从山脚出发。天还没亮，路边的灯一盏一盏地熄灭。' +
    '走到半山腰，云海慢慢铺开，远处的城市像一张模糊的照片。' +
    '太阳跳出来的那一刻，所有人都停下了脚步。下山的时候，我们约好明年再来。',
};

const lavfi = (graph: string) => ['-f', 'lavfi', '-i', graph];
const h264 = ['-c:v', 'libx264', '-preset', 'veryfast', '-pix_fmt', 'yuv420p'];

/** The demo's footage: a landscape test pattern, a portrait clip with motion, a phone clip with rotation metadata, two stills, a music loop. */
export function sampleFiles(short: boolean): SampleFile[] {
  const seconds = short ? 1 : 4;
  const [lw, lh] = short ? [320, 180] : [1280, 720];
  const [sw, sh] = short ? [240, 320] : [1080, 1440];
  const musicSeconds = short ? 3 : 12;
  return [
    {
      folder: 'media',
      name: '01-风景.mp4',
      args: [...lavfi(`testsrc=s=${lw}x${lh}:r=25`), ...lavfi('sine=f=523:r=44100'), '-t', String(seconds), ...h264, '-c:a', 'aac', '-shortest'],
    },
    {
      folder: 'media',
      name: '02-竖屏.mp4',
      args: [
        ...lavfi(`color=c=0x1d3557:s=${lh}x${lw}:r=25`),
        ...lavfi(`color=c=0xffb703:s=${Math.round(lh / 4)}x${Math.round(lh / 4)}:r=25`),
        '-filter_complex',
        `[0][1]overlay=x='(W-w)/2+(W-w)/2*sin(2*PI*t/${seconds})':y='(H-h)*t/${seconds}':shortest=1`,
        '-t',
        String(seconds),
        ...h264,
      ],
    },
    {
      folder: 'media',
      name: '03-手机.mp4',
      // Recorded sideways with a display matrix, as phones do: shown upright by the pipeline.
      args: [...lavfi(`testsrc2=s=${lw}x${lh}:r=30`), '-t', String(seconds), ...h264, '-metadata:s:v:0', 'rotate=90'],
    },
    {
      folder: 'media',
      name: '04-山.png',
      args: [
        ...lavfi(`color=c=0x8ecae6:s=${sw}x${sh}`),
        '-vf',
        [
          `drawbox=x=0:y=${Math.round(sh * 0.55)}:w=${sw}:h=${sh}:color=0x2a9d8f:t=fill`,
          `drawbox=x=${Math.round(sw * 0.15)}:y=${Math.round(sh * 0.3)}:w=${Math.round(sw * 0.35)}:h=${Math.round(sh * 0.3)}:color=0x264653:t=fill`,
          `drawbox=x=${Math.round(sw * 0.7)}:y=${Math.round(sh * 0.12)}:w=${Math.round(sw * 0.12)}:h=${Math.round(sw * 0.12)}:color=0xffd166:t=fill`,
        ].join(','),
        '-frames:v',
        '1',
      ],
    },
    {
      folder: 'media',
      name: '05-海.jpg',
      args: [
        ...lavfi(`color=c=0x023e8a:s=${sh}x${sw}`),
        '-vf',
        [
          `drawbox=x=0:y=${Math.round(sw * 0.6)}:w=${sh}:h=${sw}:color=0xe9c46a:t=fill`,
          `drawbox=x=${Math.round(sh * 0.1)}:y=${Math.round(sw * 0.45)}:w=${Math.round(sh * 0.8)}:h=${Math.round(sw * 0.06)}:color=white:t=fill`,
          `drawbox=x=${Math.round(sh * 0.45)}:y=${Math.round(sw * 0.15)}:w=${Math.round(sw * 0.16)}:h=${Math.round(sw * 0.16)}:color=0xf4a261:t=fill`,
        ].join(','),
        '-frames:v',
        '1',
        '-q:v',
        '3',
      ],
    },
    {
      folder: 'music',
      name: '背景音乐.mp3',
      // Two tones with a slow swell, looped by the pipeline to the narration's length.
      args: [
        ...lavfi(`aevalsrc='0.25*sin(2*PI*220*t)*(0.6+0.4*sin(2*PI*0.5*t))+0.15*sin(2*PI*330*t)':s=44100:d=${musicSeconds}`),
        '-c:a',
        'libmp3lame',
        '-b:a',
        '96k',
      ],
    },
  ];
}

/** Writes the sample files into `dir` with ffmpeg; returns them with their paths. */
export function makeSampleMedia(dir: string, short: boolean): Array<SampleFile & { path: string }> {
  const ffmpeg = defaultFfmpegPath();
  return sampleFiles(short).map((file) => {
    const out = path.join(dir, file.name);
    execFileSync(ffmpeg, ['-v', 'error', '-y', ...file.args, out]);
    return { ...file, path: out };
  });
}

interface StageRecord {
  status: string;
  started_at?: string;
  ended_at?: string;
  error?: { code: string; message: string };
  details?: Record<string, unknown>;
}
interface TaskView {
  task_id: string;
  status: string;
  stage: string;
  stages: Record<string, StageRecord>;
  error?: { stage: string; code: string; message: string };
  artifacts?: Array<{ name: string; url: string; size: number }>;
}

class DemoError extends Error {}

/**
 * fetch, tried once more after a network error: a kept-alive connection the server closed while
 * ffmpeg ran fails the next request ("other side closed"). Every call here may be repeated (the
 * PUTs replace, the submission carries an Idempotency-Key).
 */
async function call(url: string, init?: RequestInit): Promise<Response> {
  let last: unknown;
  for (let attempt = 0; attempt < 2; attempt += 1) {
    try {
      return await fetch(url, init);
    } catch (error: unknown) {
      last = error;
    }
  }
  const why = last instanceof Error && last.cause instanceof Error ? last.cause.message : String(last);
  throw new DemoError(`Cannot reach the pipeline at ${url} (${why}). Start it first with "npm start", or pass --api URL.`);
}

async function answer(res: Response, what: string): Promise<Record<string, unknown>> {
  const text = await res.text();
  let body: Record<string, unknown>;
  try {
    body = JSON.parse(text) as Record<string, unknown>;
  } catch {
    body = { message: text.slice(0, 200) };
  }
  if (!res.ok) {
    const said = (v: unknown) => (typeof v === 'string' ? v : '');
    throw new DemoError(`${what} answered ${res.status} ${said(body.error)}: ${said(body.message)}`);
  }
  return body;
}

/** Uploads one file through PUT …/media|music/{name}; follows a presigned POST when the stack hands one out. */
async function upload(o: DemoOptions, file: SampleFile & { path: string }): Promise<void> {
  const bytes = readFileSync(file.path);
  const url = `${o.api}/api/pipeline/sources/${o.creatorId}/${o.videoId}/${file.folder}/${encodeURIComponent(file.name)}`;
  const body = await answer(
    await call(url, { method: 'PUT', headers: { 'content-type': 'application/octet-stream' }, body: bytes }),
    `PUT ${file.folder}/${file.name}`,
  );
  const presigned = body.upload as { url: string; fields: Record<string, string> } | undefined;
  if (presigned) {
    const form = new FormData();
    for (const [k, v] of Object.entries(presigned.fields)) form.append(k, v);
    form.append('file', new Blob([bytes]), file.name);
    const res = await call(presigned.url, { method: 'POST', body: form });
    if (!res.ok) throw new DemoError(`the presigned upload of ${file.name} answered ${res.status}`);
  }
}

const seconds = (from?: string, to?: string) => (from && to ? `${((Date.parse(to) - Date.parse(from)) / 1000).toFixed(1)} s` : '');

/** Polls the task and prints a line each time a stage changes status; resolves with the ended task. */
async function follow(o: DemoOptions, taskId: string, print: (line: string) => void): Promise<TaskView> {
  const seen = new Map<string, string>();
  const deadline = Date.now() + o.timeoutSeconds * 1000;
  for (;;) {
    const task = (await answer(await call(`${o.api}/api/pipeline/tasks/${taskId}`), 'GET task')) as unknown as TaskView;
    for (const [name, stage] of Object.entries(task.stages)) {
      if (seen.get(name) === stage.status || stage.status === 'pending') continue;
      seen.set(name, stage.status);
      const took = stage.ended_at ? ` (${seconds(stage.started_at, stage.ended_at)})` : '';
      const why = stage.error ? ` — ${stage.error.code}: ${stage.error.message}` : '';
      print(`  ${name.padEnd(7)} ${stage.status}${took}${why}`);
    }
    if (task.status !== 'RUNNING') return task;
    if (Date.now() > deadline)
      throw new DemoError(`Task ${taskId} is still running after ${o.timeoutSeconds} s; follow it at ${o.api}/api/pipeline/tasks/${taskId}.`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

async function download(url: string, to: string): Promise<void> {
  const res = await call(url);
  if (!res.ok) throw new DemoError(`GET ${url} answered ${res.status}`);
  writeFileSync(to, Buffer.from(await res.arrayBuffer()));
}

/** The artifact name of the draft archive, from the Draft stage's details. */
function draftArchiveName(task: TaskView): string | undefined {
  const capcut = task.stages.draft?.details?.capcut_draft as { archive_key?: string } | undefined;
  const prefix = `tasks/${task.task_id}/`;
  return capcut?.archive_key?.startsWith(prefix) ? capcut.archive_key.slice(prefix.length) : undefined;
}

const artifactUrl = (o: DemoOptions, task: TaskView, name: string) =>
  task.artifacts?.find((a) => a.name === name)?.url ?? `/api/pipeline/tasks/${task.task_id}/artifacts/${name.split('/').map(encodeURIComponent).join('/')}`;

/** Makes the media, uploads it, submits, follows and downloads. Prints as it goes. */
export async function runDemo(o: DemoOptions, print: (line: string) => void = (l) => console.log(l)): Promise<DemoResult> {
  const work = mkdtempSync(path.join(tmpdir(), 'reel-demo-'));
  try {
    print(`Making sample footage, pictures and music with ffmpeg (${o.short ? 'short' : 'full'})…`);
    const files = makeSampleMedia(work, o.short);
    for (const file of files) {
      await upload(o, file);
      print(`  uploaded ${file.folder}/${file.name} (${Math.round(statSync(file.path).size / 1024)} KB)`);
    }
    const request = {
      creator_id: o.creatorId,
      video_id: o.videoId,
      source_text: o.short ? TEXT.short : TEXT.full,
      ...(o.visualFit ? { visual_fit: o.visualFit } : {}),
      ...(o.subtitleStyle ? { subtitle_style: o.subtitleStyle } : {}),
      ...(o.music !== undefined ? { music: o.music } : {}),
      ...(o.musicVolume !== undefined ? { music_volume: o.musicVolume } : {}),
      ...(o.sourceAudioVolume !== undefined ? { source_audio_volume: o.sourceAudioVolume } : {}),
    };
    const submitted = await answer(
      await call(`${o.api}/api/pipeline/run`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'idempotency-key': `demo-${randomUUID()}` },
        body: JSON.stringify(request),
      }),
      'POST /api/pipeline/run',
    );
    const taskId = String(submitted.task_id);
    print(`Submitted task ${taskId}; following it:`);
    const task = await follow(o, taskId, print);
    if (task.status !== 'SUCCEEDED') {
      const why = task.error ? ` at ${task.error.stage}: ${task.error.code} — ${task.error.message}` : '';
      print(`Task ${taskId} ended ${task.status}${why}`);
      return { taskId, status: task.status };
    }
    const outDir = path.resolve(o.outDir, taskId);
    mkdirSync(outDir, { recursive: true });
    const result: DemoResult = { taskId, status: task.status };
    const videoUrl = o.api + artifactUrl(o, task, 'final_video.mp4');
    if (task.artifacts?.some((a) => a.name === 'final_video.mp4')) {
      result.videoUrl = videoUrl;
      result.videoPath = path.join(outDir, 'final_video.mp4');
      await download(videoUrl, result.videoPath);
    }
    const archive = draftArchiveName(task);
    if (archive) {
      result.draftArchiveUrl = o.api + artifactUrl(o, task, archive);
      result.draftArchivePath = path.join(outDir, path.basename(archive));
      await download(result.draftArchiveUrl, result.draftArchivePath);
    }
    print(`Task ${taskId} SUCCEEDED.`);
    if (result.videoPath) print(`  video:          ${result.videoPath}\n                  ${result.videoUrl}`);
    if (result.draftArchivePath) print(`  draft archive:  ${result.draftArchivePath}\n                  ${result.draftArchiveUrl}`);
    const local = (task.stages.draft?.details?.capcut_draft as { local_path?: string } | undefined)?.local_path;
    if (local) print(`  draft folder:   ${local}`);
    return result;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/** One render of the contact sheet: the options it shows and the frames taken from it. */
interface SheetVariant {
  file: string;
  visualFit: VisualFit;
  subtitleStyle: SubtitleStylePreset;
  music?: null;
  /** where in the video, as a fraction of its length, when no caption or clip says better */
  at: 'caption' | 'landscape' | 'still';
}

const SHEET: SheetVariant[] = [
  { file: 'fit-cover.png', visualFit: 'cover', subtitleStyle: 'bold_outline', at: 'landscape' },
  { file: 'fit-blur.png', visualFit: 'blur', subtitleStyle: 'bold_outline', at: 'landscape' },
  { file: 'still-motion.png', visualFit: 'blur', subtitleStyle: 'bold_outline', at: 'still' },
  ...SUBTITLE_STYLES.map((style): SheetVariant => ({ file: `style-${style}.png`, visualFit: 'blur', subtitleStyle: style, at: 'caption' })),
];

/** Seconds into the video where the frame is taken: mid first caption, or mid the first segment of a landscape clip / a still. */
function frameTime(draft: DraftView | undefined, at: SheetVariant['at'], durationS: number): number {
  const us = (n: number) => n / 1e6;
  const find = (test: (key: string) => boolean) => {
    const material = draft?.materials.find((m) => typeof m.key === 'string' && test(m.key));
    const segment = draft?.tracks.flatMap((t) => t.segments).find((s) => material && s.material_id === material.id);
    return segment?.target ? us(segment.target.start_us + segment.target.duration_us / 2) : undefined;
  };
  if (at === 'caption') {
    const cue = draft?.tracks.find((t) => t.type === 'text')?.segments[0];
    if (cue?.target) return us(cue.target.start_us + cue.target.duration_us * 0.6);
  }
  if (at === 'landscape') return find((k) => k.endsWith('01-风景.mp4')) ?? durationS * 0.2;
  if (at === 'still') return find((k) => /\.(png|jpe?g)$/.test(k) && !k.includes('background')) ?? durationS * 0.5;
  return durationS * 0.3;
}

interface DraftView {
  materials: Array<{ id: string; key?: string }>;
  tracks: Array<{ type: string; segments: Array<{ material_id?: string; target?: { start_us: number; duration_us: number } }> }>;
  duration_us: number;
}

/**
 * Renders each variant of {@link SHEET} through the running stack and writes one 270x480 PNG per
 * variant into `dir`, plus `music-waveform.png` (the sound of the default render: the music
 * ducks under the narration).
 */
export async function renderContactSheet(base: DemoOptions, dir: string, print: (line: string) => void = (l) => console.log(l)): Promise<string[]> {
  mkdirSync(dir, { recursive: true });
  const ffmpeg = defaultFfmpegPath();
  const written: string[] = [];
  const renders = new Map<string, { video: string; draft?: DraftView }>();
  for (const variant of SHEET) {
    const key = `${variant.visualFit}/${variant.subtitleStyle}`;
    let render = renders.get(key);
    if (!render) {
      print(`Rendering visual_fit=${variant.visualFit} subtitle_style=${variant.subtitleStyle}`);
      const result = await runDemo({ ...base, visualFit: variant.visualFit, subtitleStyle: variant.subtitleStyle }, print);
      if (result.status !== 'SUCCEEDED' || !result.videoPath) throw new DemoError(`the ${key} render ended ${result.status}`);
      const draftRes = await call(`${base.api}/api/pipeline/tasks/${result.taskId}/artifacts/draft.json`);
      render = { video: result.videoPath, draft: draftRes.ok ? ((await draftRes.json()) as DraftView) : undefined };
      renders.set(key, render);
    }
    const duration = (render.draft?.duration_us ?? 10e6) / 1e6;
    const t = frameTime(render.draft, variant.at, duration);
    const out = path.join(dir, variant.file);
    execFileSync(ffmpeg, ['-v', 'error', '-y', '-ss', t.toFixed(2), '-i', render.video, '-frames:v', '1', '-vf', 'scale=270:480', out]);
    written.push(out);
    print(`  ${variant.file} at ${t.toFixed(2)} s`);
  }
  const first = renders.values().next().value;
  if (first) {
    const out = path.join(dir, 'music-waveform.png');
    execFileSync(ffmpeg, [
      '-v',
      'error',
      '-y',
      '-i',
      first.video,
      '-filter_complex',
      'aformat=channel_layouts=mono,showwavespic=s=540x100:colors=0x1d3557',
      '-frames:v',
      '1',
      out,
    ]);
    written.push(out);
  }
  const total = written.reduce((sum, f) => sum + statSync(f).size, 0);
  print(`Wrote ${written.length} frames (${Math.round(total / 1024)} KB) to ${dir}`);
  return written;
}

const USAGE = `npm run demo -- [options]
  --api URL                    the running stack (default ${DEFAULT_API})
  --creator ID, --video ID     whose media folder to use (default demo_creator / demo_video)
  --visual-fit cover|blur      how landscape footage fills the 9:16 frame
  --subtitle-style NAME        ${SUBTITLE_STYLES.join(' | ')}
  --music NAME|none            a file under music/ (the demo uploads 背景音乐.mp3), or none
  --music-volume 0..1, --source-audio-volume 0..1
  --short                      one-second media and one sentence
  --out DIR                    where the mp4 and the draft archive go (default demo-output/)
  --timeout SECONDS            give up following after this long (default 600)
  --contact-sheet DIR          render the option variants and write PNG frames into DIR`;

/** Reads the command line; throws a DemoError with the usage on a bad flag. */
export function parseDemoArgs(argv: string[]): { options: DemoOptions; contactSheet?: string } {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      strict: true,
      options: {
        api: { type: 'string', default: DEFAULT_API },
        creator: { type: 'string', default: 'demo_creator' },
        video: { type: 'string', default: 'demo_video' },
        'visual-fit': { type: 'string' },
        'subtitle-style': { type: 'string' },
        music: { type: 'string' },
        'music-volume': { type: 'string' },
        'source-audio-volume': { type: 'string' },
        short: { type: 'boolean', default: false },
        out: { type: 'string', default: 'demo-output' },
        timeout: { type: 'string', default: '600' },
        'contact-sheet': { type: 'string' },
        help: { type: 'boolean', default: false },
      },
    }));
  } catch (error: unknown) {
    throw new DemoError(`${error instanceof Error ? error.message : String(error)}\n${USAGE}`);
  }
  if (values.help) throw new DemoError(USAGE);
  const fit = values['visual-fit'];
  if (fit !== undefined && !(VISUAL_FITS as readonly string[]).includes(fit)) throw new DemoError(`--visual-fit must be one of ${VISUAL_FITS.join(', ')}`);
  const style = values['subtitle-style'];
  if (style !== undefined && !(SUBTITLE_STYLES as readonly string[]).includes(style))
    throw new DemoError(`--subtitle-style must be one of ${SUBTITLE_STYLES.join(', ')}`);
  // Volumes are checked by the API (400 with a sentence), as for any client.
  const num = (v: string | undefined) => (v === undefined ? undefined : Number(v));
  return {
    options: {
      api: values.api.replace(/\/+$/, ''),
      creatorId: values.creator,
      videoId: values.video,
      outDir: values.out,
      short: values.short,
      visualFit: fit as VisualFit | undefined,
      subtitleStyle: style as SubtitleStylePreset | undefined,
      music: values.music === 'none' ? null : values.music,
      musicVolume: num(values['music-volume']),
      sourceAudioVolume: num(values['source-audio-volume']),
      timeoutSeconds: Number(values.timeout),
    },
    contactSheet: values['contact-sheet'],
  };
}

async function main(): Promise<void> {
  if (process.argv.includes('--help') || process.argv.includes('-h')) {
    console.log(USAGE);
    return;
  }
  try {
    const { options, contactSheet } = parseDemoArgs(process.argv.slice(2));
    if (contactSheet) {
      await renderContactSheet(options, contactSheet);
      return;
    }
    const result = await runDemo(options);
    if (result.status !== 'SUCCEEDED') process.exitCode = 1;
  } catch (error: unknown) {
    if (!(error instanceof DemoError)) throw error;
    console.error(error.message);
    process.exitCode = 1;
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) void main();
