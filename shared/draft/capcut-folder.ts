/**
 * Stores a task's CapCut / JianYing draft folder under `tasks/<task_id>/draft/<folder>/` and, when
 * `DRAFT_LOCAL_DIR` is set, copies it there atomically: the folder is written under a temporary
 * name in the same directory and renamed into place, so an editor (or another task) never sees a
 * half-written draft, and two tasks never write the same folder (the name carries the task id).
 */
import { randomUUID } from 'node:crypto';
import { mkdir, mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { putObject } from '../artifacts.js';
import { tarGz } from './tar-archive.js';
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

/** A media file of the folder: bytes plus what the draft needs to know about it. */
export interface CapcutFolderMedia {
  /** draft.json material id it belongs to */
  materialId: string;
  /** path inside the folder, e.g. `materials/narration.wav` */
  path: string;
  bytes: Uint8Array;
  contentType: string;
  width?: number;
  height?: number;
}

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

function folderFiles(draft: Draft, folder: string, media: CapcutFolderMedia[], createdAtMs: number, mediaRoot: string): Map<string, Uint8Array | string> {
  const files: Record<string, CapcutMediaFile> = Object.fromEntries(media.map((m) => [m.materialId, { path: m.path, width: m.width, height: m.height }]));
  const { content, meta } = buildCapcutDraft({ draft, folderName: folder, files, createdAtMs, mediaRoot });
  const out = new Map<string, Uint8Array | string>([
    ['draft_content.json', JSON.stringify(content)],
    ['draft_meta_info.json', JSON.stringify(meta)],
  ]);
  for (const m of media) out.set(m.path, m.bytes);
  return out;
}

/** The folder's own absolute path as the editor writes paths: forward slashes, also on Windows. */
function editorPath(p: string): string {
  return p.replace(/\\/g, '/');
}

/**
 * Writes `files` as `<root>/<name>/…` atomically: into `<root>/.<name>.tmp-…` first, then one
 * rename. A folder already there (an earlier attempt of the same task) is replaced whole.
 */
export async function writeFolderAtomically(root: string, name: string, files: Map<string, Uint8Array | string>): Promise<string> {
  await mkdir(root, { recursive: true });
  const target = path.join(root, name);
  const temp = await mkdtemp(path.join(root, `.${name}.tmp-`));
  try {
    for (const [relative, bytes] of files) {
      const file = path.join(temp, ...relative.split('/'));
      await mkdir(path.dirname(file), { recursive: true });
      await writeFile(file, bytes);
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
  for (const [relative, bytes] of portable) {
    await putObject(rt, `${keyPrefix}${relative}`, bytes, types.get(relative) ?? 'application/json');
  }
  // The same folder in one download, for an exporter that unpacks it next to the editor.
  const archiveKey = taskArtifactKey(a.draft.task_id, `editor_draft.tar.gz`);
  const archive = tarGz(
    [...portable].map(([relative, bytes]) => ({ path: `${folder}/${relative}`, bytes })),
    Math.floor(a.createdAtMs / 1000),
  );
  await putObject(rt, archiveKey, archive, 'application/gzip');

  let localPath: string | undefined;
  if (a.localDir) {
    const root = path.resolve(a.localDir);
    const absolute = editorPath(path.join(root, folder));
    const local = folderFiles(a.draft, folder, a.media, a.createdAtMs, absolute);
    const localReport = checkCapcutDraftFolder(local, { folderName: folder, absoluteRoot: absolute });
    if (localReport.problems.length) throw new DraftFolderError(localReport.problems);
    localPath = await writeFolderAtomically(root, folder, local);
  }
  return { folder, key_prefix: keyPrefix, archive_key: archiveKey, files: [...portable.keys()], local_path: localPath, report };
}
