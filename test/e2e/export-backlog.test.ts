import { ListExecutionsCommand } from '@aws-sdk/client-sfn';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { STATE_MACHINE_ARN } from '../../infra/embedded/embedded-stack.js';
import {
  ExportBacklogFullError,
  ExportBacklogGauge,
  estimateExportBacklog,
  loadExportBacklog,
  type BacklogTaskView,
  type ExportBacklogEstimate,
} from '../../shared/export/export-backlog.js';
import { newTaskRecord, putNewTask, type StageRecord, type TaskStatus } from '../../shared/task-record.js';
import { startTestStack, type TestStack } from '../support/stack.js';

/**
 * Export admission: a task whose export could not finish within the Export timeout behind the
 * exports already waiting is refused with 503 `export_backlog_full` and writes nothing.
 */
const T0 = Date.UTC(2026, 0, 1, 12, 0, 0);
const iso = (ms: number) => new Date(ms).toISOString();

function view(status: TaskStatus, exportVideo: boolean, exp: Partial<StageRecord> & { status: StageRecord['status'] }): BacklogTaskView {
  return { status, export_video: exportVideo, stages: { export: { ...exp } } };
}
/** a finished export that held the slot for `seconds`, ending `endedAgoS` before T0 */
const exported = (seconds: number, endedAgoS = 0, details?: Record<string, unknown>) =>
  view('SUCCEEDED', true, { status: 'succeeded', started_at: iso(T0 - (endedAgoS + seconds) * 1000), ended_at: iso(T0 - endedAgoS * 1000), details });

describe('the export backlog estimate', () => {
  it('counts RUNNING tasks that asked for export and have not exported yet, and nothing else', () => {
    const tasks = [
      view('RUNNING', true, { status: 'pending' }), // still in story/tts/draft
      view('RUNNING', true, { status: 'queued' }),
      view('RUNNING', true, { status: 'running' }),
      view('RUNNING', true, { status: 'succeeded', started_at: iso(T0 - 1000), ended_at: iso(T0) }), // finalizing
      view('RUNNING', false, { status: 'skipped' }),
      view('FAILED', true, { status: 'failed' }),
      view('CANCELLED', true, { status: 'queued' }),
    ];

    const estimate = estimateExportBacklog(tasks, { assumedExportSeconds: 120 });

    expect(estimate.waiting).toBe(3);
  });

  it('takes the mean export time from the most recent successful exports, and the assumed one when none was measured', () => {
    const recent = Array.from({ length: 20 }, (_, i) => exported(30, i)); // 20 exports of 30 s
    const older = Array.from({ length: 5 }, (_, i) => exported(600, 100 + i)); // older, slow: beyond the window of 20
    const reused = exported(0.01, 0, { reused_existing_video: true }); // a redelivery: no render

    const measured = estimateExportBacklog([...older, ...recent, reused], { assumedExportSeconds: 120 });
    const none = estimateExportBacklog([view('RUNNING', true, { status: 'pending' })], { assumedExportSeconds: 120 });

    expect(measured).toEqual({ waiting: 0, meanExportSeconds: 30, samples: 20 });
    expect(none).toEqual({ waiting: 1, meanExportSeconds: 120, samples: 0 });
  });
});

describe('the export backlog gauge', () => {
  const fixed = (estimate: ExportBacklogEstimate) => {
    const clock = { t: T0, now: () => clock.t };
    const loads = { count: 0 };
    const load = async () => {
      loads.count += 1;
      return estimate;
    };
    return { clock, loads, load };
  };

  it('admits while (waiting + 1) × mean fits in the Export timeout, then refuses with a Retry-After', async () => {
    const { clock, load } = fixed({ waiting: 1, meanExportSeconds: 10, samples: 4 });
    const gauge = new ExportBacklogGauge({ clock, load, exportTimeoutSeconds: 30, refreshSeconds: 5 });

    await gauge.admit(); // 2 × 10 ≤ 30
    await gauge.admit(); // 3 × 10 ≤ 30
    const refused = gauge.admit(); // 4 × 10 > 30

    await expect(refused).rejects.toBeInstanceOf(ExportBacklogFullError);
    await expect(refused).rejects.toMatchObject({ code: 'export_backlog_full', retryAfterSeconds: 10 });
    await expect(refused).rejects.toThrow(/3 video\(s\) are already waiting .* about 10 s each/);
  });

  it('reads the table at most once per refresh period, however many submissions arrive', async () => {
    const { clock, loads, load } = fixed({ waiting: 0, meanExportSeconds: 1, samples: 1 });
    const gauge = new ExportBacklogGauge({ clock, load, exportTimeoutSeconds: 3600, refreshSeconds: 5 });

    await Promise.all(Array.from({ length: 10 }, () => gauge.admit()));
    clock.t += 4_999;
    await gauge.admit();
    const withinPeriod = loads.count;
    clock.t += 1;
    await gauge.admit();

    expect(withinPeriod).toBe(1);
    expect(loads.count).toBe(2);
  });

  it('gives a place back when the submission fails after admission', async () => {
    const { clock, load } = fixed({ waiting: 0, meanExportSeconds: 10, samples: 1 });
    const gauge = new ExportBacklogGauge({ clock, load, exportTimeoutSeconds: 20, refreshSeconds: 60 });

    await gauge.admit();
    const second = await gauge.admit();
    second.release(); // e.g. 409 duplicate_task
    second.release(); // twice is once

    await expect(gauge.admit()).resolves.toBeDefined();
    await expect(gauge.admit()).rejects.toBeInstanceOf(ExportBacklogFullError);
  });
});

describe('POST /api/pipeline/run with a full export backlog (embedded stack)', () => {
  // Export timeout 30 s, 10 s assumed per export (none measured on a fresh stack): 3 fit.
  let stack: TestStack;
  beforeAll(async () => {
    stack = await startTestStack({
      exportWorker: false, // nothing here reaches an exporter
      definition: { exportTimeoutSeconds: 30 },
      extraEnv: { EXPORT_ASSUMED_SECONDS: '10', EXPORT_BACKLOG_REFRESH_SECONDS: '0' },
    });
  });
  afterAll(async () => {
    await stack?.close();
  });

  const executions = async () =>
    (await stack.runtime.sfn.send(new ListExecutionsCommand({ stateMachineArn: STATE_MACHINE_ARN, maxResults: 1000 }))).executions ?? [];

  it('refuses the 4th export with 503 export_backlog_full and Retry-After, writes nothing, and accepts again once the backlog drains', async () => {
    stack.controls.closeGate('Draft'); // the accepted tasks wait before export, RUNNING
    const accepted = [];
    for (const i of [1, 2, 3]) accepted.push(await stack.post({ creator_id: 'backlog', video_id: `v${i}`, source_text: `Queued export number ${i}.` }));
    await stack.controls.waitForArrivals('Draft', 3); // nothing of theirs is being written any more
    const [items, objects, runs] = [await stack.itemKeys(), await stack.objectKeys(), (await executions()).length];

    const fourth = { creator_id: 'backlog', video_id: 'v4', source_text: 'One export too many.' };
    const retryKey = { 'idempotency-key': 'backlog-v4-attempt' };
    const res = await fetch(`${stack.apiUrl}/api/pipeline/run`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...retryKey },
      body: JSON.stringify(fourth),
    });
    const body = (await res.json()) as { error: string; message: string };
    const [itemsAfter, objectsAfter, runsAfter] = [await stack.itemKeys(), await stack.objectKeys(), (await executions()).length];
    const noExport = await stack.post({ creator_id: 'backlog', video_id: 'v5', source_text: 'No video asked for.', export_video: false });

    expect(accepted.map((a) => a.status)).toEqual([202, 202, 202]);
    expect(res.status).toBe(503);
    expect(body.error).toBe('export_backlog_full');
    expect(body.message).toMatch(/3 video\(s\) are already waiting to be exported at about 10 s each .* within the export time limit of 30 s/);
    expect(Number(res.headers.get('retry-after'))).toBe(10);
    expect({ items: itemsAfter, objects: objectsAfter, runs: runsAfter }).toEqual({ items, objects, runs });
    expect(noExport.status).toBe(202);

    // One of the waiting tasks goes away (cancelled): there is room for one again, and the client's
    // retry of the same request with the same Idempotency-Key is accepted (the key was not kept).
    const cancelled = await fetch(`${stack.apiUrl}/api/pipeline/tasks/${accepted[0].body.task_id as string}/cancel`, { method: 'POST' });
    expect(cancelled.status).toBe(200);
    const again = await stack.post(fourth, { headers: retryKey });
    expect(again.status, JSON.stringify(again.body)).toBe(202);
  });

  it('reads waiting exports and measured export times from the task records', async () => {
    const before = await loadExportBacklog(stack.runtime);
    const now = Date.now();
    const put = async (id: string, status: TaskStatus, exp: StageRecord, createdAgoMs = 60_000) => {
      const record = newTaskRecord({ taskId: id, creatorId: 'load', videoId: id, gender: 0, exportVideo: true, now: iso(now - createdAgoMs) });
      await putNewTask(stack.runtime, { ...record, status, stages: { ...record.stages, export: exp } });
    };
    await put('t-waiting-1', 'RUNNING', { status: 'pending', attempts: 0 });
    await put('t-waiting-2', 'RUNNING', { status: 'queued', attempts: 1 });
    await put('t-done-1', 'SUCCEEDED', { status: 'succeeded', attempts: 1, started_at: iso(now - 50_000), ended_at: iso(now - 30_000) });
    await put('t-done-2', 'SUCCEEDED', { status: 'succeeded', attempts: 1, started_at: iso(now - 30_000), ended_at: iso(now - 20_000) });
    // Older than the execution timeout: cannot be RUNNING any more, and is not read.
    await put('t-ancient', 'RUNNING', { status: 'queued', attempts: 1 }, 9 * 3600_000);

    const estimate = await loadExportBacklog(stack.runtime);

    expect(before.samples).toBe(0); // nothing exported on this stack yet
    expect(estimate).toEqual({ waiting: before.waiting + 2, meanExportSeconds: 15, samples: 2 });
  });
});
