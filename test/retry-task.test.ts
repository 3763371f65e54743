import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createFailHandler } from '../lambdas/fail/handler.js';
import { createRuntime } from '../shared/runtime.js';
import { startTestStack, type TestStack } from './support/stack.js';

/**
 * `POST /api/pipeline/tasks/{task_id}/retry`: an ended task continues at the stage where it
 * ended, with the same id, by redriving its execution; finished stages are not run again.
 */
let stack: TestStack;
beforeAll(async () => {
  stack = await startTestStack();
});
afterAll(async () => {
  await stack?.close();
});

const api = () => `${stack.apiUrl}/api/pipeline`;
const postTo = async (path: string) => {
  const res = await fetch(`${api()}${path}`, { method: 'POST' });
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
      detail: { executionArn: `${stack.env.STATE_MACHINE_ARN.replace(':stateMachine:', ':execution:')}:${taskId}`, name: taskId, status: 'ABORTED', redriveCount: 0 },
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
    expect((await stack.itemKeys()).filter((k) => k.startsWith('LOCK#'))).toEqual([]);
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
    expect(await stack.getTask(a)).toEqual(before);
    stack.controls.openGate('Story');
    expect((await stack.finished(b)).status).toBe('SUCCEEDED');
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

async function waitForStatus(taskId: string, status: string): Promise<void> {
  for (let poll = 0; poll < 300; poll += 1) {
    if ((await stack.getTask(taskId)).status === status) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`task ${taskId} never reached ${status}`);
}
