import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { performance } from 'node:perf_hooks';
import { getObjectText } from '../../shared/artifacts.js';
import { NARRATION_PROMPT_VERSION } from '../../shared/story/narration-prompt.js';
import { gemini429, geminiPerDay, geminiText, PER_DAY_QUOTA, startFakeGemini, type GeminiReply, standInGeminiEnv } from '../support/fake-gemini.js';
import { startTestStack, type TestStack } from '../support/stack.js';

/**
 * The story stage with Gemini end to end on the embedded stack (HTTP API, local Step Functions,
 * dynalite), Gemini played by a local fake. Real seconds here: the Wait states of the
 * rate-limit loop sleep for real.
 */
let stack: TestStack;
let gemini: Awaited<ReturnType<typeof startFakeGemini>>;
/** per request: the task marker found in the prompt and what the fake answered */
const answered: Array<{ marker: string; at: number; status: number }> = [];
let rlCalls = 0;

beforeAll(async () => {
  gemini = await startFakeGemini((request) => {
    const marker = /Marker ([a-z]+-\d+)/.exec(request.prompt)?.[1] ?? 'none';
    let reply: GeminiReply;
    if (marker.startsWith('rl-')) reply = rlCalls++ < 5 ? gemini429('2s') : geminiText(`This is the story of ${marker}.\nThe river was calm that day.`);
    else if (marker.startsWith('day-')) reply = geminiPerDay();
    else if (marker.startsWith('always-')) reply = gemini429('1s');
    else reply = geminiText('The river was calm.');
    answered.push({ marker, at: request.at, status: reply.status });
    return reply;
  });
  stack = await startTestStack({
    extraEnv: {
      ...standInGeminiEnv(gemini.url),
      STORY_RPM: '6000',
      // half a second: the limiter's own waits (≤ 90 ms here) stay in the stage, any Gemini delay goes to the state machine
      RATE_LIMIT_MAX_WAIT_SECONDS: '0.5',
    },
    definition: { rateLimitMaxWaits: 2 },
  });
});
afterAll(async () => {
  await stack?.close();
  await gemini?.close();
});

const requestsOf = (marker: string) => answered.filter((a) => a.marker === marker).sort((a, b) => a.at - b.at);

describe('Gemini rate limits, end to end', () => {
  it('gets 10 concurrent tasks through a Gemini that answers 429 (retryDelay 2s) to the first 5 calls, no retry sooner than the delay', async () => {
    // act: 10 tasks at once (the post-mortem's script shape, export off)
    const posts = await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        stack.post({ creator_id: 'rl', video_id: `v${i}`, export_video: false, source_text: `Marker rl-${i}. The river was calm. We walked along it.` }),
      ),
    );
    expect(posts.map((p) => p.status)).toEqual(Array(10).fill(202));
    const tasks = await Promise.all(posts.map((p) => stack.finished(p.body.task_id as string)));

    // assess: every task succeeded with Gemini's narration and the prompt version recorded
    expect(tasks.map((t) => t.status)).toEqual(Array(10).fill('SUCCEEDED'));
    for (const [i, task] of tasks.entries()) {
      expect(task.stages.story.details).toMatchObject({ provider: 'gemini', model: 'gemini-2.5-flash', prompt_version: NARRATION_PROMPT_VERSION });
      expect(await getObjectText(stack.runtime, `tasks/${task.task_id}/story.txt`)).toBe(`This is the story of rl-${i}.\nThe river was calm that day.\n`);
    }
    // exactly the first 5 calls were refused, and each of those tasks came back once, no sooner than 2 s
    const throttled = answered.filter((a) => a.marker.startsWith('rl-') && a.status === 429);
    expect(throttled).toHaveLength(5);
    const gaps: number[] = [];
    for (let i = 0; i < 10; i++) {
      const calls = requestsOf(`rl-${i}`);
      expect(calls.at(-1)?.status).toBe(200);
      for (let k = 1; k < calls.length; k++) if (calls[k - 1].status === 429) gaps.push(calls[k].at - calls[k - 1].at);
    }
    expect(gaps).toHaveLength(5);
    expect(Math.min(...gaps)).toBeGreaterThanOrEqual(2_000);
    console.info(`[e2e] retry gaps after a 429 (ms): ${gaps.map((g) => g.toFixed(0)).join(', ')}`);
    // the tasks that waited show it: two story attempts, and the hand-back in their own log
    const waited = tasks.filter((t) => t.stages.story.attempts === 2);
    expect(waited).toHaveLength(5);
    const log = (await getObjectText(stack.runtime, `tasks/${waited[0].task_id}/log.jsonl`)) ?? '';
    expect(log).toContain('"message":"stage rate limited: the state machine waits before the next attempt"');
    expect(log).toContain('"retry_after_seconds":2');
  });

  it('fails a task on the per-day quota within seconds, naming the quota, and releases the lock', async () => {
    const started = performance.now();
    const post = await stack.post({ creator_id: 'day', video_id: 'v1', export_video: false, source_text: 'Marker day-1. The river was calm.' });
    expect(post.status).toBe(202);
    const task = await stack.finished(post.body.task_id as string);
    const seconds = (performance.now() - started) / 1000;

    expect(task.status).toBe('FAILED');
    expect(task.error).toMatchObject({ stage: 'story', code: 'gemini_quota_exhausted' });
    expect(task.error?.message).toContain(PER_DAY_QUOTA);
    expect(seconds).toBeLessThan(5);
    expect(requestsOf('day-1')).toHaveLength(1); // no retry of a daily quota
    expect(await stack.itemKeys()).not.toContain('LOCK#day#v1');
    console.info(`[e2e] per-day quota: task failed ${seconds.toFixed(2)} s after submission`);
  });

  it('fails with a named error once the stage has waited the allowed number of times', async () => {
    const post = await stack.post({ creator_id: 'always', video_id: 'v1', export_video: false, source_text: 'Marker always-1. The river was calm.' });
    const task = await stack.finished(post.body.task_id as string);

    expect(task.status).toBe('FAILED');
    expect(task.error).toMatchObject({ stage: 'story', code: 'rate_limit_waits_exhausted', message: expect.stringContaining('after 2 waits') });
    const calls = requestsOf('always-1');
    expect(calls).toHaveLength(3); // the first attempt and one after each of the 2 waits
    for (let k = 1; k < calls.length; k++) expect(calls[k].at - calls[k - 1].at).toBeGreaterThanOrEqual(1_000);
    expect(await stack.itemKeys()).not.toContain('LOCK#always#v1');
  });
});
