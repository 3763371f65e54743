import { createHash } from 'node:crypto';
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { DeleteCommand, GetCommand, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { epochSeconds } from './clock.js';
import { InvalidRequestError, PipelineError } from './errors.js';
import { idempotencyKey } from './keys.js';
import type { RunRequest } from './request.js';
import type { Runtime } from './runtime.js';

/** How long a client's retry under the same key returns the same task. */
export const IDEMPOTENCY_TTL_SECONDS = 24 * 3600;
/** A reservation whose submission never completed (the process died) frees itself after this. */
const PENDING_TTL_SECONDS = 60;
const KEY_PATTERN = /^[A-Za-z0-9_.:\-]{1,200}$/;

/** The same key was used with a different request body. HTTP 422. */
export class IdempotencyKeyReusedError extends PipelineError {
  constructor() {
    super('idempotency_key_reused', 'This Idempotency-Key was already used with a different request body; use a new key for a new request.');
    this.name = 'IdempotencyKeyReusedError';
  }
}

/** Another request with the same key is being submitted right now. HTTP 409. */
export class IdempotentRequestInProgressError extends PipelineError {
  constructor() {
    super('request_in_progress', 'A request with this Idempotency-Key is being processed right now; retry in a moment.');
    this.name = 'IdempotentRequestInProgressError';
  }
}

interface IdempotencyItem {
  pk: string;
  kind: 'idempotency';
  body_hash: string;
  task_id: string;
  state: 'pending' | 'accepted';
  expiresAt: number;
}

export function assertIdempotencyKey(key: string): void {
  if (!KEY_PATTERN.test(key)) {
    throw new InvalidRequestError('Idempotency-Key must be 1-200 characters of A-Z, a-z, 0-9, "_", "-", ".", ":".', [
      { field: 'Idempotency-Key', problem: 'invalid' },
    ]);
  }
}

/** A hash of the validated request (defaults filled), so equal requests hash equal whatever their key order. */
export function requestHash(request: RunRequest): string {
  const ordered = Object.fromEntries(Object.entries(request).sort(([a], [b]) => a.localeCompare(b)));
  return createHash('sha256').update(JSON.stringify(ordered)).digest('hex');
}

export type Reservation = { kind: 'new'; taskId: string } | { kind: 'existing'; taskId: string };

/**
 * Reserves the key for a new task id, or returns the task a previous request with the same key
 * and body created. Checked right after validation — before the source and the lock — so a
 * client's retry gets the same answer even after the task finished.
 */
export async function reserveIdempotencyKey(rt: Runtime, key: string, hash: string, newTaskId: string): Promise<Reservation> {
  const pk = idempotencyKey(key);
  const now = epochSeconds(rt.clock);
  try {
    await rt.ddb.send(
      new PutCommand({
        TableName: rt.settings.tableName,
        Item: { pk, kind: 'idempotency', body_hash: hash, task_id: newTaskId, state: 'pending', expiresAt: now + PENDING_TTL_SECONDS } satisfies IdempotencyItem,
        ConditionExpression: 'attribute_not_exists(pk) OR expiresAt < :now',
        ExpressionAttributeValues: { ':now': now },
      }),
    );
    return { kind: 'new', taskId: newTaskId };
  } catch (error: unknown) {
    if (!(error instanceof ConditionalCheckFailedException)) throw error;
  }
  const out = await rt.ddb.send(new GetCommand({ TableName: rt.settings.tableName, Key: { pk }, ConsistentRead: true }));
  const item = out.Item as IdempotencyItem | undefined;
  if (!item) return reserveIdempotencyKey(rt, key, hash, newTaskId);
  if (item.body_hash !== hash) throw new IdempotencyKeyReusedError();
  if (item.state === 'pending') throw new IdempotentRequestInProgressError();
  return { kind: 'existing', taskId: item.task_id };
}

/** The submission went through: keep the key → task mapping for 24 hours. */
export async function confirmIdempotencyKey(rt: Runtime, key: string, taskId: string): Promise<void> {
  await rt.ddb.send(
    new UpdateCommand({
      TableName: rt.settings.tableName,
      Key: { pk: idempotencyKey(key) },
      UpdateExpression: 'SET #state = :accepted, expiresAt = :exp',
      ConditionExpression: 'task_id = :t',
      ExpressionAttributeNames: { '#state': 'state' },
      ExpressionAttributeValues: { ':accepted': 'accepted', ':exp': epochSeconds(rt.clock) + IDEMPOTENCY_TTL_SECONDS, ':t': taskId },
    }),
  );
}

/** The submission was refused (no source, duplicate, start failed): free the key for a retry. */
export async function releaseIdempotencyKey(rt: Runtime, key: string, taskId: string): Promise<void> {
  await rt.ddb
    .send(
      new DeleteCommand({
        TableName: rt.settings.tableName,
        Key: { pk: idempotencyKey(key) },
        ConditionExpression: 'task_id = :t',
        ExpressionAttributeValues: { ':t': taskId },
      }),
    )
    .catch((error: unknown) => {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
    });
}
