import { StartExecutionCommand } from '@aws-sdk/client-sfn';
import { isoNow } from './clock.js';
import { DuplicateTaskError, MusicMissingError, SourceMissingError, StartExecutionFailedError, errorMessage } from './errors.js';
import { newTaskId } from './ids.js';
import { ARTIFACT, sourceKey, taskArtifactKey } from './keys.js';
import { acquireVideoLock, releaseVideoLock } from './lock.js';
import type { Logger } from './logger.js';
import { getObjectText, objectExists, putObject } from './artifacts.js';
import { sourceFolderPrefix } from './media/media-name.js';
import { videoOptionsOf, type RunRequest } from './request.js';
import type { Runtime } from './runtime.js';
import { getTask, markTaskFailed, newTaskRecord, putNewTask, type TaskStatus } from './task-record.js';
import { confirmIdempotencyKey, releaseIdempotencyKey, requestHash, reserveIdempotencyKey } from './idempotency.js';
import type { ExecutionInput } from './state-machine.js';
import { emitMetric } from './metrics.js';
import { footageCanBeTheSource } from './story/footage-source.js';
import type { ExportAdmission } from './export/export-backlog.js';
import { checkWebhookUrl, systemResolver } from './webhook/webhook-hosts.js';

export interface SubmitResult {
  task_id: string;
  status: TaskStatus;
  /** true when an earlier request with the same Idempotency-Key created this task */
  replayed: boolean;
}

export interface SubmitOptions {
  /** a client's retry key (header `Idempotency-Key`, or derived from an S3 object key and ETag) */
  idempotencyKey?: string;
  /** admission control of exports: refuses (ExportBacklogFullError) a task whose export could not finish in time */
  exportBacklog?: { admit(): Promise<ExportAdmission> };
}

/**
 * Accepts a validated request. The order is fixed so every caller gets the same answer for the
 * same state: webhook host allowed (400) → idempotency key (same task, or 422 for another body) →
 * source exists (422) → the named `music` file exists (422 `music_missing`; one HeadObject, only
 * when a name is given) → export backlog (503 `export_backlog_full`, only for `export_video: true`) → lock (409) →
 * snapshot the source into the task's prefix → task record → StartExecution (on failure: lock
 * released, task FAILED, 503). Nothing but the key's reservation is written before the lock is
 * held (and, when an expired lock is taken over, its holder's revocation: see shared/lock.ts),
 * and the reservation is removed when the submission is refused.
 */
export async function submitTask(rt: Runtime, request: RunRequest, log: Logger, options: SubmitOptions = {}): Promise<SubmitResult> {
  const key = options.idempotencyKey;
  // Before anything is written: a webhook host that is not allowed is a 400 (shared/webhook/webhook-hosts.ts).
  const webhookUrl = request.webhook_url ?? (rt.settings.webhookUrl || undefined);
  if (webhookUrl) await checkWebhookUrl(webhookUrl, rt.settings.webhookAllowedHosts, rt.resolveHost ?? systemResolver);
  const taskId = newTaskId(rt.clock.now());
  if (key) {
    const reservation = await reserveIdempotencyKey(rt, key, requestHash(request), taskId);
    if (reservation.kind === 'existing') {
      const existing = await getTask(rt, reservation.taskId);
      return { task_id: reservation.taskId, status: existing?.status ?? 'RUNNING', replayed: true };
    }
  }
  let result: SubmitResult;
  try {
    result = await submitNewTask(rt, request, log, taskId, options.exportBacklog);
  } catch (error: unknown) {
    if (error instanceof DuplicateTaskError) {
      emitMetric('DuplicatesRejected', 1, 'Count', {}, { creator_id: request.creator_id, video_id: request.video_id, holder_task_id: error.holderTaskId });
    }
    if (key) await releaseIdempotencyKey(rt, key, taskId);
    throw error;
  }
  // The task runs from here on: the key must keep leading to it, so a failed confirmation is
  // neither a refusal (the key is not released) nor an error for the client (it would retry into
  // a duplicate). A retry finds the task through its record and confirms the key then.
  if (key) {
    await confirmIdempotencyKey(rt, key, taskId).catch((error: unknown) => {
      log.warn('idempotency key not confirmed; a retry with it still finds the task', { task_id: taskId, error });
    });
  }
  emitMetric('TasksSubmitted', 1, 'Count', {}, { task_id: taskId, creator_id: request.creator_id, video_id: request.video_id });
  return result;
}

async function submitNewTask(
  rt: Runtime,
  request: RunRequest,
  log: Logger,
  taskId: string,
  exportBacklog: SubmitOptions['exportBacklog'],
): Promise<SubmitResult> {
  const { creator_id: creatorId, video_id: videoId } = request;

  const text = request.source_text ?? (await getObjectText(rt, sourceKey(creatorId, videoId)));
  // No source text: the footage may be the source (a Gemini key and clips), else 422.
  const source = text !== undefined && text.trim() !== '' ? text : undefined;
  if (source === undefined && !(await footageCanBeTheSource(rt, { creatorId, videoId }))) {
    throw new SourceMissingError(creatorId, videoId, sourceKey(creatorId, videoId));
  }
  if (typeof request.music === 'string' && !(await objectExists(rt, `${sourceFolderPrefix(creatorId, videoId, 'music')}${request.music}`))) {
    throw new MusicMissingError(creatorId, videoId, request.music);
  }

  // Before anything is written: a task whose export could not finish in time is refused (503).
  const admission = request.export_video && exportBacklog ? await exportBacklog.admit() : undefined;
  try {
    return await startAdmittedTask(rt, request, log, taskId, source);
  } catch (error: unknown) {
    admission?.release();
    throw error;
  }
}

async function startAdmittedTask(rt: Runtime, request: RunRequest, log: Logger, taskId: string, source: string | undefined): Promise<SubmitResult> {
  const { creator_id: creatorId, video_id: videoId } = request;
  const lockFence = await acquireVideoLock(rt, { creatorId, videoId, taskId, leaseSeconds: rt.settings.submitLockLeaseSeconds });
  const taskLog = log.child({ task_id: taskId, creator_id: creatorId, video_id: videoId, stage: 'submit' });
  const videoOptions = videoOptionsOf(request);

  try {
    // The snapshot: a later change under sources/ cannot alter this task (none when the footage is the source).
    if (source !== undefined) await putObject(rt, taskArtifactKey(taskId, ARTIFACT.source), source, 'text/plain; charset=utf-8');
    await putNewTask(
      rt,
      newTaskRecord({
        taskId,
        creatorId,
        videoId,
        accountName: request.account_name,
        gender: request.gender,
        exportVideo: request.export_video,
        videoOptions,
        now: isoNow(rt.clock),
        lockFence,
        webhookUrl: request.webhook_url ?? (rt.settings.webhookUrl || undefined),
      }),
    );
  } catch (error: unknown) {
    await releaseVideoLock(rt, { creatorId, videoId, taskId });
    throw error;
  }

  const input: ExecutionInput = {
    task_id: taskId,
    creator_id: creatorId,
    video_id: videoId,
    gender: request.gender,
    export_video: request.export_video,
    video_options: videoOptions,
  };
  let executionArn: string;
  try {
    const out = await rt.sfn.send(new StartExecutionCommand({ stateMachineArn: rt.settings.stateMachineArn, name: taskId, input: JSON.stringify(input) }));
    executionArn = out.executionArn ?? '';
  } catch (error: unknown) {
    taskLog.error('start execution failed; releasing the lock', { error });
    await markTaskFailed(rt, taskId, { stage: 'submit', code: 'start_failed', message: `The orchestrator did not start the task: ${errorMessage(error)}` });
    await releaseVideoLock(rt, { creatorId, videoId, taskId });
    throw new StartExecutionFailedError('The pipeline could not start the task right now; nothing was kept. Try again shortly.', { cause: error });
  }
  // The ARN is not written back to the record: the execution is named by the task id, so every
  // reader derives it (executionArnOf), and a submission costs one write less.
  taskLog.info('task accepted', { execution_arn: executionArn, export_video: request.export_video });
  return { task_id: taskId, status: 'RUNNING', replayed: false };
}
