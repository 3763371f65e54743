/**
 * The names the embedded stack gives its resources (one account, one region, fixed names), in a
 * module of their own so that code that only needs the names loads none of the emulators.
 */
export const REGION = 'us-east-1';
export const ACCOUNT = '000000000000';
export const TABLE_NAME = 'reel-pipeline';
export const BUCKET_NAME = 'reel-pipeline-artifacts';
export const EXPORT_QUEUE = 'reel-pipeline-export.fifo';
export const EXPORT_DLQ = 'reel-pipeline-export-dlq.fifo';
export const STATE_MACHINE_ARN = `arn:aws:states:${REGION}:${ACCOUNT}:stateMachine:reel-pipeline`;
