import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { DeleteCommand, GetCommand, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { epochSeconds } from './clock.js';
import { DuplicateTaskError } from './errors.js';
import { lockKey } from './keys.js';
import type { Runtime } from './runtime.js';

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
 * return an expired item.
 */
export interface VideoLock {
  pk: string;
  kind: 'lock';
  owner_task_id: string;
  creator_id: string;
  video_id: string;
  acquired_at: string;
  expiresAt: number;
}

const isConditionFailure = (error: unknown) => error instanceof ConditionalCheckFailedException;

/** Takes the lock for `taskId` or throws {@link DuplicateTaskError} naming the holder. */
export async function acquireVideoLock(
  rt: Runtime,
  a: { creatorId: string; videoId: string; taskId: string; leaseSeconds: number },
): Promise<void> {
  const pk = lockKey(a.creatorId, a.videoId);
  // A holder can release between our failed put and our read; then try again (bounded).
  for (let attempt = 0; attempt < 3; attempt++) {
    const now = epochSeconds(rt.clock);
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
            expiresAt: now + a.leaseSeconds,
          } satisfies VideoLock,
          ConditionExpression: 'attribute_not_exists(pk) OR expiresAt < :now',
          ExpressionAttributeValues: { ':now': now },
        }),
      );
      return;
    } catch (error: unknown) {
      if (!isConditionFailure(error)) throw error;
      const holder = await readVideoLock(rt, a.creatorId, a.videoId);
      if (holder && holder.expiresAt >= epochSeconds(rt.clock)) {
        throw new DuplicateTaskError(a.creatorId, a.videoId, holder.owner_task_id);
      }
    }
  }
  throw new DuplicateTaskError(a.creatorId, a.videoId, undefined);
}

export async function readVideoLock(rt: Runtime, creatorId: string, videoId: string): Promise<VideoLock | undefined> {
  const out = await rt.ddb.send(
    new GetCommand({ TableName: rt.settings.tableName, Key: { pk: lockKey(creatorId, videoId) }, ConsistentRead: true }),
  );
  return out.Item as VideoLock | undefined;
}

/** Extends the lease, only while `taskId` still owns the lock. Returns false if it does not. */
export async function extendVideoLock(
  rt: Runtime,
  a: { creatorId: string; videoId: string; taskId: string; leaseSeconds: number },
): Promise<boolean> {
  try {
    await rt.ddb.send(
      new UpdateCommand({
        TableName: rt.settings.tableName,
        Key: { pk: lockKey(a.creatorId, a.videoId) },
        UpdateExpression: 'SET expiresAt = :exp',
        ConditionExpression: 'owner_task_id = :me',
        ExpressionAttributeValues: { ':exp': epochSeconds(rt.clock) + a.leaseSeconds, ':me': a.taskId },
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
export async function releaseVideoLock(
  rt: Runtime,
  a: { creatorId: string; videoId: string; taskId: string },
): Promise<boolean> {
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
