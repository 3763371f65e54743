import { Hono, type Context } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { etag } from 'hono/etag';
import { artifactObjectKey, getObjectBytes, listKeys, listTaskArtifacts, presignGet, putObject } from '../../shared/artifacts.js';
import {
  DuplicateTaskError,
  InvalidRequestError,
  MusicMissingError,
  PipelineError,
  SourceMissingError,
  StartExecutionFailedError,
  TaskNotFoundError,
} from '../../shared/errors.js';
import { isTaskId } from '../../shared/ids.js';
import { sourceKey } from '../../shared/keys.js';
import { createLogger } from '../../shared/logger.js';
import { MAX_BODY_BYTES, MAX_SOURCE_TEXT_CHARS, assertId, parseRetryFilter, parseRunRequest } from '../../shared/request.js';
import type { Runtime } from '../../shared/runtime.js';
import { submitTask } from '../../shared/submit.js';
import { TaskNotCancellableError, cancelTask, executionArnOf } from '../../shared/cancel.js';
import { TaskNotRetryableError, retryTask } from '../../shared/retry.js';
import { retryMatchingTasks } from '../../shared/retry-matching.js';
import { ExportBacklogFullError, ExportBacklogGauge, loadExportBacklog } from '../../shared/export/export-backlog.js';
import { IdempotencyKeyReusedError, IdempotentRequestInProgressError, assertIdempotencyKey } from '../../shared/idempotency.js';
import { getTask, listTasks, type TaskRecord, type TaskStatus } from '../../shared/task-record.js';
import { sourceMediaRoutes } from './source-media-routes.js';
import { artifactNameFromPath, artifactPathOf } from './artifact-name.js';
import { consoleRoutes } from './console/console-routes.js';
import { crossSiteGuard } from './cross-site-guard.js';
import { loadExportQueue } from '../../shared/export/export-queue.js';
import { openApiDocument } from './openapi.js';

const TASK_STATUSES: TaskStatus[] = ['RUNNING', 'SUCCEEDED', 'FAILED', 'CANCELLED'];

const CONTENT_TYPES: Record<string, string> = {
  txt: 'text/plain; charset=utf-8',
  srt: 'application/x-subrip; charset=utf-8',
  json: 'application/json',
  jsonl: 'application/x-ndjson',
  wav: 'audio/wav',
  mp3: 'audio/mpeg',
  mp4: 'video/mp4',
  m4a: 'audio/mp4',
  aac: 'audio/aac',
  flac: 'audio/flac',
  ogg: 'audio/ogg',
  png: 'image/png',
  jpg: 'image/jpeg',
  jpeg: 'image/jpeg',
  webp: 'image/webp',
  mov: 'video/quicktime',
  webm: 'video/webm',
  gz: 'application/gzip',
  tar: 'application/x-tar',
};

type ErrorBody = { error: string; message: string; [k: string]: unknown };

function errorResponse(c: Context, status: number, body: ErrorBody) {
  return c.json(body, status as 400);
}

/** The record as the API shows it: internal index keys dropped, links added. */
function publicTask(task: TaskRecord, base: string, stateMachineArn: string) {
  const { pk: _pk, gsi1pk: _a, gsi1sk: _b, gsi2pk: _c, gsi2sk: _d, kind: _k, ...rest } = task;
  // The execution is named by the task id: its ARN is derived, not stored at submit.
  const executionArn = task.execution_arn ?? executionArnOf(stateMachineArn, task.task_id);
  return { ...rest, execution_arn: executionArn, links: { self: `${base}/tasks/${task.task_id}` } };
}

/**
 * The submit/status API: one Hono app that runs behind API Gateway (hono/aws-lambda) and,
 * on the embedded stack, behind a Node HTTP server. Every answer is JSON except artifact bytes.
 */
export function createApiApp(rt: Runtime) {
  const log = createLogger({ stage: 'api' });
  const app = new Hono();
  // One cached estimate per API instance (a Lambda container, the embedded stack).
  const exportBacklog = new ExportBacklogGauge({
    clock: rt.clock,
    load: () => loadExportBacklog(rt),
    exportTimeoutSeconds: rt.settings.exportTimeoutSeconds,
    refreshSeconds: rt.settings.exportBacklogRefreshSeconds,
  });
  const base = '/api/pipeline';

  app.onError((error, c) => {
    if (error instanceof InvalidRequestError) {
      return errorResponse(c, 400, { error: error.code, message: error.message, details: error.details });
    }
    if (error instanceof DuplicateTaskError) {
      return errorResponse(c, 409, { error: error.code, message: error.message, task_id: error.holderTaskId });
    }
    if (error instanceof SourceMissingError || error instanceof MusicMissingError || error instanceof IdempotencyKeyReusedError) {
      return errorResponse(c, 422, { error: error.code, message: error.message });
    }
    if (error instanceof IdempotentRequestInProgressError) return errorResponse(c, 409, { error: error.code, message: error.message });
    if (error instanceof TaskNotCancellableError || error instanceof TaskNotRetryableError) {
      return errorResponse(c, 409, { error: error.code, message: error.message, status: error.status });
    }
    if (error instanceof TaskNotFoundError) return errorResponse(c, 404, { error: error.code, message: error.message });
    if (error instanceof ExportBacklogFullError) {
      c.header('retry-after', String(error.retryAfterSeconds));
      return errorResponse(c, 503, { error: error.code, message: error.message, retry_after_seconds: error.retryAfterSeconds });
    }
    if (error instanceof StartExecutionFailedError) {
      c.header('retry-after', '5');
      return errorResponse(c, 503, { error: error.code, message: error.message });
    }
    log.error('request failed', { error, method: c.req.method, path: c.req.path, code: error instanceof PipelineError ? error.code : undefined });
    return errorResponse(c, 500, { error: 'internal_error', message: 'The request could not be completed because of an internal error; it has been logged.' });
  });

  app.notFound((c) => errorResponse(c, 404, { error: 'not_found', message: `No route for ${c.req.method} ${c.req.path}.` }));

  const limit = bodyLimit({
    maxSize: MAX_BODY_BYTES,
    onError: (c) => {
      // The rest of the body is not read: tell the client not to reuse this connection.
      c.header('connection', 'close');
      return errorResponse(c, 413, { error: 'body_too_large', message: `The request body is larger than ${MAX_BODY_BYTES} bytes (1 MiB).` });
    },
  });

  // Before every route: the Host allow-list, and no state change from another site (docs/console.md).
  app.use('*', crossSiteGuard(rt.settings.apiAllowedHosts));
  // Polling clients (the console) send If-None-Match and get 304 while nothing changed.
  app.on('GET', [`${base}/tasks`, `${base}/tasks/:task_id`], etag());

  app.get('/api/health', (c) => c.json({ status: 'ok' }));
  // Every route has a row in API_ROUTES (lambdas/api/openapi.ts), checked by test/unit/openapi.test.ts.
  let openApi: ReturnType<typeof openApiDocument> | undefined;
  app.get('/api/openapi.json', (c) => c.json((openApi ??= openApiDocument())));

  app.get(`${base}/export-queue`, async (c) => c.json(await loadExportQueue(rt)));

  app.post(`${base}/run`, limit, async (c) => {
    const type = c.req.header('content-type') ?? '';
    if (!/^application\/json\b/i.test(type.trim())) {
      return errorResponse(c, 415, { error: 'unsupported_media_type', message: 'Send the request as JSON with "content-type: application/json".' });
    }
    const text = await c.req.text();
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      throw new InvalidRequestError('The request body is not valid JSON.', undefined, 'invalid_json');
    }
    const request = parseRunRequest(body);
    const idempotencyKey = c.req.header('idempotency-key');
    if (idempotencyKey !== undefined) assertIdempotencyKey(idempotencyKey);
    const result = await submitTask(rt, request, log, { idempotencyKey, exportBacklog });
    c.header('location', `${base}/tasks/${result.task_id}`);
    if (result.replayed) c.header('idempotent-replayed', 'true');
    return c.json({ task_id: result.task_id, status: result.status, links: { self: `${base}/tasks/${result.task_id}` } }, 202);
  });

  app.get(`${base}/tasks`, async (c) => {
    const q = c.req.query();
    const creatorId = q.creator_id || undefined;
    const videoId = q.video_id || undefined;
    if (creatorId) assertId('creator_id', creatorId);
    if (videoId) assertId('video_id', videoId);
    const status = q.status ? (q.status.toUpperCase() as TaskStatus) : undefined;
    if (status && !TASK_STATUSES.includes(status)) {
      throw new InvalidRequestError(`status must be one of ${TASK_STATUSES.join(', ')}.`, [{ field: 'status', problem: 'unknown status' }]);
    }
    const limitValue = q.limit === undefined ? 20 : Number(q.limit);
    if (!Number.isInteger(limitValue) || limitValue < 1 || limitValue > 100) {
      throw new InvalidRequestError('limit must be a whole number from 1 to 100.', [{ field: 'limit', problem: 'out of range' }]);
    }
    const tasks = await listTasks(rt, { creatorId, videoId, status, limit: limitValue });
    return c.json({ tasks: tasks.map((t) => publicTask(t, base, rt.settings.stateMachineArn)) });
  });

  const loadTask = async (taskId: string) => {
    if (!isTaskId(taskId)) throw new TaskNotFoundError(taskId.slice(0, 80));
    const task = await getTask(rt, taskId);
    if (!task) throw new TaskNotFoundError(taskId);
    return task;
  };

  app.get(`${base}/tasks/:task_id`, async (c) => {
    const task = await loadTask(c.req.param('task_id'));
    const artifacts = task.artifacts ?? (await listTaskArtifacts(rt, task));
    return c.json({
      ...publicTask(task, base, rt.settings.stateMachineArn),
      artifacts: artifacts.map((a) => ({ ...a, url: `${base}/tasks/${task.task_id}/artifacts/${artifactPathOf(a.name)}` })),
    });
  });

  app.post(`${base}/tasks/:task_id/cancel`, async (c) => {
    const task = await loadTask(c.req.param('task_id'));
    const cancelled = await cancelTask(rt, task.task_id, log);
    return c.json({ task_id: cancelled.task_id, status: cancelled.status, links: { self: `${base}/tasks/${cancelled.task_id}` } }, 200);
  });

  // The operators' form: redrive every ended task matching the filter, bounded per call, with a cursor.
  app.post(`${base}/tasks/retry`, limit, async (c) => {
    const text = await c.req.text();
    let body: unknown = {};
    try {
      if (text.trim()) body = JSON.parse(text);
    } catch {
      throw new InvalidRequestError('The request body is not valid JSON.', undefined, 'invalid_json');
    }
    const result = await retryMatchingTasks(rt, parseRetryFilter(body), log);
    return c.json(result, 200);
  });

  app.post(`${base}/tasks/:task_id/retry`, async (c) => {
    const task = await loadTask(c.req.param('task_id'));
    const retried = await retryTask(rt, task.task_id, log);
    return c.json({ task_id: retried.task_id, status: retried.status, redrives: retried.redrives, links: { self: `${base}/tasks/${retried.task_id}` } }, 202);
  });

  app.get(`${base}/tasks/:task_id/artifacts/*`, async (c) => {
    const task = await loadTask(c.req.param('task_id'));
    const prefix = `${base}/tasks/${task.task_id}/artifacts/`;
    // The path as sent, still percent-encoded: decoded here segment by segment, exactly once.
    const path = new URL(c.req.url).pathname;
    const name = path.startsWith(prefix) ? artifactNameFromPath(path.slice(prefix.length)) : undefined;
    if (name === undefined) {
      return errorResponse(c, 400, {
        error: 'invalid_artifact_name',
        message:
          'An artifact name is a relative file name inside the task, such as "final_video.mp4" or "draft/<folder>/materials/01-山.jpg" (percent-encoded in the URL).',
      });
    }
    const key = artifactObjectKey(task, name);
    if (!key) return errorResponse(c, 404, { error: 'artifact_not_found', message: `Task ${task.task_id} has no artifact "${name}".` });
    if (rt.settings.artifactDelivery === 'redirect') {
      const exists = (await listKeys(rt, key)).some((o) => o.key === key);
      if (!exists) return errorResponse(c, 404, { error: 'artifact_not_found', message: `Task ${task.task_id} has no artifact "${name}".` });
      return c.redirect(await presignGet(rt, key), 302);
    }
    const bytes = await getObjectBytes(rt, key);
    if (!bytes) return errorResponse(c, 404, { error: 'artifact_not_found', message: `Task ${task.task_id} has no artifact "${name}".` });
    const ext = (name.split('.').pop() ?? '').toLowerCase();
    return c.body(bytes as Uint8Array<ArrayBuffer>, 200, { 'content-type': CONTENT_TYPES[ext] ?? 'application/octet-stream' });
  });

  app.put(`${base}/sources/:creator_id/:video_id/source.txt`, limit, async (c) => {
    const creatorId = c.req.param('creator_id');
    const videoId = c.req.param('video_id');
    assertId('creator_id', creatorId);
    assertId('video_id', videoId);
    const type = c.req.header('content-type') ?? '';
    if (type && !/^text\/plain\b/i.test(type.trim())) {
      return errorResponse(c, 415, { error: 'unsupported_media_type', message: 'Send source material as "content-type: text/plain; charset=utf-8".' });
    }
    const text = await c.req.text();
    const chars = [...text].length;
    if (!text.trim()) throw new InvalidRequestError('The source material is empty.', [{ field: '(body)', problem: 'empty' }]);
    if (chars > MAX_SOURCE_TEXT_CHARS) {
      throw new InvalidRequestError(`The source material must be at most ${MAX_SOURCE_TEXT_CHARS} characters (it has ${chars}).`, [
        { field: '(body)', problem: 'too long' },
      ]);
    }
    const key = sourceKey(creatorId, videoId);
    await putObject(rt, key, text, 'text/plain; charset=utf-8');
    return c.json({ key, characters: chars }, 201);
  });

  app.route('/', sourceMediaRoutes(rt, base));
  app.route('/', consoleRoutes());
  return app;
}
