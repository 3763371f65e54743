import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Draft } from '../../shared/draft/draft.js';
import { BuiltinExporter } from '../../shared/export/builtin-exporter.js';
import { ExporterUnavailableError } from '../../shared/export/exporter.js';
import type { Logger } from '../../shared/logger.js';
import type { renderDraft } from '../../shared/render/render-draft.js';

/**
 * The builtin exporter is the one job table behind both worlds (the AWS export worker and the
 * embedded export service's HTTP face): its claim of the single render slot and its eviction,
 * without HTTP and without ffmpeg. A draft with only a generated background needs no download.
 */
const quiet: Logger = { debug() {}, info() {}, warn() {}, error() {}, child: () => quiet };

function draftOf(taskId: string, colour = '#112233'): Draft {
  return {
    version: 1,
    task_id: taskId,
    canvas: { width: 1080, height: 1920, fps: 25 },
    duration_us: 2_000_000,
    language: 'en',
    materials: [{ id: 'bg', type: 'generated_background', colors: [colour, '#000000'] }],
    tracks: [{ type: 'video', name: 'visual', segments: [{ id: 'v', material_id: 'bg', target: { start_us: 0, duration_us: 2_000_000 } }] }],
  };
}

/** A render that writes a small file and waits until released (or aborted). */
function gatedRender() {
  const gates: Array<() => void> = [];
  const render: typeof renderDraft = async ({ outputPath, signal }) =>
    new Promise((resolve, reject) => {
      signal?.addEventListener('abort', () => reject(Object.assign(new Error('aborted'), { name: 'AbortError' })), { once: true });
      gates.push(() => void writeFile(outputPath, 'video').then(() => resolve({ duration_ms: 2000, render_ms: 1 })));
    });
  const releaseAll = () => gates.splice(0).forEach((open) => open());
  return { render, releaseAll };
}

describe('BuiltinExporter', () => {
  let workRoot: string;
  beforeEach(async () => {
    workRoot = await mkdtemp(path.join(os.tmpdir(), 'builtin-exporter-'));
  });
  afterEach(async () => {
    await rm(workRoot, { recursive: true, force: true });
  });

  it('claims its one render slot: the same draft is the same job, a different draft conflicts, another task is busy with a retry hint', async () => {
    const { render, releaseAll } = gatedRender();
    const exporter = new BuiltinExporter({ workRoot, render, log: quiet });

    const first = exporter.claim('task-a', { draft: draftOf('task-a'), media: {} });
    const again = exporter.claim('task-a', { draft: draftOf('task-a'), media: {} });
    const changed = exporter.claim('task-a', { draft: draftOf('task-a', '#445566'), media: {} });
    const other = exporter.claim('task-b', { draft: draftOf('task-b'), media: {} });

    expect(first).toMatchObject({ outcome: 'accepted', job: { task_id: 'task-a', state: 'running', ended_at: null } });
    expect(again).toMatchObject({ outcome: 'existing', job: { task_id: 'task-a', state: 'running' } });
    expect(changed).toMatchObject({ outcome: 'conflict', job: { state: 'running' } });
    expect(other).toMatchObject({ outcome: 'busy', runningTaskId: 'task-a' });
    expect(other.outcome === 'busy' && other.retryAfterSeconds).toBeGreaterThanOrEqual(1);
    await new Promise((r) => setTimeout(r, 50));
    releaseAll();
    expect(await exporter.status('task-a', 5)).toMatchObject({ state: 'succeeded', video_bytes: 5 });
    expect(exporter.stats()).toMatchObject({ renders_started: 1, renders_completed: 1, max_concurrent_renders: 1, running_task_id: null });
  });

  it('keeps at most keepJobs jobs, the running one included: a new job evicts the oldest finished one and its folder', async () => {
    const { render, releaseAll } = gatedRender();
    const exporter = new BuiltinExporter({ workRoot, render, log: quiet, keepJobs: 2 });
    for (const id of ['k1', 'k2']) {
      exporter.claim(id, { draft: draftOf(id), media: {} });
      await new Promise((r) => setTimeout(r, 50));
      releaseAll();
      await exporter.status(id, 5);
    }

    exporter.claim('k3', { draft: draftOf('k3'), media: {} });
    await new Promise((r) => setTimeout(r, 50));

    expect(['k1', 'k2', 'k3'].map((id) => exporter.find(id)?.state)).toEqual([undefined, 'succeeded', 'running']);
    expect((await readdir(workRoot)).sort()).toEqual(['k2', 'k3']);
    releaseAll();
    await exporter.status('k3', 5);
  });

  it('refuses new jobs once closing, after cancelling the running one', async () => {
    const { render } = gatedRender();
    const exporter = new BuiltinExporter({ workRoot, render, log: quiet });
    exporter.claim('task-a', { draft: draftOf('task-a'), media: {} });
    await new Promise((r) => setTimeout(r, 50));

    await exporter.close();

    expect(exporter.find('task-a')?.state).toBe('cancelled');
    expect(exporter.claim('task-b', { draft: draftOf('task-b'), media: {} })).toEqual({ outcome: 'closing' });
    await expect(exporter.submit('task-b', { draft: draftOf('task-b'), media: {} })).rejects.toBeInstanceOf(ExporterUnavailableError);
  });
});
