import { Worker } from 'node:worker_threads';
import { createLogger } from '../../shared/logger.js';

/** The AWS services the embedded stack emulates on its own threads. */
export type EmulatorName = 'dynamodb' | 's3' | 'sqs';

/**
 * Which emulators share a thread. One thread for the three: per submission the main loop (API,
 * SDK clients, the Step Functions API, the Start state) is busy about 10 ms and the emulators
 * about 5–6 ms together, so one emulator thread beside the main loop uses both cores; a second
 * one (dynalite | s3rver + fauxqs) only added a third loop competing for the same two cores —
 * measured, the 200-burst answered in 2.35–2.38 s instead of 2.12 s and the p99 at 50/s was 85–153
 * ms instead of 61–78 ms (docs/performance.md, "Emulators on their own thread").
 */
export const EMULATOR_THREAD_LAYOUT: readonly (readonly EmulatorName[])[] = [['dynamodb', 's3', 'sqs']]; // every emulator, once

type ThreadMessage =
  | { type: 'ready'; ports: Partial<Record<EmulatorName, number>>; osThreadId: number | null }
  | { type: 's3-event'; seq: number; event: unknown }
  | { type: 'stopped' };

/** One thread the emulators run on. */
export interface EmulatorThread {
  worker: Worker;
  emulators: readonly EmulatorName[];
  /**
   * the kernel's id of the thread (Linux: its CPU time is in `/proc/self/task/<id>/stat`, apart
   * from the process's other threads); null where there is no `/proc/thread-self`
   */
  osThreadId: number | null;
}

export interface EmulatorThreadsOptions {
  host: string;
  /** dynalite keeps its table under `dataDir/dynamodb`, s3rver its objects under `dataDir/s3` */
  dataDir: string;
  /** object writes under these key prefixes are reported to `onS3Event`; others are not sent across */
  s3EventPrefixes: readonly string[];
}

export interface EmulatorThreads {
  ports: Record<EmulatorName, number>;
  threads: readonly EmulatorThread[];
  /**
   * s3rver's `'event'` for an object write (S3 event notification records), for writes under
   * `s3EventPrefixes`. The write is answered only after the listener has returned. Events raised
   * while no listener is set are dropped.
   */
  onS3Event(listener: (event: unknown) => void): void;
  /** closes every emulator (their data stays on disk) and ends their threads; also after a thread died */
  stop(): Promise<void>;
  /** resolves when a thread ends on its own (a crash), not by `stop()`; never otherwise */
  ended: Promise<{ emulators: readonly EmulatorName[]; exitCode: number }>;
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
  const started: Array<EmulatorThread & { exited: Promise<void>; hasExited: () => boolean }> = [];
  const ports: Partial<Record<EmulatorName, number>> = {};
  let endedOnItsOwn: (why: { emulators: readonly EmulatorName[]; exitCode: number }) => void = () => {};
  const ended = new Promise<{ emulators: readonly EmulatorName[]; exitCode: number }>((resolve) => (endedOnItsOwn = resolve));

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
        if (!stopping) {
          log.error('an emulator thread ended: calls to its services fail from now on; restart the stack', { emulators: emulators.join(','), exit_code: code });
          endedOnItsOwn({ emulators, exitCode: code });
        }
        ok();
      }),
    );
    const thread = { worker, emulators, osThreadId: null as number | null, exited, hasExited: () => exitedFlag };
    started.push(thread);
    worker.on('error', (error: unknown) => log.error('an emulator thread failed', { emulators: emulators.join(','), error }));
    worker.on('message', (message: ThreadMessage) => {
      if (message.type !== 's3-event') return;
      try {
        s3Listener?.(message.event);
      } catch (error: unknown) {
        log.error('the S3 event listener failed', { error });
      } finally {
        worker.postMessage({ type: 's3-event-taken', seq: message.seq });
      }
    });
    const ready = await new Promise<Extract<ThreadMessage, { type: 'ready' }>>((ok, fail) => {
      const onMessage = (message: ThreadMessage) => {
        if (message.type !== 'ready') return;
        worker.off('message', onMessage);
        ok(message);
      };
      worker.on('message', onMessage);
      worker.once('error', fail);
      worker.once('exit', (code) => fail(new Error(`the emulator thread (${emulators.join(', ')}) exited with ${code} while starting`)));
    });
    Object.assign(ports, ready.ports);
    thread.osThreadId = ready.osThreadId;
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
    for (const emulators of EMULATOR_THREAD_LAYOUT) await startThread(emulators);
  } catch (error: unknown) {
    await stop();
    throw error;
  }
  return {
    ports: ports as Record<EmulatorName, number>,
    threads: started.map(({ worker, emulators, osThreadId }) => ({ worker, emulators, osThreadId })),
    onS3Event: (listener) => {
      s3Listener = listener;
    },
    stop,
    ended,
  };
}
