import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { DeleteCommand, GetCommand, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { epochSeconds } from './clock.js';
import { DuplicateTaskError } from './errors.js';
import { lockKey } from './keys.js';
import type { Runtime } from './runtime.js';
import { revokeTaskLock } from './task-record.js';

/**
 * The creator+video lock: one item per creator and video, taken with a conditional put.
 *
 *   submit ──(lease: SUBMIT_LOCK_LEASE_SECONDS)──> Start state ──(lease: execution limit + margin)──> end
 *
 * A short lease covers the gap between the put and the execution start: if the submitter dies
 * there, the lock frees itself within minutes. The first state extends the lease past the
 * execution's own time limit, so a task waiting hours for the exporter keeps its lock and
 * expiry only ever frees the lock of a task that is truly gone. Expiry is checked in the
 * condition itself, because the emulator (and DynamoDB's TTL, which deletes late) may still
 * return an expired item. The lease ends at `lease_expires_at`; the TTL attribute `expiresAt`
 * lies {@link LOCK_TTL_GRACE_SECONDS} later, so TTL never deletes a lock whose holder might
 * still be alive: a takeover must find the holder it replaces, to revoke it (below).
 *
 * Fencing: a lease that ran out is lost, even if the task behind it is still alive somewhere
 * (a delayed Lambda, an export worker still rendering). Each acquisition gets a fencing token
 * `fence`, kept in the lock item and in the task record (never in the execution input), and
 * strictly greater than the token of the lock it replaces. A takeover runs in this order:
 *
 *   read the expired lock (owner A, fence n)
 *     → revoke A's token in A's task record (`lock_lost`, only while A is RUNNING with fence n)
 *     → put the lock (owner B, fence > n), only if it is still exactly A's expired lock
 *
 * Revoking first means no task ever holds a lock whose previous holder could still commit: A's
 * commits (Finalize's SUCCEEDED, the export worker's video) are conditional on A's own record
 * carrying fence n and no `lock_lost`, so a single-item condition suffices and no read of the
 * lock can race the takeover. If B dies between the two steps, A is revoked and the expired lock
 * waits for the next submitter (A's lease was gone anyway). A task whose record did not exist
 * yet at the takeover fails at Start, whose extension is conditional on the lock item itself
 * (owner, fence, lease not run out). A released lock is deleted, so a token is also never lower
 * than the acquisition time in milliseconds: tokens keep increasing across releases.
 */
export interface VideoLock {
  pk: string;
  kind: 'lock';
  owner_task_id: string;
  creator_id: string;
  video_id: string;
  acquired_at: string;
  /** epoch s: the lease ends after this (absent on locks from before tokens: `expiresAt` was the lease) */
  lease_expires_at?: number;
  /** epoch s, DynamoDB TTL: clean-up only, {@link LOCK_TTL_GRACE_SECONDS} after the lease */
  expiresAt: number;
  /** fencing token: greater than that of every earlier holder (absent on locks from before tokens) */
  fence?: number;
}

/**
 * How long an expired lock item outlives its lease before TTL may delete it: longer than any
 * holder can be alive (an execution lasts at most its time limit; an export message is kept at
 * most 14 days, SQS's longest retention). Were TTL to delete the item sooner, the next submitter
 * would take a fresh lock without revoking the stale holder, which could then still commit.
 */
export const LOCK_TTL_GRACE_SECONDS = 14 * 24 * 3600;

/** When the lease ends (a lock from before `lease_expires_at` carried it in `expiresAt`). */
const leaseEnd = (lock: VideoLock) => lock.lease_expires_at ?? lock.expiresAt;
const LEASE_RUN_OUT = '(lease_expires_at < :now OR (attribute_not_exists(lease_expires_at) AND expiresAt < :now))';
const LEASE_LIVE = '(lease_expires_at >= :now OR (attribute_not_exists(lease_expires_at) AND expiresAt >= :now))';

const isConditionFailure = (error: unknown) => error instanceof ConditionalCheckFailedException;

/**
 * Takes the lock for `taskId` and returns its fencing token, or throws
 * {@link DuplicateTaskError} naming the holder. An expired lock is taken over as the header
 * describes: its holder's token is revoked first.
 */
export async function acquireVideoLock(rt: Runtime, a: { creatorId: string; videoId: string; taskId: string; leaseSeconds: number }): Promise<number> {
  const pk = lockKey(a.creatorId, a.videoId);
  // The lock we replace: none on the first try; the expired holder we revoked on a later one.
  let expired: VideoLock | undefined;
  // A holder can release or be taken over between our failed put and our read; then try again (bounded).
  for (let attempt = 0; attempt < 3; attempt++) {
    const now = epochSeconds(rt.clock);
    const fence = Math.max(rt.clock.now(), (expired?.fence ?? 0) + 1);
    try {
      await rt.ddb.send(
        new PutCommand({
          TableName: rt.settings.tableName,
          Item: {
            pk,
            kind: 'lock',
            owner_task_id: a.taskId,
            creator_id: a.creatorId,
            video_id: a.videoId,
            acquired_at: new Date(rt.clock.now()).toISOString(),
            lease_expires_at: now + a.leaseSeconds,
            expiresAt: now + a.leaseSeconds + LOCK_TTL_GRACE_SECONDS,
            fence,
          } satisfies VideoLock,
          ...(expired
            ? {
                ConditionExpression: `owner_task_id = :old AND ${LEASE_RUN_OUT} AND ${expired.fence === undefined ? 'attribute_not_exists(fence)' : 'fence = :oldFence'}`,
                ExpressionAttributeValues: {
                  ':old': expired.owner_task_id,
                  ':now': now,
                  ...(expired.fence === undefined ? {} : { ':oldFence': expired.fence }),
                },
              }
            : { ConditionExpression: 'attribute_not_exists(pk)' }),
        }),
      );
      return fence;
    } catch (error: unknown) {
      if (!isConditionFailure(error)) throw error;
      const holder = await readVideoLock(rt, a.creatorId, a.videoId);
      if (holder && leaseEnd(holder) >= epochSeconds(rt.clock)) {
        throw new DuplicateTaskError(a.creatorId, a.videoId, holder.owner_task_id);
      }
      expired = holder;
      if (holder) await revokeTaskLock(rt, holder.owner_task_id, { fence: holder.fence, byTaskId: a.taskId });
    }
  }
  throw new DuplicateTaskError(a.creatorId, a.videoId, undefined);
}

export async function readVideoLock(rt: Runtime, creatorId: string, videoId: string): Promise<VideoLock | undefined> {
  const out = await rt.ddb.send(new GetCommand({ TableName: rt.settings.tableName, Key: { pk: lockKey(creatorId, videoId) }, ConsistentRead: true }));
  return out.Item as VideoLock | undefined;
}

/**
 * Extends the lease, only while `taskId` still owns the lock with token `fence` and its lease
 * has not run out (a lease that ran out may already be being taken over: see the header).
 * Returns false otherwise.
 */
export async function extendVideoLock(
  rt: Runtime,
  a: { creatorId: string; videoId: string; taskId: string; fence: number | undefined; leaseSeconds: number },
): Promise<boolean> {
  const now = epochSeconds(rt.clock);
  try {
    await rt.ddb.send(
      new UpdateCommand({
        TableName: rt.settings.tableName,
        Key: { pk: lockKey(a.creatorId, a.videoId) },
        UpdateExpression: 'SET lease_expires_at = :lease, expiresAt = :ttl',
        ConditionExpression: `owner_task_id = :me AND ${LEASE_LIVE} AND ${a.fence === undefined ? 'attribute_not_exists(fence)' : 'fence = :fence'}`,
        ExpressionAttributeValues: {
          ':lease': now + a.leaseSeconds,
          ':ttl': now + a.leaseSeconds + LOCK_TTL_GRACE_SECONDS,
          ':me': a.taskId,
          ':now': now,
          ...(a.fence === undefined ? {} : { ':fence': a.fence }),
        },
      }),
    );
    return true;
  } catch (error: unknown) {
    if (isConditionFailure(error)) return false;
    throw error;
  }
}

/**
 * Releases the lock if `taskId` owns it. A stale task (its lease expired and another task took
 * the lock) releases nothing: the condition is on the owner, not on the key.
 */
export async function releaseVideoLock(rt: Runtime, a: { creatorId: string; videoId: string; taskId: string }): Promise<boolean> {
  try {
    await rt.ddb.send(
      new DeleteCommand({
        TableName: rt.settings.tableName,
        Key: { pk: lockKey(a.creatorId, a.videoId) },
        ConditionExpression: 'owner_task_id = :me',
        ExpressionAttributeValues: { ':me': a.taskId },
      }),
    );
    return true;
  } catch (error: unknown) {
    if (isConditionFailure(error)) return false;
    throw error;
  }
}
