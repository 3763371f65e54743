/**
 * The single-threaded export service of the embedded stack: an HTTP wrapper around
 * {@link renderDraft} with ONE render slot, speaking the asynchronous job contract
 * (submit with PUT, long-poll with GET, download the video, cancel with DELETE).
 *
 * While a job holds the slot (downloading its media, then rendering), a PUT for another task is
 * answered 503 with `Retry-After`; there is no queue here — the pipeline's export queue is the
 * queue. The service keeps its own accounting (`/stats`) so tests and benchmarks can prove it
 * never ran two renders at once.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, rm, stat } from 'node:fs/promises';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { Readable } from 'node:stream';
import { serve } from '@hono/node-server';
import { Hono, type Context } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { z } from 'zod';
import type { Draft } from '../../shared/draft/draft.js';
import { isAuthorizedExportRequest } from '../../shared/export/export-auth.js';
import { createLogger, type Logger } from '../../shared/logger.js';
import { downloadMedia, exportFailureMessage, isRetryableExportError } from '../../shared/render/media-download.js';
import { renderDraft } from '../../shared/render/render-draft.js';
import { materialIdsNeedingMedia } from '../../shared/render/render-media.js';
import { settledOrTimeout } from '../../shared/wait.js';

/** Kept under this module's names for its importers; defined in `shared/render/media-download.ts`. */
export { isRetryableExportError, MediaDownloadError } from '../../shared/render/media-download.js';

/** A job's state as the service reports it. A job is `running` from the accepted PUT until it ends. */
export type ExportJobRunState = 'running' | 'succeeded' | 'failed' | 'cancelled';

/** Answer of `GET /jobs/{task_id}` (and of PUT and DELETE). */
export interface ExportJobView {
  task_id: string;
  state: ExportJobRunState;
  /** ISO 8601 */
  started_at: string;
  /** ISO 8601; null while running */
  ended_at: string | null;
  /** why it failed, a sentence (set when failed) */
  error?: string;
  /** class of the failure, e.g. `MediaDownloadError`, `RenderFailedError`, `InvalidDraftError` */
  error_name?: string;
  /** whether a new PUT of the same task may succeed (fresh URLs, a passing fault) */
  retryable?: boolean;
  /** render wall time (set when succeeded) */
  render_ms?: number;
  /** size of the mp4 (set when succeeded) */
  video_bytes?: number;
}

/** One run of one task, in the order runs started. */
export interface ExportRunSummary {
  task_id: string;
  /** service-wide run number, 1-based */
  run: number;
  state: ExportJobRunState;
  started_at: string;
  ended_at: string | null;
}

/** The service's own accounting (`GET /stats`). */
export interface ExportServiceStats {
  renders_started: number;
  renders_completed: number;
  /** jobs that ended failed (in download or render) */
  jobs_failed: number;
  /** jobs that ended cancelled */
  jobs_cancelled: number;
  /** high-water mark of renders in flight at once: 1 for a healthy single-slot service */
  max_concurrent_renders: number;
  /** total wall time spent inside renders, milliseconds */
  busy_ms: number;
  running_task_id: string | null;
  /** the most recent runs (at most {@link RUN_HISTORY_LIMIT}), oldest first */
  jobs: ExportRunSummary[];
}

/** Options of {@link startExportService}. */
export interface ExportServiceOptions {
  /** 0 (the default) picks a free port */
  port?: number;
  /** default 127.0.0.1 */
  host?: string;
  /** where job folders and finished videos live; its `jobs/` folder is emptied at start */
  workDir: string;
  /** finished jobs (and their videos) kept for GET; the oldest is evicted beyond this. Default 20. */
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

/** Runs kept in `/stats` `jobs`. */
export const RUN_HISTORY_LIMIT = 1000;
const MAX_BODY_BYTES = 5 * 1024 * 1024;

const hexColor = z.string().regex(/^#[0-9a-fA-F]{6}$/);
const timeRange = z.looseObject({ start_us: z.number().min(0), duration_us: z.number().min(0) });
const mediaSegment = z.looseObject({ id: z.string(), material_id: z.string(), target: timeRange, source: timeRange.optional() });
const draftSchema = z.looseObject({
  version: z.literal(1),
  task_id: z.string(),
  canvas: z.looseObject({ width: z.number().int().positive(), height: z.number().int().positive(), fps: z.number().positive() }),
  duration_us: z.number().positive(),
  language: z.string(),
  materials: z.array(
    z.discriminatedUnion('type', [
      z.looseObject({ id: z.string(), type: z.literal('audio'), key: z.string(), content_type: z.string(), duration_us: z.number() }),
      z.looseObject({ id: z.string(), type: z.literal('generated_background'), colors: z.tuple([hexColor, hexColor]) }),
      z.looseObject({ id: z.string(), type: z.literal('image'), key: z.string(), content_type: z.string() }),
      z.looseObject({ id: z.string(), type: z.literal('subtitles'), key: z.string(), content_type: z.string() }),
    ]),
  ),
  tracks: z.array(
    z.discriminatedUnion('type', [
      z.looseObject({ type: z.literal('audio'), name: z.string(), segments: z.array(mediaSegment) }),
      z.looseObject({ type: z.literal('video'), name: z.string(), segments: z.array(mediaSegment) }),
      z.looseObject({ type: z.literal('text'), name: z.string(), segments: z.array(z.looseObject({ id: z.string(), text: z.string(), target: timeRange })) }),
    ]),
  ),
});
const jobBodySchema = z.object({
  draft: draftSchema,
  media: z.record(z.string(), z.url({ protocol: /^https?$/ })),
});

interface Job {
  taskId: string;
  run: number;
  state: ExportJobRunState;
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
  const render = opts.render ?? renderDraft;
  const keepJobs = Math.max(1, opts.keepJobs ?? 20);
  const maxWaitSeconds = opts.maxWaitSeconds ?? 60;
  const downloadTimeoutMs = opts.downloadTimeoutMs ?? 120_000;
  const authToken = opts.authToken || randomBytes(32).toString('base64url');
  const jobsDir = path.join(path.resolve(opts.workDir), 'jobs');
  // Job folders of an earlier process are unreachable (the job table lives in memory).
  await rm(jobsDir, { recursive: true, force: true });
  await mkdir(jobsDir, { recursive: true });

  const jobs = new Map<string, Job>();
  const history: ExportRunSummary[] = [];
  let current: Job | null = null;
  let runCounter = 0;
  let activeRenders = 0;
  let closing = false;
  const counters = { renders_started: 0, renders_completed: 0, jobs_failed: 0, jobs_cancelled: 0, max_concurrent_renders: 0, busy_ms: 0 };
  // render wall time per media time of the successful renders, for Retry-After
  const speed = { renderMs: 0, mediaMs: 0 };

  const stats = (): ExportServiceStats => ({
    ...counters,
    running_task_id: current?.taskId ?? null,
    jobs: history.map((s) => ({ ...s })),
  });

  const view = (job: Job): ExportJobView => ({
    task_id: job.taskId,
    state: job.state,
    started_at: new Date(job.startedAt).toISOString(),
    ended_at: job.endedAt === null ? null : new Date(job.endedAt).toISOString(),
    ...(job.failure ? { error: job.failure.message, error_name: job.failure.name, retryable: job.failure.retryable } : {}),
    ...(job.state === 'succeeded' ? { render_ms: job.renderMs, video_bytes: job.videoBytes } : {}),
  });

  const retryAfterSeconds = (job: Job): number => {
    const ratio = speed.mediaMs > 0 ? speed.renderMs / speed.mediaMs : 0.5;
    const expectedMs = (job.durationUs / 1000) * ratio + 2000;
    return Math.min(30, Math.max(1, Math.ceil((expectedMs - (Date.now() - job.startedAt)) / 1000)));
  };

  const evictFinishedJobs = async () => {
    const finished = [...jobs.values()].filter((j) => j.state !== 'running').sort((a, b) => (a.endedAt ?? 0) - (b.endedAt ?? 0));
    for (const job of finished.slice(0, Math.max(0, finished.length - keepJobs))) {
      jobs.delete(job.taskId);
      await rm(job.dir, { recursive: true, force: true });
    }
  };

  const runJob = async (job: Job, draft: Draft, mediaUrls: Record<string, string>, release: () => void) => {
    const jobLog = log.child({ task_id: job.taskId, stage: 'export', run: job.run });
    const scratch = [path.join(job.dir, 'media'), path.join(job.dir, 'render')];
    try {
      const media = await downloadMedia({
        materials: draft.materials,
        ids: materialIdsNeedingMedia(draft),
        urls: mediaUrls,
        dir: scratch[0],
        signal: job.controller.signal,
        timeoutMs: downloadTimeoutMs,
      });
      counters.renders_started++;
      activeRenders++;
      counters.max_concurrent_renders = Math.max(counters.max_concurrent_renders, activeRenders);
      const renderStart = Date.now();
      let renderMs = 0;
      try {
        const result = await render({
          draft,
          media,
          outputPath: job.videoPath,
          workDir: scratch[1],
          signal: job.controller.signal,
          preset: opts.preset,
          fps: opts.fps,
          log: (msg, data) => jobLog.debug(msg, { ...data }),
        });
        job.renderMs = result.render_ms;
      } finally {
        activeRenders--;
        renderMs = Date.now() - renderStart;
        counters.busy_ms += renderMs;
      }
      speed.renderMs += renderMs;
      speed.mediaMs += job.durationUs / 1000;
      job.videoBytes = (await stat(job.videoPath)).size;
      job.state = 'succeeded';
      counters.renders_completed++;
      jobLog.info('export succeeded', { render_ms: job.renderMs, video_bytes: job.videoBytes });
    } catch (error: unknown) {
      if (job.controller.signal.aborted) {
        job.state = 'cancelled';
        counters.jobs_cancelled++;
        jobLog.info('export cancelled');
      } else {
        job.state = 'failed';
        counters.jobs_failed++;
        job.failure = { name: error instanceof Error ? error.name : 'Error', message: exportFailureMessage(error), retryable: isRetryableExportError(error) };
        jobLog.warn('export failed', { error, retryable: job.failure.retryable });
      }
    } finally {
      // Nothing here may throw: the slot must be released whatever happens.
      await Promise.all(scratch.map((dir) => rm(dir, { recursive: true, force: true }))).catch((error: unknown) =>
        jobLog.warn('removing the job scratch folders failed', { error }),
      );
      job.endedAt = Date.now();
      job.summary.state = job.state;
      job.summary.ended_at = new Date(job.endedAt).toISOString();
      await evictFinishedJobs().catch((error: unknown) => log.warn('evicting old export jobs failed', { error }));
      if (current === job) current = null;
      release();
    }
  };

  const app = new Hono();

  app.onError((error, c) => {
    log.error('export service request failed', { error, path: c.req.path });
    return c.json({ error: 'internal', message: 'The export service hit an unexpected error; see its log.' }, 500);
  });
  app.notFound((c) => c.json({ error: 'not_found', message: `No route ${c.req.method} ${c.req.path}.` }, 404));

  app.get('/health', (c) => c.json({ status: 'ok', busy: current !== null, ...stats() }));
  app.get('/stats', (c) => c.json(stats()));

  // Jobs carry presigned media URLs and give out videos: only holders of the secret may touch
  // them. /health and /stats stay open (accounting only: task ids and times, no URLs or media).
  app.use('/jobs/*', async (c, next) => {
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
  });

  app.put(
    '/jobs/:taskId',
    bodyLimit({ maxSize: MAX_BODY_BYTES, onError: (c) => c.json({ error: 'too_large', message: `The job body exceeds ${MAX_BODY_BYTES} bytes.` }, 413) }),
    async (c) => {
      const taskId = c.req.param('taskId');
      let body: unknown;
      try {
        body = await c.req.json();
      } catch {
        return c.json({ error: 'invalid_request', message: 'The body is not JSON.' }, 400);
      }
      const parsed = jobBodySchema.safeParse(body);
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
      // No await from here on: check and claim of the slot happen in one turn of the event loop.
      const draftHash = createHash('sha256').update(JSON.stringify(draft)).digest('hex');
      const existing = jobs.get(taskId);
      if (existing && (existing.state === 'running' || existing.state === 'succeeded')) {
        if (existing.draftHash !== draftHash) {
          return c.json({ error: 'conflict', message: `Task ${taskId} already has a ${existing.state} export of a different draft.` }, 409);
        }
        return c.json(view(existing), 202);
      }
      if (closing) return c.json({ error: 'closing', message: 'The export service is shutting down.' }, 503);
      if (current) {
        const retryAfter = retryAfterSeconds(current);
        c.header('Retry-After', String(retryAfter));
        return c.json(
          { error: 'busy', message: `The export service is rendering task ${current.taskId}; retry in about ${retryAfter} s.`, running_task_id: current.taskId },
          503,
        );
      }
      const run = ++runCounter;
      const dir = path.join(jobsDir, `${String(run).padStart(6, '0')}-${taskId.replace(/[^A-Za-z0-9_-]/g, '_').slice(0, 48)}`);
      let release: () => void = () => {};
      const done = new Promise<void>((resolve) => (release = resolve));
      const startedAt = Date.now();
      const summary: ExportRunSummary = { task_id: taskId, run, state: 'running', started_at: new Date(startedAt).toISOString(), ended_at: null };
      const job: Job = {
        taskId, run, state: 'running', startedAt, endedAt: null, draftHash, durationUs: draft.duration_us,
        dir, videoPath: path.join(dir, 'video.mp4'), controller: new AbortController(), done, summary,
      };
      // A failed or cancelled earlier run has no video worth keeping.
      if (existing) void rm(existing.dir, { recursive: true, force: true });
      jobs.set(taskId, job);
      current = job;
      history.push(summary);
      if (history.length > RUN_HISTORY_LIMIT) history.splice(0, history.length - RUN_HISTORY_LIMIT);
      if (draft.task_id !== taskId) log.warn('draft task_id differs from the job id', { task_id: taskId, draft_task_id: draft.task_id });
      log.info('export accepted', { task_id: taskId, run, duration_us: draft.duration_us });
      void runJob(job, draft, media, release);
      return c.json(view(job), 202);
    },
  );

  app.get('/jobs/:taskId', async (c) => {
    const taskId = c.req.param('taskId');
    const job = jobs.get(taskId);
    if (!job) return unknownTask(c, taskId);
    const wait = Math.min(maxWaitSeconds, Math.max(0, Number(c.req.query('wait') ?? 0) || 0));
    if (job.state === 'running' && wait > 0) await settledOrTimeout(job.done, wait * 1000, c.req.raw.signal);
    return c.json(view(jobs.get(taskId) ?? job));
  });

  app.get('/jobs/:taskId/video', async (c) => {
    const taskId = c.req.param('taskId');
    const job = jobs.get(taskId);
    if (!job) return unknownTask(c, taskId);
    if (job.state !== 'succeeded') {
      return c.json({ error: 'not_ready', message: `The export of task ${taskId} is ${job.state}, not succeeded.`, state: job.state }, 409);
    }
    const size = (await stat(job.videoPath)).size;
    const body = Readable.toWeb(createReadStream(job.videoPath)) as unknown as ReadableStream<Uint8Array>;
    return new Response(body, { status: 200, headers: { 'content-type': 'video/mp4', 'content-length': String(size) } });
  });

  app.delete('/jobs/:taskId', async (c) => {
    const taskId = c.req.param('taskId');
    const job = jobs.get(taskId);
    if (!job) return unknownTask(c, taskId);
    if (job.state === 'running') {
      log.info('export cancel requested', { task_id: taskId, run: job.run });
      job.controller.abort();
      // The slot is free only once ffmpeg has exited; answer after that (bounded, in case a renderer ignores the signal).
      await settledOrTimeout(job.done, 15_000);
    }
    return c.json(view(job));
  });

  const server = serve({ fetch: app.fetch, port: opts.port ?? 0, hostname: opts.host ?? '127.0.0.1' }) as Server;
  await new Promise<void>((resolve, reject) => {
    if (server.listening) return resolve();
    server.once('listening', resolve);
    server.once('error', reject);
  });
  const { port } = server.address() as AddressInfo;
  const host = opts.host ?? '127.0.0.1';
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
  log.info('export service listening', { url, work_dir: opts.workDir });

  return {
    url,
    port,
    authToken,
    stats,
    async close() {
      closing = true;
      const running = current;
      if (running) {
        running.controller.abort();
        await running.done;
      }
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}

function unknownTask(c: Context, taskId: string): Response {
  return c.json({ error: 'not_found', message: `No export job for task ${taskId}.` }, 404);
}

