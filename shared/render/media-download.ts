/**
 * Fetching a render's media from their URLs, and the failure handling every exporter shares: the
 * error a failed download throws, the one decision whether a failed export may pass on a new
 * attempt, and the sentence a job reports when it fails. Used by the embedded export service and
 * by the in-process `builtin` exporter of the AWS export worker.
 */
import { createWriteStream } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as NodeReadableStream } from 'node:stream/web';
import type { DraftMaterial } from '../draft/draft.js';
import { errorMessage } from '../errors.js';
import { InvalidDraftError, RenderFailedError } from './render-errors.js';

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

/**
 * Whether a failed export may pass if the same task is submitted again (fresh URLs, a passing
 * fault) — the one place that decides; anything it does not name is terminal.
 */
export function isRetryableExportError(error: unknown): boolean {
  if (error instanceof MediaDownloadError) {
    // no answer at all (network error, timeout): the next attempt may get through
    if (error.status === undefined) return true;
    // a server fault: it may pass
    if (error.status >= 500) return true;
    // an expired presigned URL: the next attempt brings fresh URLs
    if (error.status === 403) return true;
    // request timeout or throttling: time fixes it
    if (error.status === 408 || error.status === 429) return true;
    // any other answer (404, 400, …): the same URL answers the same way again
    return false;
  }
  // ffmpeg killed by the system (out of memory): the same input can pass on a calmer machine or a fresh instance
  if (error instanceof RenderFailedError) return error.exitSignal !== null;
  // an invalid draft, media ffmpeg rejects, a full disk: the same job fails the same way again
  return false;
}

/** A human sentence for a failed job's `error` field: no stack, no URL signature. */
export function exportFailureMessage(error: unknown): string {
  if (error instanceof RenderFailedError) return `The render failed: ${error.message}`;
  if (error instanceof MediaDownloadError || error instanceof InvalidDraftError) return error.message;
  return `The export failed: ${errorMessage(error)}`;
}

const EXTENSIONS: Record<string, string> = {
  'audio/wav': '.wav', 'audio/x-wav': '.wav', 'audio/wave': '.wav', 'audio/mpeg': '.mp3', 'audio/mp4': '.m4a', 'audio/aac': '.aac',
  'image/png': '.png', 'image/jpeg': '.jpg', 'image/webp': '.webp', 'application/x-subrip': '.srt',
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
