/**
 * One export message through `processExportMessage`, in a process of its own so that its memory
 * is the worker's alone (test/e2e/export-video-memory.test.ts). S3 (s3rver) and the exporter are real
 * servers of the parent; DynamoDB, SQS and Step Functions are answered in memory for a RUNNING
 * task. Prints one JSON line: the outcome, the commands sent (S3's too), the peak growth of rss and of
 * ArrayBuffer memory over the baseline taken after a warm-up.
 *
 * Argument: JSON `{ s3Endpoint, bucket, exporterUrl, taskId, draftKey }`.
 */
import { objectExists } from '../../shared/artifacts.js';
import { processExportMessage } from '../../shared/export/export-worker.js';
import { HttpExporter } from '../../shared/export/http-exporter.js';
import { setStdoutLogging } from '../../shared/logger.js';
import { createRuntime, type Runtime } from '../../shared/runtime.js';
import { s3rverEnv } from './s3rver-env.js';
import { sampleMemoryGrowth } from './memory-growth.js';

const args = JSON.parse(process.argv[2] ?? '{}') as { s3Endpoint: string; bucket: string; exporterUrl: string; taskId: string; draftKey: string };
setStdoutLogging(false);

const sent: string[] = [];
const answered = <T>(answer: (command: string) => unknown) =>
  ({
    send: async (command: { constructor: { name: string } }) => {
      sent.push(command.constructor.name);
      return answer(command.constructor.name);
    },
  }) as unknown as T;

const real = createRuntime({
  ...s3rverEnv(args.s3Endpoint, args.bucket),
  TABLE_NAME: 'table',
});
// S3 calls go to s3rver, recorded on the way.
const s3Send = real.s3.send.bind(real.s3) as (command: unknown, options?: unknown) => Promise<unknown>;
(real.s3 as unknown as { send: typeof s3Send }).send = (command, options) => {
  sent.push((command as { constructor: { name: string } }).constructor.name);
  return s3Send(command, options);
};
const rt: Runtime = {
  ...real,
  ddb: answered<Runtime['ddb']>((command) =>
    command === 'GetCommand' ? { Item: { pk: `TASK#${args.taskId}`, task_id: args.taskId, status: 'RUNNING', creator_id: 'c', video_id: 'v' } } : {},
  ),
  sqs: answered<Runtime['sqs']>(() => ({})),
  sfn: answered<Runtime['sfn']>(() => ({})),
};

// Warm-up: load the S3 client's and fetch's machinery before the baseline.
await objectExists(rt, `${args.draftKey}.warm-up`);
await (await fetch(`${args.exporterUrl}/warm-up`)).text();
globalThis.gc?.();
const memory = sampleMemoryGrowth();

const outcome = await processExportMessage(
  { rt, exporter: new HttpExporter(args.exporterUrl, 'memory-test-secret'), queueUrl: 'https://sqs/queue.fifo', visibilitySeconds: 3600, pollSeconds: 1 },
  {
    body: JSON.stringify({ task_id: args.taskId, creator_id: 'c', video_id: 'v', draft_key: args.draftKey, task_token: 'token' }),
    receiptHandle: 'receipt',
  },
);
const growth = memory.stop();
// Exit at once: kept-alive connections would hold the process for seconds.
process.stdout.write(`${JSON.stringify({ outcome, sent, ...growth })}\n`, () => process.exit(0));
