/**
 * The creator's media for a video, in the bucket: `sources/<creator>/<video>/media/<name>` (stills
 * and clips) and `…/music/<name>`. Uploads are checked before anything is stored: the body is
 * streamed to a local temporary file (never held whole in memory), checked there
 * ({@link inspectMedia}) and only then streamed on to the bucket — a refused file leaves nothing.
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdtemp, open, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { DeleteObjectCommand } from '@aws-sdk/client-s3';
import { listKeys, objectExists, putObjectStream } from '../artifacts.js';
import { sourceKey } from '../keys.js';
import type { Runtime } from '../runtime.js';
import { MediaRejectedError } from './media-errors.js';
import { sourceFolderPrefix, type MediaFolder } from './media-name.js';
import { SNIFF_BYTES } from './media-sniff.js';
import { createPresignedPost, type PresignedPost } from './presigned-post.js';
import {
  checkMediaSize,
  inspectMedia,
  mediaLimitsOf,
  sizeLimitMessage,
  validateSourceMedia,
  type MediaFacts,
  type SourceMediaCheck,
} from './validate-source-media.js';

/** The object key of one media file (its name already checked by `mediaFileName`). */
export const sourceMediaKey = (creatorId: string, videoId: string, folder: MediaFolder, fileName: string) =>
  `${sourceFolderPrefix(creatorId, videoId, folder)}${fileName}`;

interface FileRef {
  creatorId: string;
  videoId: string;
  folder: MediaFolder;
  /** checked by `mediaFileName` */
  fileName: string;
}

/** Copies the stream into `file`, refusing (413) once it passes `maxBytes`. Resolves with the byte count. */
async function spool(
  body: AsyncIterable<Uint8Array>,
  file: string,
  a: { folder: MediaFolder; maxBytes: number; limitMessage: (size: number) => string },
): Promise<number> {
  const out = createWriteStream(file);
  let size = 0;
  try {
    for await (const chunk of body) {
      size += chunk.byteLength;
      if (size > a.maxBytes) throw new MediaRejectedError('file_too_large', a.limitMessage(size));
      if (!out.write(chunk)) await new Promise<void>((ok) => out.once('drain', () => ok()));
    }
  } finally {
    out.end();
    await finished(out).catch(() => undefined);
  }
  return size;
}

async function readHead(file: string): Promise<Uint8Array> {
  const handle = await open(file, 'r');
  try {
    const buffer = Buffer.alloc(SNIFF_BYTES);
    const { bytesRead } = await handle.read(buffer, 0, SNIFF_BYTES, 0);
    return buffer.subarray(0, bytesRead);
  } finally {
    await handle.close();
  }
}

/**
 * Stores one uploaded file after checking it: size against the folder's limit (413 as soon as the
 * stream passes it, or at once from `contentLength`), the type by the bytes, the name's extension
 * agreeing, the header's pixel count, and ffprobe. Throws {@link MediaRejectedError}; nothing is
 * written to the bucket then.
 */
export async function uploadSourceMedia(
  rt: Runtime,
  a: FileRef & { body: ReadableStream<Uint8Array> | AsyncIterable<Uint8Array> | null; contentLength?: number },
): Promise<{ key: string; size: number; facts: MediaFacts; replaced: boolean }> {
  const limits = mediaLimitsOf(rt.settings);
  if (a.contentLength !== undefined) checkMediaSize(a.folder, a.contentLength, limits);
  const maxBytes = a.folder === 'media' ? limits.mediaMaxBytes : limits.musicMaxBytes;
  const dir = await mkdtemp(path.join(tmpdir(), 'source-media-'));
  try {
    const file = path.join(dir, `upload.${a.fileName.slice(a.fileName.lastIndexOf('.') + 1)}`);
    const body: AsyncIterable<Uint8Array> =
      a.body === null
        ? Readable.from([])
        : a.body instanceof ReadableStream
          ? Readable.fromWeb(a.body as import('node:stream/web').ReadableStream<Uint8Array>)
          : a.body;
    const size = await spool(body, file, { folder: a.folder, maxBytes, limitMessage: (n) => sizeLimitMessage(a.folder, limits, n) });
    const facts = await inspectMedia({
      folder: a.folder,
      fileName: a.fileName,
      size,
      head: size > 0 ? await readHead(file) : new Uint8Array(),
      input: file,
      limits,
    });
    const key = sourceMediaKey(a.creatorId, a.videoId, a.folder, a.fileName);
    const replaced = await objectExists(rt, key);
    await putObjectStream(rt, { key, body: createReadStream(file), contentType: facts.content_type, contentLength: size });
    return { key, size, facts, replaced };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * A presigned POST for one file (`MEDIA_UPLOAD=presigned`): the key fixed, the size bounded to
 * `[1, limit]` by the policy. What arrives is not checked here — Draft checks it with
 * {@link validateSourceMedia} and leaves a bad file out with its reason.
 */
export async function presignSourceMediaUpload(
  rt: Runtime,
  a: FileRef & { contentLength?: number },
): Promise<PresignedPost & { key: string; max_bytes: number }> {
  const limits = mediaLimitsOf(rt.settings);
  if (a.contentLength !== undefined && a.contentLength > 0) checkMediaSize(a.folder, a.contentLength, limits);
  const maxBytes = a.folder === 'media' ? limits.mediaMaxBytes : limits.musicMaxBytes;
  const key = sourceMediaKey(a.creatorId, a.videoId, a.folder, a.fileName);
  const post = await createPresignedPost(rt, { key, minBytes: 1, maxBytes, expiresSeconds: rt.settings.presignSeconds });
  return { key, max_bytes: maxBytes, ...post };
}

/** Deletes one file; false when there was none. */
export async function deleteSourceMedia(rt: Runtime, a: FileRef): Promise<boolean> {
  const key = sourceMediaKey(a.creatorId, a.videoId, a.folder, a.fileName);
  if (!(await objectExists(rt, key))) return false;
  await rt.s3.send(new DeleteObjectCommand({ Bucket: rt.settings.bucketName, Key: key }));
  return true;
}

/** Names compared as people do: numbers as numbers (`2.jpg` before `10.jpg`). */
const byName = (x: { file_name: string }, y: { file_name: string }) => x.file_name.localeCompare(y.file_name, 'en', { numeric: true });

/** How many files are probed at once while listing. */
const PROBE_CONCURRENCY = 2;

async function mapLimited<T, R>(items: T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

/**
 * The video's source text, media and music: sizes and probed facts, or why a file cannot be used.
 * A quick check (headers, not every packet): a clip cut short behind an intact index is found by
 * Draft's full check, not here.
 */
export async function listSourceMedia(
  rt: Runtime,
  a: { creatorId: string; videoId: string },
): Promise<{ source: { key: string; size: number } | null; media: SourceMediaCheck[]; music: SourceMediaCheck[] }> {
  const textKey = sourceKey(a.creatorId, a.videoId);
  const folder = async (name: MediaFolder) => {
    const prefix = sourceFolderPrefix(a.creatorId, a.videoId, name);
    const objects = (await listKeys(rt, prefix)).filter((o) => !o.key.slice(prefix.length).includes('/') && o.key.length > prefix.length);
    return (await mapLimited(objects, PROBE_CONCURRENCY, (o) => validateSourceMedia(rt, { key: o.key, size: o.size, readPackets: false }))).sort(byName);
  };
  const [text, media, music] = await Promise.all([listKeys(rt, textKey), folder('media'), folder('music')]);
  const source = text.find((o) => o.key === textKey);
  return { source: source ? { key: source.key, size: source.size } : null, media, music };
}
