/**
 * An {@link Exporter} that renders in the worker's own process with {@link renderDraft} (the
 * static ffmpeg and the Noto Sans SC fonts): what the AWS export worker uses with the `builtin`
 * exporter, so `cdk deploy` alone yields real videos. It speaks the same asynchronous contract
 * as the HTTP export service — submit, poll, download, cancel — with one render slot.
 *
 * Media are fetched from the job's URLs (presigned on AWS) into `<workRoot>/<task>/media`, the
 * video is written to `<workRoot>/<task>/video.mp4`. Media and scratch files go as soon as the
 * render ends; the video stays until the next job starts (a new attempt of the same task — its
 * first store failed — gets it again without a second render), and a failed job's folder goes at
 * once. Lambda keeps /tmp between invocations of one instance, so at most one video is kept.
 */
import { createReadStream } from 'node:fs';
import { rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { createLogger, type Logger } from '../logger.js';
import { downloadMedia, exportFailureMessage, isRetryableExportError } from '../render/media-download.js';
import { renderDraft } from '../render/render-draft.js';
import { InvalidDraftError } from '../render/render-errors.js';
import { materialIdsNeedingMedia } from '../render/render-media.js';
import { ExportJobLostError, ExporterBusyError, type ExportedVideo, type ExportJob, type ExportJobStatus, type Exporter } from './exporter.js';
import { settledOrTimeout } from '../wait.js';

/** Kept under this module's names for its importers; defined in `shared/render/media-download.ts`. */
export { downloadMedia, isRetryableExportError as isRetryableRenderError, MediaDownloadError } from '../render/media-download.js';

export interface BuiltinExporterOptions {
  /** scratch root; one folder per job below it (on Lambda: under /tmp) */
  workRoot: string;
  /** the renderer; tests swap it */
  render?: typeof renderDraft;
  /** binaries; default the ones the renderer resolves from `@ffmpeg-installer` / `@ffprobe-installer` */
  ffmpegPath?: string;
  ffprobePath?: string;
  /** x264 preset (renderer default `veryfast`) */
  preset?: string;
  /** per-file media download time limit, ms (default 120 000) */
  downloadTimeoutMs?: number;
  log?: Logger;
}

type JobState = 'running' | 'succeeded' | 'failed' | 'cancelled';

interface Job {
  taskId: string;
  state: JobState;
  startedAt: Date;
  endedAt?: Date;
  error?: string;
  retryable?: boolean;
  dir: string;
  videoPath: string;
  controller: AbortController;
  /** settles when the job has left `running` */
  done: Promise<void>;
}

/** Renders one job at a time in this process (see the file comment). */
export class BuiltinExporter implements Exporter {
  private job: Job | undefined;
  private readonly render: typeof renderDraft;
  private readonly log: Logger;

  constructor(private readonly options: BuiltinExporterOptions) {
    this.render = options.render ?? renderDraft;
    this.log = options.log ?? createLogger({ stage: 'export', component: 'builtin-exporter' });
  }

  async submit(taskId: string, job: ExportJob): Promise<void> {
    const current = this.job;
    if (current?.taskId === taskId && (current.state === 'running' || current.state === 'succeeded')) return;
    if (current?.state === 'running') throw new ExporterBusyError(`This worker is rendering task ${current.taskId}.`, 5);
    const missing = materialIdsNeedingMedia(job.draft).filter((id) => !job.media[id]);
    if (current) await rm(current.dir, { recursive: true, force: true });

    const dir = path.join(this.options.workRoot, taskId.replace(/[^A-Za-z0-9_-]/g, '_').slice(0, 64));
    await rm(dir, { recursive: true, force: true });
    let settle: () => void = () => {};
    const next: Job = {
      taskId,
      state: 'running',
      startedAt: new Date(),
      dir,
      videoPath: path.join(dir, 'video.mp4'),
      controller: new AbortController(),
      done: new Promise<void>((resolve) => (settle = resolve)),
    };
    this.job = next;
    void this.run(next, job, missing).finally(() => settle());
  }

  async status(taskId: string, waitSeconds: number, signal?: AbortSignal): Promise<ExportJobStatus> {
    const job = this.job;
    if (!job || job.taskId !== taskId) {
      // A new instance, or the job was replaced: the same answer as the HTTP service's 404, so the
      // worker submits it again within this attempt.
      throw new ExportJobLostError(`This worker has no export job for task ${taskId} (it was restarted).`);
    }
    if (job.state === 'running' && waitSeconds > 0) await settledOrTimeout(job.done, waitSeconds * 1000, signal);
    return view(job);
  }

  async video(taskId: string): Promise<ExportedVideo> {
    const job = this.job;
    if (!job || job.taskId !== taskId || job.state !== 'succeeded') {
      throw new Error(`No rendered video for task ${taskId} (${job?.taskId === taskId ? job.state : 'no such job'}).`);
    }
    const { size } = await stat(job.videoPath);
    return { body: createReadStream(job.videoPath), contentLength: size };
  }

  async cancel(taskId: string): Promise<void> {
    const job = this.job;
    if (!job || job.taskId !== taskId || job.state !== 'running') return;
    job.controller.abort();
    // ffmpeg is killed with SIGKILL; bounded in case a renderer ignores the signal.
    await settledOrTimeout(job.done, 15_000);
  }

  private async run(job: Job, spec: ExportJob, missing: string[]): Promise<void> {
    const log = this.log.child({ task_id: job.taskId });
    try {
      if (missing.length) throw new InvalidDraftError(`No media URL for material(s) ${missing.map((m) => `"${m}"`).join(', ')}.`);
      const media = await downloadMedia({
        materials: spec.draft.materials,
        ids: materialIdsNeedingMedia(spec.draft),
        urls: spec.media,
        dir: path.join(job.dir, 'media'),
        signal: job.controller.signal,
        timeoutMs: this.options.downloadTimeoutMs ?? 120_000,
      });
      const result = await this.render({
        draft: spec.draft,
        media,
        outputPath: job.videoPath,
        workDir: path.join(job.dir, 'render'),
        signal: job.controller.signal,
        preset: this.options.preset,
        ffmpegPath: this.options.ffmpegPath,
        ffprobePath: this.options.ffprobePath,
        log: (msg, data) => log.debug(msg, { ...data }),
      });
      job.state = 'succeeded';
      log.info('render finished in the worker', { ...result });
    } catch (error: unknown) {
      if (job.controller.signal.aborted) {
        job.state = 'cancelled';
        log.info('render cancelled');
      } else {
        job.state = 'failed';
        job.retryable = isRetryableExportError(error);
        job.error = exportFailureMessage(error);
        log.warn('render failed', { error, retryable: job.retryable });
      }
      await rm(job.dir, { recursive: true, force: true }).catch(() => undefined);
    } finally {
      await rm(path.join(job.dir, 'media'), { recursive: true, force: true }).catch(() => undefined);
      await rm(path.join(job.dir, 'render'), { recursive: true, force: true }).catch(() => undefined);
      job.endedAt = new Date();
    }
  }
}

function view(job: Job): ExportJobStatus {
  return {
    task_id: job.taskId,
    state: job.state,
    started_at: job.startedAt.toISOString(),
    ...(job.endedAt ? { ended_at: job.endedAt.toISOString() } : {}),
    ...(job.state === 'failed' ? { error: job.error, retryable: job.retryable } : {}),
  };
}

