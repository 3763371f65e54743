/**
 * Fetching a render's media from their URLs into local files, and the error a failed download
 * throws. Used by the builtin exporter (embedded export service and AWS export worker); whether
 * such a failure may pass on a new attempt is decided in `shared/export/export-failure.ts`.
 */
import { createWriteStream } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as NodeReadableStream } from 'node:stream/web';
import type { DraftMaterial } from '../draft/draft.js';
import { errorMessage } from '../errors.js';

/** A material could not be fetched from its URL. */
export class MediaDownloadError extends Error {
  /** HTTP status of the answer; undefined when there was none (network error, timeout) */
  readonly status: number | undefined;
  /**
   * @param message a sentence naming the material; never the URL's query string (a credential)
   * @param status HTTP status of the answer, if there was one
   */
  constructor(message: string, status?: number, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'MediaDownloadError';
    this.status = status;
  }
}

const EXTENSIONS: Record<string, string> = {
  'audio/wav': '.wav',
  'audio/x-wav': '.wav',
  'audio/wave': '.wav',
  'audio/mpeg': '.mp3',
  'audio/mp4': '.m4a',
  'audio/aac': '.aac',
  'image/png': '.png',
  'image/jpeg': '.jpg',
  'image/webp': '.webp',
  'application/x-subrip': '.srt',
};

function extensionOf(material: DraftMaterial | undefined): string {
  return material && 'content_type' in material ? (EXTENSIONS[material.content_type.toLowerCase()] ?? '') : '';
}

/**
 * Fetches every material in `ids` into `dir`, in parallel; returns their local paths by material id.
 * Each file gets its own time limit; `signal` aborts them all.
 *
 * @throws {@link MediaDownloadError} when a material cannot be fetched (the message names it,
 *   with the URL stripped of its query string).
 * @throws the abort reason when `signal` aborts.
 */
export async function downloadMedia(a: {
  /** the draft's materials, for the file names (type and extension) */
  materials: DraftMaterial[];
  /** the materials to fetch, e.g. `materialIdsNeedingMedia(draft)` */
  ids: string[];
  /** URL by material id */
  urls: Record<string, string>;
  dir: string;
  signal: AbortSignal;
  /** per-file time limit, milliseconds */
  timeoutMs: number;
}): Promise<Record<string, string>> {
  await mkdir(a.dir, { recursive: true });
  const byId = new Map(a.materials.map((m) => [m.id, m]));
  const files: Record<string, string> = {};
  await Promise.all(
    a.ids.map(async (id, i) => {
      const material = byId.get(id);
      const file = path.join(a.dir, `${i}-${material?.type ?? 'media'}${extensionOf(material)}`);
      await downloadTo({ id, url: a.urls[id], file, signal: a.signal, timeoutMs: a.timeoutMs });
      files[id] = file;
    }),
  );
  return files;
}

async function downloadTo(a: { id: string; url: string; file: string; signal: AbortSignal; timeoutMs: number }): Promise<void> {
  const signal = AbortSignal.any([a.signal, AbortSignal.timeout(a.timeoutMs)]);
  // The query string of a presigned URL is a credential: never in messages or logs.
  const where = redactUrl(a.url);
  try {
    const res = await fetch(a.url, { signal });
    if (!res.ok || !res.body) {
      await res.body?.cancel();
      throw new MediaDownloadError(`Material "${a.id}" could not be downloaded from ${where}: HTTP ${res.status}.`, res.status);
    }
    await pipeline(Readable.fromWeb(res.body as unknown as NodeReadableStream<Uint8Array>), createWriteStream(a.file), { signal });
  } catch (error: unknown) {
    if (error instanceof MediaDownloadError || a.signal.aborted) throw error;
    throw new MediaDownloadError(`Material "${a.id}" could not be downloaded from ${where}: ${errorMessage(error)}`, undefined, { cause: error });
  }
}

function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.origin}${u.pathname}`;
  } catch {
    return '(invalid URL)';
  }
}
