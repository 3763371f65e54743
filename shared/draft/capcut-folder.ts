/**
 * Stores a task's CapCut / JianYing draft folder under `tasks/<task_id>/draft/<folder>/` and, when
 * `DRAFT_LOCAL_DIR` is set, copies it there atomically: the folder is written under a temporary
 * name in the same directory and renamed into place, so an editor (or another task) never sees a
 * half-written draft, and two tasks never write the same folder (the name carries the task id).
 *
 * Media come as bytes (the narration, the generated background) or as an object key in the
 * artifact bucket (clips, stills, music): those are copied into the folder by S3 itself
 * (CopyObject, nothing passes through the function) and streamed into the archive, so a draft
 * with 500 MB of clips never sits in memory.
 */
import { randomUUID } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { CopyObjectCommand, GetObjectCommand } from '@aws-sdk/client-s3';
import { putObject, putObjectStream } from '../artifacts.js';
import { tarGzStream, type TarStreamEntry } from './tar-archive.js';
import { taskArtifactKey } from '../keys.js';
import type { Runtime } from '../runtime.js';
import { buildCapcutDraft, capcutFolderName, DRAFT_PATH_PLACEHOLDER, type CapcutMediaFile } from './capcut-draft.js';
import { checkCapcutDraftFolder, type CapcutDraftReport } from './capcut-draft-check.js';
import type { Draft } from './draft.js';
import { gradientPng } from './gradient-png.js';

/** The writer produced a draft that fails its own structure checks: a bug, reported with the problems. */
export class DraftFolderError extends Error {
  readonly problems: string[];
  constructor(problems: string[]) {
    super(
      `The CapCut draft folder fails its structure checks: ${problems.slice(0, 5).join('; ')}${problems.length > 5 ? ` (+${problems.length - 5} more)` : ''}`,
    );
    this.name = 'DraftFolderError';
    this.problems = problems;
  }
}

/** A media file of the folder: its bytes or where they are, plus what the draft needs to know about it. */
export type CapcutFolderMedia = {
  /** draft.json material id it belongs to */
  materialId: string;
  /**
   * path inside the folder: `materials/<name>`, one level, any readable Unicode name (Chinese
   * names are normal) but no separator, `.`/`..`, control character or NUL
   */
  path: string;
  contentType: string;
  width?: number;
  height?: number;
} & (
  | {
      /** small generated files (the narration, the generated background) */
      bytes: Uint8Array;
      key?: undefined;
    }
  | {
      /** an object in the artifact bucket, copied server-side and streamed into the archive */
      key: string;
      bytes?: undefined;
    }
);

/** A file of the folder: the JSON files as text, media as bytes or as an object key. */
export type CapcutFolderFile = Uint8Array | string | { key: string };

/** Where the folder went. */
export interface CapcutFolderResult {
  folder: string;
  /** object key prefix of the stored copy, ending in `/` */
  key_prefix: string;
  /** the folder as a gzipped tar (top-level directory = the folder) */
  archive_key: string;
  files: string[];
  /** the local copy, when `DRAFT_LOCAL_DIR` is set */
  local_path?: string;
  report: CapcutDraftReport;
}

/** The generated background as a picture file: small (the editor scales it), 9:16 like the canvas. */
export function backgroundMedia(materialId: string, colors: [string, string]): CapcutFolderMedia {
  return {
    materialId,
    path: 'materials/background.png',
    bytes: gradientPng(270, 480, colors[0], colors[1]),
    contentType: 'image/png',
    width: 270,
    height: 480,
  };
}

/** Why a media path cannot be a file of the folder, or undefined when it can. */
export function unsafeMaterialPath(p: string): string | undefined {
  const name = p.startsWith('materials/') ? p.slice('materials/'.length) : undefined;
  if (name === undefined) return `"${p}" is not under materials/`;
  if (name === '' || name === '.' || name === '..') return `"${p}" names no file`;
  // eslint-disable-next-line no-control-regex
  if (/[/\\\u0000-\u001f\u007f]/.test(name)) return `"${p}" has a separator or a control character in its name`;
  if (Buffer.byteLength(name) > 255) return `"${p}" has a name longer than 255 bytes`;
  return undefined;
}

function folderFiles(draft: Draft, folder: string, media: CapcutFolderMedia[], createdAtMs: number, mediaRoot: string): Map<string, CapcutFolderFile> {
  const problems = media.map((m) => unsafeMaterialPath(m.path)).filter((p): p is string => p !== undefined);
  const paths = media.map((m) => m.path);
  for (const [i, p] of paths.entries()) if (paths.indexOf(p) !== i) problems.push(`"${p}" is the path of two media`);
  if (problems.length) throw new DraftFolderError(problems);
  const files: Record<string, CapcutMediaFile> = Object.fromEntries(media.map((m) => [m.materialId, { path: m.path, width: m.width, height: m.height }]));
  const { content, meta } = buildCapcutDraft({ draft, folderName: folder, files, createdAtMs, mediaRoot });
  const out = new Map<string, CapcutFolderFile>([
    ['draft_content.json', JSON.stringify(content)],
    ['draft_meta_info.json', JSON.stringify(meta)],
  ]);
  for (const m of media) out.set(m.path, m.key !== undefined ? { key: m.key } : m.bytes);
  return out;
}

function isObjectFile(file: CapcutFolderFile): file is { key: string } {
  return typeof file !== 'string' && !(file instanceof Uint8Array);
}

/** An object of the artifact bucket as a stream, with its size. */
async function openObject(rt: Runtime, key: string): Promise<{ size: number; body: Readable }> {
  const out = await rt.s3.send(new GetObjectCommand({ Bucket: rt.settings.bucketName, Key: key }));
  if (!out.Body || out.ContentLength === undefined) throw new Error(`The object ${key} came without a body or a length.`);
  return { size: out.ContentLength, body: out.Body as Readable };
}

/** `CopySource` of an object of the artifact bucket: bucket and key, each path segment URL-encoded. */
function copySource(bucket: string, key: string): string {
  return `${bucket}/${key.split('/').map(encodeURIComponent).join('/')}`;
}

/** The folder's own absolute path as the editor writes paths: forward slashes, also on Windows. */
function editorPath(p: string): string {
  return p.replace(/\\/g, '/');
}

/**
 * Writes `files` as `<root>/<name>/…` atomically: into `<root>/.<name>.tmp-…` first, then one
 * rename. A folder already there (an earlier attempt of the same task) is replaced whole.
 */
export async function writeFolderAtomically(
  root: string,
  name: string,
  files: Map<string, CapcutFolderFile>,
  open?: (key: string) => Promise<{ body: Readable }>,
): Promise<string> {
  await mkdir(root, { recursive: true });
  const target = path.join(root, name);
  const temp = await mkdtemp(path.join(root, `.${name}.tmp-`));
  try {
    for (const [relative, bytes] of files) {
      const file = path.join(temp, ...relative.split('/'));
      if (path.relative(temp, file).startsWith('..')) throw new DraftFolderError([`"${relative}" would leave the folder`]);
      await mkdir(path.dirname(file), { recursive: true });
      if (!isObjectFile(bytes)) await writeFile(file, bytes);
      else if (open) await pipeline((await open(bytes.key)).body, createWriteStream(file));
      else throw new RangeError(`"${relative}" is an object (${bytes.key}) and no reader was given`);
    }
    try {
      await rename(temp, target);
    } catch (error: unknown) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code !== 'ENOTEMPTY' && code !== 'EEXIST' && code !== 'EPERM') throw error;
      // The same task's folder from an earlier attempt: swap it out, then remove it.
      const old = path.join(root, `.${name}.old-${randomUUID()}`);
      await rename(target, old);
      await rename(temp, target);
      await rm(old, { recursive: true, force: true });
    }
    return target;
  } catch (error: unknown) {
    await rm(temp, { recursive: true, force: true });
    throw error;
  }
}

/**
 * Builds, checks and stores the task's draft folder; copies it to `localDir` when given.
 *
 * @throws {@link DraftFolderError} when the folder fails {@link checkCapcutDraftFolder}.
 */
export async function storeCapcutDraftFolder(
  rt: Runtime,
  a: { draft: Draft; creatorId: string; videoId: string; media: CapcutFolderMedia[]; createdAtMs: number; localDir?: string },
): Promise<CapcutFolderResult> {
  const folder = capcutFolderName({ creatorId: a.creatorId, videoId: a.videoId, taskId: a.draft.task_id });
  const portable = folderFiles(a.draft, folder, a.media, a.createdAtMs, DRAFT_PATH_PLACEHOLDER);
  const report = checkCapcutDraftFolder(portable, { folderName: folder });
  if (report.problems.length) throw new DraftFolderError(report.problems);

  const keyPrefix = taskArtifactKey(a.draft.task_id, `draft/${folder}/`);
  const types = new Map(a.media.map((m) => [m.path, m.contentType]));
  const bucket = rt.settings.bucketName;
  for (const [relative, file] of portable) {
    const key = `${keyPrefix}${relative}`;
    if (!isObjectFile(file)) await putObject(rt, key, file, types.get(relative) ?? 'application/json');
    // S3 copies it (up to 5 GB in one call): the bytes never reach this function.
    else await rt.s3.send(new CopyObjectCommand({ Bucket: bucket, Key: key, CopySource: copySource(bucket, file.key) }));
  }
  // The same folder in one download, for an exporter that unpacks it next to the editor: read
  // from the folder just stored, streamed through gzip into a multipart upload.
  const archiveKey = taskArtifactKey(a.draft.task_id, `editor_draft.tar.gz`);
  const entries: TarStreamEntry[] = [...portable].map(([relative, file]) => ({
    path: `${folder}/${relative}`,
    open: async () => {
      if (!isObjectFile(file)) {
        const bytes = typeof file === 'string' ? Buffer.from(file, 'utf8') : file;
        return { size: bytes.length, body: [bytes] };
      }
      return openObject(rt, `${keyPrefix}${relative}`);
    },
  }));
  await putObjectStream(rt, { key: archiveKey, body: tarGzStream(entries, Math.floor(a.createdAtMs / 1000)), contentType: 'application/gzip' });

  let localPath: string | undefined;
  if (a.localDir) {
    const root = path.resolve(a.localDir);
    const absolute = editorPath(path.join(root, folder));
    const local = folderFiles(a.draft, folder, a.media, a.createdAtMs, absolute);
    const localReport = checkCapcutDraftFolder(local, { folderName: folder, absoluteRoot: absolute });
    if (localReport.problems.length) throw new DraftFolderError(localReport.problems);
    // Media by key are read from the folder just stored, as the archive is.
    const fromStore = new Map([...local].map(([relative, file]) => [relative, isObjectFile(file) ? { key: `${keyPrefix}${relative}` } : file]));
    localPath = await writeFolderAtomically(root, folder, fromStore, (key) => openObject(rt, key));
  }
  return { folder, key_prefix: keyPrefix, archive_key: archiveKey, files: [...portable.keys()], local_path: localPath, report };
}
