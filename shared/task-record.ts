import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { GetCommand, PutCommand, QueryCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { isoNow } from './clock.js';
import { InvalidRequestError, LockLostError, TaskNotRunningError } from './errors.js';
import { ALL_TASKS_INDEX_KEY, creatorIndexKey, taskKey } from './keys.js';
import { ALL_TASKS_INDEX, CREATOR_INDEX } from './resources/table.js';
import type { Runtime } from './runtime.js';
import type { VideoOptions } from './video-options.js';

export type TaskStatus = 'RUNNING' | 'SUCCEEDED' | 'FAILED' | 'CANCELLED';
export const STAGES = ['story', 'tts', 'draft', 'export'] as const;
export type StageName = (typeof STAGES)[number];
/** where a failure can happen besides the stages */
export type FailureStage = StageName | 'submit' | 'start' | 'finalize' | 'execution';
export type StageStatus = 'pending' | 'running' | 'queued' | 'succeeded' | 'failed' | 'skipped';

export interface TaskError {
  stage: FailureStage;
  code: string;
  message: string;
}

export interface StageRecord {
  status: StageStatus;
  attempts: number;
  started_at?: string;
  ended_at?: string;
  /** export only: when the message went onto the export queue */
  queued_at?: string;
  error?: TaskError;
  /** what the stage chose: provider, voice, durations… */
  details?: Record<string, unknown>;
  /** the waits a rate limit sent the stage to before it could run (story, tts) */
  rate_limit_waits?: RateLimitWait[];
}

/** One wait of the state machine's rate-limit loop: asked at `at`, for `seconds`, by `provider`. */
export interface RateLimitWait {
  at: string;
  seconds: number;
  provider: string;
}

/** One attempt to deliver a completion webhook (shared/webhook/), as the task record keeps it. */
export interface WebhookDeliveryAttempt {
  /** the terminal status the delivery reports, and the redrive it ended */
  status: TaskStatus;
  redrives: number;
  /** 1 for the first POST of this status, counting up over retries */
  attempt: number;
  at: string;
  /** `delivered` (2xx), `retrying` (another attempt is queued), `gave_up` (attempts used up), `rejected` (the receiver refused: a 4xx or a redirect), `refused` (the host or its address is not allowed now) */
  outcome: 'delivered' | 'retrying' | 'gave_up' | 'rejected' | 'refused';
  http_status?: number;
  error?: string;
}

export interface ArtifactEntry {
  name: string;
  key: string;
  size: number;
  sha256: string;
}

export interface TaskRecord {
  pk: string;
  kind: 'task';
  task_id: string;
  creator_id: string;
  video_id: string;
  account_name?: string;
  gender: 0 | 1 | 2;
  export_video: boolean;
  /** the look and sound the request asked for, defaults filled (absent on tasks from before options) */
  video_options?: VideoOptions;
  status: TaskStatus;
  /** the stage running now, or the last one that ran */
  stage: FailureStage | 'submitted' | 'done';
  stages: Record<StageName, StageRecord>;
  error?: TaskError;
  created_at: string;
  updated_at: string;
  ended_at?: string;
  cancelled_at?: string;
  /** written by earlier versions only: the execution is named by the task id (executionArnOf) */
  execution_arn?: string;
  artifacts?: ArtifactEntry[];
  /** the fencing token of the creator+video lock this task acquired (see shared/lock.ts) */
  lock_fence?: number;
  /** times the task was retried by redriving its execution (shared/retry.ts) */
  redrives?: number;
  /** set by the task that took the lock over: this task's token is revoked */
  lock_lost?: { to_task_id: string; at: string };
  /** the committed video (an attempt-scoped key, see {@link commitExportedVideo}) */
  final_video_key?: string;
  /** where completion webhooks go (the request's `webhook_url`, or WEBHOOK_URL) */
  webhook_url?: string;
  /** every delivery attempt of its completion webhooks, oldest first */
  webhook_deliveries?: WebhookDeliveryAttempt[];
  gsi1pk: string;
  gsi1sk: string;
  gsi2pk: string;
  gsi2sk: string;
}

/** The record a submission writes: RUNNING, every stage pending (export skipped when not asked). */
export function newTaskRecord(a: {
  taskId: string;
  creatorId: string;
  videoId: string;
  accountName?: string;
  gender: 0 | 1 | 2;
  exportVideo: boolean;
  videoOptions?: VideoOptions;
  now: string;
  /** the token {@link acquireVideoLock} returned */
  lockFence?: number;
  webhookUrl?: string;
}): TaskRecord {
  const pending = (): StageRecord => ({ status: 'pending', attempts: 0 });
  const sortKey = `${a.now}#${a.taskId}`;
  return {
    pk: taskKey(a.taskId),
    kind: 'task',
    task_id: a.taskId,
    creator_id: a.creatorId,
    video_id: a.videoId,
    ...(a.accountName !== undefined ? { account_name: a.accountName } : {}),
    gender: a.gender,
    export_video: a.exportVideo,
    ...(a.videoOptions !== undefined ? { video_options: a.videoOptions } : {}),
    ...(a.lockFence !== undefined ? { lock_fence: a.lockFence } : {}),
    ...(a.webhookUrl ? { webhook_url: a.webhookUrl } : {}),
    status: 'RUNNING',
    stage: 'submitted',
    stages: {
      story: pending(),
      tts: pending(),
      draft: pending(),
      export: a.exportVideo ? pending() : { status: 'skipped', attempts: 0 },
    },
    created_at: a.now,
    updated_at: a.now,
    gsi1pk: creatorIndexKey(a.creatorId),
    gsi1sk: sortKey,
    gsi2pk: ALL_TASKS_INDEX_KEY,
    gsi2sk: sortKey,
  };
}

const isConditionFailure = (error: unknown) => error instanceof ConditionalCheckFailedException;

export async function putNewTask(rt: Runtime, record: TaskRecord): Promise<void> {
  await rt.ddb.send(new PutCommand({ TableName: rt.settings.tableName, Item: record, ConditionExpression: 'attribute_not_exists(pk)' }));
}

export async function getTask(rt: Runtime, taskId: string): Promise<TaskRecord | undefined> {
  const out = await rt.ddb.send(new GetCommand({ TableName: rt.settings.tableName, Key: { pk: taskKey(taskId) }, ConsistentRead: true }));
  return out.Item as TaskRecord | undefined;
}

/**
 * What a write checks besides RUNNING:
 * - `none`: nothing (failure, cancel and bookkeeping reports, which a stale task must still make);
 * - `not_revoked`: no other task has taken the lock over (stage bookkeeping: a stale task stops
 *   at its next stage boundary instead of spending provider quota);
 * - `{fence}`: not revoked AND the record still carries this fencing token — the commit of a
 *   result (Finalize, the export worker's video). `undefined` is a task from before tokens.
 */
export type LockGuard = 'none' | 'not_revoked' | { fence: number | undefined };

/**
 * Applies an update only while the task is RUNNING, so that nothing late (a stage that
 * finishes after a cancel or a failure) can overwrite a terminal status.
 * Throws {@link TaskNotRunningError} when the task is not running, {@link LockLostError} when
 * the guard finds the task's lock token revoked or changed.
 */
async function updateWhileRunning(
  rt: Runtime,
  taskId: string,
  update: { set: string[]; remove?: string[]; names?: Record<string, string>; values?: Record<string, unknown> },
  guard: LockGuard = 'none',
): Promise<void> {
  const expression = `SET ${[...update.set, 'updated_at = :now_iso'].join(', ')}${update.remove?.length ? ` REMOVE ${update.remove.join(', ')}` : ''}`;
  const conditions = ['#status = :running'];
  const guardValues: Record<string, unknown> = {};
  if (guard !== 'none') conditions.push('attribute_not_exists(lock_lost)');
  if (typeof guard === 'object') {
    if (guard.fence === undefined) conditions.push('attribute_not_exists(lock_fence)');
    else {
      conditions.push('lock_fence = :fence');
      guardValues[':fence'] = guard.fence;
    }
  }
  try {
    await rt.ddb.send(
      new UpdateCommand({
        TableName: rt.settings.tableName,
        Key: { pk: taskKey(taskId) },
        UpdateExpression: expression,
        ConditionExpression: conditions.join(' AND '),
        ExpressionAttributeNames: { '#status': 'status', ...update.names },
        ExpressionAttributeValues: { ':running': 'RUNNING', ':now_iso': isoNow(rt.clock), ...guardValues, ...update.values },
      }),
    );
  } catch (error: unknown) {
    if (!isConditionFailure(error)) throw error;
    if (guard === 'none') throw new TaskNotRunningError(taskId);
    // No ReturnValuesOnConditionCheckFailure on the emulator: read which condition failed.
    const now = await getTask(rt, taskId);
    if (!now || now.status !== 'RUNNING') throw new TaskNotRunningError(taskId, now?.status);
    throw new LockLostError(taskId, now.lock_lost?.to_task_id);
  }
}

/**
 * Revokes the lock token of a task whose lease expired, before another task takes the lock
 * over (see shared/lock.ts). Conditional on the task still RUNNING with that token, so it never
 * touches an ended task or a later acquisition. Returns false when nothing was revoked.
 */
export async function revokeTaskLock(rt: Runtime, taskId: string, a: { fence: number | undefined; byTaskId: string }): Promise<boolean> {
  try {
    await rt.ddb.send(
      new UpdateCommand({
        TableName: rt.settings.tableName,
        Key: { pk: taskKey(taskId) },
        UpdateExpression: 'SET lock_lost = :lost, updated_at = :now_iso',
        ConditionExpression: `#status = :running AND ${a.fence === undefined ? 'attribute_not_exists(lock_fence)' : 'lock_fence = :fence'}`,
        ExpressionAttributeNames: { '#status': 'status' },
        ExpressionAttributeValues: {
          ':running': 'RUNNING',
          ':lost': { to_task_id: a.byTaskId, at: isoNow(rt.clock) },
          ':now_iso': isoNow(rt.clock),
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

export async function markStageRunning(rt: Runtime, taskId: string, stage: StageName): Promise<void> {
  const now = isoNow(rt.clock);
  await updateWhileRunning(
    rt,
    taskId,
    {
      set: ['#stage = :stage', 'stages.#st.#status = :s', 'stages.#st.started_at = :t', 'stages.#st.attempts = stages.#st.attempts + :one'],
      remove: ['stages.#st.ended_at', 'stages.#st.#error'],
      names: { '#stage': 'stage', '#st': stage, '#error': 'error' },
      values: { ':stage': stage, ':s': 'running', ':t': now, ':one': 1 },
    },
    'not_revoked',
  );
}

export async function markStageSucceeded(rt: Runtime, taskId: string, stage: StageName, details?: Record<string, unknown>): Promise<void> {
  await updateWhileRunning(
    rt,
    taskId,
    {
      set: ['stages.#st.#status = :s', 'stages.#st.ended_at = :t', ...(details ? ['stages.#st.details = :d'] : [])],
      names: { '#st': stage },
      values: { ':s': 'succeeded', ':t': isoNow(rt.clock), ...(details ? { ':d': details } : {}) },
    },
    'not_revoked',
  );
}

/**
 * Commits an exported video as the task's result: records its key and marks Export succeeded,
 * in one write conditional on the task's fencing token ({@link LockGuard}). The worker stores
 * the video first under a key scoped to that token (`tasks/<id>/attempts/<fence>/…`); S3 writes
 * cannot be conditional on the table, so this update is the moment the video becomes the task's
 * result. A stale holder's upload stays an uncommitted attempt object that no reader resolves.
 */
export async function commitExportedVideo(
  rt: Runtime,
  taskId: string,
  a: { fence: number | undefined; videoKey: string; details: Record<string, unknown> },
): Promise<void> {
  await updateWhileRunning(
    rt,
    taskId,
    {
      set: ['final_video_key = :k', 'stages.#st.#status = :s', 'stages.#st.ended_at = :t', 'stages.#st.details = :d'],
      names: { '#st': 'export' },
      values: { ':k': a.videoKey, ':s': 'succeeded', ':t': isoNow(rt.clock), ':d': a.details },
    },
    { fence: a.fence },
  );
}

/** Appends a rate-limit wait to the stage's record (the console draws it on the stage's timeline). */
export async function recordRateLimitWait(rt: Runtime, taskId: string, stage: StageName, wait: RateLimitWait): Promise<void> {
  await updateWhileRunning(
    rt,
    taskId,
    {
      set: ['stages.#st.#waits = list_append(if_not_exists(stages.#st.#waits, :none), :wait)'],
      names: { '#st': stage, '#waits': 'rate_limit_waits' },
      values: { ':none': [], ':wait': [wait] },
    },
    'not_revoked',
  );
}

/** Export waits for the exporter: `queued` with the time it joined the queue. */
export async function markExportQueued(rt: Runtime, taskId: string, note?: TaskError): Promise<void> {
  await updateWhileRunning(
    rt,
    taskId,
    {
      set: ['#stage = :stage', 'stages.#st.#status = :s', 'stages.#st.queued_at = :t', ...(note ? ['stages.#st.#error = :e'] : [])],
      names: { '#stage': 'stage', '#st': 'export', ...(note ? { '#error': 'error' } : {}) },
      values: { ':stage': 'export', ':s': 'queued', ':t': isoNow(rt.clock), ...(note ? { ':e': note } : {}) },
    },
    'not_revoked',
  );
}

/**
 * Marks the task SUCCEEDED with its artifact list, only while it still holds lock token `fence`.
 * Throws {@link TaskNotRunningError} if it is no longer RUNNING, {@link LockLostError} if its
 * token was revoked (another task took the lock over).
 */
export async function markTaskSucceeded(rt: Runtime, taskId: string, artifacts: ArtifactEntry[], fence: number | undefined): Promise<void> {
  await updateWhileRunning(
    rt,
    taskId,
    {
      set: ['#status = :done', '#stage = :stage', 'ended_at = :t', 'artifacts = :a'],
      names: { '#stage': 'stage' },
      values: { ':done': 'SUCCEEDED', ':stage': 'done', ':t': isoNow(rt.clock), ':a': artifacts },
    },
    { fence },
  );
}

/**
 * Marks the task FAILED with the stage and reason (and that stage `failed`). Returns false when
 * the task had already ended (failure reports are idempotent: Catch and the execution-status
 * event may both report the same failure).
 */
export async function markTaskFailed(rt: Runtime, taskId: string, error: TaskError): Promise<boolean> {
  const isStage = (STAGES as readonly string[]).includes(error.stage);
  try {
    await updateWhileRunning(rt, taskId, {
      set: [
        '#status = :failed',
        '#stage = :stage',
        'ended_at = :t',
        '#error = :e',
        ...(isStage ? ['stages.#st.#status = :sf', 'stages.#st.ended_at = :t', 'stages.#st.#error = :e'] : []),
      ],
      names: { '#stage': 'stage', '#error': 'error', ...(isStage ? { '#st': error.stage } : {}) },
      values: { ':failed': 'FAILED', ':stage': error.stage, ':t': isoNow(rt.clock), ':e': error, ...(isStage ? { ':sf': 'failed' } : {}) },
    });
    return true;
  } catch (e: unknown) {
    if (e instanceof TaskNotRunningError) return false;
    throw e;
  }
}

/**
 * Marks the task CANCELLED (only while RUNNING). The stage that was running or queued is marked
 * `skipped`, so the record shows where the task stood when it was cancelled.
 */
export async function markTaskCancelled(rt: Runtime, taskId: string, stageAtCancel?: StageName): Promise<boolean> {
  try {
    await updateWhileRunning(rt, taskId, {
      set: ['#status = :c', 'ended_at = :t', 'cancelled_at = :t', ...(stageAtCancel ? ['stages.#st.#sst = :skipped', 'stages.#st.ended_at = :t'] : [])],
      names: stageAtCancel ? { '#st': stageAtCancel, '#sst': 'status' } : {},
      values: { ':c': 'CANCELLED', ':t': isoNow(rt.clock), ...(stageAtCancel ? { ':skipped': 'skipped' } : {}) },
    });
    return true;
  } catch (e: unknown) {
    if (e instanceof TaskNotRunningError) return false;
    throw e;
  }
}

/**
 * Appends one webhook delivery attempt to the record, whatever its status (a delivery reports an
 * ended task). Not conditional: attempts are a log, and a redriven task keeps its earlier ones.
 */
export async function recordWebhookAttempt(rt: Runtime, taskId: string, attempt: WebhookDeliveryAttempt): Promise<void> {
  await rt.ddb.send(
    new UpdateCommand({
      TableName: rt.settings.tableName,
      Key: { pk: taskKey(taskId) },
      UpdateExpression: 'SET webhook_deliveries = list_append(if_not_exists(webhook_deliveries, :none), :a)',
      ConditionExpression: 'attribute_exists(pk)',
      ExpressionAttributeValues: { ':none': [], ':a': [attempt] },
    }),
  );
}

export interface TaskQuery {
  creatorId?: string;
  videoId?: string;
  status?: TaskStatus;
  /** only tasks whose `error.code` is this */
  errorCode?: string;
  /** only tasks created at or after this ISO time (the index sort key starts with it) */
  since?: string;
  limit: number;
}

/** One page of {@link listTaskPage}: `cursor` is there while more tasks may match. */
export interface TaskPage {
  tasks: TaskRecord[];
  cursor?: string;
}

/** Tasks newest first, from the creator index when a creator is given, else from the all-tasks index. */
export async function listTasks(rt: Runtime, q: TaskQuery): Promise<TaskRecord[]> {
  return (await listTaskPage(rt, q)).tasks;
}

/**
 * Like {@link listTasks}, one page of at most `limit` tasks, continued from `cursor` (an opaque
 * string from the previous page: the index position after its last task).
 */
export async function listTaskPage(rt: Runtime, q: TaskQuery & { cursor?: string }): Promise<TaskPage> {
  const names: Record<string, string> = {};
  const values: Record<string, unknown> = {};
  const filters: string[] = [];
  if (q.videoId) {
    filters.push('video_id = :v');
    values[':v'] = q.videoId;
  }
  if (q.status) {
    filters.push('#status = :s');
    names['#status'] = 'status';
    values[':s'] = q.status;
  }
  if (q.errorCode) {
    filters.push('#error.code = :code');
    names['#error'] = 'error';
    values[':code'] = q.errorCode;
  }
  const index = q.creatorId ? CREATOR_INDEX : ALL_TASKS_INDEX;
  values[':pk'] = q.creatorId ? creatorIndexKey(q.creatorId) : ALL_TASKS_INDEX_KEY;
  let keyCondition = `${index.partitionKey} = :pk`;
  if (q.since) {
    keyCondition += ` AND ${index.sortKey} >= :since`;
    values[':since'] = q.since;
  }
  const out: TaskRecord[] = [];
  let startKey = q.cursor ? decodeCursor(q.cursor) : undefined;
  let lastKey: Record<string, unknown> | undefined;
  do {
    const page = await rt.ddb.send(
      new QueryCommand({
        TableName: rt.settings.tableName,
        IndexName: index.indexName,
        KeyConditionExpression: keyCondition,
        ExpressionAttributeValues: values,
        ScanIndexForward: false,
        ...(filters.length ? { FilterExpression: filters.join(' AND ') } : {}),
        ...(Object.keys(names).length ? { ExpressionAttributeNames: names } : {}),
        ExclusiveStartKey: startKey,
      }),
    );
    for (const item of (page.Items ?? []) as TaskRecord[]) {
      if (out.length === q.limit) break;
      out.push(item);
      lastKey = indexPosition(item, q);
    }
    startKey = page.LastEvaluatedKey;
  } while (startKey && out.length < q.limit);
  // Full page: continue after its last task (a page cut short inside a query page must not skip the rest).
  const more = out.length === q.limit ? lastKey : startKey;
  return { tasks: out, ...(more ? { cursor: encodeCursor(more) } : {}) };
}

/**
 * The cursor that continues a {@link listTaskPage} of query `q` right after `task` (one of its
 * tasks), e.g. when the caller stops part-way through a page.
 */
export function taskCursorAfter(task: TaskRecord, q: Pick<TaskQuery, 'creatorId'>): string {
  return encodeCursor(indexPosition(task, q));
}

/** A task's position in the index the query reads: the key DynamoDB's ExclusiveStartKey takes. */
function indexPosition(task: TaskRecord, q: Pick<TaskQuery, 'creatorId'>): Record<string, unknown> {
  const index = q.creatorId ? CREATOR_INDEX : ALL_TASKS_INDEX;
  return { pk: task.pk, [index.partitionKey]: task[index.partitionKey], [index.sortKey]: task[index.sortKey] };
}

const encodeCursor = (key: Record<string, unknown>) => Buffer.from(JSON.stringify(key), 'utf8').toString('base64url');

function decodeCursor(cursor: string): Record<string, unknown> {
  try {
    const key: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    if (key && typeof key === 'object' && !Array.isArray(key)) return key as Record<string, unknown>;
  } catch {
    // falls through to the error below
  }
  throw new InvalidRequestError('cursor is not one this API handed out.', [{ field: 'cursor', problem: 'unreadable' }], 'invalid_cursor');
}

/**
 * The tasks created at or after `since` (ISO time), newest last, with only the attributes of
 * `projection`: one query of the all-tasks index, paged; `filter` narrows it at the store. For
 * the export views (backlog, queue, next job), whose tasks are all younger than the execution
 * timeout.
 */
export async function queryTasksCreatedSince<T>(
  rt: Runtime,
  q: { since: string; projection: string; names?: Record<string, string>; filter?: string; values?: Record<string, unknown> },
): Promise<T[]> {
  const out: T[] = [];
  let startKey: Record<string, unknown> | undefined;
  do {
    const page = await rt.ddb.send(
      new QueryCommand({
        TableName: rt.settings.tableName,
        IndexName: ALL_TASKS_INDEX.indexName,
        KeyConditionExpression: `${ALL_TASKS_INDEX.partitionKey} = :pk AND ${ALL_TASKS_INDEX.sortKey} >= :since`,
        ...(q.filter ? { FilterExpression: q.filter } : {}),
        ExpressionAttributeValues: { ':pk': ALL_TASKS_INDEX_KEY, ':since': q.since, ...q.values },
        ProjectionExpression: q.projection,
        ...(q.names ? { ExpressionAttributeNames: q.names } : {}),
        ExclusiveStartKey: startKey,
      }),
    );
    out.push(...((page.Items ?? []) as T[]));
    startKey = page.LastEvaluatedKey;
  } while (startKey);
  return out;
}
