import { DeleteMessageCommand } from '@aws-sdk/client-sqs';
import { SendTaskFailureCommand, SendTaskHeartbeatCommand, SendTaskSuccessCommand } from '@aws-sdk/client-sfn';
import { getObjectText, objectExists, putObjectStream } from '../artifacts.js';
import type { Draft } from '../draft/draft.js';
import { ExportFailedError, ExportRetryableError, LockLostError, TaskNotRunningError, errorMessage, errorName, isStaleTaskTokenError } from '../errors.js';
import { ARTIFACT, attemptArtifactKey } from '../keys.js';
import { createLogger, taskLogFields, type Logger } from '../logger.js';
import type { Runtime } from '../runtime.js';
import { emitMetric } from '../metrics.js';
import { sleep as realSleep } from '../wait.js';
import { commitExportedVideo, getTask, markExportQueued, markStageRunning } from '../task-record.js';
import {
  ExportJobLostError,
  ExportJobRejectedError,
  ExporterBusyError,
  ExporterUnavailableError,
  type ExportedVideo,
  type ExportJob,
  type Exporter,
} from './exporter.js';
import { holdMessageLease, type MessageLease } from './message-lease.js';
import { exportJobOf, type NextJobHooks } from './next-export.js';

/** The message the Export state puts on the FIFO queue: ids, keys and the task token. */
export interface ExportMessage {
  task_id: string;
  creator_id: string;
  video_id: string;
  draft_key: string;
  task_token: string;
}

export interface ReceivedExportMessage {
  body: string;
  receiptHandle: string;
}

export type ExportOutcome =
  | 'succeeded'
  | 'reused_existing_video'
  | 'failed'
  | 'retry_requested'
  | 'skipped_not_running'
  | 'cancelled'
  | 'malformed'
  | 'abandoned'
  | 'lock_lost'
  | 'lease_lost'
  | 'stale_token';

export interface ExportWorkerDeps {
  rt: Runtime;
  exporter: Exporter;
  queueUrl: string;
  /** the message's lease: its visibility is cut to this on receipt and renewed every third of it while the job runs (s) */
  visibilitySeconds: number;
  /** long-poll wait of each job status call */
  pollSeconds: number;
  /** upper bound of the back-off while the exporter is busy or unreachable */
  maxBackoffMs?: number;
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  /** the export agent's planner of the next job (next-export.ts); the Lambda worker has none */
  next?: NextJobHooks;
}

export function parseMessage(body: string): ExportMessage | undefined {
  try {
    const m = JSON.parse(body) as Partial<ExportMessage>;
    if (typeof m.task_id === 'string' && typeof m.task_token === 'string' && typeof m.draft_key === 'string') return m as ExportMessage;
  } catch {
    // falls through: malformed
  }
  return undefined;
}

/** Whether the state machine has stopped waiting for this token (any other error is thrown: the message comes back). */
async function isStaleToken(rt: Runtime, taskToken: string): Promise<boolean> {
  try {
    await rt.sfn.send(new SendTaskHeartbeatCommand({ taskToken }));
    return false;
  } catch (error: unknown) {
    if (isStaleTaskTokenError(error)) return true;
    throw error;
  }
}

/**
 * Handles one export message, start to finish. The worker is the only writer of the task's
 * video: it stores it under `tasks/<id>/attempts/<fence>/final_video.mp4` (the task's lock
 * token, read from its record) and then commits that key with an update conditional on the
 * token ({@link commitExportedVideo}). It never has two jobs open: it returns only when its job ended.
 *
 * - task no longer RUNNING → delete the message (SQS cannot delete a message nobody received);
 * - task's lock taken over (token revoked, before the render or at the commit) → SendTaskFailure
 *   `LockLostError` and delete: a stale holder's video never becomes the task's result;
 * - no stored video and the task token no longer live (SendTaskHeartbeat answers InvalidToken /
 *   TaskTimedOut: a message from before a restart, or of a timed-out attempt) → delete, before
 *   any render;
 * - video already stored for this token (a redelivery) → commit it, report success without a second render;
 * - render failed → SendTaskFailure (terminal) and delete, so one bad task cannot block the queue;
 * - a fault a fresh attempt may fix → SendTaskFailure `ExportRetryableError` and delete;
 * - the lease cannot be renewed → cancel the job at the exporter before the lease lapses and
 *   leave the message to reappear (`lease_lost`), so two workers never render it at once;
 * - a crash (an exception escaping) leaves the message for redelivery after its lease.
 */
export async function processExportMessage(deps: ExportWorkerDeps, received: ReceivedExportMessage, signal?: AbortSignal): Promise<ExportOutcome> {
  const { rt } = deps;
  const sleep = deps.sleep ?? realSleep;
  const maxBackoff = deps.maxBackoffMs ?? 30_000;
  const deleteMessage = () => rt.sqs.send(new DeleteMessageCommand({ QueueUrl: deps.queueUrl, ReceiptHandle: received.receiptHandle }));

  const message = parseMessage(received.body);
  if (!message) {
    // Never the body: it carries the task token, which lets its reader finish the task.
    createLogger({ stage: 'export' }).error('malformed export message deleted', { body_bytes: received.body.length });
    await deleteMessage();
    return 'malformed';
  }
  const log = createLogger(taskLogFields(message, 'export'));

  // The lease starts before any other I/O: a worker that dies from here on frees the message
  // after one lease, not after the queue's default visibility.
  const lease = await holdMessageLease({
    rt,
    queueUrl: deps.queueUrl,
    receiptHandle: received.receiptHandle,
    leaseSeconds: deps.visibilitySeconds,
    log,
    sleep,
  });
  try {
    return await runExport(deps, { message, log, lease, deleteMessage, sleep, maxBackoff }, signal);
  } finally {
    lease.stop();
  }
}

/** The export of one parsed message whose lease is held; see {@link processExportMessage}. */
async function runExport(
  deps: ExportWorkerDeps,
  h: {
    message: ExportMessage;
    log: Logger;
    lease: MessageLease;
    deleteMessage: () => Promise<unknown>;
    sleep: NonNullable<ExportWorkerDeps['sleep']>;
    maxBackoff: number;
  },
  outerSignal?: AbortSignal,
): Promise<ExportOutcome> {
  const { rt } = deps;
  const { message, log, lease, deleteMessage, sleep, maxBackoff } = h;
  // The job stops when the caller stops (deadline, shutdown) or when the lease is lost.
  const signal = outerSignal ? AbortSignal.any([outerSignal, lease.lost]) : lease.lost;
  /** The lease is gone: stop the exporter's job now, while no other worker can hold the message yet. */
  const leaseLost = async (submitted: boolean): Promise<ExportOutcome> => {
    if (submitted) await deps.exporter.cancel(message.task_id).catch((error: unknown) => log.warn('cancel at the exporter failed', { error }));
    log.warn('export lease lost: job cancelled at the exporter, message left to reappear', { submitted });
    return 'lease_lost';
  };

  const report = async (outcome: { output: unknown } | { error: string; cause: string }) => {
    try {
      if ('output' in outcome) {
        await rt.sfn.send(new SendTaskSuccessCommand({ taskToken: message.task_token, output: JSON.stringify(outcome.output) }));
      } else {
        await rt.sfn.send(new SendTaskFailureCommand({ taskToken: message.task_token, error: outcome.error, cause: outcome.cause.slice(0, 32_000) }));
      }
    } catch (error: unknown) {
      // A late or duplicate report (the attempt timed out, or a redelivery already reported): log and drop.
      if (!isStaleTaskTokenError(error)) throw error;
      log.warn('late or duplicate export report dropped', { reason: errorName(error) });
    }
  };

  const task = await getTask(rt, message.task_id);
  if (!task || task.status !== 'RUNNING') {
    log.info('export message of a task that is not running deleted', { status: task?.status ?? 'unknown' });
    await deleteMessage();
    return 'skipped_not_running';
  }

  const lockLost = async (error: LockLostError) => {
    log.error('export stopped: the task lost its lock', { error: error.message });
    await report({ error: error.name, cause: error.message });
    await deleteMessage();
    return 'lock_lost' as const;
  };
  if (task.lock_lost) return lockLost(new LockLostError(message.task_id, task.lock_lost.to_task_id));
  const fence = task.lock_fence;
  const commit = async (videoKey: string, details: Record<string, unknown>) => {
    try {
      await commitExportedVideo(rt, message.task_id, { fence, videoKey, details });
      return undefined;
    } catch (error: unknown) {
      if (error instanceof LockLostError) return error;
      if (!(error instanceof TaskNotRunningError)) throw error;
      return undefined;
    }
  };

  const videoKey = task.final_video_key ?? attemptArtifactKey(message.task_id, fence, ARTIFACT.finalVideo);
  if (await objectExists(rt, videoKey)) {
    log.info('video already stored (redelivered message): reporting success without a second render');
    const lost = await commit(videoKey, { reused_existing_video: true });
    if (lost) return lockLost(lost);
    await report({ output: { video_key: videoKey } });
    await deleteMessage();
    return 'reused_existing_video';
  }

  // A message the state machine no longer waits for (sent before a restart of the embedded
  // stack, or by an attempt that has since timed out) must not start a render: its report would
  // be dropped, and the live attempt's message renders the video (a stored video is reused above,
  // which renders nothing). SendTaskHeartbeat is the cheap "is this token live?" on AWS and
  // locally; without HeartbeatSeconds on the state it changes nothing else.
  if (await isStaleToken(rt, message.task_token)) {
    log.warn('export message with a stale task token deleted before any render');
    await deleteMessage();
    return 'stale_token';
  }
  const started = rt.clock.now();
  try {
    const draftText = await getObjectText(rt, message.draft_key);
    if (draftText === undefined) {
      await report({ error: 'ExportFailedError', cause: `The draft ${message.draft_key} is missing.` });
      await deleteMessage();
      return 'failed';
    }
    const job = await exportJobOf(rt, JSON.parse(draftText) as Draft);

    const stillRunning = async () => (await getTask(rt, message.task_id))?.status === 'RUNNING';
    // The stage turns `running` once the exporter has accepted the job; while the exporter is busy
    // or unreachable it stays `queued`, with the reason noted once.
    const onAccepted = () => markStageRunning(rt, message.task_id, 'export');
    let noted = false;
    const onWaiting = async (reason: string) => {
      if (noted) return;
      noted = true;
      await markExportQueued(rt, message.task_id, { stage: 'export', code: 'exporter_unavailable', message: reason }).catch(() => undefined);
    };
    const outcome = await driveJob({
      deps,
      log,
      taskId: message.task_id,
      job,
      stillRunning,
      onAccepted,
      onWaiting,
      sleep,
      maxBackoff,
      signal,
    });
    if (outcome.kind === 'abandoned') return lease.lost.aborted ? leaseLost(outcome.submitted) : 'abandoned';
    if (outcome.kind === 'lock_lost') return lockLost(outcome.error);
    if (outcome.kind === 'cancelled') {
      log.info('task stopped while exporting: job cancelled at the exporter, message deleted');
      await deleteMessage();
      return 'cancelled';
    }
    if (outcome.kind === 'failed' && outcome.retryable) {
      const retry = new ExportRetryableError(`The export attempt failed and may pass on a new attempt: ${outcome.error}`);
      log.warn('export attempt failed; asking for a new attempt', { error: retry.message });
      await markExportQueued(rt, message.task_id, { stage: 'export', code: 'export_retryable', message: retry.message }).catch(() => undefined);
      await report({ error: retry.name, cause: retry.message });
      await deleteMessage();
      return 'retry_requested';
    }
    if (outcome.kind === 'failed') {
      const failure = new ExportFailedError(`The export service failed to render the video: ${outcome.error}`);
      log.error('export failed', { error: failure.message });
      await report({ error: failure.name, cause: failure.message });
      await deleteMessage();
      return 'failed';
    }

    // The exporter is free: the next job may start now, while this one's video is fetched.
    await deps.next?.renderEnded(message.task_id);
    let videoBytes: number;
    try {
      videoBytes = await storeFinalVideo(rt, { key: videoKey, video: await deps.exporter.video(message.task_id, signal), signal });
    } catch (error: unknown) {
      if (signal.aborted) return lease.lost.aborted ? leaseLost(true) : 'abandoned';
      const retry = new ExportRetryableError(`The rendered video could not be stored: ${errorMessage(error)}`);
      log.warn('export attempt failed; asking for a new attempt', { error: retry.message });
      await markExportQueued(rt, message.task_id, { stage: 'export', code: 'export_retryable', message: retry.message }).catch(() => undefined);
      await report({ error: retry.name, cause: retry.message });
      await deleteMessage();
      return 'retry_requested';
    }
    await deps.next?.videoStored(message.task_id);
    const renderMs = rt.clock.now() - started;
    const lost = await commit(videoKey, { export_ms: renderMs, video_bytes: videoBytes, visibility_extensions: lease.renewals() });
    if (lost) return lockLost(lost);
    await report({ output: { video_key: videoKey, bytes: videoBytes } });
    await deleteMessage();
    log.info('export succeeded', { export_ms: renderMs, video_bytes: videoBytes });
    emitMetric('StageDurationMs', renderMs, 'Milliseconds', { Stage: 'export' }, { task_id: message.task_id });
    return 'succeeded';
  } catch (error: unknown) {
    // Whatever failed, a job left running after the lease is gone could overlap a redelivery.
    if (lease.lost.aborted) return leaseLost(true);
    throw error;
  }
}

/**
 * The worker's one write of the task's video, under the attempt key (committed afterwards):
 * streamed from the exporter into the object, so a video of any size costs the worker a few
 * megabytes of memory, not its size (twice).
 */
async function storeFinalVideo(rt: Runtime, a: { key: string; video: ExportedVideo; signal?: AbortSignal }): Promise<number> {
  return putObjectStream(rt, { key: a.key, body: a.video.body, contentType: 'video/mp4', contentLength: a.video.contentLength, signal: a.signal });
}

type JobOutcome =
  | { kind: 'succeeded' }
  | { kind: 'failed'; error: string; retryable: boolean }
  | { kind: 'cancelled' }
  | { kind: 'abandoned'; submitted: boolean }
  | { kind: 'lock_lost'; error: LockLostError };

/**
 * Submit (retrying while busy or unreachable), then poll until the job ends or the task stops.
 *
 * A job the exporter still reports running `EXPORT_MAX_JOB_SECONDS` after it accepted it is
 * cancelled there and ends the attempt as retryable: a hung exporter costs one bounded attempt,
 * not the whole Export timeout of every task queued behind it. Its clock starts at the earlier of
 * the attempt's first accepted submit and the exporter's `started_at` (a redelivered message
 * finds a job that started in an earlier invocation); resubmissions after the exporter lost the
 * job (404) do not restart it, so an exporter that keeps losing jobs cannot hold the slot either.
 * While the exporter cannot be reached the deadline is not enforced (nothing can be cancelled,
 * and an outage must not use up the task's attempts); the first answer after it is — unless the
 * answer is that the job is lost (the exporter restarted): then the resubmitted job's clock
 * starts afresh.
 */
async function driveJob(a: {
  deps: ExportWorkerDeps;
  log: Logger;
  taskId: string;
  job: ExportJob;
  stillRunning: () => Promise<boolean>;
  onAccepted: () => Promise<void>;
  onWaiting: (reason: string) => Promise<void>;
  sleep: (ms: number, signal?: AbortSignal) => Promise<void>;
  maxBackoff: number;
  signal?: AbortSignal;
}): Promise<JobOutcome> {
  const { deps, log, taskId } = a;
  let backoff = 1000;
  let submitted = false;
  let accepted = false;
  let resubmissions = 0;
  let lostInARow = 0;
  /** the exporter could not be reached since its last answer */
  let sawOutage = false;
  const maxJobMs = deps.rt.settings.exportMaxJobSeconds * 1000;
  let jobStartedAt = 0;
  while (!a.signal?.aborted) {
    if (!(await a.stillRunning())) {
      if (submitted) await deps.exporter.cancel(taskId).catch((error: unknown) => log.warn('cancel at the exporter failed', { error }));
      return { kind: 'cancelled' };
    }
    try {
      if (!submitted) {
        await deps.exporter.submit(taskId, a.job, a.signal);
        submitted = true;
        if (!lostInARow) backoff = 1000;
        // The clock starts at the attempt's first acceptance: a resubmission does not reset it, so
        // an exporter that keeps losing or cancelling the job still ends the attempt in time.
        if (!jobStartedAt) jobStartedAt = deps.rt.clock.now();
        // A resubmission (the exporter lost the job) is the same attempt: the stage is already running.
        if (!accepted) {
          try {
            await a.onAccepted();
          } catch (error: unknown) {
            if (!(error instanceof TaskNotRunningError || error instanceof LockLostError)) throw error;
            await deps.exporter.cancel(taskId).catch(() => undefined);
            return error instanceof LockLostError ? { kind: 'lock_lost', error } : { kind: 'cancelled' };
          }
          accepted = true;
          deps.next?.jobAccepted(taskId);
        }
        log.info('export job accepted by the exporter', { resubmissions });
      }
      // Long-poll no longer than the job has left, so the deadline is kept to the second.
      const leftSeconds = maxJobMs > 0 ? Math.max(0, Math.ceil((jobStartedAt + maxJobMs - deps.rt.clock.now()) / 1000)) : deps.pollSeconds;
      const status = await deps.exporter.status(taskId, Math.min(deps.pollSeconds, leftSeconds), a.signal);
      if (status.state !== 'running' && !(await a.stillRunning())) {
        // Cancelled or failed meanwhile: the video of a task that is no longer running is not
        // stored. DELETE is a no-op for a job that already ended.
        await deps.exporter.cancel(taskId).catch((error: unknown) => log.warn('cancel at the exporter failed', { error }));
        return { kind: 'cancelled' };
      }
      lostInARow = 0;
      sawOutage = false;
      if (status.state === 'succeeded') return { kind: 'succeeded' };
      if (status.state === 'failed') return { kind: 'failed', error: status.error ?? 'no reason given', retryable: status.retryable === true };
      const reportedStart = Date.parse(status.started_at ?? '');
      if (status.state !== 'cancelled' && Number.isFinite(reportedStart) && reportedStart < jobStartedAt) jobStartedAt = reportedStart;
      const ranMs = deps.rt.clock.now() - jobStartedAt;
      if (maxJobMs > 0 && ranMs >= maxJobMs) {
        log.warn('export job exceeded the maximum job time; cancelling it at the exporter', { ran_ms: ranMs, max_job_seconds: maxJobMs / 1000 });
        await deps.exporter.cancel(taskId).catch((error: unknown) => log.warn('cancel at the exporter failed', { error }));
        return {
          kind: 'failed',
          retryable: true,
          error: `the job was still not done (${status.state}) after ${Math.round(ranMs / 1000)} s, longer than EXPORT_MAX_JOB_SECONDS (${maxJobMs / 1000} s); it was cancelled at the exporter`,
        };
      }
      if (status.state === 'cancelled') {
        // Cancelled by someone else at the exporter: submit again on the next loop.
        submitted = false;
      }
    } catch (error: unknown) {
      if (a.signal?.aborted) break;
      if (error instanceof ExportJobLostError && submitted) {
        // The exporter restarted (or evicted the job) after accepting it: submit it again.
        submitted = false;
        resubmissions += 1;
        // Lost after an outage: the exporter went down and came back, and the job starts afresh
        // with the next submit — the outage does not count against it (an outage must not use up
        // the task's attempts).
        if (sawOutage) jobStartedAt = 0;
        sawOutage = false;
        const ranMs = jobStartedAt ? deps.rt.clock.now() - jobStartedAt : 0;
        if (maxJobMs > 0 && ranMs >= maxJobMs) {
          return {
            kind: 'failed',
            retryable: true,
            error: `the exporter kept losing the job (${resubmissions} resubmission(s) in ${Math.round(ranMs / 1000)} s, longer than EXPORT_MAX_JOB_SECONDS)`,
          };
        }
        log.warn('the exporter lost the accepted job; submitting it again', { error: error.message, resubmissions });
        // A restart loses a job once; an exporter that loses it again at once is unwell: back off.
        if (lostInARow++ > 0) {
          await a.sleep(backoff, a.signal);
          backoff = Math.min(a.maxBackoff, backoff * 2);
        }
        continue;
      }
      if (error instanceof ExportJobRejectedError) return { kind: 'failed', retryable: false, error: error.message };
      if (error instanceof ExporterBusyError) {
        log.info('exporter busy with another job; waiting', { retry_after_seconds: error.retryAfterSeconds });
        await a.sleep(Math.min(a.maxBackoff, Math.max(250, error.retryAfterSeconds * 1000)), a.signal);
        continue;
      }
      if (error instanceof ExporterUnavailableError) {
        sawOutage = true;
        log.warn('exporter unreachable; keeping the message and retrying', { error: error.message, backoff_ms: backoff });
        await a.onWaiting(`The exporter cannot be reached; the task waits in the queue and proceeds when it is back (${error.message}).`);
        await a.sleep(backoff, a.signal);
        backoff = Math.min(a.maxBackoff, backoff * 2);
        continue;
      }
      throw error;
    }
  }
  return { kind: 'abandoned', submitted };
}
