import { Readable } from 'node:stream';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { errorMessage } from '../errors.js';
import { exportAuthHeader, type ExportAuthTokenSource } from './export-auth.js';
import {
  ExportJobLostError,
  ExportJobRejectedError,
  ExporterAuthError,
  ExporterBusyError,
  ExporterUnavailableError,
  type ExportedVideo,
  type ExportJob,
  type ExportJobStatus,
  type Exporter,
} from './exporter.js';

/**
 * Client of an export service speaking the asynchronous job contract over HTTP (`EXPORT_VIDEO_URL`).
 * Every request carries the service's shared secret as `Authorization: Bearer …` (see
 * `export-auth.ts`); a 401 or 403 is an {@link ExporterAuthError}, waited out like an outage.
 */
export class HttpExporter implements Exporter {
  private readonly auth: ExportAuthTokenSource;

  /** `auth`: the token itself, or a source that reads it (from Secrets Manager on AWS). */
  constructor(
    private readonly baseUrl: string,
    auth: ExportAuthTokenSource | string,
  ) {
    this.auth = typeof auth === 'string' ? { token: () => Promise.resolve(auth), forget: () => undefined } : auth;
  }

  private url(path: string): string {
    return `${this.baseUrl.replace(/\/+$/, '')}${path}`;
  }

  private async call(path: string, init: RequestInit): Promise<Response> {
    const headers = new Headers(init.headers);
    headers.set('authorization', exportAuthHeader(await this.auth.token()));
    let res: Response;
    try {
      res = await fetch(this.url(path), { ...init, headers });
    } catch (error: unknown) {
      if (init.signal?.aborted) throw error;
      throw new ExporterUnavailableError(`The export service at ${this.baseUrl} cannot be reached: ${errorMessage(error)}`, { cause: error });
    }
    if (res.status === 401 || res.status === 403) {
      // The secret may have been rotated: read it again before the next request.
      this.auth.forget();
      const text = await res.text();
      throw new ExporterAuthError(
        `The export service at ${this.baseUrl} refused the worker's credentials (${res.status}): ${text.slice(0, 300)} — check EXPORT_AUTH_TOKEN or the secret EXPORT_AUTH_SECRET_ARN.`,
      );
    }
    return res;
  }

  async submit(taskId: string, job: ExportJob, signal?: AbortSignal): Promise<void> {
    const res = await this.call(`/jobs/${encodeURIComponent(taskId)}`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(job),
      signal,
    });
    const text = await res.text();
    if (res.status === 202 || res.status === 200) return;
    if (res.status === 503) {
      const retryAfter = Number(res.headers.get('retry-after') ?? '2');
      throw new ExporterBusyError(`The export service is busy: ${text}`, Number.isFinite(retryAfter) ? retryAfter : 2);
    }
    if (res.status >= 500) throw new ExporterUnavailableError(`The export service answered ${res.status}: ${text}`);
    throw new ExportJobRejectedError(`The export service refused the job (${res.status}): ${text.slice(0, 500)}`);
  }

  /** Throws {@link ExportJobLostError} when the service answers 404 (it no longer has the job). */
  async status(taskId: string, waitSeconds: number, signal?: AbortSignal): Promise<ExportJobStatus> {
    const res = await this.call(`/jobs/${encodeURIComponent(taskId)}?wait=${Math.max(0, Math.floor(waitSeconds))}`, { signal });
    const text = await res.text();
    if (res.status >= 500) throw new ExporterUnavailableError(`The export service answered ${res.status}: ${text}`);
    // After an accepted PUT, 404 means the service lost the job (a restart): submit it again.
    if (res.status === 404) throw new ExportJobLostError(`The export service has no job for task ${taskId} (it may have restarted).`);
    if (!res.ok) throw new Error(`The export service answered ${res.status}: ${text}`);
    return JSON.parse(text) as ExportJobStatus;
  }

  async video(taskId: string, signal?: AbortSignal): Promise<ExportedVideo> {
    const res = await this.call(`/jobs/${encodeURIComponent(taskId)}/video`, { signal });
    if (res.status >= 500) {
      await res.body?.cancel().catch(() => undefined);
      throw new ExporterUnavailableError(`The export service answered ${res.status} for the video.`);
    }
    if (!res.ok) throw new Error(`The export service answered ${res.status} for the video: ${await res.text()}`);
    // fetch undoes a Content-Encoding, after which Content-Length no longer counts the bytes read.
    const declared = res.headers.get('content-encoding') ? null : res.headers.get('content-length');
    const length = declared === null ? Number.NaN : Number(declared);
    return {
      body: res.body ? Readable.fromWeb(res.body as WebReadableStream<Uint8Array>) : Readable.from([]),
      ...(Number.isSafeInteger(length) && length >= 0 ? { contentLength: length } : {}),
    };
  }

  async cancel(taskId: string): Promise<void> {
    const res = await this.call(`/jobs/${encodeURIComponent(taskId)}`, { method: 'DELETE' });
    await res.text();
  }
}
