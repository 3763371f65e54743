import { errorMessage } from '../errors.js';
import {
  ExportJobLostError,
  ExporterBusyError,
  ExporterUnavailableError,
  type ExportJob,
  type ExportJobStatus,
  type Exporter,
} from './exporter.js';

/** Client of an export service speaking the asynchronous job contract over HTTP (`EXPORT_VIDEO_URL`). */
export class HttpExporter implements Exporter {
  constructor(private readonly baseUrl: string) {}

  private url(path: string): string {
    return `${this.baseUrl.replace(/\/+$/, '')}${path}`;
  }

  private async call(path: string, init: RequestInit): Promise<Response> {
    try {
      return await fetch(this.url(path), init);
    } catch (error: unknown) {
      if (init.signal?.aborted) throw error;
      throw new ExporterUnavailableError(`The export service at ${this.baseUrl} cannot be reached: ${errorMessage(error)}`, { cause: error });
    }
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
    throw new Error(`The export service refused the job (${res.status}): ${text}`);
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

  async video(taskId: string, signal?: AbortSignal): Promise<Uint8Array> {
    const res = await this.call(`/jobs/${encodeURIComponent(taskId)}/video`, { signal });
    if (res.status >= 500) throw new ExporterUnavailableError(`The export service answered ${res.status} for the video.`);
    if (!res.ok) throw new Error(`The export service answered ${res.status} for the video: ${await res.text()}`);
    return new Uint8Array(await res.arrayBuffer());
  }

  async cancel(taskId: string): Promise<void> {
    const res = await this.call(`/jobs/${encodeURIComponent(taskId)}`, { method: 'DELETE' });
    await res.text();
  }
}
