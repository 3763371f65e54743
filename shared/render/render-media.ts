/**
 * The files a render plan needs, made ready: the materials' own files checked, generated
 * backgrounds written as PNGs, each audio file's channel count measured. The result is what
 * `ffmpeg-command.ts` turns into `-i` inputs; nothing here decides what is on screen.
 */
import { access, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Draft, DraftMaterial } from '../draft/draft.js';
import { gradientPng } from '../draft/gradient-png.js';
import { probeVideo } from './probe-video.js';
import { InvalidDraftError } from './render-errors.js';
import type { RenderPlan } from './render-plan.js';

/** The local files of a plan, in the plan's order. */
export interface RenderMedia {
  /** the picture (or clip) file of each `plan.visuals` span */
  pictures: string[];
  /** per `plan.audioTracks` track and part: the file and its channel count (null: silence, or unreadable) */
  audio: Array<Array<{ file: string; channels: number | null } | null>>;
}

/**
 * The ids of the materials whose bytes a render needs (audio, image, subtitles) — each must have
 * a file in `media`. Useful to validate a job before downloading anything.
 */
export function materialIdsNeedingMedia(draft: Draft): string[] {
  return draft.materials.filter((m) => m.type !== 'generated_background').map((m) => m.id);
}

/**
 * Checks that every material needing bytes has an existing file in `media`.
 *
 * @throws {@link InvalidDraftError} naming the first material without one.
 */
export async function checkMediaFiles(draft: Draft, media: Record<string, string>): Promise<void> {
  for (const id of materialIdsNeedingMedia(draft)) {
    const file = media[id];
    if (!file) throw new InvalidDraftError(`Material "${id}" has no file in media.`);
    try {
      await access(file);
    } catch {
      throw new InvalidDraftError(`The file of material "${id}" does not exist: ${file}`);
    }
  }
}

/** Writes the generated pictures into `workDir` and measures the audio files of `plan`. */
export async function prepareRenderMedia(a: { plan: RenderPlan; media: Record<string, string>; workDir: string; ffprobePath: string }): Promise<RenderMedia> {
  const generated = new Map<string, string>();
  const pictures: string[] = [];
  for (const span of a.plan.visuals) pictures.push(await pictureFile(span.material, a, generated));

  const channels = new Map<string, Promise<number | null>>();
  // A file ffprobe cannot read gets no upmix; ffmpeg then reports what is wrong with it.
  const channelsOf = (file: string): Promise<number | null> => {
    let probe = channels.get(file);
    if (!probe) {
      probe = probeVideo(file, a.ffprobePath).then(
        (p) => p.audio_channels,
        () => null,
      );
      channels.set(file, probe);
    }
    return probe;
  };
  const audio: RenderMedia['audio'] = [];
  for (const parts of a.plan.audioTracks) {
    const files: RenderMedia['audio'][number] = [];
    for (const part of parts) {
      if (part.materialId === null) {
        files.push(null);
      } else {
        const file = a.media[part.materialId];
        files.push({ file, channels: await channelsOf(file) });
      }
    }
    audio.push(files);
  }
  return { pictures, audio };
}

/** An image's own file, or a gradient PNG of the canvas size (one per colour pair; black without a picture). */
async function pictureFile(
  material: DraftMaterial | null,
  a: { plan: RenderPlan; media: Record<string, string>; workDir: string },
  generated: Map<string, string>,
): Promise<string> {
  if (material?.type === 'image' || material?.type === 'video') return a.media[material.id];
  const colors: [string, string] = material?.type === 'generated_background' ? material.colors : ['#000000', '#000000'];
  const key = colors.join('-');
  let file = generated.get(key);
  if (!file) {
    file = path.join(a.workDir, `background-${generated.size}.png`);
    let png: Buffer;
    try {
      png = gradientPng(a.plan.canvas.width, a.plan.canvas.height, colors[0], colors[1]);
    } catch (error: unknown) {
      if (error instanceof RangeError) throw new InvalidDraftError(`Background colour: ${error.message}.`);
      throw error;
    }
    await writeFile(file, png);
    generated.set(key, file);
  }
  return file;
}
