import type { Readable } from 'node:stream';
import type { Draft } from '../draft/draft.js';

/** One export job: the draft and a fetchable URL for each material it references. */
export interface ExportJob {
  draft: Draft;
  media: Record<string, string>;
  /**
   * For exporters that open the editor's draft folder (the JianYing box): a short-lived URL of a
   * gzipped tar of it. Unpack it; media paths inside start with JianYing's draft-path placeholder,
   * which the exporter rewrites to the unpacked folder.
   */
  editor_draft?: { format: string; folder: string; archive_url: string };
}

/** A job's state. The builtin exporter's job is `running` from the accepted submit until it ends; `queued` is for exporters with a queue of their own. */
export type ExportJobState = 'queued' | 'running' | 'succeeded' | 'failed' | 'cancelled';

/** A job as every exporter reports it (the body of the export service's `GET /jobs/{task_id}`). */
export interface ExportJobStatus {
  task_id: string;
  state: ExportJobState;
  /** ISO 8601 */
  started_at?: string;
  /** ISO 8601; null while running */
  ended_at?: string | null;
  /** why it failed, a sentence (set when failed) */
  error?: string;
  /** class of the failure, e.g. `MediaDownloadError`, `RenderFailedError`, `InvalidDraftError` (set when failed) */
  error_name?: string;
  /** set on failure: whether a new attempt of the same task may succeed (fresh URLs, a passing fault) */
  retryable?: boolean;
  /** render wall time (set when succeeded) */
  render_ms?: number;
  /** size of the mp4 (set when succeeded) */
  video_bytes?: number;
}

/** A rendered video as the exporter hands it over. */
export interface ExportedVideo {
  /** the mp4's bytes; whoever receives it reads it to the end or destroys it */
  body: Readable;
  /** its length in bytes when the exporter states it (Content-Length); unknown otherwise */
  contentLength?: number;
}

/**
 * The asynchronous export contract (docs/architecture.md, "Export service contract"): submit, poll,
 * download, cancel. The HTTP client drives a remote exporter; the AWS deployment can also
 * render in-process behind the same interface.
 */
export interface Exporter {
  /** Submits the job (idempotent per task id). Resolves once accepted. */
  submit(taskId: string, job: ExportJob, signal?: AbortSignal): Promise<void>;
  /**
   * The job's state, waiting up to `waitSeconds` for it to leave `running`. Throws
   * {@link ExportJobLostError} when the exporter has no such job (HTTP: 404) — after an accepted
   * submit that means it restarted, and the caller submits again.
   */
  status(taskId: string, waitSeconds: number, signal?: AbortSignal): Promise<ExportJobStatus>;
  /** The rendered mp4, as a stream read once (a video never has to fit in memory). */
  video(taskId: string, signal?: AbortSignal): Promise<ExportedVideo>;
  /** Cancels the job; a job that is not running is left as it is. */
  cancel(taskId: string): Promise<void>;
}

/** The exporter cannot be reached (connection refused, DNS, 5xx other than busy): an outage, not a task failure. */
export class ExporterUnavailableError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ExporterUnavailableError';
  }
}

/** The exporter is rendering another task (503). */
export class ExporterBusyError extends Error {
  readonly retryAfterSeconds: number;
  constructor(message: string, retryAfterSeconds: number) {
    super(message);
    this.name = 'ExporterBusyError';
    this.retryAfterSeconds = retryAfterSeconds;
  }
}

/**
 * The exporter refused the worker's credentials (401/403), or the secret cannot be read. An
 * `ExporterUnavailableError`: the task waits in the queue until the secret is fixed, as in an
 * outage, instead of failing every task over one setting.
 */
export class ExporterAuthError extends ExporterUnavailableError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ExporterAuthError';
  }
}

/**
 * The exporter has no record of a job it accepted earlier (it restarted, or evicted the job):
 * not a failure of the task — the worker submits the job again.
 */
/**
 * The exporter refused the job itself (a 4xx to the submit: a draft it cannot take). The same
 * job would be refused again, so the attempt fails at once with the exporter's reason instead of
 * being submitted forever.
 */
export class ExportJobRejectedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ExportJobRejectedError';
  }
}

export class ExportJobLostError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ExportJobLostError';
  }
}
