import { Worker } from 'node:worker_threads';
import { createLogger } from '../../shared/logger.js';

/** The AWS services the embedded stack emulates on its own threads. */
export type EmulatorName = 'dynamodb' | 's3' | 'sqs';

/**
 * Which emulators share a thread. One thread for the three: a submission costs the API's loop
 * (SDK clients, HTTP, the Step Functions API, the Start state) about as much CPU as the
 * emulators' answers together, so on two cores one emulator thread beside the main loop keeps
 * both busy; more threads would only compete with the main loop for the same two cores
 * (docs/performance.md, "Submission storm").
 */
export const EMULATOR_THREAD_LAYOUT: readonly (readonly EmulatorName[])[] = [['dynamodb', 's3', 'sqs']];

type ThreadMessage = { type: 'ready'; ports: Partial<Record<EmulatorName, number>> } | { type: 's3-event'; seq: number; event: unknown } | { type: 'stopped' };

export interface EmulatorThreadsOptions {
  host: string;
  /** dynalite keeps its table under `dataDir/dynamodb`, s3rver its objects under `dataDir/s3` */
  dataDir: string;
  /** object writes under these key prefixes are reported to `onS3Event`; others are not sent across */
  s3EventPrefixes: readonly string[];
  layout?: readonly (readonly EmulatorName[])[];
}

export interface EmulatorThreads {
  ports: Record<EmulatorName, number>;
  /** the worker threads the emulators run on (their `performance.eventLoopUtilization()` is their busy time) */
  threads: readonly Worker[];
  /**
   * s3rver's `'event'` for an object write (S3 event notification records), for writes under
   * `s3EventPrefixes`. The write is answered only after the listener has returned. Events raised
   * while no listener is set are dropped.
   */
  onS3Event(listener: (event: unknown) => void): void;
  /** closes every emulator (their data stays on disk) and ends their threads; also after a thread died */
  stop(): Promise<void>;
}

const ENTRY = new URL('./emulator-thread.js', import.meta.url);

/**
 * Starts dynalite, s3rver and fauxqs on worker threads (emulator-thread.js), off the caller's
 * event loop; resolves once all of them listen. A thread that ends on its own (a crash) is logged
 * as an error: from then on its ports refuse connections, so every call to those services fails
 * at once instead of hanging.
 */
export async function startEmulatorThreads(options: EmulatorThreadsOptions): Promise<EmulatorThreads> {
  const log = createLogger({ stage: 'embedded-stack' });
  let s3Listener: ((event: unknown) => void) | undefined;
  let stopping = false;
  const started: Array<{ worker: Worker; exited: Promise<void>; hasExited: () => boolean }> = [];
  const ports: Partial<Record<EmulatorName, number>> = {};

  const startThread = async (emulators: readonly EmulatorName[]) => {
    const worker = new Worker(ENTRY, {
      workerData: { host: options.host, dataDir: options.dataDir, emulators, s3EventPrefixes: options.s3EventPrefixes },
      // Plain JavaScript: the caller's TypeScript loader (tsx) has nothing to do there.
      execArgv: [],
    });
    let exitedFlag = false;
    const exited = new Promise<void>((ok) =>
      worker.once('exit', (code) => {
        exitedFlag = true;
        if (!stopping)
          log.error('an emulator thread ended: calls to its services fail from now on; restart the stack', { emulators: emulators.join(','), exit_code: code });
        ok();
      }),
    );
    started.push({ worker, exited, hasExited: () => exitedFlag });
    worker.on('error', (error: unknown) => log.error('an emulator thread failed', { emulators: emulators.join(','), error }));
    worker.on('message', (message: ThreadMessage) => {
      if (message.type !== 's3-event') return;
      try {
        s3Listener?.(message.event);
      } finally {
        worker.postMessage({ type: 's3-event-taken', seq: message.seq });
      }
    });
    const ready = await new Promise<Partial<Record<EmulatorName, number>>>((ok, fail) => {
      const onMessage = (message: ThreadMessage) => {
        if (message.type !== 'ready') return;
        worker.off('message', onMessage);
        ok(message.ports);
      };
      worker.on('message', onMessage);
      worker.once('error', fail);
      worker.once('exit', (code) => fail(new Error(`the emulator thread (${emulators.join(', ')}) exited with ${code} while starting`)));
    });
    Object.assign(ports, ready);
  };

  const stop = async () => {
    stopping = true;
    for (const { worker, exited, hasExited } of [...started].reverse()) {
      if (hasExited()) continue;
      const closed = new Promise<void>((ok) => worker.on('message', (message: ThreadMessage) => message.type === 'stopped' && ok()));
      worker.postMessage({ type: 'stop' });
      await Promise.race([closed, exited]);
      await worker.terminate();
      await exited;
    }
  };

  try {
    for (const emulators of options.layout ?? EMULATOR_THREAD_LAYOUT) await startThread(emulators);
  } catch (error: unknown) {
    await stop();
    throw error;
  }
  const missing = (['dynamodb', 's3', 'sqs'] as const).filter((name) => ports[name] === undefined);
  if (missing.length) {
    await stop();
    throw new Error(`no emulator thread runs ${missing.join(', ')}`);
  }
  return {
    ports: ports as Record<EmulatorName, number>,
    threads: started.map((t) => t.worker),
    onS3Event: (listener) => {
      s3Listener = listener;
    },
    stop,
  };
}
