import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ExportOutcome } from '../../shared/export/export-worker.js';
import type { Exporter } from '../../shared/export/exporter.js';
import { startTestStack, type TestStack } from '../support/stack.js';
import { recordReliability } from '../support/reliability.js';

/**
 * Export faults: a worker killed mid-render, and a poison message. Short visibility timeouts
 * make redelivery quick; outcomes are asserted on the exporter's own accounting and the records.
 */
let stack: TestStack;
const outcomes: Array<{ outcome: ExportOutcome; task_id: string }> = [];
const poisoned = new Set<string>();
const onSubmit = new Map<string, () => void>();

beforeAll(async () => {
  stack = await startTestStack({
    exportVisibilitySeconds: 2,
    exportMaxReceiveCount: 3,
    onExportOutcome: (outcome, body) => outcomes.push({ outcome, task_id: (JSON.parse(body) as { task_id: string }).task_id }),
    wrapExporter: (inner: Exporter): Exporter => ({
      submit: async (id, job, signal) => {
        if (poisoned.has(id)) throw new Error('the exporter client crashed on this job (injected)');
        await inner.submit(id, job, signal);
        onSubmit.get(id)?.();
      },
      status: (id, wait, signal) => inner.status(id, wait, signal),
      video: (id, signal) => inner.video(id, signal),
      cancel: (id) => inner.cancel(id),
    }),
  });
});
afterAll(async () => {
  await stack?.close();
});

describe('export faults', () => {
  it('survives a worker killed mid-render: redelivered, one render, one video, task SUCCEEDED', async () => {
    const sub = await stack.post({ creator_id: 'faults', video_id: 'killed', source_text: 'The worker dies while this renders.' });
    const taskId = sub.body.task_id as string;
    const submitted = new Promise<void>((r) => onSubmit.set(taskId, r));
    await submitted;
    await stack.stopExportWorker(); // killed: nothing deleted, nothing reported
    stack.startExportWorker(); // a new worker; the message comes back after its visibility timeout
    const task = await stack.finished(taskId);
    expect(task.status, JSON.stringify(task.error)).toBe('SUCCEEDED');
    expect(task.stages.export.attempts).toBe(2);
    const runs = stack.exportService!.stats().jobs.filter((j) => j.task_id === taskId);
    expect(runs).toHaveLength(1);
    expect(stack.exportService!.stats().max_concurrent_renders).toBe(1);
    expect((await stack.objectKeys()).filter((k) => k.startsWith(`tasks/${taskId}/`) && k.endsWith('/final_video.mp4'))).toEqual([task.final_video_key]);
    expect(outcomes.filter((o) => o.task_id === taskId).map((o) => o.outcome)).toEqual(['abandoned', 'succeeded']);
    recordReliability({
      fault: 'export worker killed mid-render',
      runs: 1,
      outcome: `task ${task.status}, ${runs.length} render(s), max ${stack.exportService!.stats().max_concurrent_renders} at once`,
      data_lost: task.artifacts.some((a) => a.name === 'final_video.mp4') ? 0 : 1,
      duplicates: runs.length - 1,
      locks_leaked: (await stack.itemKeys()).filter((k) => k === 'LOCK#faults#killed').length,
    });
  });

  it('dead-letters a poison export message, fails its task with the reason, and keeps the queue flowing', async () => {
    const poison = await stack.post({ creator_id: 'faults', video_id: 'poison', source_text: 'Poison.' });
    const poisonId = poison.body.task_id as string;
    poisoned.add(poisonId);
    const others = await Promise.all(
      [1, 2, 3].map((i) => stack.post({ creator_id: 'faults', video_id: `behind${i}`, source_text: `Behind the poison, number ${i}.` })),
    );
    const failed = await stack.finished(poisonId);
    expect(failed.status).toBe('FAILED');
    expect(failed.error).toMatchObject({ stage: 'export', code: 'export_dead_lettered' });
    expect(failed.error?.message).toContain('dead-letter queue');
    expect(await stack.itemKeys()).not.toContain('LOCK#faults#poison');
    for (const o of others) {
      const t = await stack.finished(o.body.task_id as string);
      expect(t.status, JSON.stringify(t.error)).toBe('SUCCEEDED');
    }
    expect(stack.exportService!.stats().max_concurrent_renders).toBe(1);
    const behind = await Promise.all(others.map((o) => stack.getTask(o.body.task_id as string)));
    recordReliability({
      fault: 'poison export message (worker crashes on it every time)',
      runs: 1,
      outcome: `poison task ${failed.status} (${failed.error?.code}); ${behind.filter((t) => t.status === 'SUCCEEDED').length}/3 tasks behind it SUCCEEDED`,
      data_lost: behind.filter((t) => !t.artifacts.some((a) => a.name === 'final_video.mp4')).length,
      duplicates: stack.exportService!.stats().jobs.filter((j) => behind.some((t) => t.task_id === j.task_id)).length - behind.length,
      locks_leaked: (await stack.itemKeys()).filter((k) => k.startsWith('LOCK#faults#')).length,
    });
  });
});
