import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestStack, type TestStack } from '../support/stack.js';

/**
 * The embedded stack serves the stages that work in its process (the offline story, eSpeak TTS,
 * draft building) one task at a time, in task-id (= submission) order, so the first task's draft
 * is ready first instead of all drafts together. The tests hold three tasks at a gate and let
 * them go at once.
 */
let stack: TestStack;
beforeAll(async () => {
  stack = await startTestStack();
});
afterAll(async () => {
  await stack?.close();
});

const TEXT = 'The river was calm that morning. We walked along it until the sun went down. Then we went home and slept.';

const span = (stage: { started_at?: string; ended_at?: string } | undefined) => ({
  start: Date.parse(stage?.started_at ?? ''),
  end: Date.parse(stage?.ended_at ?? ''),
});

describe('engine lanes of the embedded stack', () => {
  it('runs the narrations and drafts of tasks released together one at a time, waiting ones in task-id order', async () => {
    stack.controls.closeGate('Tts');
    const before = stack.controls.arrivalsAt('Tts');
    const answers = await Promise.all(
      ['lane-a', 'lane-b', 'lane-c'].map((video) => stack.post({ creator_id: 'lanes', video_id: video, export_video: false, source_text: TEXT })),
    );
    const ids = answers.map((a) => a.body.task_id as string);
    expect(answers.map((a) => a.status)).toEqual([202, 202, 202]);
    await stack.controls.waitForArrivals('Tts', before + 3);
    stack.controls.openGate('Tts');
    const records = await Promise.all(ids.map((id) => stack.finished(id)));
    expect(records.map((r) => r.status)).toEqual(['SUCCEEDED', 'SUCCEEDED', 'SUCCEEDED']);

    for (const stage of ['tts', 'draft'] as const) {
      const runs = records.map((r) => ({ id: r.task_id, ...span(r.stages[stage]) })).sort((x, y) => x.start - y.start);
      // One at a time: each run starts after the previous one ended.
      for (let i = 1; i < runs.length; i++) expect(runs[i].start).toBeGreaterThanOrEqual(runs[i - 1].end);
      // The first to arrive took the free lane; the two that waited went in task-id order.
      expect(runs[1].id < runs[2].id).toBe(true);
    }
  });

  it("runs a task's story, narration and draft back to back before the next task's story, waiting ones in task-id order", async () => {
    stack.controls.closeGate('Story');
    const before = stack.controls.arrivalsAt('Story');
    const answers = await Promise.all(
      ['chain-a', 'chain-b', 'chain-c'].map((video) => stack.post({ creator_id: 'lanes', video_id: video, export_video: false, source_text: TEXT })),
    );
    const ids = answers.map((a) => a.body.task_id as string);
    expect(answers.map((a) => a.status)).toEqual([202, 202, 202]);
    await stack.controls.waitForArrivals('Story', before + 3);
    stack.controls.openGate('Story');
    const records = await Promise.all(ids.map((id) => stack.finished(id)));
    expect(records.map((r) => r.status)).toEqual(['SUCCEEDED', 'SUCCEEDED', 'SUCCEEDED']);

    // Each task's three stages as one block: the blocks do not overlap, so no task's stage ran
    // between another task's story and its draft.
    const blocks = records.map((r) => ({ id: r.task_id, start: span(r.stages.story).start, end: span(r.stages.draft).end })).sort((x, y) => x.start - y.start);
    for (const block of blocks) expect(Number.isFinite(block.start) && Number.isFinite(block.end)).toBe(true);
    for (let i = 1; i < blocks.length; i++) expect(blocks[i].start).toBeGreaterThanOrEqual(blocks[i - 1].end);
    // The first to arrive took the free lane; the two that waited went in task-id order.
    expect(blocks[1].id < blocks[2].id).toBe(true);
  });
});
