import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StopExecutionCommand } from '@aws-sdk/client-sfn';
import { getObjectText } from '../../shared/artifacts.js';
import { createHash } from 'node:crypto';
import { startTestStack, type TestStack } from '../support/stack.js';

/**
 * The pipeline end to end on the embedded stack, without export (export has its own file):
 * the old system's concurrency script, isolation of repeated runs, failures and stops.
 */
let stack: TestStack;
beforeAll(async () => {
  stack = await startTestStack();
});
afterAll(async () => {
  await stack?.close();
});

const SHORT_EN = 'The river was calm. We walked along it until sunset.';
const SHORT_ZH = '今天我们去公园散步。天气很好。';

async function concurrentIdenticalSubmissions(count: number, creator: string, video: string) {
  await stack.putSource(creator, video, SHORT_ZH);
  stack.controls.closeGate('Story');
  const before = stack.controls.arrivalsAt('Story');
  // The old client's body (gender 1, export_video False) — the post-mortem's script, N at once.
  const answers = await Promise.all(Array.from({ length: count }, () => stack.post({ video_id: video, creator_id: creator, gender: 1, export_video: false })));
  const accepted = answers.filter((a) => a.status === 202);
  const rejected = answers.filter((a) => a.status === 409);
  expect(accepted).toHaveLength(1);
  expect(rejected).toHaveLength(count - 1);
  const taskId = accepted[0].body.task_id as string;
  for (const r of rejected) {
    expect(r.body).toMatchObject({ error: 'duplicate_task', task_id: taskId });
    expect(String(r.body.message)).toContain(taskId);
  }
  // The accepted task is held at the gate while all the answers came in.
  await stack.controls.waitForArrivals('Story', before + 1);
  expect(stack.controls.held().Story).toContain(taskId);
  stack.controls.openGate('Story');
  const done = await stack.finished(taskId);
  expect(done.status).toBe('SUCCEEDED');
  return done;
}

describe('concurrent submissions of one creator and video', () => {
  it('accepts exactly one of 5 identical concurrent POSTs; the other 4 get 409 naming it', async () => {
    await concurrentIdenticalSubmissions(5, 'test_creator', 'test_video');
  });

  it('accepts exactly one of 50 identical concurrent POSTs', async () => {
    await concurrentIdenticalSubmissions(50, 'creator50', 'video50');
  });
});

describe('a task from submission to result', () => {
  it('keeps two runs of the same creator and video in two prefixes, both intact', async () => {
    const first = await stack.post({ creator_id: 'iso', video_id: 'v1', export_video: false, source_text: SHORT_EN });
    expect(first.status).toBe(202);
    const a = await stack.finished(first.body.task_id as string);
    const second = await stack.post({ creator_id: 'iso', video_id: 'v1', export_video: false, source_text: SHORT_ZH, gender: 2 });
    expect(second.status).toBe(202);
    const b = await stack.finished(second.body.task_id as string);

    expect(a.task_id).not.toBe(b.task_id);
    expect([a.status, b.status]).toEqual(['SUCCEEDED', 'SUCCEEDED']);
    const storyA = await getObjectText(stack.runtime, `tasks/${a.task_id}/story.txt`);
    const storyB = await getObjectText(stack.runtime, `tasks/${b.task_id}/story.txt`);
    expect(storyA).toContain('The river was calm.');
    expect(storyB).toContain('今天我们去公园散步。');
    for (const task of [a, b]) {
      const names = task.artifacts.map((x) => x.name);
      expect(names).toEqual(expect.arrayContaining(['source.txt', 'story.txt', 'narration.wav', 'narration.timings.json', 'subtitles.srt', 'draft.json']));
      expect(names).not.toContain('final_video.mp4');
      // The manifest's hashes match the stored bytes: nothing was overwritten afterwards.
      const manifest = JSON.parse((await getObjectText(stack.runtime, `tasks/${task.task_id}/manifest.json`)) ?? '{}') as {
        artifacts: Array<{ key: string; sha256: string }>;
      };
      for (const entry of manifest.artifacts) {
        const res = await fetch(`${stack.apiUrl}/api/pipeline/tasks/${task.task_id}/artifacts/${entry.key.split('/').slice(2).join('/')}`);
        const bytes = Buffer.from(await res.arrayBuffer());
        expect(createHash('sha256').update(bytes).digest('hex'), entry.key).toBe(entry.sha256);
      }
      expect(task.stages.story.details).toMatchObject({ provider: 'passthrough' });
      expect(task.stages.export.status).toBe('skipped');
    }
    const srtA = await getObjectText(stack.runtime, `tasks/${a.task_id}/subtitles.srt`);
    const srtB = await getObjectText(stack.runtime, `tasks/${b.task_id}/subtitles.srt`);
    expect(srtA).not.toBe(srtB);
    expect(b.stages.tts.details).toMatchObject({ language: 'cmn', voice: 'cmn+f3' });
  });

  it("keeps each task's structured log lines with its artifacts", async () => {
    const sub = await stack.post({ creator_id: 'logs', video_id: 'v1', export_video: false, source_text: SHORT_EN });
    const taskId = sub.body.task_id as string;
    await stack.finished(taskId);
    const log = (await getObjectText(stack.runtime, `tasks/${taskId}/log.jsonl`)) ?? '';
    const lines = log
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines.length).toBeGreaterThan(4);
    for (const line of lines) expect(line).toMatchObject({ task_id: taskId, creator_id: 'logs', video_id: 'v1', stage: expect.any(String) });
    expect(new Set(lines.map((l) => l.stage))).toEqual(new Set(['submit', 'start', 'story', 'tts', 'draft', 'finalize']));
  });

  it('answers 422 with where to put the source when there is none, and accepts once it is stored', async () => {
    const missing = await stack.post({ creator_id: 'nosrc', video_id: 'v1', export_video: false });
    expect(missing.status).toBe(422);
    expect(missing.body.error).toBe('source_missing');
    expect(String(missing.body.message)).toContain('sources/nosrc/v1/source.txt');
    await stack.putSource('nosrc', 'v1', SHORT_EN);
    const ok = await stack.post({ creator_id: 'nosrc', video_id: 'v1', export_video: false });
    expect(ok.status).toBe(202);
    await stack.finished(ok.body.task_id as string);
  });

  it("lists a creator's tasks newest first and filters by status", async () => {
    const ids: string[] = [];
    for (const text of [SHORT_EN, SHORT_ZH]) {
      const r = await stack.post({ creator_id: 'lister', video_id: 'v1', export_video: false, source_text: text });
      ids.push(r.body.task_id as string);
      await stack.finished(ids[ids.length - 1]);
    }
    const res = await fetch(`${stack.apiUrl}/api/pipeline/tasks?creator_id=lister&status=SUCCEEDED&limit=10`);
    const body = (await res.json()) as { tasks: Array<{ task_id: string }> };
    expect(body.tasks.map((t) => t.task_id)).toEqual([...ids].reverse());
    const unknown = await fetch(`${stack.apiUrl}/api/pipeline/tasks/00000000-0000-7000-8000-000000000000`);
    expect(unknown.status).toBe(404);
    expect(unknown.headers.get('content-type')).toContain('application/json');
  });
});

describe('failures', () => {
  it('records a failing stage with its stage, code and message, and frees the lock', async () => {
    stack.controls.armFault('Tts', { error: 'TtsFailedError', message: 'the voice engine crashed', times: 1 });
    const sub = await stack.post({ creator_id: 'failing', video_id: 'v1', export_video: false, source_text: SHORT_EN });
    const task = await stack.finished(sub.body.task_id as string);
    expect(task.status).toBe('FAILED');
    expect(task.error).toEqual({ stage: 'tts', code: 'tts_failed', message: 'the voice engine crashed' });
    expect(task.stages.tts.status).toBe('failed');
    expect(task.stages.draft.status).toBe('pending');
    expect(await stack.itemKeys()).not.toContain('LOCK#failing#v1');
    const again = await stack.post({ creator_id: 'failing', video_id: 'v1', export_video: false, source_text: SHORT_EN });
    expect(again.status).toBe(202);
    expect((await stack.finished(again.body.task_id as string)).status).toBe('SUCCEEDED');
  });

  it('retries a transient stage error and succeeds', async () => {
    stack.controls.armFault('Story', { error: 'TransientStageError', message: 'throttled', times: 1 });
    const sub = await stack.post({ creator_id: 'transient', video_id: 'v1', export_video: false, source_text: SHORT_EN });
    const task = await stack.finished(sub.body.task_id as string);
    expect(task.status).toBe('SUCCEEDED');
  });

  it('fails a task whose execution is stopped from outside, frees the lock, and fences the late stage', async () => {
    stack.controls.closeGate('Draft');
    const before = stack.controls.arrivalsAt('Draft');
    const sub = await stack.post({ creator_id: 'stopped', video_id: 'v1', export_video: false, source_text: SHORT_EN });
    const taskId = sub.body.task_id as string;
    await stack.controls.waitForArrivals('Draft', before + 1);
    const record = await stack.getTask(taskId);
    await stack.runtime.sfn.send(new StopExecutionCommand({ executionArn: record.execution_arn, error: 'Operator', cause: 'stopped by a test' }));
    const task = await stack.finished(taskId);
    expect(task.status).toBe('FAILED');
    expect(task.error).toMatchObject({ code: 'execution_aborted', stage: 'tts' });
    expect(await stack.itemKeys()).not.toContain('LOCK#stopped#v1');
    // The held Draft invocation wakes up after the stop: it must not write anything.
    stack.controls.openGate('Draft');
    const again = await stack.post({ creator_id: 'stopped', video_id: 'v1', export_video: false, source_text: SHORT_ZH });
    expect(again.status).toBe(202);
    await stack.finished(again.body.task_id as string);
    const after = await stack.getTask(taskId);
    expect(after.status).toBe('FAILED');
    expect(after.stages.draft.status).toBe('pending');
    expect(await stack.objectKeys()).not.toContain(`tasks/${taskId}/draft.json`);
  });
});
