/**
 * The API app alone, in a process of its own so that its memory is the upload's alone
 * (test/e2e/source-media-memory.test.ts). S3 is the parent's s3rver; DynamoDB, SQS and Step Functions
 * are never called by the media routes and answer nothing. Prints `{"port"}` once listening;
 * `GET /__memory` answers the peak growth of rss and of ArrayBuffer memory over the baseline taken
 * after a warm-up.
 *
 * Argument: JSON `{ s3Endpoint, bucket, musicMaxBytes }`.
 */
import { serve } from '@hono/node-server';
import { createApiApp } from '../../lambdas/api/app.js';
import { objectExists } from '../../shared/artifacts.js';
import { setStdoutLogging } from '../../shared/logger.js';
import { createRuntime, type Runtime } from '../../shared/runtime.js';
import { s3rverEnv } from './s3rver-env.js';

const args = JSON.parse(process.argv[2] ?? '{}') as { s3Endpoint: string; bucket: string; musicMaxBytes: number };
setStdoutLogging(false);
const real = createRuntime({
  ...s3rverEnv(args.s3Endpoint, args.bucket),
  TABLE_NAME: 'table',
  MUSIC_MAX_BYTES: String(args.musicMaxBytes),
});
const nothing = <T>() => ({ send: async () => ({}) }) as unknown as T;
const rt: Runtime = { ...real, ddb: nothing<Runtime['ddb']>(), sqs: nothing<Runtime['sqs']>(), sfn: nothing<Runtime['sfn']>() };
const app = createApiApp(rt);

// Warm-up: load the S3 client's machinery before the baseline.
await objectExists(rt, 'warm-up');
globalThis.gc?.();
const baseline = process.memoryUsage();
let peakRss = baseline.rss;
let peakArrayBuffers = baseline.arrayBuffers;
setInterval(() => {
  const now = process.memoryUsage();
  peakRss = Math.max(peakRss, now.rss);
  peakArrayBuffers = Math.max(peakArrayBuffers, now.arrayBuffers);
}, 5).unref();

const server = serve({
  port: 0,
  hostname: '127.0.0.1',
  fetch: (req: Request) =>
    new URL(req.url).pathname === '/__memory'
      ? Response.json({ rss_growth: peakRss - baseline.rss, array_buffers_growth: peakArrayBuffers - baseline.arrayBuffers })
      : app.fetch(req),
});
server.once('listening', () => {
  const address = server.address();
  process.stdout.write(`${JSON.stringify({ port: typeof address === 'object' && address ? address.port : 0 })}\n`);
});
