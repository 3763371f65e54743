/**
 * The creator's pictures for a video: stills under `sources/<creator_id>/<video_id>/media/`,
 * snapshotted into the task's own prefix (`tasks/<task_id>/media/`) so that a later upload cannot
 * change what a running or finished task shows.
 */
import { getObjectBytes, listKeys, putObject } from '../artifacts.js';
import { taskArtifactKey } from '../keys.js';
import { PREFIX } from '../resources/storage.js';
import type { Runtime } from '../runtime.js';
import { readImageInfo, type ImageInfo } from './image-info.js';

/** A still of the task, stored under its prefix. */
export interface TaskPicture extends ImageInfo {
  /** object key of the task's copy */
  key: string;
  /** file name inside the draft folder's `materials/` */
  file_name: string;
  /** where it came from */
  source_key: string;
  bytes: Uint8Array;
}

/** A file under `media/` that is not used, and why. */
export interface IgnoredMedia {
  key: string;
  reason: string;
}

/** At most this many pictures per video; more are listed as ignored. */
export const MAX_PICTURES = 50;
/** A picture larger than this is ignored (a still needs no more on a 1080x1920 frame). */
export const MAX_PICTURE_BYTES = 20 * 1024 * 1024;

const STILL = /\.(png|jpe?g|webp)$/i;
const CLIP = /\.(mp4|mov|m4v|webm|mkv|avi|gif)$/i;

/** Where a creator's media for a video waits. */
export const sourceMediaPrefix = (creatorId: string, videoId: string) => `${PREFIX.sources}${creatorId}/${videoId}/media/`;

/** Longest name kept from the creator's file, in characters (CJK: 120 bytes of UTF-8). */
const MAX_NAME_CHARACTERS = 40;

/**
 * The draft's file name of the task's `index`-th picture (1-based): `01-<name>.<extension>`, the
 * name taken from the creator's file so the editor shows it (`01-山.jpg` → `01-01-山.jpg`). Safe in
 * any file system, a tar and a draft path: Unicode letters, marks and digits (NFC), `_` and `-`;
 * anything else — separators, dots (no `..`), control and format characters, spaces, emoji —
 * becomes `_`. The number prefix keeps names unique and never a reserved Windows name.
 */
export function pictureFileName(index: number, sourceKey: string, extension: string): string {
  const base = sourceKey.slice(sourceKey.lastIndexOf('/') + 1).replace(/\.[^.]*$/, '');
  const safe = base
    .normalize('NFC')
    .replace(/[^\p{L}\p{M}\p{N}_-]+/gu, '_')
    .replace(/^[_-]+|[_-]+$/g, '');
  // By code point, so a character outside the BMP is never cut in half.
  const name =
    Array.from(safe)
      .slice(0, MAX_NAME_CHARACTERS)
      .join('')
      .replace(/[_-]+$/, '') || 'picture';
  return `${String(index).padStart(2, '0')}-${name}.${extension}`;
}

/**
 * Copies the video's stills (PNG, JPEG, WebP; in name order, numbers compared as numbers) into
 * `tasks/<task_id>/media/`. Clips, other files, unreadable and oversized images are reported, not
 * used — the renderer lays stills only.
 */
export async function snapshotSourcePictures(
  rt: Runtime,
  a: { taskId: string; creatorId: string; videoId: string },
): Promise<{ pictures: TaskPicture[]; ignored: IgnoredMedia[] }> {
  const prefix = sourceMediaPrefix(a.creatorId, a.videoId);
  const listed = (await listKeys(rt, prefix)).filter((o) => !o.key.endsWith('/'));
  listed.sort((x, y) => x.key.localeCompare(y.key, 'en', { numeric: true }));
  const pictures: TaskPicture[] = [];
  const ignored: IgnoredMedia[] = [];
  for (const object of listed) {
    const name = object.key.slice(prefix.length);
    if (!STILL.test(name)) {
      ignored.push({
        key: object.key,
        reason: CLIP.test(name) ? 'video clips are not laid on the timeline yet (stills only)' : 'not a PNG, JPEG or WebP still',
      });
      continue;
    }
    if (pictures.length >= MAX_PICTURES) {
      ignored.push({ key: object.key, reason: `more than ${MAX_PICTURES} pictures` });
      continue;
    }
    if (object.size > MAX_PICTURE_BYTES) {
      ignored.push({ key: object.key, reason: `larger than ${MAX_PICTURE_BYTES / 1024 / 1024} MB` });
      continue;
    }
    const bytes = await getObjectBytes(rt, object.key);
    const info = bytes && readImageInfo(bytes);
    if (!bytes || !info) {
      ignored.push({ key: object.key, reason: 'unreadable image (not PNG, JPEG or WebP data)' });
      continue;
    }
    const fileName = pictureFileName(pictures.length + 1, object.key, info.extension);
    const key = taskArtifactKey(a.taskId, `media/${fileName}`);
    await putObject(rt, key, bytes, info.content_type);
    pictures.push({ ...info, key, file_name: fileName, source_key: object.key, bytes });
  }
  return { pictures, ignored };
}
