import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { getObjectBytes } from '../../shared/artifacts.js';
import type { ExportOutcome } from '../../shared/export/export-worker.js';
import type { ExportJob, Exporter } from '../../shared/export/exporter.js';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { probeVideo } from '../../shared/render/probe-video.js';
import { randomBytes, randomUUID } from 'node:crypto';
import { SendMessageCommand } from '@aws-sdk/client-sqs';
import { EXPORT_MESSAGE_GROUP } from '../../shared/state-machine.js';
import { recordedCalls } from '../support/aws-call-recorder.js';
import { startTestStack, type TestStack } from '../support/stack.js';

/**
 * Export end to end: real renders (a few seconds each) through the FIFO queue, the export
 * agent and the single-threaded export service.
 */
let stack: TestStack;
const outcomes: ExportOutcome[] = [];
const messages: Array<{ task_id: string; task_token: string }> = [];
let failNextVideoDownloads = 0;
const jobs = new Map<string, ExportJob>();

beforeAll(async () => {
  stack = await startTestStack({
    onExportOutcome: (o, body) => {
      outcomes.push(o);
      messages.push(JSON.parse(body) as { task_id: string; task_token: string });
    },
    // Fault injection at the worker's exporter client: the download of the rendered video fails.
    wrapExporter: (inner: Exporter): Exporter => ({
      submit: (id, job, signal) => {
        jobs.set(id, job);
        return inner.submit(id, job, signal);
      },
      status: (id, wait, signal) => inner.status(id, wait, signal),
      cancel: (id) => inner.cancel(id),
      video: async (id, signal) => {
        if (failNextVideoDownloads > 0) {
          failNextVideoDownloads -= 1;
          throw new Error('connection reset while downloading the video (injected)');
        }
        return inner.video(id, signal);
      },
    }),
  });
});
afterAll(async () => {
  await stack?.close();
});

const SOURCES = ['Short one.', '很短的一句话。', 'Two words.', '第四个视频。'];

describe('export', () => {
  it('renders 4 concurrent tasks one at a time into playable 1080x1920 videos', async () => {
    const subs = await Promise.all(
      SOURCES.map((text, i) => stack.post({ creator_id: 'exp', video_id: `v${i}`, source_text: text, gender: (i % 3) as 0 | 1 | 2 })),
    );
    expect(subs.map((s) => s.status)).toEqual([202, 202, 202, 202]);
    const tasks = await Promise.all(subs.map((s) => stack.finished(s.body.task_id as string)));
    const dir = mkdtempSync(join(tmpdir(), 'reel-videos-'));
    for (const task of tasks) {
      expect(task.status, JSON.stringify(task.error)).toBe('SUCCEEDED');
      expect(task.artifacts.map((a) => a.name)).toContain('final_video.mp4');
      const bytes = await getObjectBytes(stack.runtime, task.artifacts.find((a) => a.name === 'final_video.mp4')!.key);
      const file = join(dir, `${task.task_id}.mp4`);
      writeFileSync(file, bytes!);
      const probe = await probeVideo(file);
      expect(probe).toMatchObject({ codec: 'h264', width: 1080, height: 1920, audio_codec: 'aac' });
      const narrationMs = task.stages.tts.details!.duration_ms as number;
      expect(Math.abs(probe.duration_ms - narrationMs)).toBeLessThan(500);
    }
    // The exporter's own accounting: never two renders at once.
    const stats = stack.exportService!.stats();
    expect(stats.max_concurrent_renders).toBe(1);
    expect(stats.renders_completed).toBeGreaterThanOrEqual(4);
    // And the tasks' export stages never overlap in time.
    const spans = tasks.map((t) => [Date.parse(t.stages.export.started_at!), Date.parse(t.stages.export.ended_at!)] as const).sort((a, b) => a[0] - b[0]);
    for (let i = 1; i < spans.length; i++) expect(spans[i][0]).toBeGreaterThanOrEqual(spans[i - 1][1]);
    for (const t of tasks) expect(t.stages.export.queued_at).toBeDefined();
    // Every AWS call was made as the function (or the state machine) that makes it on AWS, so the
    // after-file IAM check (test/support/iam-check-setup.ts) sees each role's calls; presigned media URLs included.
    const principals = new Set(recordedCalls().map((c) => c.principal));
    for (const p of ['api', 'start', 'story', 'tts', 'draft', 'stateMachine', 'export', 'finalize', 'exportDlq'] as const) expect(principals, p).toContain(p);
    expect(recordedCalls().some((c) => c.principal === 'export' && c.presigned)).toBe(true);
  });

  it('links the editor draft folder as an archive the exporter can unpack', async () => {
    const [taskId, job] = [...jobs.entries()][0];
    expect(job.editor_draft?.folder).toMatch(new RegExp(`^exp_v\\d_${taskId}$`));
    const res = await fetch(job.editor_draft!.archive_url);
    expect(res.status).toBe(200);
    const dir = mkdtempSync(join(tmpdir(), 'reel-draft-archive-'));
    writeFileSync(join(dir, 'draft.tar.gz'), Buffer.from(await res.arrayBuffer()));
    execFileSync('tar', ['-xzf', join(dir, 'draft.tar.gz'), '-C', dir]);
    const folder = join(dir, job.editor_draft!.folder);
    for (const f of ['draft_content.json', 'draft_meta_info.json', 'materials/narration.wav']) expect(existsSync(join(folder, f)), f).toBe(true);
    const content = JSON.parse(readFileSync(join(folder, 'draft_content.json'), 'utf8')) as { canvas_config: { width: number; height: number } };
    expect(content.canvas_config).toMatchObject({ width: 1080, height: 1920 });
  });

  it('gives a retried Export attempt its own message and token, and completes', async () => {
    failNextVideoDownloads = 1;
    const before = outcomes.length;
    const sub = await stack.post({ creator_id: 'exp', video_id: 'retry', source_text: 'Try again.' });
    const task = await stack.finished(sub.body.task_id as string);
    expect(task.status, JSON.stringify(task.error)).toBe('SUCCEEDED');
    expect(outcomes.slice(before)).toEqual(['retry_requested', 'succeeded']);
    expect(task.stages.export.attempts).toBe(2);
    const mine = messages.filter((m) => m.task_id === task.task_id);
    expect(mine).toHaveLength(2);
    expect(mine[0].task_token).not.toBe(mine[1].task_token);
    expect(task.stages.export.status).toBe('succeeded');
  });

  it('deletes a message whose task token the state machine does not wait for, before any render (a message from before a restart)', async () => {
    // prepare: a running task, and a message for it with a token this process never issued
    stack.controls.closeGate('Story');
    const sub = await stack.post({ creator_id: 'exp', video_id: 'stale', source_text: 'Stale token.', export_video: false });
    const taskId = sub.body.task_id as string;
    await stack.controls.waitForArrivals('Story', 1);
    const rendersBefore = stack.exportService!.stats().renders_started;
    const before = outcomes.length;
    const stale = {
      task_id: taskId,
      creator_id: 'exp',
      video_id: 'stale',
      draft_key: `tasks/${taskId}/draft.json`,
      task_token: `AQ${randomBytes(480).toString('base64')}`,
    };

    // act
    await stack.runtime.sqs.send(
      new SendMessageCommand({
        QueueUrl: stack.exportQueueUrl,
        MessageBody: JSON.stringify(stale),
        MessageGroupId: EXPORT_MESSAGE_GROUP,
        MessageDeduplicationId: randomUUID(),
      }),
    );
    for (let poll = 0; poll < 200 && outcomes.length === before; poll += 1) await new Promise((r) => setTimeout(r, 50));

    // assess
    expect(outcomes.slice(before)).toEqual(['stale_token']);
    expect(jobs.has(taskId)).toBe(false);
    expect(stack.exportService!.stats().renders_started).toBe(rendersBefore);
    stack.controls.openGate('Story');
    expect((await stack.finished(taskId)).status).toBe('SUCCEEDED');
  });
});
