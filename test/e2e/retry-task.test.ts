import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createFailHandler } from '../../lambdas/fail/handler.js';
import { createLogger } from '../../shared/logger.js';
import { retryMatchingTasks } from '../../shared/retry-matching.js';
import { createRuntime } from '../../shared/runtime.js';
import { geminiPerDay, geminiText, startFakeGemini } from '../support/fake-gemini.js';
import { recordReliability } from '../support/reliability.js';
import { startTestStack, type TestStack } from '../support/stack.js';

/**
 * `POST /api/pipeline/tasks/{task_id}/retry`: an ended task continues at the stage where it
 * ended, with the same id, by redriving its execution; finished stages are not run again.
 */
let stack: TestStack;
let gemini: Awaited<ReturnType<typeof startFakeGemini>>;
/** story requests the stand-in Gemini received, by the task marker in the prompt */
const geminiCalls = new Map<string, number>();
/** markers whose per-day quota is spent (the fake answers the per-day 429 for them) */
const quotaSpent = new Set<string>();
beforeAll(async () => {
  gemini = await startFakeGemini((request) => {
    const marker = /Marker ([a-z]+-\d+)/.exec(request.prompt)?.[1] ?? 'none';
    geminiCalls.set(marker, (geminiCalls.get(marker) ?? 0) + 1);
    return quotaSpent.has(marker) ? geminiPerDay() : geminiText(`The story of ${marker}.\nThe river was calm that day.`);
  });
  stack = await startTestStack({ extraEnv: { GEMINI_API_KEY: 'test-key', GEMINI_BASE_URL: gemini.url, STORY_LANGUAGE: 'en', STORY_TARGET_CHARS: '200' } });
});
afterAll(async () => {
  await stack?.close();
  await gemini?.close();
});

const api = () => `${stack.apiUrl}/api/pipeline`;
const postTo = async (path: string, body?: unknown) => {
  const res = await fetch(`${api()}${path}`, {
    method: 'POST',
    ...(body === undefined ? {} : { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
};

describe('retrying a task', () => {
  it('continues a cancelled task at its stage: SUCCEEDED with the same id, finished stages not run again', async () => {
    // prepare: cancelled while held at Tts
    stack.controls.closeGate('Tts');
    const sub = await stack.post({ creator_id: 'retry', video_id: 'cancelled', source_text: 'Cancelled, then retried.', export_video: false });
    const taskId = sub.body.task_id as string;
    await stack.controls.waitForArrivals('Tts', 1);
    expect((await postTo(`/tasks/${taskId}/cancel`)).status).toBe(200);
    await stack.settled(taskId);
    const cancelled = await stack.getTask(taskId);
    expect(cancelled.status).toBe('CANCELLED');

    // act: retried (held at Tts again), and meanwhile the ABORTED event of the first run arrives late
    const retried = await postTo(`/tasks/${taskId}/retry`);
    await stack.controls.waitForArrivals('Tts', 2);
    const late = await createFailHandler(createRuntime(stack.env))({
      source: 'aws.states',
      'detail-type': 'Step Functions Execution Status Change',
      detail: {
        executionArn: `${stack.env.STATE_MACHINE_ARN.replace(':stateMachine:', ':execution:')}:${taskId}`,
        name: taskId,
        status: 'ABORTED',
        redriveCount: 0,
      },
    });
    const whileRedriven = await stack.getTask(taskId);
    const locksWhileRedriven = (await stack.itemKeys()).filter((k) => k.startsWith('LOCK#'));
    stack.controls.openGate('Tts');
    await waitForStatus(taskId, 'SUCCEEDED');

    // assess
    expect(retried.status).toBe(202);
    expect(retried.body).toMatchObject({ task_id: taskId, status: 'RUNNING', redrives: 1 });
    expect(late).toEqual({ recorded: false, lock_released: false });
    expect(whileRedriven.status).toBe('RUNNING');
    expect(locksWhileRedriven).toEqual(['LOCK#retry#cancelled']);
    const task = await stack.getTask(taskId);
    expect(task.status).toBe('SUCCEEDED');
    expect(task.stages.story.attempts).toBe(cancelled.stages.story.attempts);
    expect(task.stages.tts.status).toBe('succeeded');
    const locks = (await stack.itemKeys()).filter((k) => k.startsWith('LOCK#'));
    expect(locks).toEqual([]);
    recordReliability({
      fault: 'task cancelled at tts → POST …/retry (its ABORTED execution redriven); a late ABORTED event of the first run',
      runs: 1,
      outcome: `${task.status}, same id, story attempts ${cancelled.stages.story.attempts} → ${task.stages.story.attempts}; the late event changed nothing`,
      data_lost: 0,
      duplicates: task.stages.story.attempts - cancelled.stages.story.attempts,
      locks_leaked: locks.length,
    });
  });

  it('answers 409 naming the holder when another task of the creator and video runs, and changes nothing', async () => {
    // prepare: A cancelled, then B running for the same creator and video
    stack.controls.closeGate('Story');
    const a = (await stack.post({ creator_id: 'retry', video_id: 'busy', source_text: 'First.', export_video: false })).body.task_id as string;
    await stack.controls.waitForArrivals('Story', 2);
    await postTo(`/tasks/${a}/cancel`);
    await stack.settled(a);
    const b = (await stack.post({ creator_id: 'retry', video_id: 'busy', source_text: 'Second.', export_video: false })).body.task_id as string;
    const before = await stack.getTask(a);

    // act
    const answer = await postTo(`/tasks/${a}/retry`);

    // assess
    expect(answer.status).toBe(409);
    expect(answer.body).toMatchObject({ error: 'duplicate_task', task_id: b });
    const after = await stack.getTask(a);
    expect(after).toEqual(before);
    stack.controls.openGate('Story');
    expect((await stack.finished(b)).status).toBe('SUCCEEDED');
    recordReliability({
      fault: 'retry of a task while another task of the same creator and video holds the lock',
      runs: 1,
      outcome: `409 ${String(answer.body.error)} naming the holder; the retried task unchanged (${after.status})`,
      data_lost: 0,
      duplicates: 0,
      locks_leaked: (await stack.itemKeys()).filter((k) => k === 'LOCK#retry#busy').length,
    });
  });

  it('answers 409 with the status for a RUNNING or a SUCCEEDED task', async () => {
    // prepare
    stack.controls.closeGate('Draft');
    const running = (await stack.post({ creator_id: 'retry', video_id: 'running', source_text: 'Still running.', export_video: false })).body.task_id as string;
    await stack.controls.waitForArrivals('Draft', 1);

    // act + assess
    const whileRunning = await postTo(`/tasks/${running}/retry`);
    expect(whileRunning.status).toBe(409);
    expect(whileRunning.body).toMatchObject({ error: 'task_not_retryable', status: 'RUNNING' });
    stack.controls.openGate('Draft');
    expect((await stack.finished(running)).status).toBe('SUCCEEDED');
    const afterSuccess = await postTo(`/tasks/${running}/retry`);
    expect(afterSuccess.status).toBe(409);
    expect(afterSuccess.body).toMatchObject({ error: 'task_not_retryable', status: 'SUCCEEDED' });
  });
});

describe('retrying a failed task', () => {
  it('continues a task FAILED at tts at that stage: SUCCEEDED with the same id, one story call in all, TTS attempts continuing', async () => {
    // prepare: the TTS stage fails (not retryable), so the execution fails at Tts
    stack.controls.armFault('Tts', { error: 'TtsFailedError', message: 'the voice engine crashed', times: 1 });
    const sub = await stack.post({ creator_id: 'retry', video_id: 'tts-failed', source_text: 'Marker tts-1. The river was calm.', export_video: false });
    const taskId = sub.body.task_id as string;
    const failed = await stack.finished(taskId);
    expect(failed.status).toBe('FAILED');
    expect(failed.error).toEqual({ stage: 'tts', code: 'tts_failed', message: 'the voice engine crashed' });

    // act
    const retried = await postTo(`/tasks/${taskId}/retry`);
    await waitForStatus(taskId, 'SUCCEEDED');

    // assess
    expect(retried.status).toBe(202);
    expect(retried.body).toMatchObject({ task_id: taskId, status: 'RUNNING', redrives: 1 });
    const task = await stack.getTask(taskId);
    expect(task.error).toBeUndefined();
    expect(task.stages.story).toMatchObject({ status: 'succeeded', attempts: failed.stages.story.attempts });
    expect(task.stages.tts).toMatchObject({ status: 'succeeded', attempts: failed.stages.tts.attempts + 1 });
    expect(geminiCalls.get('tts-1')).toBe(1);
    const locks = (await stack.itemKeys()).filter((k) => k.startsWith('LOCK#'));
    expect(locks).toEqual([]);
    recordReliability({
      fault: 'task FAILED at tts (injected) → POST …/retry (RedriveExecution)',
      runs: 1,
      outcome: `${task.status}, same id, ${geminiCalls.get('tts-1')} story call in all`,
      data_lost: 0,
      duplicates: (geminiCalls.get('tts-1') ?? 0) - 1,
      locks_leaked: locks.length,
    });
  });

  it('redrives the tasks FAILED on the per-day quota through the filter form once the quota is back, and says what it skipped', async () => {
    // prepare: two tasks fail on the per-day quota; a third of the same creator and video as the
    // second then holds the lock
    quotaSpent.add('day-1').add('day-2');
    const a = (await stack.post({ creator_id: 'quota', video_id: 'v1', source_text: 'Marker day-1. The river was calm.', export_video: false })).body
      .task_id as string;
    const b = (await stack.post({ creator_id: 'quota', video_id: 'v2', source_text: 'Marker day-2. The river was calm.', export_video: false })).body
      .task_id as string;
    for (const id of [a, b]) expect((await stack.finished(id)).error).toMatchObject({ stage: 'story', code: 'gemini_quota_exhausted' });
    stack.controls.closeGate('Tts');
    const holder = (await stack.post({ creator_id: 'quota', video_id: 'v2', source_text: 'Marker day-3. The river was calm.', export_video: false })).body
      .task_id as string;
    await stack.controls.waitForArrivals('Tts', stack.controls.arrivalsAt('Tts') + 1);
    quotaSpent.clear();
    const bBefore = await stack.getTask(b);

    // act
    const answer = await postTo('/tasks/retry', { status: 'FAILED', error_code: 'gemini_quota_exhausted', creator_id: 'quota' });
    const bAfter = await stack.getTask(b);
    stack.controls.openGate('Tts');
    await waitForStatus(a, 'SUCCEEDED');

    // assess
    expect(answer.status).toBe(200);
    expect(answer.body).toMatchObject({ count: 1, retried: [a], skipped: [{ task_id: b, error: 'duplicate_task' }] });
    expect((answer.body.skipped as Array<{ message: string }>)[0].message).toContain(holder);
    expect(answer.body.cursor).toBeUndefined();
    expect(bAfter).toEqual(bBefore);
    const task = await stack.getTask(a);
    expect(task.stages.story.attempts).toBe(2); // the quota failure, then the redrive
    expect(geminiCalls.get('day-1')).toBe(2);
    expect((await stack.finished(holder)).status).toBe('SUCCEEDED');
    const locks = (await stack.itemKeys()).filter((k) => k.startsWith('LOCK#'));
    expect(locks).toEqual([]);
    recordReliability({
      fault: 'tasks FAILED on the Gemini per-day quota → POST /tasks/retry {error_code} after the reset (one held by a newer task)',
      runs: 1,
      outcome: `${task.status} after the filter retry; the locked one skipped (duplicate_task), unchanged`,
      data_lost: 0,
      duplicates: 0,
      locks_leaked: locks.length,
    });
  });

  it('stops a filter retry at its task cap or its time budget and continues from the cursor', async () => {
    // prepare: three tasks FAILED at draft
    stack.controls.armFault('Draft', { error: 'DraftFailedError', message: 'the draft writer crashed', times: 3 });
    const ids = await Promise.all(
      ['b1', 'b2', 'b3'].map(
        async (video) => (await stack.post({ creator_id: 'batch', video_id: video, source_text: 'A calm river.', export_video: false })).body.task_id as string,
      ),
    );
    for (const id of ids) expect((await stack.finished(id)).error).toMatchObject({ stage: 'draft', code: 'draft_failed' });
    const filter = { status: 'FAILED' as const, creator_id: 'batch' };
    const log = createLogger({});

    // act: out of time after the first task; then a cap of one task; then the rest
    const first = await retryMatchingTasks(stack.runtime, filter, log, { budgetMs: 0 });
    const second = await retryMatchingTasks(stack.runtime, { ...filter, cursor: first.cursor }, log, { maxTasks: 1 });
    const third = await retryMatchingTasks(stack.runtime, { ...filter, cursor: second.cursor }, log);

    // assess
    expect([first.count, second.count, third.count]).toEqual([1, 1, 1]);
    expect(first.cursor).toBeDefined();
    expect(second.cursor).toBeDefined();
    expect(third.cursor).toBeUndefined();
    expect([...first.retried, ...second.retried, ...third.retried].sort()).toEqual([...ids].sort());
    for (const id of ids) await waitForStatus(id, 'SUCCEEDED');
  });

  it('answers 400 with a code and a sentence for a filter it cannot read', async () => {
    // act
    const unknownStatus = await postTo('/tasks/retry', { status: 'SUCCEEDED' });
    const badSince = await postTo('/tasks/retry', { since: 'yesterday' });
    const unknownField = await postTo('/tasks/retry', { stage: 'tts' });
    const badCursor = await postTo('/tasks/retry', { cursor: 'not-a-cursor' });

    // assess
    expect(unknownStatus).toMatchObject({
      status: 400,
      body: { error: 'invalid_request', message: expect.stringContaining('status must be FAILED or CANCELLED') },
    });
    expect(badSince).toMatchObject({ status: 400, body: { error: 'invalid_request', message: expect.stringContaining('since must be an ISO 8601 time') } });
    expect(unknownField).toMatchObject({ status: 400, body: { error: 'invalid_request', message: expect.stringContaining('unknown field(s): stage') } });
    expect(badCursor).toMatchObject({ status: 400, body: { error: 'invalid_cursor' } });
  });
});

async function waitForStatus(taskId: string, status: string): Promise<void> {
  for (let poll = 0; poll < 300; poll += 1) {
    if ((await stack.getTask(taskId)).status === status) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`task ${taskId} never reached ${status}`);
}
