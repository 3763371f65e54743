/**
 * The creator's media for a video — stills and clips under `sources/<creator_id>/<video_id>/media/`,
 * music under `…/music/` — checked and probed (`validateSourceMedia`: the same check as the upload
 * routes, for files that arrived by a presigned POST too) and snapshotted into the task's own
 * prefix (`tasks/<task_id>/media/`) by server-side copies, so that a later upload cannot change
 * what a running or finished task shows and no file passes through this function's memory.
 */
import { CopyObjectCommand } from '@aws-sdk/client-s3';
import { listKeys } from '../artifacts.js';
import { taskArtifactKey } from '../keys.js';
import { extensionOf, sourceFolderPrefix } from '../media/media-name.js';
import { validateSourceMedia, type MediaFacts } from '../media/validate-source-media.js';
import type { Runtime } from '../runtime.js';
import type { DraftMediaFile, DraftMusicFile } from './build-draft.js';

/** A file that is not used, and why. */
export interface IgnoredMedia {
  key: string;
  reason: string;
  /** the media check's code, when the file failed it */
  code?: string;
}

/** At most this many stills and clips per video are checked; more are listed as ignored. */
export const MAX_VISUALS = 50;

/** Where a creator's media for a video waits. */
export const sourceMediaPrefix = (creatorId: string, videoId: string) => sourceFolderPrefix(creatorId, videoId, 'media');

/** Longest name kept from the creator's file, in characters (CJK: 120 bytes of UTF-8). */
const MAX_NAME_CHARACTERS = 40;

/**
 * A draft file name from the creator's file: `<label>-<name>.<extension>`, the name taken from the
 * creator's file so the editor shows it. Safe in any file system, a tar and a draft path: Unicode
 * letters, marks and digits (NFC), `_` and `-`; anything else — separators, dots (no `..`), control
 * and format characters, spaces, emoji — becomes `_`. The label keeps names unique and never a
 * reserved Windows name.
 */
export function materialFileName(label: string, sourceKey: string, extension: string, fallback = 'picture'): string {
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
      .replace(/[_-]+$/, '') || fallback;
  return `${label}-${name}.${extension}`;
}

/** The draft's file name of the task's `index`-th visual (1-based): `01-山.jpg` → `01-01-山.jpg`. */
export function pictureFileName(index: number, sourceKey: string, extension: string): string {
  return materialFileName(String(index).padStart(2, '0'), sourceKey, extension);
}

/** File names in name order, numbers compared as numbers (`2.mp4` before `10.mp4`). */
export const byMediaName = (a: string, b: string) => a.localeCompare(b, 'en', { numeric: true });

/** S3's `CopySource`: bucket and key, each path segment percent-encoded (Unicode names, `#`, `?`, spaces). */
const copySource = (bucket: string, key: string) => `${bucket}/${key.split('/').map(encodeURIComponent).join('/')}`;

async function copyIntoTask(rt: Runtime, from: string, to: string): Promise<void> {
  await rt.s3.send(new CopyObjectCommand({ Bucket: rt.settings.bucketName, Key: to, CopySource: copySource(rt.settings.bucketName, from) }));
}

const nameOf = (key: string) => key.slice(key.lastIndexOf('/') + 1);

function visualOf(facts: MediaFacts, a: { name: string; key: string; fileName: string }): DraftMediaFile | { reason: string } {
  const width = facts.display_width ?? facts.width;
  const height = facts.display_height ?? facts.height;
  if (!width || !height) return { reason: 'the picture has no size' };
  if (facts.kind === 'clip') {
    return { name: a.name, kind: 'clip', key: a.key, file_name: a.fileName, content_type: facts.content_type, width, height, duration_ms: facts.duration_ms };
  }
  return { name: a.name, kind: 'still', key: a.key, file_name: a.fileName, content_type: facts.content_type, width, height };
}

/**
 * Checks the video's stills and clips in name order and copies the usable ones to
 * `tasks/<task_id>/media/<nn>-<name>.<ext>`. A file that fails the check is left out with the
 * check's sentence; the task goes on with the rest.
 */
export async function snapshotSourceMedia(
  rt: Runtime,
  a: { taskId: string; creatorId: string; videoId: string },
): Promise<{ media: DraftMediaFile[]; ignored: IgnoredMedia[] }> {
  const prefix = sourceMediaPrefix(a.creatorId, a.videoId);
  const listed = (await listKeys(rt, prefix)).filter((o) => !o.key.slice(prefix.length).includes('/') && o.key.length > prefix.length);
  listed.sort((x, y) => byMediaName(x.key.slice(prefix.length), y.key.slice(prefix.length)));
  const media: DraftMediaFile[] = [];
  const ignored: IgnoredMedia[] = [];
  for (const object of listed) {
    if (media.length >= MAX_VISUALS) {
      ignored.push({ key: object.key, reason: `more than ${MAX_VISUALS} stills and clips` });
      continue;
    }
    const check = await validateSourceMedia(rt, { key: object.key, size: object.size });
    if (!check.facts) {
      ignored.push({ key: object.key, reason: check.unusable?.message ?? 'unusable', ...(check.unusable ? { code: check.unusable.code } : {}) });
      continue;
    }
    const fileName = pictureFileName(media.length + 1, object.key, extensionOf(object.key));
    const key = taskArtifactKey(a.taskId, `media/${fileName}`);
    const visual = visualOf(check.facts, { name: nameOf(object.key), key, fileName });
    if ('reason' in visual) {
      ignored.push({ key: object.key, reason: visual.reason });
      continue;
    }
    await copyIntoTask(rt, object.key, key);
    media.push(visual);
  }
  return { media, ignored };
}

/**
 * The task's music: the file the request names (`music`), none for `null`, or the first file
 * under `music/` in name order. Checked and copied to `tasks/<task_id>/media/music-<name>.<ext>`;
 * a named file that is gone or a file that fails the check means no music, with the reason.
 */
export async function snapshotSourceMusic(
  rt: Runtime,
  a: { taskId: string; creatorId: string; videoId: string; music?: string | null },
): Promise<{ music?: DraftMusicFile; ignored?: IgnoredMedia }> {
  if (a.music === null) return {};
  const prefix = sourceFolderPrefix(a.creatorId, a.videoId, 'music');
  const listed = (await listKeys(rt, prefix)).filter((o) => o.key.length > prefix.length && !o.key.slice(prefix.length).includes('/'));
  listed.sort((x, y) => byMediaName(x.key.slice(prefix.length), y.key.slice(prefix.length)));
  const wanted = a.music === undefined ? listed[0] : listed.find((o) => o.key.slice(prefix.length).normalize('NFC') === a.music!.normalize('NFC'));
  if (!wanted) return a.music === undefined ? {} : { ignored: { key: `${prefix}${a.music}`, reason: `the music file ${a.music} is no longer there` } };
  const check = await validateSourceMedia(rt, { key: wanted.key, size: wanted.size });
  if (!check.facts)
    return { ignored: { key: wanted.key, reason: check.unusable?.message ?? 'unusable', ...(check.unusable ? { code: check.unusable.code } : {}) } };
  const fileName = materialFileName('music', wanted.key, extensionOf(wanted.key), 'music');
  const key = taskArtifactKey(a.taskId, `media/${fileName}`);
  await copyIntoTask(rt, wanted.key, key);
  return { music: { name: nameOf(wanted.key), key, file_name: fileName, content_type: check.facts.content_type, duration_ms: check.facts.duration_ms } };
}
