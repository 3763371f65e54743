/**
 * An {@link Exporter} that renders in its own process with {@link renderDraft} (the static ffmpeg
 * and the Noto Sans SC fonts), ONE render at a time. It is the job table of both worlds: the AWS
 * export worker uses it directly with the `builtin` exporter (so `cdk deploy` alone yields real
 * videos), and the embedded export service is an HTTP face over it.
 *
 * A job's life, and what stays on disk (`<workRoot>/<task>/`):
 *
 *   claim ──▶ running: media → <dir>/media, scratch → <dir>/render, mp4 → <dir>/video.mp4
 *               │ (both scratch folders go as soon as the render ends, whatever the outcome)
 *               ├──▶ succeeded: the video stays for `video()` — a new attempt of the same task
 *               │               (its first store failed) gets it again without a second render
 *               ├──▶ failed:    the folder goes at once (no video worth keeping)
 *               └──▶ cancelled: likewise
 *
 * When a new job starts, the oldest finished jobs are forgotten and their folders removed, so that
 * at most `keepJobs` are kept, the new one included: 1 on Lambda, which keeps /tmp between
 * invocations of one instance, so at most one video is kept there. The table lives in memory: a restarted process has no jobs, and
 * answers {@link ExportJobLostError} (HTTP 404) — the worker then submits the job again.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { createLogger, type Logger } from '../logger.js';
import { downloadMedia } from '../render/media-download.js';
import { renderDraft } from '../render/render-draft.js';
import { InvalidDraftError } from '../render/render-errors.js';
import { materialIdsNeedingMedia } from '../render/render-media.js';
import { settledOrTimeout } from '../wait.js';
import { exportFailureMessage, isRetryableExportError } from './export-failure.js';
import {
  ExportJobLostError,
  ExporterBusyError,
  ExporterUnavailableError,
  type ExportedVideo,
  type ExportJob,
  type ExportJobState,
  type ExportJobStatus,
  type Exporter,
} from './exporter.js';

/** Options of {@link BuiltinExporter}. */
export interface BuiltinExporterOptions {
  /** scratch root; one folder per job below it (on Lambda: under /tmp) */
  workRoot: string;
  /** jobs (and their videos) kept, the running one included; when a job starts, the oldest finished go. Default 1. */
  keepJobs?: number;
  /** the renderer; tests swap it */
  render?: typeof renderDraft;
  /** binaries; default the ones the renderer resolves from `@ffmpeg-installer` / `@ffprobe-installer` */
  ffmpegPath?: string;
  ffprobePath?: string;
  /** x264 preset (renderer default `veryfast`) */
  preset?: string;
  /** output frame rate (renderer default: the canvas fps, at most 15) */
  fps?: number;
  /** per-file media download time limit, ms (default 120 000) */
  downloadTimeoutMs?: number;
  log?: Logger;
}

/** A job as this exporter reports it: always with its start, and `ended_at` null while running. */
export type BuiltinJobStatus = ExportJobStatus & { started_at: string; ended_at: string | null };

/** One run of one task, in the order runs started. */
export interface ExportRunSummary {
  task_id: string;
  /** exporter-wide run number, 1-based */
  run: number;
  state: ExportJobState;
  started_at: string;
  ended_at: string | null;
}

/** The exporter's own accounting (the embedded export service's `GET /stats`). */
export interface BuiltinExporterStats {
  renders_started: number;
  renders_completed: number;
  /** jobs that ended failed (in download or render) */
  jobs_failed: number;
  /** jobs that ended cancelled */
  jobs_cancelled: number;
  /** high-water mark of renders in flight at once: 1 for a healthy single-slot exporter */
  max_concurrent_renders: number;
  /** total wall time spent inside renders, milliseconds */
  busy_ms: number;
  running_task_id: string | null;
  /** the most recent runs (at most {@link RUN_HISTORY_LIMIT}), oldest first */
  jobs: ExportRunSummary[];
}

/** What {@link BuiltinExporter.claim} did with a job. */
export type ClaimOutcome =
  /** a new run started (`accepted`), or the task already has this draft running or rendered (`existing`) */
  | { outcome: 'accepted' | 'existing'; job: BuiltinJobStatus }
  /** the task already has a running or rendered export of a different draft */
  | { outcome: 'conflict'; job: BuiltinJobStatus }
  /** another task holds the render slot */
  | { outcome: 'busy'; runningTaskId: string; retryAfterSeconds: number }
  /** {@link BuiltinExporter.close} was called */
  | { outcome: 'closing' };

/** Runs kept in {@link BuiltinExporterStats.jobs}. */
export const RUN_HISTORY_LIMIT = 1000;
/** How long a cancel waits for the renderer to exit (ffmpeg is killed with SIGKILL; bounded in case a renderer ignores the signal). */
const CANCEL_WAIT_MS = 15_000;

interface Job {
  taskId: string;
  run: number;
  state: ExportJobState;
  startedAt: number;
  endedAt: number | null;
  draftHash: string;
  durationUs: number;
  dir: string;
  videoPath: string;
  controller: AbortController;
  /** settles when the job has left `running` and released the slot */
  done: Promise<void>;
  summary: ExportRunSummary;
  failure?: { name: string; message: string; retryable: boolean };
  renderMs?: number;
  videoBytes?: number;
}

/** Renders one job at a time in this process (see the file comment). */
export class BuiltinExporter implements Exporter {
  private readonly jobs = new Map<string, Job>();
  private readonly history: ExportRunSummary[] = [];
  private current: Job | null = null;
  private runCounter = 0;
  private activeRenders = 0;
  private closing = false;
  /** removals of evicted job folders; a new run waits for them before it writes */
  private evictions: Promise<void> = Promise.resolve();
  private readonly counters = { renders_started: 0, renders_completed: 0, jobs_failed: 0, jobs_cancelled: 0, max_concurrent_renders: 0, busy_ms: 0 };
  /** render wall time per media time of the successful renders, for the busy answer's retry hint */
  private readonly speed = { renderMs: 0, mediaMs: 0 };
  private readonly render: typeof renderDraft;
  private readonly log: Logger;

  constructor(private readonly options: BuiltinExporterOptions) {
    this.render = options.render ?? renderDraft;
    this.log = options.log ?? createLogger({ stage: 'export', component: 'builtin-exporter' });
  }

  /**
   * Takes the render slot for `taskId` when it is free, synchronously — no await between the
   * check and the claim, so two callers can never both start a render. Idempotent per task id:
   * the same draft again is the same job.
   */
  claim(taskId: string, spec: ExportJob): ClaimOutcome {
    const draftHash = createHash('sha256').update(JSON.stringify(spec.draft)).digest('hex');
    const existing = this.jobs.get(taskId);
    if (existing && (existing.state === 'running' || existing.state === 'succeeded')) {
      return { outcome: existing.draftHash === draftHash ? 'existing' : 'conflict', job: view(existing) };
    }
    if (this.closing) return { outcome: 'closing' };
    if (this.current) return { outcome: 'busy', runningTaskId: this.current.taskId, retryAfterSeconds: this.retryAfterSeconds(this.current) };

    const run = ++this.runCounter;
    const dir = path.join(this.options.workRoot, jobFolderName(taskId));
    let release: () => void = () => {};
    const done = new Promise<void>((resolve) => (release = resolve));
    const startedAt = Date.now();
    const summary: ExportRunSummary = { task_id: taskId, run, state: 'running', started_at: new Date(startedAt).toISOString(), ended_at: null };
    const job: Job = {
      taskId,
      run,
      state: 'running',
      startedAt,
      endedAt: null,
      draftHash,
      durationUs: spec.draft.duration_us,
      dir,
      videoPath: path.join(dir, 'video.mp4'),
      controller: new AbortController(),
      done,
      summary,
    };
    // An earlier run of the same task (failed or cancelled) is replaced; its folder is the new one's.
    this.jobs.set(taskId, job);
    this.evictFinishedJobs();
    this.current = job;
    this.history.push(summary);
    if (this.history.length > RUN_HISTORY_LIMIT) this.history.splice(0, this.history.length - RUN_HISTORY_LIMIT);
    if (spec.draft.task_id !== taskId) this.log.warn('draft task_id differs from the job id', { task_id: taskId, draft_task_id: spec.draft.task_id });
    this.log.info('export accepted', { task_id: taskId, run, duration_us: spec.draft.duration_us });
    void this.runJob(job, spec).finally(release);
    return { outcome: 'accepted', job: view(job) };
  }

  // eslint-disable-next-line @typescript-eslint/require-await -- the Exporter port is async; claiming a job in process is not
  async submit(taskId: string, job: ExportJob): Promise<void> {
    const claimed = this.claim(taskId, job);
    if (claimed.outcome === 'busy') throw new ExporterBusyError(`This worker is rendering task ${claimed.runningTaskId}.`, claimed.retryAfterSeconds);
    if (claimed.outcome === 'closing') throw new ExporterUnavailableError('This exporter is shutting down.');
    // `conflict` included: the task's export is already running or rendered, as in `existing`.
  }

  /** The job's state now, or undefined when this exporter has no job for the task. */
  find(taskId: string): BuiltinJobStatus | undefined {
    const job = this.jobs.get(taskId);
    return job && view(job);
  }

  async status(taskId: string, waitSeconds: number, signal?: AbortSignal): Promise<BuiltinJobStatus> {
    const job = this.jobs.get(taskId);
    if (!job) {
      // A new instance, or the job was evicted: the same answer as the HTTP service's 404, so the
      // worker submits it again within this attempt.
      throw new ExportJobLostError(`This worker has no export job for task ${taskId} (it was restarted).`);
    }
    if (job.state === 'running' && waitSeconds > 0) await settledOrTimeout(job.done, waitSeconds * 1000, signal);
    return view(this.jobs.get(taskId) ?? job);
  }

  async video(taskId: string): Promise<ExportedVideo> {
    const job = this.jobs.get(taskId);
    if (!job || job.state !== 'succeeded') {
      throw new Error(`No rendered video for task ${taskId} (${job ? job.state : 'no such job'}).`);
    }
    const { size } = await stat(job.videoPath);
    return { body: createReadStream(job.videoPath), contentLength: size };
  }

  async cancel(taskId: string): Promise<void> {
    await this.cancelJob(taskId);
  }

  /**
   * Cancels the task's job if it runs, and answers once the renderer has exited (the slot is
   * free then). Undefined when this exporter has no job for the task.
   */
  async cancelJob(taskId: string): Promise<BuiltinJobStatus | undefined> {
    const job = this.jobs.get(taskId);
    if (!job) return undefined;
    if (job.state === 'running') {
      this.log.info('export cancel requested', { task_id: taskId, run: job.run });
      job.controller.abort();
      await settledOrTimeout(job.done, CANCEL_WAIT_MS);
    }
    return view(job);
  }

  /** The accounting since this exporter was created. */
  stats(): BuiltinExporterStats {
    return { ...this.counters, running_task_id: this.current?.taskId ?? null, jobs: this.history.map((s) => ({ ...s })) };
  }

  /** Refuses new jobs, cancels the running one and resolves once it has ended. */
  async close(): Promise<void> {
    this.closing = true;
    const running = this.current;
    if (running) {
      running.controller.abort();
      await running.done;
    }
  }

  /** Seconds until the slot is likely free, from the speed of the renders so far (1 … 30). */
  private retryAfterSeconds(job: Job): number {
    const ratio = this.speed.mediaMs > 0 ? this.speed.renderMs / this.speed.mediaMs : 0.5;
    const expectedMs = (job.durationUs / 1000) * ratio + 2000;
    return Math.min(30, Math.max(1, Math.ceil((expectedMs - (Date.now() - job.startedAt)) / 1000)));
  }

  private evictFinishedJobs(): void {
    // the running job counts: it is the newest of the `keepJobs`
    const keep = Math.max(1, this.options.keepJobs ?? 1) - 1;
    const finished = [...this.jobs.values()].filter((j) => j.state !== 'running').sort((a, b) => (a.endedAt ?? 0) - (b.endedAt ?? 0));
    for (const job of finished.slice(0, Math.max(0, finished.length - keep))) {
      this.jobs.delete(job.taskId);
      this.evictions = this.evictions
        .then(() => rm(job.dir, { recursive: true, force: true }))
        .catch((error: unknown) => this.log.warn('evicting an old export job failed', { error, task_id: job.taskId }));
    }
  }

  private async runJob(job: Job, spec: ExportJob): Promise<void> {
    const log = this.log.child({ task_id: job.taskId, stage: 'export', run: job.run });
    const [mediaDir, renderDir] = [path.join(job.dir, 'media'), path.join(job.dir, 'render')];
    try {
      await this.evictions;
      await rm(job.dir, { recursive: true, force: true });
      const missing = materialIdsNeedingMedia(spec.draft).filter((id) => !spec.media[id]);
      if (missing.length) throw new InvalidDraftError(`No media URL for material(s) ${missing.map((m) => `"${m}"`).join(', ')}.`);
      const media = await downloadMedia({
        materials: spec.draft.materials,
        ids: materialIdsNeedingMedia(spec.draft),
        urls: spec.media,
        dir: mediaDir,
        signal: job.controller.signal,
        timeoutMs: this.options.downloadTimeoutMs ?? 120_000,
      });
      await this.renderJob(job, spec, media, renderDir, log);
      job.videoBytes = (await stat(job.videoPath)).size;
      job.state = 'succeeded';
      this.counters.renders_completed++;
      log.info('export succeeded', { render_ms: job.renderMs, video_bytes: job.videoBytes });
    } catch (error: unknown) {
      if (job.controller.signal.aborted) {
        job.state = 'cancelled';
        this.counters.jobs_cancelled++;
        log.info('export cancelled');
      } else {
        job.state = 'failed';
        this.counters.jobs_failed++;
        job.failure = { name: error instanceof Error ? error.name : 'Error', message: exportFailureMessage(error), retryable: isRetryableExportError(error) };
        log.warn('export failed', { error, retryable: job.failure.retryable });
      }
      await rm(job.dir, { recursive: true, force: true }).catch(() => undefined);
    } finally {
      // Nothing here may throw: the slot must be released whatever happens.
      await Promise.all([mediaDir, renderDir].map((dir) => rm(dir, { recursive: true, force: true }))).catch((error: unknown) =>
        log.warn('removing the job scratch folders failed', { error }),
      );
      job.endedAt = Date.now();
      job.summary.state = job.state;
      job.summary.ended_at = new Date(job.endedAt).toISOString();
      if (this.current === job) this.current = null;
    }
  }

  /** The render itself, counted: the accounting proves no two ever overlap. */
  private async renderJob(job: Job, spec: ExportJob, media: Record<string, string>, workDir: string, log: Logger): Promise<void> {
    this.counters.renders_started++;
    this.activeRenders++;
    this.counters.max_concurrent_renders = Math.max(this.counters.max_concurrent_renders, this.activeRenders);
    const renderStart = Date.now();
    let renderMs: number;
    try {
      const result = await this.render({
        draft: spec.draft,
        media,
        outputPath: job.videoPath,
        workDir,
        signal: job.controller.signal,
        preset: this.options.preset,
        fps: this.options.fps,
        ffmpegPath: this.options.ffmpegPath,
        ffprobePath: this.options.ffprobePath,
        log: (msg, data) => log.debug(msg, { ...data }),
      });
      job.renderMs = result.render_ms;
    } finally {
      this.activeRenders--;
      renderMs = Date.now() - renderStart;
      this.counters.busy_ms += renderMs;
    }
    this.speed.renderMs += renderMs;
    this.speed.mediaMs += job.durationUs / 1000;
  }
}

/**
 * The job's folder name: the task id when it is already safe for a file name, else a sanitized
 * form with a hash of the id (so two ids that sanitize alike never share a folder).
 */
function jobFolderName(taskId: string): string {
  const safe = taskId.replace(/[^A-Za-z0-9_-]/g, '_').slice(0, 64);
  if (safe === taskId) return safe;
  return `${safe.slice(0, 55)}-${createHash('sha256').update(taskId).digest('hex').slice(0, 8)}`;
}

function view(job: Job): BuiltinJobStatus {
  return {
    task_id: job.taskId,
    state: job.state,
    started_at: new Date(job.startedAt).toISOString(),
    ended_at: job.endedAt === null ? null : new Date(job.endedAt).toISOString(),
    ...(job.failure ? { error: job.failure.message, error_name: job.failure.name, retryable: job.failure.retryable } : {}),
    ...(job.state === 'succeeded' ? { render_ms: job.renderMs, video_bytes: job.videoBytes } : {}),
  };
}
