import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gemini429, geminiText, startFakeGemini, standInGeminiEnv } from '../support/fake-gemini.js';
import { startTestStack, type TestStack } from '../support/stack.js';

/**
 * A stage sent to the state machine's rate-limit Wait records that wait on its stage, so the
 * console can draw it on the task's timeline (docs/console.md, "The stage timeline").
 */
let stack: TestStack;
let gemini: Awaited<ReturnType<typeof startFakeGemini>>;
let calls = 0;

beforeAll(async () => {
  // The first call is refused with a 1 s retry delay, every later one answers.
  gemini = await startFakeGemini(() => (calls++ === 0 ? gemini429('1s') : geminiText('The river was calm that day.')));
  stack = await startTestStack({
    extraEnv: {
      ...standInGeminiEnv(gemini.url),
      STORY_RPM: '6000',
      RATE_LIMIT_MAX_WAIT_SECONDS: '0.5',
    },
  });
});
afterAll(async () => {
  await stack?.close();
  await gemini?.close();
});

describe('rate-limit waits on the task record', () => {
  it('records each wait of a stage with its time, length and provider; a stage that never waited has none', async () => {
    const sub = await stack.post({ creator_id: 'waits', video_id: 'v1', export_video: false, source_text: 'The river was calm. We walked along it.' });
    const task = await stack.finished(sub.body.task_id as string);
    expect(task.status).toBe('SUCCEEDED');
    expect(task.stages.story.attempts).toBe(2);
    const waits = task.stages.story.rate_limit_waits ?? [];
    expect(waits).toHaveLength(1);
    expect(waits[0]).toMatchObject({ provider: 'gemini' });
    expect(waits[0].seconds).toBeGreaterThanOrEqual(1);
    expect(Date.parse(waits[0].at)).toBeGreaterThanOrEqual(Date.parse(task.created_at));
    expect(Date.parse(waits[0].at)).toBeLessThanOrEqual(Date.parse(task.stages.story.started_at!));
    expect(task.stages.tts.rate_limit_waits).toBeUndefined();
  });
});
