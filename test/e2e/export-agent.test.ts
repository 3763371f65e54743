import { afterAll, describe, expect, it } from 'vitest';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { getObjectText } from '../../shared/artifacts.js';
import type { ExportOutcome } from '../../shared/export/export-worker.js';
import type { Exporter } from '../../shared/export/exporter.js';
import { startExportService } from '../../infra/embedded/export-service.js';
import { startTestStack, type TestStack } from '../support/stack.js';

/**
 * The export worker as an agent: a job longer than the message's visibility timeout, the agent
 * started by hand as its own process, and an exporter that is down for a while.
 */
const stacks: TestStack[] = [];
const children: ChildProcess[] = [];
afterAll(async () => {
  for (const c of children) c.kill('SIGKILL');
  for (const s of stacks) await s.close();
});

const nonOverlapping = (tasks: Array<{ stages: { export: { started_at?: string; ended_at?: string } } }>) => {
  const spans = tasks.map((t) => [Date.parse(t.stages.export.started_at!), Date.parse(t.stages.export.ended_at!)]).sort((a, b) => a[0] - b[0]);
  return spans.every((s, i) => i === 0 || s[0] >= spans[i - 1][1]);
};

describe('export agent', () => {
  it('keeps a job longer than the visibility timeout with logged extensions, and renders once', async () => {
    const outcomes: ExportOutcome[] = [];
    let slowFor: string | undefined;
    const stack = await startTestStack({
      exportVisibilitySeconds: 2,
      onExportOutcome: (o) => outcomes.push(o),
      wrapExporter: (inner: Exporter): Exporter => ({
        ...inner,
        submit: (id, job, signal) => inner.submit(id, job, signal),
        status: async (id, wait, signal) => {
          // A slow exporter: the first status answer of this job comes after 3 visibility timeouts.
          if (id === slowFor) {
            slowFor = undefined;
            await new Promise((r) => setTimeout(r, 6000));
          }
          return inner.status(id, wait, signal);
        },
        video: (id, signal) => inner.video(id, signal),
        cancel: (id) => inner.cancel(id),
      }),
    });
    stacks.push(stack);
    const sub = await stack.post({ creator_id: 'agent', video_id: 'slow', source_text: 'A slow export.' });
    slowFor = sub.body.task_id as string;
    const task = await stack.finished(sub.body.task_id as string);
    expect(task.status, JSON.stringify(task.error)).toBe('SUCCEEDED');
    expect(outcomes).toEqual(['succeeded']);
    expect(task.stages.export.attempts).toBe(1);
    expect(task.stages.export.details?.visibility_extensions).toBeGreaterThanOrEqual(3);
    expect(stack.exportService!.stats().jobs.filter((j) => j.task_id === task.task_id)).toHaveLength(1);
    const log = (await getObjectText(stack.runtime, `tasks/${task.task_id}/log.jsonl`)) ?? '';
    expect(log.split('\n').filter((l) => l.includes('export message visibility extended')).length).toBeGreaterThanOrEqual(3);
  });

  it('processes the queue one job at a time when started by hand as its own process, with the settings file the stack writes', async () => {
    const stack = await startTestStack({ exportWorker: false });
    stacks.push(stack);
    // What the README says to do: source .data/export-agent.env (it carries the exporter's secret, owner-only).
    const envFile = join(stack.dataDir, 'export-agent.env');
    const fromFile = Object.fromEntries(
      readFileSync(envFile, 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]),
    );
    expect(fromFile.EXPORT_AUTH_TOKEN).toBe(stack.exportService!.authToken);
    expect(statSync(envFile).mode & 0o077).toBe(0);
    const { EXPORT_AUTH_TOKEN: _unused, ...withoutSecret } = fromFile;
    const refused = spawnSync(process.execPath, ['--import', 'tsx', 'infra/export-agent/main.ts'], {
      env: { ...process.env, ...withoutSecret, EXPORT_AUTH_TOKEN: '' },
      encoding: 'utf8',
    });
    expect(refused.status).not.toBe(0);
    expect(refused.stderr).toMatch(/Missing required setting EXPORT_AUTH_TOKEN/);
    const agent = spawn(process.execPath, ['--import', 'tsx', 'infra/export-agent/main.ts'], {
      env: { ...process.env, ...fromFile, EXPORT_POLL_SECONDS: '2', LOG_LEVEL: 'warn' },
      stdio: 'ignore',
    });
    children.push(agent);
    const subs = await Promise.all([1, 2, 3].map((i) => stack.post({ creator_id: 'agent', video_id: `byhand${i}`, source_text: `Job number ${i}.` })));
    const tasks = await Promise.all(subs.map((s) => stack.finished(s.body.task_id as string)));
    for (const t of tasks) expect(t.status, JSON.stringify(t.error)).toBe('SUCCEEDED');
    expect(stack.exportService!.stats().max_concurrent_renders).toBe(1);
    expect(nonOverlapping(tasks)).toBe(true);
    agent.kill('SIGTERM');
  });

  it("waits out a refused secret like an outage: the task stays queued, then finishes once the exporter accepts the worker's token", async () => {
    const workDir = mkdtempSync(join(tmpdir(), 'reel-exporter-'));
    let exporter = await startExportService({ port: 0, workDir, authToken: 'the-old-secret' });
    const port = exporter.port;
    const stack = await startTestStack({
      exportVideoUrl: exporter.url,
      exportMaxBackoffMs: 1000,
      exportPollSeconds: 1,
      extraEnv: { EXPORT_AUTH_TOKEN: 'the-new-secret' },
    });
    stacks.push(stack);
    const sub = await stack.post({ creator_id: 'agent', video_id: 'rotated', source_text: 'A rotated secret.' });
    const id = sub.body.task_id as string;
    let waiting = await stack.getTask(id);
    for (let i = 0; i < 300 && waiting.stages.export.error?.code !== 'exporter_unavailable'; i++) {
      await new Promise((r) => setTimeout(r, 100));
      waiting = await stack.getTask(id);
    }

    // The exporter is updated to the new secret (same address).
    await exporter.close();
    exporter = await startExportService({ port, workDir, authToken: 'the-new-secret' });
    try {
      const done = await stack.finished(id);

      expect(waiting.status).toBe('RUNNING');
      expect(waiting.stages.export).toMatchObject({
        status: 'queued',
        error: { code: 'exporter_unavailable', message: expect.stringMatching(/refused the worker's credentials \(401\)/) },
      });
      expect(done.status, JSON.stringify(done.error)).toBe('SUCCEEDED');
      expect(exporter.stats().renders_started).toBe(1);
    } finally {
      await exporter.close();
    }
  }, 60_000);

  it('keeps tasks queued while the exporter is down, then finishes them all when it is back', async () => {
    const workDir = mkdtempSync(join(tmpdir(), 'reel-exporter-'));
    const secret = 'the-team-exporters-secret';
    let exporter = await startExportService({ port: 0, workDir, authToken: secret });
    const port = exporter.port;
    await exporter.close(); // the exporter is down from the start
    const stack = await startTestStack({
      exportVideoUrl: `http://127.0.0.1:${port}`,
      exportMaxBackoffMs: 5000,
      exportPollSeconds: 1,
      extraEnv: { EXPORT_AUTH_TOKEN: secret },
    });
    const downSince = Date.now();
    stacks.push(stack);
    const subs = await Promise.all([1, 2, 3].map((i) => stack.post({ creator_id: 'agent', video_id: `outage${i}`, source_text: `Outage ${i}.` })));
    const ids = subs.map((s) => s.body.task_id as string);
    // Wait until the worker holds one of them and has noted the outage in its record, and every
    // draft is ready (the stack builds them one task at a time).
    let noted: string | undefined;
    let allQueued = false;
    for (let i = 0; i < 300 && !(noted && allQueued); i++) {
      allQueued = true;
      for (const id of ids) {
        const t = await stack.getTask(id);
        if (t.stages.export.error?.code === 'exporter_unavailable') noted = id;
        if (t.stages.export.status !== 'queued') allQueued = false;
      }
      if (!(noted && allQueued)) await new Promise((r) => setTimeout(r, 100));
    }
    expect(noted).toBeDefined();
    const waiting = await Promise.all(ids.map((id) => stack.getTask(id)));
    expect(waiting.map((t) => t.status)).toEqual(['RUNNING', 'RUNNING', 'RUNNING']);
    expect(waiting.map((t) => t.stages.export.status).sort()).toEqual(['queued', 'queued', 'queued']);
    // Down for a minute in all (many back-off rounds), then back on the same address.
    await new Promise((r) => setTimeout(r, Math.max(0, downSince + 60_000 - Date.now())));
    exporter = await startExportService({ port, workDir, authToken: secret });
    try {
      const done = await Promise.all(ids.map((id) => stack.finished(id)));
      expect(done.map((t) => t.status)).toEqual(['SUCCEEDED', 'SUCCEEDED', 'SUCCEEDED']);
      expect(exporter.stats().max_concurrent_renders).toBe(1);
    } finally {
      await exporter.close();
    }
  }, 180_000);
});
