import { createHash } from 'node:crypto';
import { resolve } from 'node:path';
import type { RunRequest } from '../shared/request.js';
import { ApiError, type ApiClient } from './api-client.js';
import { UPLOAD_FIELDS } from './batch-file.js';
import { uploadSourceMedia, type MediaFolder, type UploadedFile } from './media-upload.js';
import { validateRunRequest } from './request-fields.js';
import { pause } from './task-files.js';

/** A request ready to send: the body as given, the files to upload first, its idempotency key. */
export interface Submission {
  body: Record<string, unknown>;
  request: RunRequest;
  uploads: Array<{ folder: MediaFolder; path: string }>;
  idempotencyKey?: string;
}

export type SubmitOutcome =
  | { kind: 'accepted'; task_id: string; status: string; replayed: boolean; uploads: UploadedFile[] }
  | { kind: 'duplicate'; task_id: string; message: string }
  | { kind: 'refused'; code: string; message: string };

/** JSON with every object's keys sorted: equal content, equal text. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

/** The idempotency key of a request's content: `reel-` and the sha256 of its canonical JSON. */
export const contentIdempotencyKey = (value: Record<string, unknown>) => `reel-${createHash('sha256').update(canonicalJson(value)).digest('hex')}`;

/**
 * Splits a line (or the flags of `reel submit`) into the request body and the files to upload,
 * and validates the body with the API's schema (throws its `InvalidRequestError`). Upload paths
 * are relative to `baseDir` (the batch file's folder).
 */
export function prepareSubmission(value: Record<string, unknown>, o: { baseDir: string; idempotent: boolean; idempotencyKey?: string }): Submission {
  const body: Record<string, unknown> = {};
  const uploads: Submission['uploads'] = [];
  for (const [k, v] of Object.entries(value)) {
    const folder = (UPLOAD_FIELDS as Record<string, MediaFolder>)[k];
    if (!folder) {
      body[k] = v;
      continue;
    }
    const paths = Array.isArray(v) ? v : [v];
    for (const p of paths) {
      if (typeof p !== 'string' || !p) throw new TypeError(`${k} must be a path or a list of paths`);
      uploads.push({ folder, path: resolve(o.baseDir, p) });
    }
  }
  const request = validateRunRequest(body);
  const idempotencyKey = o.idempotencyKey ?? (o.idempotent ? contentIdempotencyKey(value) : undefined);
  return { body, request, uploads, ...(idempotencyKey ? { idempotencyKey } : {}) };
}

/** How long a submission waits for another request with the same key to finish being submitted. */
const IN_PROGRESS_RETRIES = 40;
const IN_PROGRESS_PAUSE_MS = 250;
/** 503s (`export_backlog_full`, `start_failed`) are retried this often, waiting their `Retry-After` (capped). */
const UNAVAILABLE_RETRIES = 3;
const MAX_RETRY_AFTER_MS = 15_000;

/**
 * Uploads the submission's files, then `POST /api/pipeline/run`. A 409 `duplicate_task` is the
 * holder's task id; a 409 `request_in_progress` (the same key being submitted right now — e.g. two
 * identical lines of one batch) and a 503 with `Retry-After` are waited out a bounded number of
 * times; every other refusal is returned with the API's code and sentence.
 */
export async function sendSubmission(client: ApiClient, s: Submission, o: { signed: boolean }): Promise<SubmitOutcome> {
  const uploads: UploadedFile[] = [];
  try {
    for (const u of s.uploads) {
      uploads.push(
        await uploadSourceMedia(client, { creatorId: s.request.creator_id, videoId: s.request.video_id, folder: u.folder, path: u.path, signed: o.signed }),
      );
    }
  } catch (error: unknown) {
    if (error instanceof ApiError) return { kind: 'refused', code: error.code, message: error.message };
    if ((error as NodeJS.ErrnoException).code === 'ENOENT')
      return { kind: 'refused', code: 'file_not_found', message: `No such file: ${(error as { path?: string }).path}.` };
    throw error;
  }
  const headers = s.idempotencyKey ? { 'idempotency-key': s.idempotencyKey } : undefined;
  let inProgress = 0;
  let unavailable = 0;
  for (;;) {
    try {
      const answer = await client.call('POST', 'api/pipeline/run', { json: s.body, headers });
      return {
        kind: 'accepted',
        task_id: String(answer.json.task_id),
        status: String(answer.json.status),
        replayed: answer.headers['idempotent-replayed'] === 'true',
        uploads,
      };
    } catch (error: unknown) {
      if (!(error instanceof ApiError)) throw error;
      if (error.code === 'duplicate_task' && typeof error.body.task_id === 'string')
        return { kind: 'duplicate', task_id: error.body.task_id, message: error.message };
      if (error.code === 'request_in_progress' && inProgress++ < IN_PROGRESS_RETRIES) {
        await pause(IN_PROGRESS_PAUSE_MS);
        continue;
      }
      const retryAfter = Number(error.body.retry_after_seconds ?? (error.status === 503 ? 5 : NaN));
      if (error.status === 503 && Number.isFinite(retryAfter) && unavailable++ < UNAVAILABLE_RETRIES) {
        await pause(Math.min(retryAfter * 1000, MAX_RETRY_AFTER_MS));
        continue;
      }
      return { kind: 'refused', code: error.code, message: error.message };
    }
  }
}
