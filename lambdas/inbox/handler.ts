import { createHash } from 'node:crypto';
import { DeleteObjectCommand } from '@aws-sdk/client-s3';
import type { S3EventRecord } from 'aws-lambda';
import { getObjectBytes, putObject } from '../../shared/artifacts.js';
import { DuplicateTaskError, InvalidRequestError, MusicMissingError, SourceMissingError, errorMessage } from '../../shared/errors.js';
import { IdempotencyKeyReusedError, IdempotentRequestInProgressError } from '../../shared/idempotency.js';
import { createLogger } from '../../shared/logger.js';
import { MAX_BODY_BYTES, parseRunRequest } from '../../shared/request.js';
import { PREFIX } from '../../shared/resources/storage.js';
import type { Runtime } from '../../shared/runtime.js';
import { submitTask } from '../../shared/submit.js';

/**
 * The fields of an `S3EventRecord` (`@types/aws-lambda`) this handler reads: S3 event
 * notifications on AWS, s3rver's write events on the embedded stack (which carry fewer fields).
 */
export interface InboxS3Record extends Pick<S3EventRecord, 'eventName'> {
  s3: {
    bucket: Pick<S3EventRecord['s3']['bucket'], 'name'>;
    object: Pick<S3EventRecord['s3']['object'], 'key'> & Partial<Pick<S3EventRecord['s3']['object'], 'eTag' | 'size'>>;
  };
}
/** An `S3Event` as far as this handler reads it. */
export interface InboxS3Event {
  Records: InboxS3Record[];
}

export type InboxOutcome = 'accepted' | 'already_handled' | 'rejected' | 'ignored';

export const INBOX_PREFIX = PREFIX.inbox;
export const INBOX_ACCEPTED_PREFIX = PREFIX.inboxAccepted;
export const INBOX_REJECTED_PREFIX = PREFIX.inboxRejected;

/** S3 event keys are URL-encoded with `+` for spaces. */
export function decodeEventKey(key: string): string {
  return decodeURIComponent(key.replace(/\+/g, ' '));
}

/**
 * The idempotency key of one inbox object version: its key and ETag, so a repeated S3 event for
 * the same upload starts no second task while a new upload under the same name is a new request.
 */
export function inboxIdempotencyKey(key: string, etag: string): string {
  return `s3-inbox:${createHash('sha256')
    .update(`${key}\n${etag.replace(/"/g, '')}`)
    .digest('hex')
    .slice(0, 48)}`;
}

/**
 * The S3 upload trigger: a JSON request document created under `inbox/` starts a task through
 * the same submit logic as the API. S3 events are at-least-once, so the submission carries an
 * idempotency key derived from the object key and its ETag: the same object delivered twice
 * starts one task. A malformed document, or one refused (duplicate of a running task, no
 * source), is moved to `inbox-rejected/` with a `.error.txt` beside it — never retried forever.
 */
export function createInboxHandler(rt: Runtime) {
  const log = createLogger({ stage: 'inbox' });

  const move = async (key: string, bytes: Uint8Array, toPrefix: string, note?: string) => {
    const rest = key.slice(INBOX_PREFIX.length);
    await putObject(rt, `${toPrefix}${rest}`, bytes, 'application/json');
    if (note !== undefined) await putObject(rt, `${toPrefix}${rest}.error.txt`, `${note}\n`, 'text/plain; charset=utf-8');
    await rt.s3.send(new DeleteObjectCommand({ Bucket: rt.settings.bucketName, Key: key }));
  };

  const handleObject = async (record: InboxS3Record): Promise<InboxOutcome> => {
    if (!record.eventName.startsWith('ObjectCreated:')) return 'ignored';
    const key = decodeEventKey(record.s3.object.key);
    if (!key.startsWith(INBOX_PREFIX) || key.endsWith('/')) return 'ignored';
    const idempotencyKey = inboxIdempotencyKey(key, record.s3.object.eTag ?? '');

    const bytes = await getObjectBytes(rt, key);
    if (bytes === undefined) {
      // A repeated event for a document already accepted or rejected (and moved away).
      log.info('inbox document already handled', { key });
      return 'already_handled';
    }
    const reject = async (reason: string) => {
      log.warn('inbox document rejected', { key, reason });
      await move(key, bytes, INBOX_REJECTED_PREFIX, reason);
      return 'rejected' as const;
    };
    if (bytes.byteLength > MAX_BODY_BYTES) return reject(`The document is larger than ${MAX_BODY_BYTES} bytes (1 MiB).`);
    let body: unknown;
    try {
      body = JSON.parse(Buffer.from(bytes).toString('utf8'));
    } catch {
      return reject('The document is not valid JSON. It must be a JSON object like the body of POST /api/pipeline/run.');
    }
    try {
      const request = parseRunRequest(body);
      const result = await submitTask(rt, request, log, { idempotencyKey });
      if (!result.replayed) {
        await move(key, bytes, INBOX_ACCEPTED_PREFIX);
        log.info('inbox document started a task', { key, task_id: result.task_id, creator_id: request.creator_id, video_id: request.video_id });
        return 'accepted';
      }
      // A repeated event for a document whose first delivery started the task but did not get to
      // move it (it crashed, or the move failed and S3 retried): finish that move now.
      await move(key, bytes, INBOX_ACCEPTED_PREFIX);
      log.info('inbox document already started a task; moved to inbox-accepted/', { key, task_id: result.task_id });
      return 'already_handled';
    } catch (error: unknown) {
      if (error instanceof IdempotentRequestInProgressError) return 'already_handled';
      if (
        error instanceof InvalidRequestError ||
        error instanceof DuplicateTaskError ||
        error instanceof SourceMissingError ||
        error instanceof MusicMissingError ||
        error instanceof IdempotencyKeyReusedError
      ) {
        return reject(errorMessage(error));
      }
      throw error;
    }
  };

  return async (event: InboxS3Event): Promise<{ outcomes: InboxOutcome[] }> => {
    const outcomes: InboxOutcome[] = [];
    for (const record of event.Records ?? []) outcomes.push(await handleObject(record));
    return { outcomes };
  };
}
