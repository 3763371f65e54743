import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startExportService, type ExportService } from '../../infra/embedded/export-service.js';
import { BuiltinExporter } from '../../shared/export/builtin-exporter.js';
import type { ExportOutcome } from '../../shared/export/export-worker.js';
import { ExportJobLostError, ExporterUnavailableError, type Exporter } from '../../shared/export/exporter.js';
import { HttpExporter } from '../../shared/export/http-exporter.js';
import type { Logger } from '../../shared/logger.js';
import type { renderDraft } from '../../shared/render/render-draft.js';
import { recordReliability } from '../support/reliability.js';
import { startTestStack, type TestStack } from '../support/stack.js';

/**
 * Export jobs that outlive their exporter: a restarted exporter (the job is submitted again) and
 * a hung one (the attempt ends after EXPORT_MAX_JOB_SECONDS). Renders are stand-ins that write a
 * few bytes, so the tests exercise the worker's control flow, not ffmpeg.
 */
const quiet: Logger = { debug() {}, info() {}, warn() {}, error() {}, child: () => quiet };
const FAKE_MP4 = Buffer.from('\u0000\u0000\u0000\u0018ftypisom fake video bytes');

/** A render that finishes at once. */
const quickRender: typeof renderDraft = async (opts) => {
  await writeFile(opts.outputPath, FAKE_MP4);
  return { duration_ms: 1000, render_ms: 1 };
};

/** A render that never finishes on its own: it ends only when cancelled (its signal aborts). */
const endlessRender: typeof renderDraft = (opts) =>
  new Promise((_resolve, reject) => {
    const stop = () => reject(Object.assign(new Error('render cancelled'), { name: 'AbortError' }));
    if (opts.signal?.aborted) return stop();
    opts.signal?.addEventListener('abort', stop, { once: true });
  });

/** the exporter's bearer secret, shared by the test's export services and the stack's worker */
const EXPORT_TOKEN = 'deadline-test-secret';

describe('a lost export job is submitted again, the same way by both exporters', () => {
  let workDir: string;
  let service: ExportService;
  beforeAll(async () => {
    workDir = await mkdtemp(path.join(os.tmpdir(), 'export-lost-'));
    service = await startExportService({ workDir, render: quickRender, log: quiet, authToken: EXPORT_TOKEN });
  });
  afterAll(async () => {
    await service?.close();
    await rm(workDir, { recursive: true, force: true });
  });

  it('http exporter: a 404 on the status call is ExportJobLostError, not a failed job', async () => {
    const status = new HttpExporter(service.url, EXPORT_TOKEN).status('never-submitted', 0);
    await expect(status).rejects.toBeInstanceOf(ExportJobLostError);
  });

  it('builtin exporter: a status call for a job it does not hold is ExportJobLostError, not a failed job', async () => {
    const status = new BuiltinExporter({ workRoot: workDir, render: quickRender, log: quiet }).status('never-submitted', 0);
    await expect(status).rejects.toBeInstanceOf(ExportJobLostError);
  });
});

describe('an exporter restarted mid-job', () => {
  let stack: TestStack;
  let workDir: string;
  let first: ExportService;
  let second: ExportService | undefined;
  const outcomes: Array<{ outcome: ExportOutcome; task_id: string }> = [];
  const submitted = new Map<string, () => void>();
  let holdStatus: Promise<void> | undefined;

  beforeAll(async () => {
    workDir = await mkdtemp(path.join(os.tmpdir(), 'export-restart-'));
    first = await startExportService({ workDir, render: endlessRender, log: quiet, authToken: EXPORT_TOKEN });
    stack = await startTestStack({
      exportVideoUrl: first.url,
      extraEnv: { EXPORT_AUTH_TOKEN: EXPORT_TOKEN },
      onExportOutcome: (outcome, body) => outcomes.push({ outcome, task_id: (JSON.parse(body) as { task_id: string }).task_id }),
      // The worker's status calls wait while the test restarts the service: the next call the
      // worker makes after an accepted PUT meets the new process, as after a crash and restart.
      wrapExporter: (inner: Exporter): Exporter => ({
        submit: async (id, job, signal) => {
          await inner.submit(id, job, signal);
          submitted.get(id)?.();
        },
        status: async (id, wait, signal) => {
          await holdStatus;
          return inner.status(id, wait, signal);
        },
        video: (id, signal) => inner.video(id, signal),
        cancel: (id) => inner.cancel(id),
      }),
    });
  });
  afterAll(async () => {
    await stack?.close();
    await second?.close();
    await first?.close();
    await rm(workDir, { recursive: true, force: true });
  });

  it('submits the job again and the task SUCCEEDS with exactly one stored video', async () => {
    let release: () => void = () => {};
    holdStatus = new Promise<void>((r) => (release = r));
    const sub = await stack.post({ creator_id: 'deadline', video_id: 'restart', source_text: 'The exporter restarts while this renders.' });
    const taskId = sub.body.task_id as string;
    await new Promise<void>((r) => submitted.set(taskId, r));

    await first.close(); // the process goes away with its job table
    second = await startExportService({ port: first.port, workDir, render: quickRender, log: quiet, authToken: EXPORT_TOKEN });
    release();
    const task = await stack.finished(taskId);

    expect(task.status, JSON.stringify(task.error)).toBe('SUCCEEDED');
    expect((await stack.objectKeys()).filter((k) => k.startsWith(`tasks/${taskId}/`) && k.endsWith('/final_video.mp4'))).toEqual([task.final_video_key]);
    expect(
      first
        .stats()
        .jobs.filter((j) => j.task_id === taskId)
        .map((j) => j.state),
    ).toEqual(['cancelled']);
    expect(
      second
        .stats()
        .jobs.filter((j) => j.task_id === taskId)
        .map((j) => j.state),
    ).toEqual(['succeeded']);
    // One Export attempt: the resubmission happened inside it, not through the state machine's Retry.
    expect(outcomes.filter((o) => o.task_id === taskId).map((o) => o.outcome)).toEqual(['succeeded']);
    expect(task.stages.export.attempts).toBe(1);
    const videos = (await stack.objectKeys()).filter((k) => k === task.final_video_key).length;
    recordReliability({
      fault: 'export service restarted mid-job (its job table lost)',
      runs: 1,
      outcome: `task ${task.status} in ${task.stages.export.attempts} Export attempt(s); the job was submitted again (404 → PUT)`,
      data_lost: 1 - videos,
      duplicates: second.stats().jobs.filter((j) => j.task_id === taskId && j.state === 'succeeded').length - 1,
      locks_leaked: (await stack.itemKeys()).filter((k) => k === 'LOCK#deadline#restart').length,
    });
  });
});

describe('a hung exporter', () => {
  let stack: TestStack;
  let workDir: string;
  let service: ExportService;
  const outcomes: Array<{ outcome: ExportOutcome; task_id: string }> = [];
  /** tasks whose first attempt meets an exporter that accepts the job and then never finishes it */
  const hangFirstAttempt = new Set<string>();
  const hung = new Map<string, { submittedAt: number; polls: number; cancelledAt?: number }>();
  /** tasks whose hung job the stand-in reports as started this long before the worker's submit (an earlier delivery's job) */
  const startedEarlierMs = new Map<string, number>();
  // Without a deadline the worker would poll the stand-in forever: after this many polls it gives
  // up with a terminal failure, so a missing deadline fails the test quickly instead of hanging it.
  const STAND_IN_GIVES_UP_AFTER_POLLS = 40;
  /** tasks whose first attempt meets an exporter that answers 404 to every status call (it loses every job) */
  const loseFirstAttempt = new Map<string, { puts: number; polls: number; attemptOver: boolean }>();
  /** tasks whose exporter becomes unreachable right after accepting the job, for longer than the max job time, then comes back without it */
  const outageThenLost = new Map<string, { acceptedAt: number; outageMs: number; unreachable: number; recovered: boolean }>();

  beforeAll(async () => {
    workDir = await mkdtemp(path.join(os.tmpdir(), 'export-hung-'));
    service = await startExportService({ workDir, render: quickRender, log: quiet, authToken: EXPORT_TOKEN });
    stack = await startTestStack({
      exportVideoUrl: service.url,
      extraEnv: { EXPORT_MAX_JOB_SECONDS: '1', EXPORT_AUTH_TOKEN: EXPORT_TOKEN },
      onExportOutcome: (outcome, body) => {
        const taskId = (JSON.parse(body) as { task_id: string }).task_id;
        outcomes.push({ outcome, task_id: taskId });
        const losing = loseFirstAttempt.get(taskId);
        if (losing) losing.attemptOver = true;
      },
      wrapExporter: (inner: Exporter): Exporter => ({
        submit: async (id, job, signal) => {
          const down = outageThenLost.get(id);
          if (down && !down.acceptedAt) {
            down.acceptedAt = Date.now();
            return;
          }
          const losing = loseFirstAttempt.get(id);
          if (losing && !losing.attemptOver) {
            losing.puts += 1;
            return;
          }
          if (hangFirstAttempt.has(id) && !hung.has(id)) {
            hung.set(id, { submittedAt: Date.now(), polls: 0 });
            return;
          }
          await inner.submit(id, job, signal);
        },
        status: async (id, wait, signal) => {
          const down = outageThenLost.get(id);
          if (down && !down.recovered) {
            if (Date.now() - down.acceptedAt < down.outageMs) {
              down.unreachable += 1;
              throw new ExporterUnavailableError('connection refused (stand-in outage)');
            }
            down.recovered = true; // back, restarted: it has no job for the task
            throw new ExportJobLostError(`no job for ${id} (stand-in, after its restart)`);
          }
          const losing = loseFirstAttempt.get(id);
          if (losing && !losing.attemptOver) {
            losing.polls += 1;
            if (losing.polls > STAND_IN_GIVES_UP_AFTER_POLLS)
              return {
                task_id: id,
                state: 'failed',
                retryable: false,
                error: `the stand-in lost the job ${losing.polls} times and the worker kept submitting it`,
              };
            throw new ExportJobLostError(`no job for ${id} (stand-in)`);
          }
          const h = hung.get(id);
          if (!h || h.cancelledAt !== undefined) return inner.status(id, wait, signal);
          h.polls += 1;
          if (h.polls > STAND_IN_GIVES_UP_AFTER_POLLS) {
            return { task_id: id, state: 'failed', retryable: false, error: `the stand-in exporter hung for ${h.polls} polls and nobody cancelled the job` };
          }
          // A long-poll that ends with the job still running (shortened: the stand-in answers within 250 ms).
          await new Promise((r) => setTimeout(r, Math.min(wait * 1000, 250)));
          return { task_id: id, state: 'running', started_at: new Date(h.submittedAt - (startedEarlierMs.get(id) ?? 0)).toISOString() };
        },
        video: (id, signal) => inner.video(id, signal),
        cancel: async (id) => {
          const h = hung.get(id);
          if (h && h.cancelledAt === undefined) h.cancelledAt = Date.now();
          else await inner.cancel(id);
        },
      }),
    });
  });
  afterAll(async () => {
    await stack?.close();
    await service?.close();
    await rm(workDir, { recursive: true, force: true });
  });

  it('ends the attempt after EXPORT_MAX_JOB_SECONDS, cancels the job at the exporter, and the next attempt renders', async () => {
    const sub = await stack.post({ creator_id: 'deadline', video_id: 'hung', source_text: 'The exporter never finishes this one.' });
    const taskId = sub.body.task_id as string;
    hangFirstAttempt.add(taskId);
    const task = await stack.finished(taskId);

    expect(task.status, JSON.stringify(task.error)).toBe('SUCCEEDED');
    const h = hung.get(taskId)!;
    expect(h.cancelledAt, 'the hung job was never cancelled at the exporter').toBeDefined();
    expect(h.cancelledAt! - h.submittedAt).toBeGreaterThanOrEqual(1000);
    expect(outcomes.filter((o) => o.task_id === taskId).map((o) => o.outcome)).toEqual(['retry_requested', 'succeeded']);
    expect(task.stages.export.attempts).toBe(2);
    expect(
      service
        .stats()
        .jobs.filter((j) => j.task_id === taskId)
        .map((j) => j.state),
    ).toEqual(['succeeded']);
    recordReliability({
      fault: 'exporter hangs on a job (accepts it, never finishes); EXPORT_MAX_JOB_SECONDS=1',
      runs: 1,
      outcome: `job cancelled at the exporter after ${((h.cancelledAt! - h.submittedAt) / 1000).toFixed(1)} s; task ${task.status} on Export attempt ${task.stages.export.attempts}`,
      data_lost: task.artifacts.some((a) => a.name === 'final_video.mp4') ? 0 : 1,
      duplicates: service.stats().jobs.filter((j) => j.task_id === taskId).length - 1,
      locks_leaked: (await stack.itemKeys()).filter((k) => k === 'LOCK#deadline#hung').length,
    });
  }, 60_000);

  it('backs off from an exporter that loses every job it accepts, and ends the attempt after EXPORT_MAX_JOB_SECONDS', async () => {
    const sub = await stack.post({ creator_id: 'deadline', video_id: 'lost-always', source_text: 'The exporter forgets this job each time.' });
    const taskId = sub.body.task_id as string;
    loseFirstAttempt.set(taskId, { puts: 0, polls: 0, attemptOver: false });
    const task = await stack.finished(taskId);

    expect(task.status, JSON.stringify(task.error)).toBe('SUCCEEDED');
    expect(outcomes.filter((o) => o.task_id === taskId).map((o) => o.outcome)).toEqual(['retry_requested', 'succeeded']);
    // 1 s of a job lost at once each time: resubmitted at once, then after 1 s — not in a hot loop.
    expect(loseFirstAttempt.get(taskId)!.puts).toBeLessThanOrEqual(5);
  }, 60_000);

  it('does not count an outage against the job: lost after a restart longer than EXPORT_MAX_JOB_SECONDS, it is submitted again in the same attempt', async () => {
    const sub = await stack.post({ creator_id: 'deadline', video_id: 'outage', source_text: 'The exporter goes down for a while and restarts.' });
    const taskId = sub.body.task_id as string;
    outageThenLost.set(taskId, { acceptedAt: 0, outageMs: 1500, unreachable: 0, recovered: false });
    const task = await stack.finished(taskId);

    expect(task.status, JSON.stringify(task.error)).toBe('SUCCEEDED');
    expect(outageThenLost.get(taskId)).toMatchObject({ recovered: true, unreachable: expect.any(Number) });
    expect(outageThenLost.get(taskId)!.unreachable).toBeGreaterThan(0);
    expect(outcomes.filter((o) => o.task_id === taskId).map((o) => o.outcome)).toEqual(['succeeded']);
    expect(task.stages.export.attempts).toBe(1);
  }, 60_000);

  it("counts the job time from the exporter's started_at when the job began before this delivery", async () => {
    const sub = await stack.post({ creator_id: 'deadline', video_id: 'hung-earlier', source_text: 'This job has been hanging since an earlier delivery.' });
    const taskId = sub.body.task_id as string;
    startedEarlierMs.set(taskId, 60_000);
    hangFirstAttempt.add(taskId);
    const task = await stack.finished(taskId);

    expect(task.status, JSON.stringify(task.error)).toBe('SUCCEEDED');
    // Already a minute old at the first answer: cancelled then, not EXPORT_MAX_JOB_SECONDS later.
    expect(hung.get(taskId)).toMatchObject({ polls: 1, cancelledAt: expect.any(Number) });
    expect(outcomes.filter((o) => o.task_id === taskId).map((o) => o.outcome)).toEqual(['retry_requested', 'succeeded']);
  }, 60_000);
});

describe('an exporter that refuses the job itself', () => {
  let stack: TestStack;
  let refuser: Server;
  let submits = 0;

  beforeAll(async () => {
    // Answers every submit 400, as an export service does for a draft it cannot take.
    refuser = createServer((req, res) => {
      if (req.method === 'PUT') submits += 1;
      req.resume();
      res.writeHead(400, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: 'invalid_job', message: 'material 1 has an unknown type' }));
    });
    await new Promise<void>((r) => refuser.listen(0, '127.0.0.1', r));
    const port = (refuser.address() as AddressInfo).port;
    stack = await startTestStack({ exportVideoUrl: `http://127.0.0.1:${port}`, extraEnv: { EXPORT_AUTH_TOKEN: EXPORT_TOKEN } });
  });
  afterAll(async () => {
    await stack?.close();
    await new Promise((r) => refuser?.close(r));
  });

  it("fails the task at export with the exporter's reason after one submit, instead of submitting it forever", async () => {
    const sub = await stack.post({ creator_id: 'deadline', video_id: 'refused', source_text: 'The exporter refuses this job.' });
    const task = await stack.finished(sub.body.task_id as string);

    expect(task.status).toBe('FAILED');
    expect(task.error).toMatchObject({ stage: 'export', code: 'export_failed' });
    expect(task.error?.message).toContain('material 1 has an unknown type');
    expect(submits).toBe(1);
    const locks = (await stack.itemKeys()).filter((k) => k.startsWith('LOCK#'));
    expect(locks).toEqual([]);
    recordReliability({
      fault: 'the exporter refuses the job itself (4xx to the submit)',
      runs: 1,
      outcome: `task ${task.status} at ${task.error?.stage} (${task.error?.code}) with the exporter's reason after ${submits} submit`,
      data_lost: 0,
      duplicates: submits - 1,
      locks_leaked: locks.length,
    });
  });
});
