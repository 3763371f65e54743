import { afterEach, describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import { getObjectText } from '../../shared/artifacts.js';
import { addLogSink, type LogLine } from '../../shared/logger.js';
import { startEmulatorThreads } from '../../infra/embedded/emulator-threads.js';
import { startTestStack, type TestStack } from '../support/stack.js';

/**
 * dynalite, s3rver and fauxqs run on a worker thread of the embedded stack, not on the thread
 * of its API and handlers. Shown without timing: the stack's own thread is blocked on purpose
 * (Atomics.wait) while a helper thread calls the emulators over HTTP — they answer, which they
 * could not if they shared the blocked loop. The same block holds back the answer of an
 * `inbox/` upload, whose S3 event must reach the upload trigger first.
 */
const stacks: TestStack[] = [];
const dirs: string[] = [];
afterEach(async () => {
  for (const stack of stacks.splice(0)) await stack.close();
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

async function stack(options: Parameters<typeof startTestStack>[0] = {}): Promise<TestStack> {
  const started = await startTestStack(options);
  stacks.push(started);
  return started;
}

const STARTED = 1;
const DONE = 2;

/**
 * Sends `requests` from a helper thread, then blocks this thread until all are answered or
 * `blockMs` has passed. Answers whether they were answered while this thread was blocked.
 */
async function answeredWhileBlocked(requests: Array<{ url: string; method: string; body?: string }>, blockMs: number): Promise<boolean> {
  const flags = new Int32Array(new SharedArrayBuffer(8));
  const helper = new Worker(
    `
    const { workerData, parentPort } = require('node:worker_threads');
    const flags = new Int32Array(workerData.shared);
    Atomics.wait(flags, 0, 0); // until the parent is about to block
    Promise.all(workerData.requests.map((r) => fetch(r.url, { method: r.method, body: r.body }).then((res) => res.arrayBuffer().then(() => res.status))))
      .then((statuses) => parentPort.postMessage({ statuses }), (error) => parentPort.postMessage({ error: String(error) }))
      .finally(() => { Atomics.store(flags, 1, ${DONE}); Atomics.notify(flags, 1); });
    `,
    { eval: true, workerData: { shared: flags.buffer, requests } },
  );
  const answer = new Promise<{ statuses?: number[]; error?: string }>((ok) => helper.once('message', ok));
  Atomics.store(flags, 0, STARTED);
  Atomics.notify(flags, 0);
  // From here until the wait returns this thread runs nothing else: no event, no callback.
  const waited = Atomics.wait(flags, 1, 0, blockMs);
  const { statuses, error } = await answer;
  await helper.terminate();
  expect(error).toBeUndefined();
  expect(statuses?.every((s) => s >= 200 && s < 600)).toBe(true);
  return waited !== 'timed-out';
}

/** What `after` holds beyond `before` (resource kinds, counted). */
function added(before: string[], after: string[]): string[] {
  const left = [...before];
  return after.filter((kind) => {
    const i = left.indexOf(kind);
    if (i < 0) return true;
    left.splice(i, 1);
    return false;
  });
}

describe('the emulator thread', () => {
  it('answers DynamoDB, S3 and SQS while the thread of the API and handlers is blocked', async () => {
    const s = await stack();
    const requests = [
      { url: s.env.AWS_ENDPOINT_URL_DYNAMODB, method: 'POST', body: '{}' },
      { url: `${s.env.AWS_ENDPOINT_URL_S3}/${s.runtime.settings.bucketName}/sources/probe.txt`, method: 'PUT', body: 'probe' },
      { url: `${s.env.AWS_ENDPOINT_URL_SQS}/`, method: 'POST', body: '' },
    ];
    expect(await answeredWhileBlocked(requests, 20_000)).toBe(true);
  });

  it('answers an inbox/ upload only after the upload trigger has its event, and the trigger handles it', async () => {
    const s = await stack();
    const key = 'inbox/held.json';
    const put = [{ url: `${s.env.AWS_ENDPOINT_URL_S3}/${s.runtime.settings.bucketName}/${key}`, method: 'PUT', body: '{ not json' }];
    // Stored, but not answered while the thread that takes the event is blocked …
    expect(await answeredWhileBlocked(put, 1_000)).toBe(false);
    // … and once answered, the trigger has it: the malformed document is moved aside with its reason.
    await s.inboxIdle();
    const keys = await s.objectKeys();
    expect(keys).not.toContain(key);
    expect(keys).toContain('inbox-rejected/held.json');
    expect(await getObjectText(s.runtime, 'inbox-rejected/held.json.error.txt')).not.toBe('');
  });

  it('is ended by stop(), leaving no thread or handle behind', async () => {
    const before = process.getActiveResourcesInfo();
    const s = await startTestStack();
    const threads = s.emulatorThreads;
    expect(threads.length).toBeGreaterThan(0);
    expect(threads.every((t) => t.worker.threadId > 0)).toBe(true);
    // Linux names each thread's kernel id, so a measurement can read that thread's CPU time alone.
    if (existsSync('/proc/thread-self')) {
      for (const { osThreadId } of threads) {
        expect(osThreadId).not.toBe(process.pid);
        expect(existsSync(`/proc/self/task/${osThreadId}/stat`)).toBe(true);
      }
    }
    await s.close();
    expect(threads.map((t) => t.worker.threadId)).toEqual(threads.map(() => -1));
    expect(added(before, process.getActiveResourcesInfo())).toEqual([]);
  });

  it('keeps what was stored on the same data directory across a restart', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'reel-emulators-'));
    dirs.push(dataDir);
    const first = await startTestStack({ dataDir });
    const tableName = first.runtime.settings.tableName;
    await first.runtime.ddb.send(new PutCommand({ TableName: tableName, Item: { pk: 'PROBE#restart', kept: 'yes' } }));
    await first.putSource('restart', 'kept', 'Kept across a restart.');
    await first.close();

    const second = await stack({ dataDir });
    const item = await second.runtime.ddb.send(new GetCommand({ TableName: tableName, Key: { pk: 'PROBE#restart' } }));
    expect(item.Item?.kept).toBe('yes');
    expect(await getObjectText(second.runtime, 'sources/restart/kept/source.txt')).toBe('Kept across a restart.');
  });

  it('dying is logged as an error; calls then fail instead of hanging, stop() still ends the stack and a restart finds the data', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'reel-emulators-'));
    dirs.push(dataDir);
    const lines: LogLine[] = [];
    const removeSink = addLogSink((line) => void lines.push(line));
    try {
      const s = await startTestStack({ dataDir });
      await s.runtime.ddb.send(new PutCommand({ TableName: s.runtime.settings.tableName, Item: { pk: 'PROBE#crash', kept: 'yes' } }));
      await Promise.all(s.emulatorThreads.map((t) => t.worker.terminate()));
      expect(lines.some((l) => l.level === 'ERROR' && String(l.message).includes('emulator thread ended'))).toBe(true);
      const answer = await s.post({ creator_id: 'after', video_id: 'crash', source_text: 'No table to write to.', export_video: false });
      expect(answer.status).toBeGreaterThanOrEqual(500);
      await s.close();
    } finally {
      removeSink();
    }
    const again = await stack({ dataDir });
    const item = await again.runtime.ddb.send(new GetCommand({ TableName: again.runtime.settings.tableName, Key: { pk: 'PROBE#crash' } }));
    expect(item.Item?.kept).toBe('yes');
  });

  it('listens on the loopback address only: DynamoDB, S3 and SQS refuse 127.0.0.2', async () => {
    const s = await stack();
    // Linux routes all of 127/8 to loopback: a socket bound to 0.0.0.0 answers on 127.0.0.2, one bound to 127.0.0.1 does not.
    for (const endpoint of [s.env.AWS_ENDPOINT_URL_DYNAMODB, s.env.AWS_ENDPOINT_URL_S3, s.env.AWS_ENDPOINT_URL_SQS]) {
      const other = endpoint.replace('127.0.0.1', '127.0.0.2');
      const error = await fetch(other).then(
        () => undefined,
        (e: unknown) => e as { cause?: { code?: string } },
      );
      expect({ endpoint, code: error?.cause?.code }).toEqual({ endpoint, code: 'ECONNREFUSED' });
    }
  });

  it('logs a failing S3 event listener as an error and still answers the write', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'reel-emulators-'));
    dirs.push(dataDir);
    const lines: LogLine[] = [];
    const removeSink = addLogSink((line) => void lines.push(line));
    const emulators = await startEmulatorThreads({ host: '127.0.0.1', dataDir, s3EventPrefixes: ['inbox/'] });
    try {
      emulators.onS3Event(() => {
        throw new Error('listener broke');
      });
      const s3 = `http://127.0.0.1:${emulators.ports.s3}`;
      expect((await fetch(`${s3}/probe-bucket`, { method: 'PUT' })).status).toBe(200);
      expect((await fetch(`${s3}/probe-bucket/inbox/doc.json`, { method: 'PUT', body: '{}' })).status).toBe(200);
      expect(lines.some((l) => l.level === 'ERROR' && l.message === 'the S3 event listener failed')).toBe(true);
    } finally {
      removeSink();
      await emulators.stop();
    }
  });
});
