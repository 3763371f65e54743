/**
 * The embedded stack's AWS emulators on a worker thread of their own (started by
 * emulator-threads.ts): dynalite (DynamoDB, LevelDB under `dataDir/dynamodb`), s3rver (S3, files
 * under `dataDir/s3`) and fauxqs (SQS), whichever `workerData.emulators` names. Their request
 * handling is about a third of a submission's CPU; here it runs beside the API's event loop, not
 * on it.
 *
 * Plain JavaScript on purpose: a worker's entry is loaded by Node itself, not by the TypeScript
 * loader of the process that starts it (tsx, vitest), and it imports only the emulators' packages.
 *
 * Messages to the parent:
 *   { type: 'ready', ports: { dynamodb?, s3?, sqs? },    all named emulators listen; the kernel's
 *     osThreadId }                                       id of this thread (Linux), else null
 *   { type: 's3-event', seq, event }                     an object write under one of `s3EventPrefixes`
 *   { type: 'stopped' }                                  every emulator closed (answer to 'stop')
 * Messages from the parent:
 *   { type: 's3-event-taken', seq }                      the parent has taken event `seq`
 *   { type: 'stop' }
 *
 * An S3 write that raised an event is answered only once the parent has taken the event, so a
 * client that sees its PUT answered knows the upload trigger has it — as when s3rver ran on the
 * parent's own loop, where the event was handled before the answer was written.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { parentPort, workerData } from 'node:worker_threads';

/** @type {{ host: string; dataDir: string; emulators: Array<'dynamodb' | 's3' | 'sqs'>; s3EventPrefixes: string[] }} */
const { host, dataDir, emulators, s3EventPrefixes } = workerData;
const port = parentPort;
if (!port) throw new Error('emulator-thread.js runs as a worker thread (see emulator-threads.ts)');

/** @type {Array<() => Promise<void>>} in start order; closed in reverse */
const closers = [];
/** @type {{ dynamodb?: number; s3?: number; sqs?: number }} */
const ports = {};

if (emulators.includes('dynamodb')) {
  const { default: dynalite } = await import('dynalite');
  const server = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0, path: join(dataDir, 'dynamodb') });
  await new Promise((ok) => server.listen(0, host, () => ok(undefined)));
  closers.push(() => new Promise((ok) => server.close(() => ok())));
  ports.dynamodb = server.address().port;
}

/** events posted and not yet taken by the parent: seq → release the write's answer */
const untaken = new Map();
let lastSeq = 0;
port.on('message', (message) => {
  if (message.type === 's3-event-taken') {
    untaken.get(message.seq)?.();
    untaken.delete(message.seq);
  } else if (message.type === 'stop') {
    void stop();
  }
});

if (emulators.includes('s3')) {
  const { default: S3rver } = await import('s3rver');
  const s3rver = new S3rver({ port: 0, address: host, silent: true, directory: join(dataDir, 's3') });
  // The events each request raised (s3rver emits them synchronously inside the request's handling).
  /** @type {AsyncLocalStorage<Array<Promise<void>>>} */
  const requestEvents = new AsyncLocalStorage();
  s3rver.on('event', (event) => {
    const records = event.Records ?? [];
    if (!records.some((r) => s3EventPrefixes.some((prefix) => r.s3.object.key.startsWith(prefix)))) return;
    const seq = ++lastSeq;
    requestEvents.getStore()?.push(new Promise((ok) => untaken.set(seq, ok)));
    port.postMessage({ type: 's3-event', seq, event: JSON.parse(JSON.stringify(event)) });
  });
  // First in s3rver's (Koa's) middleware chain: the answer waits for the parent to take the events.
  s3rver.middleware.unshift(async (_ctx, next) => {
    const taken = [];
    await requestEvents.run(taken, next);
    await Promise.all(taken);
  });
  ports.s3 = (await s3rver.run()).port;
  closers.push(() => s3rver.close());
}

if (emulators.includes('sqs')) {
  // Its app rather than startFauxqs(), which listens on every interface: the SQS endpoint the
  // stack hands out is the loopback address.
  const { buildApp } = await import('fauxqs');
  const app = buildApp({ logger: false });
  await app.listen({ port: 0, host: '127.0.0.1' });
  ports.sqs = app.server.address().port;
  closers.push(() => app.close());
}

/** `/proc/thread-self` links to `<pid>/task/<tid>` (Linux); elsewhere there is no such id to give. */
function osThreadId() {
  try {
    return Number(readlinkSync('/proc/thread-self').split('/').pop()) || null;
  } catch {
    return null;
  }
}

port.postMessage({ type: 'ready', ports, osThreadId: osThreadId() });

let stopping;
function stop() {
  stopping ??= (async () => {
    // Writes still waiting for the parent are answered: it is going away.
    for (const release of untaken.values()) release();
    untaken.clear();
    for (const close of closers.reverse()) await close();
    port.postMessage({ type: 'stopped' });
    port.close();
  })();
  return stopping;
}
