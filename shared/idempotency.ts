import { createHash } from 'node:crypto';
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { DeleteCommand, GetCommand, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { DescribeExecutionCommand, ExecutionDoesNotExist } from '@aws-sdk/client-sfn';
import { executionArnOf } from './cancel.js';
import { epochSeconds } from './clock.js';
import { InvalidRequestError, PipelineError } from './errors.js';
import { idempotencyKey } from './keys.js';
import type { RunRequest } from './request.js';
import type { Runtime } from './runtime.js';
import { getTask, type TaskRecord } from './task-record.js';
import { DEFAULT_VIDEO_OPTIONS } from './video-options.js';

/** How long a client's retry under the same key returns the same task. */
export const IDEMPOTENCY_TTL_SECONDS = 24 * 3600;
/** A reservation whose submission never started its task (the process died) frees itself after this. */
const PENDING_TTL_SECONDS = 60;
const KEY_PATTERN = /^[A-Za-z0-9_.:-]{1,200}$/;

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
  /** the key's whole life (DynamoDB TTL): a pending key whose task started must outlive its reservation */
  expiresAt: number;
  /** a pending reservation counts as "being submitted right now" until then (absent on older items: expiresAt) */
  pending_until?: number;
}

export function assertIdempotencyKey(key: string): void {
  if (!KEY_PATTERN.test(key)) {
    throw new InvalidRequestError('Idempotency-Key must be 1-200 characters of A-Z, a-z, 0-9, "_", "-", ".", ":".', [
      { field: 'Idempotency-Key', problem: 'invalid' },
    ]);
  }
}

/**
 * A hash of the validated request (defaults filled), so equal requests hash equal whatever their
 * key order. A video option sent with its default value counts as left out: both ask for the same
 * video, and a request without options hashes as it did before options existed.
 */
export function requestHash(request: RunRequest): string {
  const defaults: Record<string, unknown> = { ...DEFAULT_VIDEO_OPTIONS };
  const meaningful = Object.entries(request).filter(([field, value]) => value !== undefined && !(field in defaults && defaults[field] === value));
  const ordered = Object.fromEntries(meaningful.sort(([a], [b]) => a.localeCompare(b)));
  return createHash('sha256').update(JSON.stringify(ordered)).digest('hex');
}

export type Reservation = { kind: 'new'; taskId: string } | { kind: 'existing'; taskId: string };

/**
 * Whether the task a pending key names got as far as its execution. Its record is written just
 * before StartExecution and turns FAILED `start_failed` if that is refused; a stage that ran, or
 * an end other than that refusal, means StartExecution succeeded (so does an execution ARN, which
 * only records of earlier versions carry). A record still RUNNING at `submitted` cannot tell:
 * then the orchestrator is asked whether the execution, named by the task id, exists — a rare
 * lookup (a retry whose key was not confirmed), so the submit path itself writes no ARN back.
 */
async function taskWasStarted(rt: Runtime, task: TaskRecord | undefined): Promise<boolean> {
  if (!task) return false;
  if (task.status === 'FAILED' && task.error?.code === 'start_failed') return false;
  if (task.execution_arn !== undefined || task.stage !== 'submitted' || task.status !== 'RUNNING') return true;
  try {
    await rt.sfn.send(new DescribeExecutionCommand({ executionArn: executionArnOf(rt.settings.stateMachineArn, task.task_id) }));
    return true;
  } catch (error: unknown) {
    if (error instanceof ExecutionDoesNotExist) return false;
    throw error;
  }
}

/**
 * Reserves the key for a new task id, or returns the task a previous request with the same key
 * and body created. Checked right after validation — before the source and the lock — so a
 * client's retry gets the same answer even after the task finished, and even when the first
 * request's confirmation of the key was lost after its task had started (the task record then
 * says so, and the key is confirmed now).
 */
export async function reserveIdempotencyKey(rt: Runtime, key: string, hash: string, newTaskId: string): Promise<Reservation> {
  const pk = idempotencyKey(key);
  const now = epochSeconds(rt.clock);
  const reservation = (): IdempotencyItem => ({
    pk,
    kind: 'idempotency',
    body_hash: hash,
    task_id: newTaskId,
    state: 'pending',
    expiresAt: now + IDEMPOTENCY_TTL_SECONDS,
    pending_until: now + PENDING_TTL_SECONDS,
  });
  try {
    await rt.ddb.send(
      new PutCommand({
        TableName: rt.settings.tableName,
        Item: reservation(),
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
  if (item.state === 'accepted') {
    if (item.body_hash !== hash) throw new IdempotencyKeyReusedError();
    return { kind: 'existing', taskId: item.task_id };
  }
  if (await taskWasStarted(rt, await getTask(rt, item.task_id))) {
    if (item.body_hash !== hash) throw new IdempotencyKeyReusedError();
    // Best effort: the record already leads here; confirming only saves the next lookup.
    await confirmIdempotencyKey(rt, key, item.task_id).catch(() => undefined);
    return { kind: 'existing', taskId: item.task_id };
  }
  if ((item.pending_until ?? item.expiresAt) >= now) {
    if (item.body_hash !== hash) throw new IdempotencyKeyReusedError();
    throw new IdempotentRequestInProgressError();
  }
  // A reservation whose submission never started a task (the process died, or it was refused
  // and the release was lost): take it over, unless another retry just did.
  try {
    await rt.ddb.send(
      new PutCommand({
        TableName: rt.settings.tableName,
        Item: reservation(),
        ConditionExpression: 'task_id = :old AND #state = :pending',
        ExpressionAttributeNames: { '#state': 'state' },
        ExpressionAttributeValues: { ':old': item.task_id, ':pending': 'pending' },
      }),
    );
    return { kind: 'new', taskId: newTaskId };
  } catch (error: unknown) {
    if (!(error instanceof ConditionalCheckFailedException)) throw error;
    return reserveIdempotencyKey(rt, key, hash, newTaskId);
  }
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
