/**
 * The export service of the embedded stack: a thin HTTP face over the {@link BuiltinExporter}
 * (which holds the job table and its ONE render slot), speaking the asynchronous job contract —
 * submit with PUT, long-poll with GET, download the video, cancel with DELETE.
 *
 * While a job holds the slot (downloading its media, then rendering), a PUT for another task is
 * answered 503 with `Retry-After`; there is no queue here — the pipeline's export queue is the
 * queue. `/stats` is the exporter's own accounting, so tests and benchmarks can prove it never
 * ran two renders at once. The job table lives in memory: a restarted service has no jobs
 * (404), and the worker submits again.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, rm } from 'node:fs/promises';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { Readable } from 'node:stream';
import { serve } from '@hono/node-server';
import { Hono, type Context, type MiddlewareHandler } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import type { Draft } from '../../shared/draft/draft.js';
import { isAuthorizedExportRequest } from '../../shared/export/export-auth.js';
import { BuiltinExporter, type BuiltinExporterStats } from '../../shared/export/builtin-exporter.js';
import { createLogger, type Logger } from '../../shared/logger.js';
import type { renderDraft } from '../../shared/render/render-draft.js';
import { materialIdsNeedingMedia } from '../../shared/render/render-media.js';
import { exportJobBodySchema } from './export-job-body.js';

/** The service's accounting (`GET /stats`): the builtin exporter's. */
export type ExportServiceStats = BuiltinExporterStats;

/** Options of {@link startExportService}. */
export interface ExportServiceOptions {
  /** 0 (the default) picks a free port */
  port?: number;
  /** default 127.0.0.1 */
  host?: string;
  /** where job folders and finished videos live; its `jobs/` folder is emptied at start */
  workDir: string;
  /** jobs (and their videos) kept for GET, the running one included; the oldest finished is evicted when a job starts. Default 20. */
  keepJobs?: number;
  /** the renderer; tests swap it */
  render?: typeof renderDraft;
  /** x264 preset passed to the renderer */
  preset?: string;
  /** output frame rate passed to the renderer (its default: the canvas fps, at most 15) */
  fps?: number;
  /** longest long-poll `?wait=` honoured, seconds. Default 60. */
  maxWaitSeconds?: number;
  /** per-file media download timeout, milliseconds. Default 120 000. */
  downloadTimeoutMs?: number;
  /**
   * The shared secret every `/jobs` request must carry as `Authorization: Bearer <token>`
   * (401 otherwise). Omitted: a random one is generated — the service is never open — and
   * handed out as {@link ExportService.authToken}.
   */
  authToken?: string;
  log?: Logger;
}

/** A running export service. */
export interface ExportService {
  /** base URL, e.g. `http://127.0.0.1:40123` */
  url: string;
  port: number;
  /** the bearer token `/jobs` requests must carry */
  authToken: string;
  /** cancels the running job (killing ffmpeg), then stops listening */
  close(): Promise<void>;
  stats(): ExportServiceStats;
}

const MAX_BODY_BYTES = 5 * 1024 * 1024;

/**
 * Starts the export service and resolves once it listens.
 *
 * Routes: `PUT /jobs/{task_id}` (202, or 503 busy, 409 conflicting draft, 400 invalid),
 * `GET /jobs/{task_id}?wait=S`, `GET /jobs/{task_id}/video`, `DELETE /jobs/{task_id}`,
 * `GET /health`, `GET /stats`. Every `/jobs` route answers 401 `unauthorized` without
 * `Authorization: Bearer <authToken>`.
 */
export async function startExportService(opts: ExportServiceOptions): Promise<ExportService> {
  const log = opts.log ?? createLogger({ component: 'export-service' });
  const authToken = opts.authToken || randomBytes(32).toString('base64url');
  const jobsDir = path.join(path.resolve(opts.workDir), 'jobs');
  // Job folders of an earlier process are unreachable (the job table lives in memory).
  await rm(jobsDir, { recursive: true, force: true });
  await mkdir(jobsDir, { recursive: true });
  const exporter = new BuiltinExporter({
    workRoot: jobsDir,
    keepJobs: Math.max(1, opts.keepJobs ?? 20),
    render: opts.render,
    preset: opts.preset,
    fps: opts.fps,
    downloadTimeoutMs: opts.downloadTimeoutMs ?? 120_000,
    log,
  });

  const app = exportServiceApp({ exporter, authToken, maxWaitSeconds: opts.maxWaitSeconds ?? 60, log });
  const host = opts.host ?? '127.0.0.1';
  const server = await listen(app, host, opts.port ?? 0);
  const { port } = server.address() as AddressInfo;
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
  log.info('export service listening', { url, work_dir: opts.workDir });

  return {
    url,
    port,
    authToken,
    stats: () => exporter.stats(),
    async close() {
      await exporter.close();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}

/** The routes, over `exporter`. */
function exportServiceApp(a: { exporter: BuiltinExporter; authToken: string; maxWaitSeconds: number; log: Logger }): Hono {
  const { exporter, log } = a;
  const app = new Hono();

  app.onError((error, c) => {
    log.error('export service request failed', { error, path: c.req.path });
    return c.json({ error: 'internal', message: 'The export service hit an unexpected error; see its log.' }, 500);
  });
  app.notFound((c) => c.json({ error: 'not_found', message: `No route ${c.req.method} ${c.req.path}.` }, 404));

  app.get('/health', (c) => {
    const stats = exporter.stats();
    return c.json({ status: 'ok', busy: stats.running_task_id !== null, ...stats });
  });
  app.get('/stats', (c) => c.json(exporter.stats()));

  // Jobs carry presigned media URLs and give out videos: only holders of the secret may touch
  // them. /health and /stats stay open (accounting only: task ids and times, no URLs or media).
  app.use('/jobs/*', requireBearerToken(a.authToken, log));

  app.put(
    '/jobs/:taskId',
    bodyLimit({ maxSize: MAX_BODY_BYTES, onError: (c) => c.json({ error: 'too_large', message: `The job body exceeds ${MAX_BODY_BYTES} bytes.` }, 413) }),
    (c) => putJob(c, exporter),
  );

  app.get('/jobs/:taskId', async (c) => {
    const taskId = c.req.param('taskId');
    if (!exporter.find(taskId)) return unknownTask(c, taskId);
    const wait = Math.min(a.maxWaitSeconds, Math.max(0, Number(c.req.query('wait') ?? 0) || 0));
    return c.json(await exporter.status(taskId, wait, c.req.raw.signal));
  });

  app.get('/jobs/:taskId/video', async (c) => {
    const taskId = c.req.param('taskId');
    const job = exporter.find(taskId);
    if (!job) return unknownTask(c, taskId);
    if (job.state !== 'succeeded') {
      return c.json({ error: 'not_ready', message: `The export of task ${taskId} is ${job.state}, not succeeded.`, state: job.state }, 409);
    }
    const video = await exporter.video(taskId);
    const body = Readable.toWeb(video.body) as unknown as ReadableStream<Uint8Array>;
    return new Response(body, { status: 200, headers: { 'content-type': 'video/mp4', 'content-length': String(video.contentLength) } });
  });

  // The slot is free only once ffmpeg has exited: the answer comes after that.
  app.delete('/jobs/:taskId', async (c) => {
    const taskId = c.req.param('taskId');
    const job = await exporter.cancelJob(taskId);
    return job ? c.json(job) : unknownTask(c, taskId);
  });

  return app;
}

/** 401 `unauthorized` unless the request carries `Authorization: Bearer <authToken>`. */
function requireBearerToken(authToken: string, log: Logger): MiddlewareHandler {
  return async (c, next) => {
    const header = c.req.header('authorization');
    if (isAuthorizedExportRequest(header, authToken)) return next();
    log.warn('export request refused: no or wrong bearer token', { method: c.req.method, path: c.req.path, had_header: header !== undefined });
    c.header('WWW-Authenticate', 'Bearer realm="export-service"');
    return c.json(
      {
        error: 'unauthorized',
        message: header
          ? "The bearer token is not this export service's secret (EXPORT_AUTH_TOKEN)."
          : 'The export service needs its shared secret: send "Authorization: Bearer <EXPORT_AUTH_TOKEN>".',
      },
      401,
    );
  };
}

/** `PUT /jobs/{task_id}`: validates the body, then claims the render slot (idempotent per task id). */
async function putJob(c: Context, exporter: BuiltinExporter): Promise<Response> {
  const taskId = c.req.param('taskId') ?? '';
  let body: unknown;
  try {
    body = await c.req.json();
  } catch {
    return c.json({ error: 'invalid_request', message: 'The body is not JSON.' }, 400);
  }
  const parsed = exportJobBodySchema.safeParse(body);
  if (!parsed.success) {
    const issues = parsed.error.issues.slice(0, 5).map((i) => `${i.path.join('.') || '(body)'}: ${i.message}`);
    return c.json({ error: 'invalid_request', message: `The job is not {draft, media}: ${issues.join('; ')}.` }, 400);
  }
  const draft = parsed.data.draft as Draft;
  const media = parsed.data.media;
  const missing = materialIdsNeedingMedia(draft).filter((id) => !media[id]);
  if (missing.length) {
    return c.json({ error: 'invalid_request', message: `No media URL for material(s) ${missing.map((m) => `"${m}"`).join(', ')}.` }, 400);
  }
  const claimed = exporter.claim(taskId, { draft, media });
  switch (claimed.outcome) {
    case 'accepted':
    case 'existing':
      return c.json(claimed.job, 202);
    case 'conflict':
      return c.json({ error: 'conflict', message: `Task ${taskId} already has a ${claimed.job.state} export of a different draft.` }, 409);
    case 'closing':
      return c.json({ error: 'closing', message: 'The export service is shutting down.' }, 503);
    case 'busy':
      c.header('Retry-After', String(claimed.retryAfterSeconds));
      return c.json(
        {
          error: 'busy',
          message: `The export service is rendering task ${claimed.runningTaskId}; retry in about ${claimed.retryAfterSeconds} s.`,
          running_task_id: claimed.runningTaskId,
        },
        503,
      );
  }
}

/** Resolves once `app` listens on `host:port`; rejects when the port is taken. */
async function listen(app: Hono, host: string, port: number): Promise<Server> {
  const server = serve({ fetch: app.fetch, port, hostname: host }) as Server;
  await new Promise<void>((resolve, reject) => {
    if (server.listening) return resolve();
    server.once('listening', resolve);
    server.once('error', reject);
  });
  return server;
}

function unknownTask(c: Context, taskId: string): Response {
  return c.json({ error: 'not_found', message: `No export job for task ${taskId}.` }, 404);
}
