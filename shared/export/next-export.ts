/**
 * Keeps the exporter busy across a handoff. The export queue has one FIFO message group, so the
 * agent sees message N+1 only after it deleted message N — and it deletes N only once N's video
 * is stored and reported (deleting it earlier would strand the task if the agent then died). So
 * the agent prepares the next job while N renders, from the task records instead of the queue,
 * and hands it to the exporter the moment N's render ends:
 *
 * ```text
 *  exporter   ── N renders ──────────┤── N+1 renders (speculative, then adopted) ──────────
 *  agent      prepare N+1 (query, draft, presign)   │ store N's video, commit, report, delete N
 *                                    submit N+1 ────┘ receive N+1 → same task id = same job
 * ```
 *
 * The next job is the RUNNING task whose export is `queued` with the earliest `queued_at` (the
 * order its message was sent in), other than the one rendering. When message N+1 arrives it goes
 * through every check of the worker as usual; its submit finds the task's job already running
 * (the exporter is idempotent per task id) and adopts it, so the video renders once. A speculative
 * job is cancelled when the next message is another task's, names another draft, is not worth
 * rendering (task not running, lock lost, stale token), or when its task stops running while no
 * message comes. The exporter's single slot keeps zero overlap; a crash leaves the speculative
 * job to be adopted by its message after the restart.
 */
import { getObjectText, presignGet } from '../artifacts.js';
import type { Draft } from '../draft/draft.js';
import { ARTIFACT, taskArtifactKey } from '../keys.js';
import type { Logger } from '../logger.js';
import type { Runtime } from '../runtime.js';
import { DEFAULT_DEFINITION_OPTIONS } from '../state-machine.js';
import { getTask, queryTasksCreatedSince } from '../task-record.js';
import type { ExportJob, Exporter } from './exporter.js';

/** A job read and signed ahead of its message. */
export interface PreparedExport {
  taskId: string;
  draftKey: string;
  /** the draft as read: a message naming another draft does not adopt the job */
  draftText: string;
  job: ExportJob;
}

/** The job of one draft: the draft and a presigned URL per material (and the editor's folder archive). */
export async function exportJobOf(rt: Runtime, draft: Draft): Promise<ExportJob> {
  const media: Record<string, string> = {};
  for (const m of draft.materials) if ('key' in m) media[m.id] = await presignGet(rt, m.key);
  const editorDraft = draft.editor_draft
    ? { format: draft.editor_draft.format, folder: draft.editor_draft.folder, archive_url: await presignGet(rt, draft.editor_draft.archive_key) }
    : undefined;
  return { draft, media, ...(editorDraft ? { editor_draft: editorDraft } : {}) };
}

interface QueuedView {
  task_id: string;
  stages?: { export?: { queued_at?: string } };
}

/**
 * RUNNING tasks whose export waits in the queue (`queued`), in `queued_at` order: one index query
 * of the tasks created within the execution timeout (no RUNNING task is older), filtered there.
 */
export async function queuedExports(rt: Runtime): Promise<string[]> {
  const lookbackMs = Math.max(DEFAULT_DEFINITION_OPTIONS.executionTimeoutSeconds, rt.settings.exportTimeoutSeconds) * 1000;
  const since = new Date(rt.clock.now() - lookbackMs).toISOString();
  const found = await queryTasksCreatedSince<QueuedView>(rt, {
    since,
    filter: '#status = :running AND stages.#export.#status = :queued',
    values: { ':running': 'RUNNING', ':queued': 'queued' },
    projection: 'task_id, stages.#export.queued_at',
    names: { '#status': 'status', '#export': 'export' },
  });
  const at = (t: QueuedView) => t.stages?.export?.queued_at ?? '';
  return found.sort((a, b) => at(a).localeCompare(at(b)) || a.task_id.localeCompare(b.task_id)).map((t) => t.task_id);
}

/** Reads and signs the job of the first queued export other than `currentTaskId`, if any. */
export async function prepareNextExport(rt: Runtime, currentTaskId: string): Promise<PreparedExport | undefined> {
  const next = (await queuedExports(rt)).find((id) => id !== currentTaskId);
  if (!next) return undefined;
  const draftKey = taskArtifactKey(next, ARTIFACT.draft);
  const draftText = await getObjectText(rt, draftKey);
  if (draftText === undefined) return undefined;
  return { taskId: next, draftKey, draftText, job: await exportJobOf(rt, JSON.parse(draftText) as Draft) };
}

/** What the worker tells the planner about the job it drives (see {@link NextExportPlanner}). */
export interface NextJobHooks {
  /** the exporter accepted `taskId`'s job: prepare the next one while it renders */
  jobAccepted(taskId: string): void;
  /** `taskId`'s render ended successfully; its video is still at the exporter */
  renderEnded(taskId: string): Promise<void>;
  /** `taskId`'s video is stored (its message is not reported or deleted yet) */
  videoStored(taskId: string): Promise<void>;
}

export interface NextExportPlannerOptions {
  rt: Runtime;
  exporter: Exporter;
  log: Logger;
  /**
   * Hand over the next job as soon as the render ends, before the finished video is fetched: only
   * for an exporter that keeps a finished video while it renders the next (the embedded export
   * service keeps 20). Otherwise the next job starts once the video is stored.
   */
  startBeforeStore: boolean;
  /** what prepares a job; tests swap it */
  prepare?: typeof prepareNextExport;
}

/** Outcomes after which the task's job at the exporter, if any, is not wanted (see export-worker.ts). */
const UNWANTED_AFTER = new Set(['skipped_not_running', 'stale_token', 'lock_lost', 'malformed', 'failed', 'retry_requested']);

/** The export agent's speculation on the next job (see the file comment). */
export class NextExportPlanner implements NextJobHooks {
  private prepared: Promise<PreparedExport | undefined> | undefined;
  private preparedAfter = '';
  /** the job handed to the exporter ahead of its message */
  private speculative: PreparedExport | undefined;
  /** the task whose message is being handled with the speculative job adopted */
  private adopted: string | undefined;
  private readonly prepare: typeof prepareNextExport;

  constructor(private readonly o: NextExportPlannerOptions) {
    this.prepare = o.prepare ?? prepareNextExport;
  }

  /** The task of the job handed to the exporter ahead of its message, if any. */
  speculativeTaskId(): string | undefined {
    return this.speculative?.taskId;
  }

  jobAccepted(taskId: string): void {
    if (this.speculative) return;
    this.preparedAfter = taskId;
    this.prepared = this.prepare(this.o.rt, taskId).catch((error: unknown) => {
      this.o.log.warn('could not prepare the next export job', { error });
      return undefined;
    });
  }

  async renderEnded(taskId: string): Promise<void> {
    if (this.o.startBeforeStore) await this.startNext(taskId);
  }

  async videoStored(taskId: string): Promise<void> {
    if (!this.o.startBeforeStore) await this.startNext(taskId);
  }

  /**
   * A message arrived (undefined: its body is malformed): the speculative job stays for its own
   * task and draft, and is cancelled for any other.
   */
  async beforeMessage(message: { task_id: string; draft_key: string } | undefined): Promise<void> {
    const s = this.speculative;
    this.adopted = undefined;
    if (!s) return;
    this.speculative = undefined;
    if (message && message.task_id === s.taskId && message.draft_key === s.draftKey) {
      // A redrive may have re-run the Draft stage since: then the job renders the wrong draft.
      const now = await getObjectText(this.o.rt, s.draftKey);
      if (now === s.draftText) {
        this.adopted = s.taskId;
        this.o.log.info('export message adopts the job started ahead of it', { task_id: s.taskId });
        return;
      }
    }
    await this.cancel(
      s.taskId,
      message ? `the next message is for ${message.task_id === s.taskId ? 'another draft of' : 'task'} ${message.task_id}` : 'a malformed message came next',
    );
  }

  /** The message of an adopted job was handled: a job it did not want rendered is cancelled. */
  async afterMessage(outcome: string): Promise<void> {
    const taskId = this.adopted;
    this.adopted = undefined;
    if (taskId && UNWANTED_AFTER.has(outcome)) await this.cancel(taskId, `its message ended ${outcome}`);
  }

  /** No message came: a speculative job whose task stopped running is cancelled. */
  async idle(): Promise<void> {
    const s = this.speculative;
    if (!s) return;
    const task = await getTask(this.o.rt, s.taskId);
    if (task?.status === 'RUNNING' || this.speculative !== s) return;
    this.speculative = undefined;
    await this.cancel(s.taskId, `its task is ${task?.status ?? 'gone'}`);
  }

  private async startNext(currentTaskId: string): Promise<void> {
    if (this.speculative) return;
    // Nothing was queued while the render started: look again now.
    let next = this.preparedAfter === currentTaskId ? await this.prepared : undefined;
    this.prepared = undefined;
    this.preparedAfter = '';
    next ??= await this.prepare(this.o.rt, currentTaskId).catch(() => undefined);
    if (!next) return;
    try {
      await this.o.exporter.submit(next.taskId, next.job);
      this.speculative = next;
      this.o.log.info('next export job handed to the exporter ahead of its message', { task_id: next.taskId, after_task_id: currentTaskId });
    } catch (error: unknown) {
      // Busy or unreachable: nothing started; its message submits as usual.
      this.o.log.info('next export job not started ahead of its message', { task_id: next.taskId, error });
    }
  }

  private async cancel(taskId: string, reason: string): Promise<void> {
    this.o.log.info('job started ahead of its message cancelled at the exporter', { task_id: taskId, reason });
    await this.o.exporter.cancel(taskId).catch((error: unknown) => this.o.log.warn('cancel at the exporter failed', { error, task_id: taskId }));
  }
}
