import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ListExecutionsCommand } from '@aws-sdk/client-sfn';
import { startTestStack, type TestStack } from '../support/stack.js';
import { recordReliability } from '../support/reliability.js';

/**
 * 200 identical + 200 distinct concurrent submissions → exactly 201 executions and 199 × 409
 * naming the holder. Accepted tasks wait at a closed gate until every answer is in, so the count
 * cannot depend on timing.
 */
let stack: TestStack;
beforeAll(async () => {
  stack = await startTestStack();
});
afterAll(async () => {
  await stack?.close();
});

describe('submission storm', () => {
  it('starts exactly one execution per creator+video among 400 concurrent submissions', async () => {
    stack.controls.closeGate('Story');
    const body = (video: string) => ({ creator_id: 'storm', video_id: video, export_video: false, source_text: 'Storm.' });
    const answers = await Promise.all([
      ...Array.from({ length: 200 }, () => stack.post(body('same'))),
      ...Array.from({ length: 200 }, (_, i) => stack.post(body(`distinct${i}`))),
    ]);
    const identical = answers.slice(0, 200);
    const distinct = answers.slice(200);
    const holder = identical.find((a) => a.status === 202)?.body.task_id;
    expect(identical.filter((a) => a.status === 202)).toHaveLength(1);
    expect(identical.filter((a) => a.status === 409 && a.body.task_id === holder)).toHaveLength(199);
    expect(distinct.every((a) => a.status === 202)).toBe(true);

    await stack.controls.waitForArrivals('Story', 201);
    const executions = await stack.runtime.sfn.send(new ListExecutionsCommand({ stateMachineArn: stack.runtime.settings.stateMachineArn, maxResults: 1000 }));
    const storm = (executions.executions ?? []).filter((e) => answers.some((a) => a.body.task_id === e.name));
    expect(storm).toHaveLength(201);
    expect(stack.controls.held().Story).toHaveLength(201);

    // Release them by cancelling (this test is about the door, not 201 narrations).
    const accepted = answers.filter((a) => a.status === 202).map((a) => a.body.task_id as string);
    await Promise.all(accepted.map((id) => fetch(`${stack.apiUrl}/api/pipeline/tasks/${id}/cancel`, { method: 'POST' })));
    stack.controls.openGate('Story');
    await Promise.all(accepted.map((id) => stack.settled(id)));
    const locks = (await stack.itemKeys()).filter((k) => k.startsWith('LOCK#storm#'));
    expect(locks).toEqual([]);
    const keys = new Set(await stack.objectKeys());
    const lost = accepted.filter((id) => !keys.has(`tasks/${id}/source.txt`)).length;
    expect(lost).toBe(0);
    recordReliability({
      fault: '200 identical + 200 distinct concurrent submissions',
      runs: 400,
      outcome: `${storm.length} executions, ${identical.filter((a) => a.status === 409).length} × 409 naming the holder`,
      data_lost: lost,
      duplicates: storm.length - 201,
      locks_leaked: locks.length,
    });
  });
});
