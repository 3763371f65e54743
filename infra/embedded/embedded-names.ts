/**
 * The names the embedded stack gives its resources (one account, one region, fixed names), in a
 * module of their own so that code that only needs the names loads none of the emulators. The
 * table, bucket and queue names are the resource model's defaults (shared/resources/).
 */
import { EXPORT_DEAD_LETTER_QUEUE, EXPORT_QUEUE as EXPORT_QUEUE_MODEL } from '../../shared/resources/queues.js';
import { DEFAULT_BUCKET_NAME } from '../../shared/resources/storage.js';
import { DEFAULT_TABLE_NAME } from '../../shared/resources/table.js';

export const REGION = 'us-east-1';
export const ACCOUNT = '000000000000';
export const TABLE_NAME = DEFAULT_TABLE_NAME;
export const BUCKET_NAME = DEFAULT_BUCKET_NAME;
export const EXPORT_QUEUE = EXPORT_QUEUE_MODEL.name;
export const EXPORT_DLQ = EXPORT_DEAD_LETTER_QUEUE.name;
export const STATE_MACHINE_ARN = `arn:aws:states:${REGION}:${ACCOUNT}:stateMachine:reel-pipeline`;
