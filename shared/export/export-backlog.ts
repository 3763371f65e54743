/**
 * Admission control for exports. There is one export slot (one FIFO message group), and the
 * Export state's timeout counts the time a task waits in the queue as well as its render: a task
 * accepted behind more work than fits in that timeout is doomed before it starts. So the submit
 * path asks {@link ExportBacklogGauge.admit} first and refuses with 503 `export_backlog_full`
 * when the exports already waiting, plus this one, could not finish within the Export timeout at
 * the measured mean export time:
 *
 *   (waiting + 1) × mean export seconds  >  EXPORT_TIMEOUT_SECONDS   →  refuse
 *
 * - waiting: RUNNING tasks that asked for export and whose export has not finished (still in
 *   story/tts/draft, queued, or rendering) — each will hold the slot for about one mean;
 * - mean: the export stage's duration (accepted by the exporter → video stored) over the most
 *   recent successful exports, or EXPORT_ASSUMED_SECONDS while none has been measured.
 *
 * The estimate is one index query of the tasks created within the execution timeout (no RUNNING
 * task is older), cached for EXPORT_BACKLOG_REFRESH_SECONDS; between refreshes each admission
 * counts itself locally, so a burst into one instance cannot slip past a stale count. Several API
 * instances each count only their own burst until their next refresh: the bound is approximate
 * by at most one refresh period of submissions per instance.
 */
import type { Clock } from '../clock.js';
import { PipelineError } from '../errors.js';
import type { Runtime } from '../runtime.js';
import { DEFAULT_DEFINITION_OPTIONS } from '../state-machine.js';
import { queryTasksCreatedSince, type StageRecord, type TaskStatus } from '../task-record.js';

/** Successful exports the mean is taken over (the most recent ones). */
export const EXPORT_MEAN_SAMPLES = 20;

/** The export queue already holds more work than the Export timeout allows. HTTP 503 with Retry-After. */
export class ExportBacklogFullError extends PipelineError {
  readonly retryAfterSeconds: number;
  constructor(message: string, retryAfterSeconds: number) {
    super('export_backlog_full', message);
    this.name = 'ExportBacklogFullError';
    this.retryAfterSeconds = retryAfterSeconds;
  }
}

/** The part of a task record the estimate reads. */
export interface BacklogTaskView {
  status: TaskStatus;
  export_video: boolean;
  stages: { export?: Pick<StageRecord, 'status' | 'started_at' | 'ended_at' | 'details'> };
}

export interface ExportBacklogEstimate {
  /** RUNNING tasks that asked for export and whose export has not finished */
  waiting: number;
  /** seconds one export holds the slot */
  meanExportSeconds: number;
  /** successful exports the mean was measured on (0: the assumed value) */
  samples: number;
}

/**
 * The backlog and mean export time from task records (pure).
 *
 * @example
 * estimateExportBacklog(tasks, { assumedExportSeconds: 120 }) // → { waiting: 3, meanExportSeconds: 41.5, samples: 12 }
 */
export function estimateExportBacklog(tasks: BacklogTaskView[], opts: { assumedExportSeconds: number; maxSamples?: number }): ExportBacklogEstimate {
  let waiting = 0;
  const durations: Array<{ endedAt: number; seconds: number }> = [];
  for (const task of tasks) {
    const exp = task.stages?.export;
    if (task.status === 'RUNNING' && task.export_video && exp?.status !== 'succeeded' && exp?.status !== 'skipped') waiting += 1;
    if (exp?.status !== 'succeeded' || exp.details?.reused_existing_video) continue;
    const started = Date.parse(exp.started_at ?? '');
    const ended = Date.parse(exp.ended_at ?? '');
    if (Number.isFinite(started) && Number.isFinite(ended) && ended >= started) durations.push({ endedAt: ended, seconds: (ended - started) / 1000 });
  }
  const recent = durations.sort((a, b) => b.endedAt - a.endedAt).slice(0, opts.maxSamples ?? EXPORT_MEAN_SAMPLES);
  const meanExportSeconds = recent.length ? recent.reduce((sum, d) => sum + d.seconds, 0) / recent.length : opts.assumedExportSeconds;
  return { waiting, meanExportSeconds, samples: recent.length };
}

/** Reads the tasks created within the execution timeout (one index query, paged) and estimates the backlog. */
export async function loadExportBacklog(rt: Runtime): Promise<ExportBacklogEstimate> {
  const lookbackMs = Math.max(DEFAULT_DEFINITION_OPTIONS.executionTimeoutSeconds, rt.settings.exportTimeoutSeconds) * 1000;
  const since = new Date(rt.clock.now() - lookbackMs).toISOString();
  const tasks = await queryTasksCreatedSince<BacklogTaskView>(rt, { since, projection: '#status, export_video, stages', names: { '#status': 'status' } });
  return estimateExportBacklog(tasks, { assumedExportSeconds: rt.settings.exportAssumedSeconds });
}

/** A place in the export backlog held by one submission; give it back if the submission fails. */
export interface ExportAdmission {
  release(): void;
}

export interface ExportBacklogGaugeOptions {
  clock: Clock;
  load: () => Promise<ExportBacklogEstimate>;
  /** the Export state's timeout (`EXPORT_TIMEOUT_SECONDS`); 0: admit every export */
  exportTimeoutSeconds: number;
  /** how long one estimate is used (`EXPORT_BACKLOG_REFRESH_SECONDS`; 0: every admission reads) */
  refreshSeconds: number;
}

/** The cached backlog estimate of one API instance (see the file comment). */
export class ExportBacklogGauge {
  private estimate: ExportBacklogEstimate | undefined;
  private loadedAt = 0;
  private generation = 0;
  private loading: Promise<ExportBacklogEstimate> | undefined;
  /** admissions since the estimate was loaded (their tasks may not be in it yet) */
  private admittedSinceLoad = 0;

  constructor(private readonly options: ExportBacklogGaugeOptions) {}

  /**
   * Holds a place for one more export, or throws {@link ExportBacklogFullError} when it could
   * not finish within the Export timeout.
   */
  async admit(): Promise<ExportAdmission> {
    if (this.options.exportTimeoutSeconds <= 0) return { release: () => undefined };
    const estimate = await this.current();
    const waiting = estimate.waiting + this.admittedSinceLoad;
    const mean = estimate.meanExportSeconds;
    const limit = this.options.exportTimeoutSeconds;
    if ((waiting + 1) * mean > limit) {
      // The backlog drains one export per mean: wait until enough have left for one more to fit.
      const fits = Math.floor(limit / mean);
      const retryAfter = Math.max(1, Math.ceil((waiting + 1 - fits) * mean));
      throw new ExportBacklogFullError(
        `The export queue is full: ${waiting} video(s) are already waiting to be exported at about ${Math.round(mean)} s each ` +
          `(${estimate.samples ? `measured on the last ${estimate.samples}` : 'assumed; none measured yet'}), and one more could not finish ` +
          `within the export time limit of ${humanSeconds(limit)}. Try again in about ${retryAfter} s, or submit with "export_video": false.`,
        retryAfter,
      );
    }
    this.admittedSinceLoad += 1;
    const generation = this.generation;
    let released = false;
    return {
      release: () => {
        // After a refresh the count no longer includes this admission.
        if (released || generation !== this.generation) return;
        released = true;
        this.admittedSinceLoad = Math.max(0, this.admittedSinceLoad - 1);
      },
    };
  }

  private async current(): Promise<ExportBacklogEstimate> {
    const fresh = this.estimate && this.options.clock.now() - this.loadedAt < this.options.refreshSeconds * 1000;
    if (fresh) return this.estimate!;
    // One read for all the submissions that arrive while it runs.
    this.loading ??= this.options
      .load()
      .then((estimate) => {
        this.estimate = estimate;
        this.loadedAt = this.options.clock.now();
        this.generation += 1;
        this.admittedSinceLoad = 0;
        return estimate;
      })
      .finally(() => (this.loading = undefined));
    return this.loading;
  }
}

/** `45 s`, `30 min`, `7 h`: a limit as a person reads it. */
function humanSeconds(seconds: number): string {
  if (seconds < 120) return `${seconds} s`;
  if (seconds < 2 * 3600) return `${Math.round(seconds / 60)} min`;
  return `${Math.round((seconds / 3600) * 10) / 10} h`;
}
