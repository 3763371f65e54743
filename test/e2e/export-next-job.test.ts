import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ExportOutcome } from '../../shared/export/export-worker.js';
import type { Exporter } from '../../shared/export/exporter.js';
import { startTestStack, type TestStack } from '../support/stack.js';

/**
 * The export agent hands the exporter the next queued job as soon as a render ends, before that
 * job's message can arrive (one FIFO group: the next message shows only after the current one is
 * deleted, once its video is stored and reported). The exporter wrapper holds the first task at
 * two points — its render's end is announced only once the second task is queued, and its video
 * download waits for the test — so every test knows where the agent is without sleeping.
 */
let stack: TestStack;
const outcomes: Array<{ outcome: ExportOutcome; task_id: string }> = [];
/** per task: a promise its finished status waits for before the agent sees it */
const holdStatus = new Map<string, Promise<void>>();
/** per task: a promise its video download waits for */
const holdVideo = new Map<string, Promise<void>>();

beforeAll(async () => {
  stack = await startTestStack({
    exportVisibilitySeconds: 2,
    onExportOutcome: (outcome, body) => outcomes.push({ outcome, task_id: (JSON.parse(body) as { task_id: string }).task_id }),
    wrapExporter: (inner: Exporter): Exporter => ({
      submit: (id, job, signal) => inner.submit(id, job, signal),
      status: async (id, wait, signal) => {
        const status = await inner.status(id, wait, signal);
        if (status.state === 'succeeded') await holdStatus.get(id);
        return status;
      },
      video: async (id, signal) => {
        const hold = holdVideo.get(id);
        if (hold) await Promise.race([hold, new Promise((_, fail) => signal?.addEventListener('abort', () => fail(new Error('aborted'))))]);
        return inner.video(id, signal);
      },
      cancel: (id) => inner.cancel(id),
    }),
  });
});
afterAll(async () => {
  await stack?.close();
});

const gate = () => {
  let open: () => void = () => {};
  const opened = new Promise<void>((resolve) => (open = resolve));
  return { opened, open };
};

async function until<T>(what: string, probe: () => Promise<T | undefined> | T | undefined): Promise<T> {
  for (let i = 0; i < 600; i++) {
    const value = await probe();
    if (value !== undefined) return value;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}

const runsOf = (taskId: string) => stack.exportService!.stats().jobs.filter((j) => j.task_id === taskId);

/**
 * Submits a first task and a second one; the first's render end is held back until the second is
 * queued, and its video download until `videoGate` opens. Resolves with both ids once the
 * second task's job runs at the exporter ahead of its message.
 */
async function secondStartedAhead(video: string, videoGate: Promise<void>) {
  const first = await stack.post({ creator_id: 'next', video_id: `${video}-1`, source_text: 'The first video of the queue renders now.' });
  const firstId = first.body.task_id as string;
  const secondQueued = gate();
  holdStatus.set(firstId, secondQueued.opened);
  holdVideo.set(firstId, videoGate);
  const second = await stack.post({ creator_id: 'next', video_id: `${video}-2`, source_text: 'The second video waits for its turn.' });
  const secondId = second.body.task_id as string;
  await until('the second export queued', async () => ((await stack.getTask(secondId)).stages.export.status === 'queued' ? true : undefined));
  secondQueued.open();
  await until('the second job started ahead of its message', () => (runsOf(secondId).length ? true : undefined));
  // The first task's message is still in hand: its video has not even been fetched.
  expect((await stack.getTask(firstId)).stages.export.status).toBe('running');
  return { firstId, secondId };
}

describe('the next export job, started before its message', () => {
  it('is adopted by its message and renders once', async () => {
    const firstVideo = gate();
    const { firstId, secondId } = await secondStartedAhead('adopt', firstVideo.opened);
    firstVideo.open();
    const [a, b] = await Promise.all([stack.finished(firstId), stack.finished(secondId)]);
    expect([a.status, b.status]).toEqual(['SUCCEEDED', 'SUCCEEDED']);
    expect(runsOf(secondId)).toHaveLength(1);
    expect(runsOf(firstId)).toHaveLength(1);
    // It started before the first task's export ended (video stored, committed).
    expect(Date.parse(runsOf(secondId)[0].started_at)).toBeLessThan(Date.parse(a.stages.export.ended_at!));
    expect(b.stages.export.attempts).toBe(1);
    expect(stack.exportService!.stats().max_concurrent_renders).toBe(1);
    expect(outcomes.filter((o) => o.task_id === secondId).map((o) => o.outcome)).toEqual(['succeeded']);
  });

  it('is cancelled at the exporter when its task is cancelled meanwhile, and the queue goes on', async () => {
    const firstVideo = gate();
    const { firstId, secondId } = await secondStartedAhead('cancel', firstVideo.opened);
    const cancel = await fetch(`${stack.apiUrl}/api/pipeline/tasks/${secondId}/cancel`, { method: 'POST' });
    expect(cancel.status).toBeLessThan(300);
    firstVideo.open();
    expect((await stack.finished(firstId)).status).toBe('SUCCEEDED');
    const cancelled = await stack.finished(secondId);
    expect(cancelled.status).toBe('CANCELLED');
    const run = await until('the speculative job to end', () => {
      const [r] = runsOf(secondId);
      return r && r.state !== 'running' ? r : undefined;
    });
    expect(run.state).toBe('cancelled');
    expect((await stack.objectKeys()).filter((k) => k.startsWith(`tasks/${secondId}/`) && k.endsWith('final_video.mp4'))).toEqual([]);
    // The slot is free for the next task.
    const third = await stack.post({ creator_id: 'next', video_id: 'cancel-3', source_text: 'A third video after the cancelled one.' });
    expect((await stack.finished(third.body.task_id as string)).status).toBe('SUCCEEDED');
  });

  it('survives an agent crash while it runs: after the restart each video renders once', async () => {
    const firstVideo = gate();
    const { firstId, secondId } = await secondStartedAhead('crash', firstVideo.opened);
    await stack.stopExportWorker(); // killed holding the first message, with the second job running
    firstVideo.open();
    stack.startExportWorker();
    const [a, b] = await Promise.all([stack.finished(firstId), stack.finished(secondId)]);
    expect([a.status, b.status]).toEqual(['SUCCEEDED', 'SUCCEEDED']);
    expect(runsOf(firstId)).toHaveLength(1);
    expect(runsOf(secondId)).toHaveLength(1);
    expect(stack.exportService!.stats().max_concurrent_renders).toBe(1);
    expect(outcomes.filter((o) => o.task_id === firstId).map((o) => o.outcome)).toEqual(['abandoned', 'succeeded']);
    for (const t of [a, b]) {
      expect((await stack.objectKeys()).filter((k) => k.startsWith(`tasks/${t.task_id}/`) && k.endsWith('/final_video.mp4'))).toEqual([t.final_video_key]);
    }
  });
});
