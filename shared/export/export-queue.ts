/**
 * The export queue as an operator sees it, from the task records alone (the same index query as
 * the export admission, {@link loadExportBacklog}): what renders now, what waits on the queue in
 * the order it will render, when each waiting task should start, and how busy the one exporter
 * was over the last hour.
 *
 * ```
 *   now ─┬─ rendering: A (elapsed e) ──┬─ B ───────┬─ C ───────┬─▶
 *        │                             │           │
 *        └ A ends ≈ now + max(0, mean − e)   B starts + mean    C starts + mean
 * ```
 *
 * The order of the waiting tasks is the order their export messages joined the FIFO queue (its
 * one message group renders in that order), which is `stages.export.queued_at`.
 */
import type { Runtime } from '../runtime.js';
import { DEFAULT_DEFINITION_OPTIONS } from '../state-machine.js';
import { queryTasksCreatedSince, type StageRecord, type TaskStatus } from '../task-record.js';
import { estimateExportBacklog } from './export-backlog.js';

/** The window the exporter's utilization is measured over. */
export const UTILIZATION_WINDOW_SECONDS = 3600;

/** The part of a task record the queue view reads. */
export interface ExportQueueTaskView {
  task_id: string;
  creator_id: string;
  video_id: string;
  account_name?: string;
  status: TaskStatus;
  export_video: boolean;
  created_at: string;
  updated_at?: string;
  ended_at?: string;
  stages: { export?: StageRecord };
}

interface QueueEntryBase {
  task_id: string;
  creator_id: string;
  video_id: string;
  account_name?: string;
}

export interface ExportQueueView {
  generated_at: string;
  /** seconds one export holds the exporter: the mean of the last successful ones, or the assumed value */
  mean_export_seconds: number;
  /** successful exports the mean was measured on (0: assumed) */
  mean_samples: number;
  rendering: Array<QueueEntryBase & { started_at: string; attempts: number; elapsed_seconds: number; estimated_end_at: string }>;
  queued: Array<QueueEntryBase & { position: number; queued_at: string; estimated_start_at: string; note?: { code: string; message: string } }>;
  /** RUNNING tasks that will export but are still in story, tts or draft */
  preparing: number;
  utilization: { window_seconds: number; busy_seconds: number; ratio: number };
}

const entry = (t: ExportQueueTaskView): QueueEntryBase => ({
  task_id: t.task_id,
  creator_id: t.creator_id,
  video_id: t.video_id,
  ...(t.account_name !== undefined ? { account_name: t.account_name } : {}),
});

const iso = (ms: number) => new Date(ms).toISOString();

/**
 * The queue view from task records (pure).
 *
 * @example
 * describeExportQueue(tasks, { now: Date.now(), assumedExportSeconds: 120 }).queued[0].estimated_start_at
 */
export function describeExportQueue(tasks: ExportQueueTaskView[], opts: { now: number; assumedExportSeconds: number }): ExportQueueView {
  const { now } = opts;
  const { meanExportSeconds: mean, samples } = estimateExportBacklog(tasks, { assumedExportSeconds: opts.assumedExportSeconds });
  const running = tasks.filter((t) => t.status === 'RUNNING' && t.export_video);
  const rendering = running
    .filter((t) => t.stages.export?.status === 'running' && t.stages.export.started_at)
    .sort((a, b) => Date.parse(a.stages.export!.started_at!) - Date.parse(b.stages.export!.started_at!))
    .map((t) => {
      const started = Date.parse(t.stages.export!.started_at!);
      const elapsed = Math.max(0, (now - started) / 1000);
      return {
        ...entry(t),
        started_at: t.stages.export!.started_at!,
        attempts: t.stages.export!.attempts,
        elapsed_seconds: Math.round(elapsed),
        estimated_end_at: iso(now + Math.max(0, mean - elapsed) * 1000),
      };
    });
  // The slot frees when everything rendering now has had its mean time.
  const slotFreeAt = rendering.reduce((at, r) => at + Math.max(0, mean - r.elapsed_seconds) * 1000, now);
  const queued = running
    .filter((t) => t.stages.export?.status === 'queued')
    .sort((a, b) => (a.stages.export!.queued_at ?? a.created_at).localeCompare(b.stages.export!.queued_at ?? b.created_at))
    .map((t, i) => {
      const note = t.stages.export!.error;
      return {
        ...entry(t),
        position: i + 1,
        queued_at: t.stages.export!.queued_at ?? t.created_at,
        estimated_start_at: iso(slotFreeAt + i * mean * 1000),
        ...(note ? { note: { code: note.code, message: note.message } } : {}),
      };
    });
  const preparing = running.filter((t) => {
    const status = t.stages.export?.status;
    return status === undefined || status === 'pending';
  }).length;
  return {
    generated_at: iso(now),
    mean_export_seconds: Math.round(mean * 10) / 10,
    mean_samples: samples,
    rendering,
    queued,
    preparing,
    utilization: exporterUtilization(tasks, now),
  };
}

/**
 * The share of the last hour the exporter spent rendering: each export's run (started → ended,
 * or → now while it renders; a cancelled or failed task's → its end) clipped to the window. A
 * redriven export counts its latest run only (the record keeps one start).
 */
function exporterUtilization(tasks: ExportQueueTaskView[], now: number): ExportQueueView['utilization'] {
  const windowStart = now - UTILIZATION_WINDOW_SECONDS * 1000;
  let busyMs = 0;
  for (const t of tasks) {
    const exp = t.stages.export;
    if (!exp?.started_at || exp.status === 'queued' || exp.status === 'pending' || exp.status === 'skipped') continue;
    if (exp.details?.reused_existing_video) continue;
    const start = Date.parse(exp.started_at);
    let end: number;
    if (exp.ended_at) end = Date.parse(exp.ended_at);
    else if (t.status === 'RUNNING') end = now;
    else end = Date.parse(t.ended_at ?? t.updated_at ?? '');
    if (!Number.isFinite(start) || !Number.isFinite(end)) continue;
    busyMs += Math.max(0, Math.min(end, now) - Math.max(start, windowStart));
  }
  const busy = Math.min(UTILIZATION_WINDOW_SECONDS, busyMs / 1000);
  return {
    window_seconds: UTILIZATION_WINDOW_SECONDS,
    busy_seconds: Math.round(busy * 10) / 10,
    ratio: Math.round((busy / UTILIZATION_WINDOW_SECONDS) * 10_000) / 10_000,
  };
}

/** Reads the tasks created within the execution timeout (one index query, paged) and describes the queue. */
export async function loadExportQueue(rt: Runtime): Promise<ExportQueueView> {
  const lookbackMs = Math.max(DEFAULT_DEFINITION_OPTIONS.executionTimeoutSeconds, rt.settings.exportTimeoutSeconds, UTILIZATION_WINDOW_SECONDS) * 1000;
  const now = rt.clock.now();
  const since = new Date(now - lookbackMs).toISOString();
  const tasks = await queryTasksCreatedSince<ExportQueueTaskView>(rt, {
    since,
    projection: 'task_id, creator_id, video_id, account_name, #status, export_video, created_at, updated_at, ended_at, stages',
    names: { '#status': 'status' },
  });
  return describeExportQueue(tasks, { now, assumedExportSeconds: rt.settings.exportAssumedSeconds });
}
