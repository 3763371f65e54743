/**
 * Renders an editing draft to a vertical mp4 with the static ffmpeg from npm: the visual track
 * (generated gradients and stills), the narration, and burned-in subtitles in a CJK font.
 *
 * A library, not a service: the builtin exporter runs it (in the embedded export service and in
 * the AWS export Lambda). It only touches the files it is given and its own `workDir`. The steps
 * live in one file each:
 *
 *   draft ──planRender──▶ RenderPlan ──prepareRenderMedia──▶ files ──buildFfmpegArgs──▶ args ──runFfmpeg──▶ mp4
 *   (render-plan.ts: what is on screen when)   (render-media.ts)   (ffmpeg-command.ts)   (ffmpeg-process.ts)
 *
 * with the subtitles laid out by `subtitle-layout.ts` in the font of `render-fonts.ts`.
 */
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Draft } from '../draft/draft.js';
import { buildFfmpegArgs } from './ffmpeg-command.js';
import { defaultFfmpegPath, defaultFfprobePath, runFfmpeg, throwIfAborted, type RenderLog } from './ffmpeg-process.js';
import { probeVideo } from './probe-video.js';
import { prepareFonts } from './render-fonts.js';
import { checkMediaFiles, prepareRenderMedia } from './render-media.js';
import { planRender, type RenderPlan } from './render-plan.js';
import { buildAss, layoutSubtitles, parseSrt, subtitleForceStyle } from './subtitle-layout.js';

export type { RenderLog } from './ffmpeg-process.js';

/** Options of {@link renderDraft}. */
export interface RenderDraftOptions {
  draft: Draft;
  /** local file of each material that has bytes (audio, image, subtitles), by material id */
  media: Record<string, string>;
  /** where the mp4 lands; written as `<outputPath>.part` first and renamed on success */
  outputPath: string;
  /** scratch folder of this render (fonts, generated backgrounds, subtitles); created if missing */
  workDir: string;
  /** aborting kills ffmpeg; the promise then rejects with an `AbortError` */
  signal?: AbortSignal;
  /** x264 preset; default `DEFAULT_X264_PRESET` of `ffmpeg-command.ts` (the still-image motion settings apply on top) */
  preset?: string;
  /** output frame rate; default the draft's canvas fps, at most `DEFAULT_STILLS_FPS` of `render-plan.ts` */
  fps?: number;
  /** x264 constant rate factor; default 23 */
  crf?: number;
  /** ffmpeg binary; default the one from `@ffmpeg-installer/ffmpeg` */
  ffmpegPath?: string;
  /** ffprobe binary (used to measure the result); default the one from `@ffprobe-installer/ffprobe` */
  ffprobePath?: string;
  log?: RenderLog;
}

/** What {@link renderDraft} measured. */
export interface RenderResult {
  /** length of the written mp4 (container duration), milliseconds */
  duration_ms: number;
  /** wall time of the whole render, milliseconds */
  render_ms: number;
}

/**
 * Renders `draft` to an H.264/AAC mp4 at the draft's canvas size, as long as the narration
 * (`draft.duration_us`), with the subtitles burned in.
 *
 * @throws `InvalidDraftError` (`render-errors.ts`) before ffmpeg starts, when the draft or `media` is unusable.
 * @throws `RenderFailedError` when ffmpeg fails; `stderrTail` says why.
 * @throws an `AbortError` when `signal` aborts (ffmpeg is killed and the partial file removed).
 */
export async function renderDraft(opts: RenderDraftOptions): Promise<RenderResult> {
  const started = performance.now();
  const { draft, log } = opts;
  throwIfAborted(opts.signal);
  const plan = planRender(draft, { fps: opts.fps });
  await checkMediaFiles(draft, opts.media);

  await mkdir(opts.workDir, { recursive: true });
  await mkdir(path.dirname(path.resolve(opts.outputPath)), { recursive: true });
  const fonts = await prepareFonts(opts.workDir);
  const subtitlesFile = await writeSubtitles(plan, draft, opts.media, opts.workDir);
  const ffprobePath = opts.ffprobePath ?? defaultFfprobePath();
  const media = await prepareRenderMedia({ plan, media: opts.media, workDir: opts.workDir, ffprobePath });

  const partPath = `${opts.outputPath}.part`;
  const args = buildFfmpegArgs({
    plan,
    media,
    // an ASS file carries its own style; today's SRT gets it from force_style
    subtitles: subtitlesFile
      ? { file: subtitlesFile, fontsDir: fonts.fontsDir, forceStyle: subtitlesFile.endsWith('.ass') ? '' : subtitleForceStyle(draft.canvas) }
      : null,
    preset: opts.preset,
    crf: opts.crf,
    outputPath: partPath,
  });
  const ffmpegPath = opts.ffmpegPath ?? defaultFfmpegPath();
  try {
    await runFfmpeg({ ffmpegPath, args, env: { ...process.env, FONTCONFIG_FILE: fonts.fontconfigFile }, signal: opts.signal, log });
    await rename(partPath, opts.outputPath);
  } catch (error: unknown) {
    await rm(partPath, { force: true });
    throw error;
  }
  const probe = await probeVideo(opts.outputPath, ffprobePath);
  const result = { duration_ms: probe.duration_ms, render_ms: Math.round(performance.now() - started) };
  log?.('render finished', { task_id: draft.task_id, ...result, fps: plan.fps });
  return result;
}

/**
 * Writes the plan's subtitles to `workDir`: today's plain captions at the bottom as a laid-out
 * SRT, any other preset or position as an ASS file. Null when there are none.
 */
async function writeSubtitles(plan: RenderPlan, draft: Draft, media: Record<string, string>, workDir: string): Promise<string | null> {
  const source = plan.subtitles;
  if (!source) return null;
  const { style, position } = plan.captions;
  if (style !== 'plain' || position !== 'bottom') {
    const cues = source.kind === 'cues' ? source.cues : parseSrt(await readFile(media[source.materialId], 'utf8'));
    const out = path.join(workDir, 'subtitles.ass');
    await writeFile(out, buildAss({ canvas: draft.canvas, cues, style, position }));
    return out;
  }
  const srt =
    source.kind === 'material'
      ? layoutSubtitles({ canvas: draft.canvas, materialSrt: await readFile(media[source.materialId], 'utf8') })
      : layoutSubtitles({ canvas: draft.canvas, cues: source.cues });
  const out = path.join(workDir, 'subtitles.srt');
  await writeFile(out, srt);
  return out;
}
