import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DeleteCommand, ScanCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { acquireVideoLock, extendVideoLock, readVideoLock, releaseVideoLock } from '../../shared/lock.js';
import { commitExportedVideo, getTask, markStageRunning, markTaskFailed, markTaskSucceeded, newTaskRecord, putNewTask } from '../../shared/task-record.js';
import type { Runtime } from '../../shared/runtime.js';
import { startTestTable } from '../support/dynamo-table.js';
import { VirtualClock } from '../support/virtual-clock.js';

/**
 * The fencing token of the creator+video lock, against the table alone (dynalite) on a virtual
 * clock: how tokens grow, what a takeover revokes, and which writes the revocation stops.
 */
let table: Awaited<ReturnType<typeof startTestTable>>;
let clock: VirtualClock;
let rt: Runtime;
beforeAll(async () => {
  table = await startTestTable();
  clock = new VirtualClock();
  rt = table.runtimeWith(clock);
});
afterAll(async () => table?.close());

const LEASE = 300;
let n = 0;
const taskId = () => `00000000-0000-7000-8000-${String(++n).padStart(12, '0')}`;

/** What submit does: take the lock, then write the record with the token. */
async function submit(creatorId: string, videoId: string) {
  const id = taskId();
  const fence = await acquireVideoLock(rt, { creatorId, videoId, taskId: id, leaseSeconds: LEASE });
  await putNewTask(
    rt,
    newTaskRecord({ taskId: id, creatorId, videoId, gender: 0, exportVideo: true, now: new Date(clock.now()).toISOString(), lockFence: fence }),
  );
  return { id, fence };
}

describe('the lock fencing token', () => {
  it('grows on a takeover and across a release, and lands in the task record', async () => {
    const a = await submit('c1', 'v');
    expect((await getTask(rt, a.id))?.lock_fence).toBe(a.fence);
    clock.advance((LEASE + 1) * 1000);
    const b = await submit('c1', 'v');
    expect(b.fence).toBeGreaterThan(a.fence);
    expect(await releaseVideoLock(rt, { creatorId: 'c1', videoId: 'v', taskId: b.id })).toBe(true);
    clock.advance(1);
    const c = await submit('c1', 'v');
    expect(c.fence).toBeGreaterThan(b.fence);
  });

  it('revokes the expired holder before taking over: its stage writes and commits fail with lock_lost, its failure report still lands', async () => {
    const old = await submit('c2', 'v');
    clock.advance((LEASE + 1) * 1000);
    const fresh = await submit('c2', 'v');
    expect((await readVideoLock(rt, 'c2', 'v'))?.owner_task_id).toBe(fresh.id);
    expect((await getTask(rt, old.id))?.lock_lost?.to_task_id).toBe(fresh.id);

    await expect(markStageRunning(rt, old.id, 'tts')).rejects.toMatchObject({ name: 'LockLostError', code: 'lock_lost' });
    await expect(
      commitExportedVideo(rt, old.id, { fence: old.fence, videoKey: `tasks/${old.id}/attempts/${old.fence}/final_video.mp4`, details: {} }),
    ).rejects.toMatchObject({
      name: 'LockLostError',
    });
    await expect(markTaskSucceeded(rt, old.id, [], old.fence)).rejects.toMatchObject({ name: 'LockLostError' });
    const stale = await getTask(rt, old.id);
    expect([stale?.status, stale?.final_video_key, stale?.stages.tts.status]).toEqual(['RUNNING', undefined, 'pending']);
    expect(await markTaskFailed(rt, old.id, { stage: 'finalize', code: 'lock_lost', message: 'lost' })).toBe(true);
    // The old task's release frees nothing; the new holder is untouched and can commit.
    expect(await releaseVideoLock(rt, { creatorId: 'c2', videoId: 'v', taskId: old.id })).toBe(false);
    await commitExportedVideo(rt, fresh.id, { fence: fresh.fence, videoKey: `tasks/${fresh.id}/attempts/${fresh.fence}/final_video.mp4`, details: {} });
    await markTaskSucceeded(rt, fresh.id, [], fresh.fence);
    expect((await getTask(rt, fresh.id))?.status).toBe('SUCCEEDED');
  });

  it('refuses a commit that carries another token than the record', async () => {
    const t = await submit('c3', 'v');
    await expect(markTaskSucceeded(rt, t.id, [], t.fence - 1)).rejects.toMatchObject({ name: 'LockLostError' });
    await markTaskSucceeded(rt, t.id, [], t.fence);
    await expect(markTaskSucceeded(rt, t.id, [], t.fence)).rejects.toMatchObject({ name: 'TaskNotRunningError' });
  });

  it('lets two submitters race for one expired lock: one takes it, the other gets 409, the old holder is revoked once', async () => {
    const old = await submit('c4', 'v');
    clock.advance((LEASE + 1) * 1000);
    const results = await Promise.allSettled([submit('c4', 'v'), submit('c4', 'v')]);
    expect(results.map((r) => r.status).sort()).toEqual(['fulfilled', 'rejected']);
    const rejected = results.find((r) => r.status === 'rejected') as PromiseRejectedResult;
    expect(rejected.reason).toMatchObject({ name: 'DuplicateTaskError' });
    const winner = (results.find((r) => r.status === 'fulfilled') as PromiseFulfilledResult<{ id: string; fence: number }>).value;
    expect(await readVideoLock(rt, 'c4', 'v')).toMatchObject({ owner_task_id: winner.id, fence: winner.fence });
    expect((await getTask(rt, old.id))?.lock_lost).toBeDefined();
    await expect(markTaskSucceeded(rt, old.id, [], old.fence)).rejects.toMatchObject({ name: 'LockLostError' });
  });

  it('keeps an expired lock from DynamoDB TTL long enough that the takeover still revokes its holder', async () => {
    /** What DynamoDB TTL does, at the earliest: delete every item whose `expiresAt` has passed. */
    const ttlSweep = async () => {
      const items = (await rt.ddb.send(new ScanCommand({ TableName: rt.settings.tableName }))).Items ?? [];
      for (const item of items)
        if (typeof item.expiresAt === 'number' && item.expiresAt < clock.now() / 1000) {
          await rt.ddb.send(new DeleteCommand({ TableName: rt.settings.tableName, Key: { pk: item.pk } }));
        }
    };
    const old = await submit('c6', 'v');
    // An hour after the lease ended: a stale holder may still be alive (an export finishing).
    clock.advance((LEASE + 3600) * 1000);
    await ttlSweep();
    const fresh = await submit('c6', 'v');
    expect((await getTask(rt, old.id))?.lock_lost?.to_task_id).toBe(fresh.id);
    await expect(markTaskSucceeded(rt, old.id, [], old.fence)).rejects.toMatchObject({ name: 'LockLostError' });
  });

  it('keeps a task from before tokens working: no token in the lock or the record, owner checks only', async () => {
    const id = taskId();
    // What the code before tokens wrote: a lock without `fence`, a record without `lock_fence`.
    await acquireVideoLock(rt, { creatorId: 'c5', videoId: 'v', taskId: id, leaseSeconds: LEASE });
    await rt.ddb.send(
      new UpdateCommand({
        TableName: rt.settings.tableName,
        Key: { pk: 'LOCK#c5#v' },
        UpdateExpression: 'SET expiresAt = lease_expires_at REMOVE fence, lease_expires_at',
      }),
    );
    await putNewTask(rt, newTaskRecord({ taskId: id, creatorId: 'c5', videoId: 'v', gender: 0, exportVideo: false, now: new Date(clock.now()).toISOString() }));
    expect(await extendVideoLock(rt, { creatorId: 'c5', videoId: 'v', taskId: id, fence: undefined, leaseSeconds: LEASE })).toBe(true);
    await markTaskSucceeded(rt, id, [], undefined);
    expect((await getTask(rt, id))?.status).toBe('SUCCEEDED');
    // Its expired lock is still taken over (the lease was `expiresAt` then).
    clock.advance((LEASE * 3 + 1) * 1000);
    const next = await submit('c5', 'v');
    expect((await readVideoLock(rt, 'c5', 'v'))?.owner_task_id).toBe(next.id);
  });
});
