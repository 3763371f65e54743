import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { acquireVideoLock, extendVideoLock, readVideoLock, releaseVideoLock } from '../../shared/lock.js';
import { submitTask } from '../../shared/submit.js';
import { reserveIdempotencyKey } from '../../shared/idempotency.js';
import { inboxIdempotencyKey } from '../../lambdas/inbox/handler.js';
import { createLogger } from '../../shared/logger.js';
import { parseRunRequest } from '../../shared/request.js';
import { getObjectText } from '../../shared/artifacts.js';
import type { ExportOutcome } from '../../shared/export/export-worker.js';
import type { Exporter } from '../../shared/export/exporter.js';
import { startTestStack, type TestStack } from '../support/stack.js';
import { recordReliability } from '../support/reliability.js';

/**
 * Cancel at every stage, idempotent submission, fencing of stale tasks, and the inbox trigger.
 * Tasks are held at stage gates (or inside the exporter client) while the test acts, so no
 * outcome depends on timing.
 */
let stack: TestStack;
const outcomes: Array<{ outcome: ExportOutcome; task_id: string }> = [];
/** task ids whose first status call waits until released */
const holdSubmit = new Map<string, { arrived: () => void; release: Promise<void>; open: () => void; arrivedP: Promise<void> }>();
const exporterCancels: string[] = [];

function hold(taskId: string) {
  let arrived!: () => void;
  let open!: () => void;
  const arrivedP = new Promise<void>((r) => (arrived = r));
  const release = new Promise<void>((r) => (open = r));
  const h = { arrived, release, open, arrivedP };
  holdSubmit.set(taskId, h);
  return h;
}

beforeAll(async () => {
  stack = await startTestStack({
    onExportOutcome: (outcome, body) => outcomes.push({ outcome, task_id: (JSON.parse(body) as { task_id: string }).task_id }),
    wrapExporter: (inner: Exporter): Exporter => ({
      submit: (id, job, signal) => inner.submit(id, job, signal),
      // Held at its first status call: the job has been accepted and the stage is `running`.
      status: async (id, wait, signal) => {
        const h = holdSubmit.get(id);
        if (h) {
          holdSubmit.delete(id);
          h.arrived();
          await h.release;
        }
        return inner.status(id, wait, signal);
      },
      video: (id, signal) => inner.video(id, signal),
      cancel: async (id) => {
        exporterCancels.push(id);
        await inner.cancel(id);
      },
    }),
  });
});
afterAll(async () => {
  for (const h of holdSubmit.values()) h.open();
  await stack?.close();
});

const SRC = 'A short line for the narrator.';
/** every stored video object of a task: committed or staged under attempts/ */
const videoObjects = async (taskId: string) => (await stack.objectKeys()).filter((k) => k.startsWith(`tasks/${taskId}/`) && k.endsWith('/final_video.mp4'));
const cancel = (taskId: string) => fetch(`${stack.apiUrl}/api/pipeline/tasks/${taskId}/cancel`, { method: 'POST' });

async function expectCancelledAndUnlocked(taskId: string, creator: string, video: string) {
  const task = await stack.finished(taskId);
  expect(task.status).toBe('CANCELLED');
  expect(task.cancelled_at).toBeDefined();
  expect(await stack.itemKeys()).not.toContain(`LOCK#${creator}#${video}`);
  expect(await videoObjects(taskId)).toEqual([]);
  return task;
}

describe('cancel', () => {
  it.each(['Story', 'Tts', 'Draft'])('cancels a task held at %s: CANCELLED, lock free, no later stage runs', async (state) => {
    stack.controls.closeGate(state);
    const before = stack.controls.arrivalsAt(state);
    const sub = await stack.post({ creator_id: 'cancel', video_id: state, source_text: SRC });
    const taskId = sub.body.task_id as string;
    await stack.controls.waitForArrivals(state, before + 1);
    const res = await cancel(taskId);
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ task_id: taskId, status: 'CANCELLED' });
    stack.controls.openGate(state);
    const task = await expectCancelledAndUnlocked(taskId, 'cancel', state);
    expect(task.stages.export.status).toBe('pending');
    expect(await getObjectText(stack.runtime, `tasks/${taskId}/draft.json`)).toBeUndefined();
  });

  it('cancels a task queued for export (its message is deleted unrendered) and one being exported (the job is cancelled at the exporter)', async () => {
    // A is inside the exporter (held after its job was accepted); B waits in the FIFO queue behind it.
    const a = await stack.post({ creator_id: 'cancel', video_id: 'exporting', source_text: SRC });
    const aId = a.body.task_id as string;
    const ha = hold(aId);
    await ha.arrivedP;
    const b = await stack.post({ creator_id: 'cancel', video_id: 'queued', source_text: SRC });
    const bId = b.body.task_id as string;
    // B is queued once its draft is done and its export stage says so.
    for (let i = 0; i < 200 && (await stack.getTask(bId)).stages.export.status !== 'queued'; i++) await new Promise((r) => setTimeout(r, 50));
    expect((await stack.getTask(bId)).stages.export.status).toBe('queued');
    expect((await stack.getTask(aId)).stages.export.status).toBe('running');

    expect((await cancel(bId)).status).toBe(200);
    expect((await cancel(aId)).status).toBe(200);
    ha.open();
    await expectCancelledAndUnlocked(aId, 'cancel', 'exporting');
    await expectCancelledAndUnlocked(bId, 'cancel', 'queued');
    // The worker cancelled A's job at the exporter and dropped B's message when it came up.
    for (let i = 0; i < 200 && !outcomes.some((o) => o.task_id === bId); i++) await new Promise((r) => setTimeout(r, 50));
    expect(outcomes.filter((o) => o.task_id === aId).map((o) => o.outcome)).toEqual(['cancelled']);
    expect(outcomes.filter((o) => o.task_id === bId).map((o) => o.outcome)).toEqual(['skipped_not_running']);
    expect(exporterCancels).toContain(aId);
    const jobs = stack.exportService!.stats().jobs;
    expect(jobs.some((j) => j.task_id === bId)).toBe(false);
  });

  it('leaves nothing running or locked after the cancels above', async () => {
    const tasks = (
      (await (await fetch(`${stack.apiUrl}/api/pipeline/tasks?creator_id=cancel&limit=100`)).json()) as { tasks: Array<{ task_id: string; status: string }> }
    ).tasks;
    const cancelled = tasks.filter((t) => t.status === 'CANCELLED');
    const keys = await stack.objectKeys();
    const videos = cancelled.filter((t) => keys.some((k) => k.startsWith(`tasks/${t.task_id}/`) && k.endsWith('/final_video.mp4'))).length;
    const leaked = (await stack.itemKeys()).filter((k) => k.startsWith('LOCK#cancel#')).length;
    expect([cancelled.length, videos, leaked]).toEqual([5, 0, 0]);
    recordReliability({
      fault: 'cancel at story, tts, draft, queued for export, exporting',
      runs: 5,
      outcome: `${cancelled.length}/5 CANCELLED; exports run afterwards: ${videos}`,
      data_lost: 0,
      duplicates: videos,
      locks_leaked: leaked,
    });
  });

  it('answers 409 with the status when the task has already ended', async () => {
    const sub = await stack.post({ creator_id: 'cancel', video_id: 'done', export_video: false, source_text: SRC });
    const taskId = sub.body.task_id as string;
    await stack.finished(taskId);
    const res = await cancel(taskId);
    expect(res.status).toBe(409);
    expect(await res.json()).toMatchObject({ error: 'task_not_running', status: 'SUCCEEDED' });
  });
});

describe('idempotent submission', () => {
  const body = { creator_id: 'idem', video_id: 'v1', export_video: false, source_text: SRC };

  it('returns the same task for a retry with the same key, even after it finished', async () => {
    const first = await stack.post(body, { headers: { 'idempotency-key': 'retry-1' } });
    expect(first.status).toBe(202);
    const taskId = first.body.task_id as string;
    const again = await stack.post(body, { headers: { 'idempotency-key': 'retry-1' } });
    expect(again).toMatchObject({ status: 202, body: { task_id: taskId } });
    await stack.finished(taskId);
    const late = await stack.post({ ...body }, { headers: { 'idempotency-key': 'retry-1' } });
    expect(late).toMatchObject({ status: 202, body: { task_id: taskId, status: 'SUCCEEDED' } });
  });

  it('answers 422 for a different body under a used key', async () => {
    await stack.post({ ...body, video_id: 'v2' }, { headers: { 'idempotency-key': 'retry-2' } });
    const other = await stack.post({ ...body, video_id: 'v3' }, { headers: { 'idempotency-key': 'retry-2' } });
    expect(other.status).toBe(422);
    expect(other.body.error).toBe('idempotency_key_reused');
  });

  it('frees the key when the submission is refused, so the retry can succeed', async () => {
    const noSource = { creator_id: 'idem', video_id: 'nosrc', export_video: false };
    expect((await stack.post(noSource, { headers: { 'idempotency-key': 'retry-3' } })).status).toBe(422);
    await stack.putSource('idem', 'nosrc', SRC);
    const ok = await stack.post(noSource, { headers: { 'idempotency-key': 'retry-3' } });
    expect(ok.status).toBe(202);
    await stack.finished(ok.body.task_id as string);
  });

  it('lets a retry take over a reservation whose submitter died before starting a task, once it lapses', async () => {
    // prepare
    let now = Date.now();
    const rt = { ...stack.runtime, clock: { now: () => now } };
    const hash = 'same-body-hash';
    await reserveIdempotencyKey(rt, 'retry-dead-submitter', hash, '00000000-0000-7000-8000-0000000000a1');

    // act
    const during = reserveIdempotencyKey(rt, 'retry-dead-submitter', hash, '00000000-0000-7000-8000-0000000000a2').catch((error: unknown) => error);
    now += 61_000;
    const after = await reserveIdempotencyKey(rt, 'retry-dead-submitter', hash, '00000000-0000-7000-8000-0000000000a3');

    // assess
    expect(await during).toMatchObject({ name: 'IdempotentRequestInProgressError' });
    expect(after).toEqual({ kind: 'new', taskId: '00000000-0000-7000-8000-0000000000a3' });
  });

  it('keeps leading the key to its task when recording the key failed after the task started', async () => {
    // prepare: a runtime whose writes of idempotency items fail once StartExecution has succeeded
    const key = 'retry-lost-confirm';
    const request = { ...body, video_id: 'lost-confirm' };
    const refusedWrites: string[] = [];
    const realDdb = stack.runtime.ddb;
    const confirmFails = {
      ...stack.runtime,
      ddb: {
        send: (command: unknown, ...rest: unknown[]) => {
          if (command instanceof UpdateCommand && String(command.input.Key?.pk).startsWith('IDEM#')) {
            refusedWrites.push(String(command.input.Key?.pk));
            return Promise.reject(Object.assign(new Error('The service is unavailable.'), { name: 'ServiceUnavailable' }));
          }
          return (realDdb.send as (...args: unknown[]) => Promise<unknown>).call(realDdb, command, ...rest);
        },
      },
    } as unknown as typeof stack.runtime;
    const later = { ...stack.runtime, clock: { now: () => Date.now() + 10 * 60_000 } };

    // act: the first submission, a retry at once, one after the short reservation lapsed, one after the end
    const first = await submitTask(confirmFails, parseRunRequest(request), createLogger(), { idempotencyKey: key });
    const again = await stack.post(request, { headers: { 'idempotency-key': key } });
    const afterLapse = await submitTask(later, parseRunRequest(request), createLogger(), { idempotencyKey: key });
    await stack.finished(first.task_id);
    const afterEnd = await stack.post(request, { headers: { 'idempotency-key': key } });
    const tasks = (await (await fetch(`${stack.apiUrl}/api/pipeline/tasks?creator_id=idem&video_id=lost-confirm`)).json()) as {
      tasks: Array<{ task_id: string }>;
    };

    // assess
    expect(refusedWrites).toEqual([`IDEM#${key}`]);
    expect(first).toMatchObject({ status: 'RUNNING', replayed: false });
    expect(again).toMatchObject({ status: 202, body: { task_id: first.task_id } });
    expect(afterLapse).toMatchObject({ task_id: first.task_id, replayed: true });
    expect(afterEnd).toMatchObject({ status: 202, body: { task_id: first.task_id, status: 'SUCCEEDED' } });
    expect(tasks.tasks.map((t) => t.task_id)).toEqual([first.task_id]);
  });
});

describe('fencing and lock leases', () => {
  /** The old holder "vanishes": its lease runs out (as if its lease ended hours ago). */
  const expireLock = (creator: string, video: string) =>
    stack.runtime.ddb.send(
      new UpdateCommand({
        TableName: stack.runtime.settings.tableName,
        Key: { pk: `LOCK#${creator}#${video}` },
        UpdateExpression: 'SET lease_expires_at = :past',
        ExpressionAttributeValues: { ':past': 1 },
      }),
    );
  const artifactStatus = async (taskId: string, name: string) => (await fetch(`${stack.apiUrl}/api/pipeline/tasks/${taskId}/artifacts/${name}`)).status;

  it('fences the old holder after a takeover: it fails with lock_lost at Finalize, writes no result and cannot release the lock', async () => {
    // A failed assertion must not leave the gates closed for the tests after this one.
    onTestFinished(() => {
      stack.controls.openGate('Finalize');
      stack.controls.openGate('Story');
    });
    stack.controls.closeGate('Finalize');
    const finalizeBefore = stack.controls.arrivalsAt('Finalize');
    const old = await stack.post({ creator_id: 'fence', video_id: 'v1', export_video: false, source_text: SRC });
    const oldId = old.body.task_id as string;
    await stack.controls.waitForArrivals('Finalize', finalizeBefore + 1);
    const oldFence = (await readVideoLock(stack.runtime, 'fence', 'v1'))?.fence;
    await expireLock('fence', 'v1');
    stack.controls.closeGate('Story');
    const storyBefore = stack.controls.arrivalsAt('Story');
    const fresh = await stack.post({ creator_id: 'fence', video_id: 'v1', export_video: false, source_text: SRC });
    expect(fresh.status).toBe(202);
    const freshId = fresh.body.task_id as string;
    await stack.controls.waitForArrivals('Story', storyBefore + 1);
    const lock = await readVideoLock(stack.runtime, 'fence', 'v1');
    expect(lock?.owner_task_id).toBe(freshId);

    // The old task wakes up at its last state, every stage done: it must not finish SUCCEEDED.
    stack.controls.openGate('Finalize');
    const oldTask = await stack.finished(oldId);
    expect(oldTask.status).toBe('FAILED');
    expect(oldTask.error).toMatchObject({ stage: 'finalize', code: 'lock_lost' });
    expect(oldTask.lock_lost?.to_task_id).toBe(freshId);
    const oldManifests = (await stack.objectKeys()).filter((k) => k === `tasks/${oldId}/manifest.json`).length;
    expect(oldManifests).toBe(0);
    expect(oldTask.artifacts.map((a) => a.name)).not.toContain('manifest.json');
    expect(await artifactStatus(oldId, 'manifest.json')).toBe(404);
    expect((await readVideoLock(stack.runtime, 'fence', 'v1'))?.owner_task_id).toBe(freshId);
    expect(lock?.fence).toBeGreaterThan(oldFence ?? Infinity);

    stack.controls.openGate('Story');
    const freshTask = await stack.finished(freshId);
    expect(freshTask.status).toBe('SUCCEEDED');
    const after = await readVideoLock(stack.runtime, 'fence', 'v1');
    expect(after).toBeUndefined();
    recordReliability({
      fault: 'lock holder vanished (lease expired); old task wakes up at Finalize after a takeover',
      runs: 1,
      outcome: `old task ${oldTask.status} (${oldTask.error?.code} at ${oldTask.error?.stage}), manifests written ${oldManifests}; new holder ${freshTask.status}`,
      data_lost: freshTask.status === 'SUCCEEDED' ? 0 : 1,
      duplicates: oldTask.status === 'SUCCEEDED' ? 1 : 0,
      locks_leaked: after ? 1 : 0,
    });
  });

  it('fences a stale holder mid-export: its rendered video is stored as an uncommitted attempt, never as its result', async () => {
    const old = await stack.post({ creator_id: 'fence', video_id: 'v2', source_text: SRC });
    const oldId = old.body.task_id as string;
    // Held inside the exporter: the job was accepted, the token checked at the start of the export.
    const h = hold(oldId);
    onTestFinished(() => h.open());
    await h.arrivedP;
    await expireLock('fence', 'v2');
    const fresh = await stack.post({ creator_id: 'fence', video_id: 'v2', export_video: false, source_text: SRC });
    expect(fresh.status).toBe(202);
    const freshId = fresh.body.task_id as string;
    const freshTask = await stack.finished(freshId);
    expect(freshTask.status).toBe('SUCCEEDED');

    // The render finishes and the old worker stores the video; the commit is refused.
    h.open();
    const oldTask = await stack.finished(oldId);
    expect(oldTask.status).toBe('FAILED');
    expect(oldTask.error).toMatchObject({ stage: 'export', code: 'lock_lost' });
    expect(outcomes.filter((o) => o.task_id === oldId).map((o) => o.outcome)).toEqual(['lock_lost']);
    const staged = await videoObjects(oldId);
    expect(staged).toEqual([`tasks/${oldId}/attempts/${oldTask.lock_fence}/final_video.mp4`]);
    expect(oldTask.final_video_key).toBeUndefined();
    expect(oldTask.artifacts.map((a) => a.name)).not.toContain('final_video.mp4');
    const answers = [await artifactStatus(oldId, 'final_video.mp4'), await artifactStatus(oldId, `attempts/${oldTask.lock_fence}/final_video.mp4`)];
    expect(answers).toEqual([404, 404]);
    const served = answers.filter((status) => status === 200).length;
    const after = await readVideoLock(stack.runtime, 'fence', 'v2');
    expect(after).toBeUndefined();
    recordReliability({
      fault: 'lock holder vanished (lease expired) while its video renders; a takeover, then the render ends',
      runs: 1,
      outcome: `old task ${oldTask.status} (${oldTask.error?.code} at ${oldTask.error?.stage}); its video stored ${staged.length}× uncommitted, served ${served}×; new holder ${freshTask.status}`,
      data_lost: freshTask.status === 'SUCCEEDED' ? 0 : 1,
      duplicates: oldTask.final_video_key || oldTask.status === 'SUCCEEDED' ? 1 : 0,
      locks_leaked: after ? 1 : 0,
    });
  });

  it('refuses to extend a lease that has run out, so a takeover cannot race the holder', async () => {
    let now = Date.now();
    const rt = { ...stack.runtime, clock: { now: () => now } };
    const taskId = '00000000-0000-7000-8000-00000000face';
    const fence = await acquireVideoLock(rt, { creatorId: 'lease', videoId: 'v1', taskId, leaseSeconds: 300 });
    expect(await extendVideoLock(rt, { creatorId: 'lease', videoId: 'v1', taskId, fence, leaseSeconds: 300 })).toBe(true);
    expect(await extendVideoLock(rt, { creatorId: 'lease', videoId: 'v1', taskId, fence: fence + 1, leaseSeconds: 300 })).toBe(false);
    now += 301_000;
    expect(await extendVideoLock(rt, { creatorId: 'lease', videoId: 'v1', taskId, fence, leaseSeconds: 300 })).toBe(false);
    await releaseVideoLock(rt, { creatorId: 'lease', videoId: 'v1', taskId });
  });

  it('releases the lock and answers 503 when StartExecution fails', async () => {
    const rt = { ...stack.runtime, settings: { ...stack.runtime.settings, stateMachineArn: 'arn:aws:states:us-east-1:000000000000:stateMachine:missing' } };
    await expect(submitTask(rt, parseRunRequest({ creator_id: 'nostart', video_id: 'v1', source_text: SRC }), createLogger())).rejects.toMatchObject({
      name: 'StartExecutionFailedError',
    });
    expect(await readVideoLock(stack.runtime, 'nostart', 'v1')).toBeUndefined();
    const res = await stack.post({ creator_id: 'nostart', video_id: 'v1', export_video: false, source_text: SRC });
    expect(res.status).toBe(202);
    await stack.finished(res.body.task_id as string);
  });

  it('frees a lock left by a submitter that died before starting, once its short lease ends', async () => {
    let now = Date.now();
    const rt = { ...stack.runtime, clock: { now: () => now } };
    await acquireVideoLock(rt, { creatorId: 'dead', videoId: 'v1', taskId: '00000000-0000-7000-8000-00000000dead', leaseSeconds: 300 });
    await expect(
      acquireVideoLock(rt, { creatorId: 'dead', videoId: 'v1', taskId: '00000000-0000-7000-8000-00000000beef', leaseSeconds: 300 }),
    ).rejects.toMatchObject({
      name: 'DuplicateTaskError',
    });
    now += 301_000;
    await acquireVideoLock(rt, { creatorId: 'dead', videoId: 'v1', taskId: '00000000-0000-7000-8000-00000000beef', leaseSeconds: 300 });
    expect((await readVideoLock(rt, 'dead', 'v1'))?.owner_task_id).toBe('00000000-0000-7000-8000-00000000beef');
  });
});

describe('S3 inbox trigger', () => {
  const putInbox = (name: string, body: string) =>
    stack.runtime.s3.send(
      new PutObjectCommand({ Bucket: stack.runtime.settings.bucketName, Key: `inbox/${name}`, Body: body, ContentType: 'application/json' }),
    );

  it('starts one task for a document delivered twice', async () => {
    const out = await putInbox('one.json', JSON.stringify({ creator_id: 'inbox', video_id: 'v1', export_video: false, source_text: SRC }));
    await stack.inboxIdle();
    const tasks = async () =>
      ((await (await fetch(`${stack.apiUrl}/api/pipeline/tasks?creator_id=inbox`)).json()) as { tasks: Array<{ task_id: string }> }).tasks;
    expect(await tasks()).toHaveLength(1);
    // S3 delivers the same event again.
    const again = await stack.deliverS3Event({
      Records: [
        { eventName: 'ObjectCreated:Put', s3: { bucket: { name: stack.runtime.settings.bucketName }, object: { key: 'inbox/one.json', eTag: out.ETag } } },
      ],
    });
    expect(again.outcomes).toEqual(['already_handled']);
    const list = await tasks();
    expect(list).toHaveLength(1);
    await stack.finished(list[0].task_id);
    expect(await stack.objectKeys()).toContain('inbox-accepted/one.json');
    recordReliability({
      fault: 'duplicate S3 event for one inbox/ object',
      runs: 2,
      outcome: `${list.length} task started`,
      data_lost: 0,
      duplicates: list.length - 1,
      locks_leaked: (await stack.itemKeys()).filter((k) => k.startsWith('LOCK#inbox#')).length,
    });
  });

  it('moves a replayed document out of inbox/ when its first delivery started the task but never moved it', async () => {
    // prepare: the first delivery of this upload started its task and died before the move
    const doc = JSON.stringify({ creator_id: 'inbox', video_id: 'replayed', export_video: false, source_text: SRC });
    const etag = createHash('md5').update(doc).digest('hex');
    const first = await submitTask(stack.runtime, parseRunRequest(JSON.parse(doc)), createLogger(), {
      idempotencyKey: inboxIdempotencyKey('inbox/replayed.json', etag),
    });

    // act: the document is there and S3 delivers its event again
    const out = await putInbox('replayed.json', doc);
    await stack.inboxIdle();
    const keys = await stack.objectKeys();
    const tasks = (await (await fetch(`${stack.apiUrl}/api/pipeline/tasks?creator_id=inbox&video_id=replayed`)).json()) as {
      tasks: Array<{ task_id: string }>;
    };

    // assess
    expect(out.ETag?.replace(/"/g, '')).toBe(etag);
    expect(tasks.tasks.map((t) => t.task_id)).toEqual([first.task_id]);
    expect(keys).not.toContain('inbox/replayed.json');
    expect(keys).toContain('inbox-accepted/replayed.json');
    await stack.finished(first.task_id);
  });

  it.each([
    ['not JSON', 'not json at all', 'not valid JSON'],
    ['traversal in an id', JSON.stringify({ creator_id: '../x', video_id: 'v1', source_text: SRC }), 'creator_id'],
    ['an unknown field', JSON.stringify({ creator_id: 'inbox', video_id: 'v2', source_text: SRC, run_as: 'root' }), 'unknown field'],
  ])('moves a malformed document (%s) to inbox-rejected/ with the reason beside it, starting nothing', async (_name, body, reason) => {
    const itemsBefore = (await stack.itemKeys()).filter((k) => !k.startsWith('IDEM#'));
    await putInbox('bad.json', body);
    await stack.inboxIdle();
    const keys = await stack.objectKeys();
    expect(keys).not.toContain('inbox/bad.json');
    expect(keys).toContain('inbox-rejected/bad.json');
    expect(await getObjectText(stack.runtime, 'inbox-rejected/bad.json.error.txt')).toContain(reason);
    expect((await stack.itemKeys()).filter((k) => !k.startsWith('IDEM#'))).toEqual(itemsBefore);
  });
});
