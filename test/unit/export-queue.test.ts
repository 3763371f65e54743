import { describe, expect, it } from 'vitest';
import { describeExportQueue, type ExportQueueTaskView } from '../../shared/export/export-queue.js';

const NOW = Date.parse('2026-12-01T12:00:00.000Z');
const at = (secondsBeforeNow: number) => new Date(NOW - secondsBeforeNow * 1000).toISOString();

function task(id: string, a: Partial<ExportQueueTaskView> & { export?: ExportQueueTaskView['stages']['export'] }): ExportQueueTaskView {
  return {
    task_id: id,
    creator_id: 'c',
    video_id: id,
    status: 'RUNNING',
    export_video: true,
    created_at: at(5000),
    ...a,
    stages: { export: a.export },
  };
}

describe('the export queue view', () => {
  const tasks: ExportQueueTaskView[] = [
    // Two finished exports in the last hour: 60 s and 100 s (mean 80 s).
    task('done1', { status: 'SUCCEEDED', ended_at: at(1000), export: { status: 'succeeded', attempts: 1, started_at: at(1160), ended_at: at(1100) } }),
    task('done2', { status: 'SUCCEEDED', ended_at: at(500), export: { status: 'succeeded', attempts: 1, started_at: at(600), ended_at: at(500) } }),
    // Rendering for 30 s now.
    task('now', { export: { status: 'running', attempts: 2, started_at: at(30), queued_at: at(40) } }),
    // Queued: the order is the order they joined the queue, not the order they were created.
    task('second', { created_at: at(100), export: { status: 'queued', attempts: 0, queued_at: at(20) } }),
    task('first', { created_at: at(50), export: { status: 'queued', attempts: 0, queued_at: at(25) } }),
    task('noted', { export: { status: 'queued', attempts: 1, queued_at: at(10), error: { stage: 'export', code: 'exporter_unavailable', message: 'down' } } }),
    task('preparing', { export: { status: 'pending', attempts: 0 } }),
    task('no-export', { export_video: false, export: { status: 'skipped', attempts: 0 } }),
    // A cancelled task's export ran from 300 s ago until it ended 280 s ago.
    task('cancelled', { status: 'CANCELLED', ended_at: at(280), export: { status: 'running', attempts: 1, started_at: at(300) } }),
  ];
  const view = describeExportQueue(tasks, { now: NOW, assumedExportSeconds: 120 });

  it('measures the mean on successful exports and lists what renders now', () => {
    expect(view.mean_export_seconds).toBe(80);
    expect(view.mean_samples).toBe(2);
    expect(view.rendering.map((r) => [r.task_id, r.elapsed_seconds, r.attempts])).toEqual([['now', 30, 2]]);
    expect(view.rendering[0].estimated_end_at).toBe(new Date(NOW + 50_000).toISOString());
    expect(view.preparing).toBe(1);
  });

  it('lists the queued tasks in queue order with an estimated start one mean apart after the render', () => {
    expect(view.queued.map((q) => [q.position, q.task_id])).toEqual([
      [1, 'first'],
      [2, 'second'],
      [3, 'noted'],
    ]);
    expect(view.queued.map((q) => q.estimated_start_at)).toEqual([50, 130, 210].map((s) => new Date(NOW + s * 1000).toISOString()));
    expect(view.queued[2].note).toEqual({ code: 'exporter_unavailable', message: 'down' });
  });

  it("counts the exporter's busy time in the last hour, the running and cancelled exports included", () => {
    // 60 + 100 + 30 (running) + 20 (cancelled) seconds
    expect(view.utilization).toEqual({ window_seconds: 3600, busy_seconds: 210, ratio: 0.0583 });
  });

  it('clips exports that began before the window and assumes the mean before any was measured', () => {
    const old = describeExportQueue(
      [task('long', { status: 'SUCCEEDED', export: { status: 'succeeded', attempts: 1, started_at: at(4000), ended_at: at(3000), details: {} } })],
      {
        now: NOW,
        assumedExportSeconds: 120,
      },
    );
    expect(old.utilization.busy_seconds).toBe(600);
    const empty = describeExportQueue([], { now: NOW, assumedExportSeconds: 120 });
    expect(empty).toMatchObject({ mean_export_seconds: 120, mean_samples: 0, rendering: [], queued: [], utilization: { busy_seconds: 0, ratio: 0 } });
  });
});
