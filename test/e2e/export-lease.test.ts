import { Readable } from 'node:stream';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { S3Client } from '@aws-sdk/client-s3';
import { SFNClient } from '@aws-sdk/client-sfn';
import { SQSClient } from '@aws-sdk/client-sqs';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { runExportAgent } from '../../shared/export/export-agent.js';
import { processExportMessage, type ExportOutcome } from '../../shared/export/export-worker.js';
import type { ExportJobStatus, Exporter } from '../../shared/export/exporter.js';
import { setStdoutLogging } from '../../shared/logger.js';
import { createRuntime, type Runtime } from '../../shared/runtime.js';
import { readSettings } from '../../shared/settings.js';
import { recordReliability } from '../support/reliability.js';
import { startTestStack, type TestStack } from '../support/stack.js';

/**
 * The export message lease: cut to a short visibility on receipt, renewed every third of it,
 * and given up — job cancelled at the exporter — before it lapses when renewals fail.
 */
setStdoutLogging(process.env.TEST_LOGS === '1');

type Sent = { command: string; input: Record<string, any>; at: number };

/** A runtime answered in memory: a RUNNING task with a draft, no video yet; `fail` may refuse a command. */
function fakeRuntime(fail: (command: string) => Error | undefined = () => undefined) {
  const sent: Sent[] = [];
  const credentials = { accessKeyId: 'AKIDTEST', secretAccessKey: 'secret' };
  const draft = { version: 1, task_id: 'task-1', materials: [], tracks: [] };
  const answer = (command: string): unknown => {
    if (command === 'GetCommand') return { Item: { pk: 'TASK#task-1', task_id: 'task-1', status: 'RUNNING', creator_id: 'c', video_id: 'v' } };
    if (command === 'HeadObjectCommand') return Object.assign(new Error('NotFound'), { name: 'NotFound', $metadata: { httpStatusCode: 404 } });
    if (command === 'GetObjectCommand') return { Body: { transformToByteArray: async () => new TextEncoder().encode(JSON.stringify(draft)) } };
    return {};
  };
  const stub = <T extends { send: unknown }>(client: T): T => {
    (client as { send: unknown }).send = async (command: { constructor: { name: string }; input: Record<string, any> }) => {
      const name = command.constructor.name;
      sent.push({ command: name, input: command.input, at: Date.now() });
      const out = fail(name) ?? answer(name);
      if (out instanceof Error) throw out;
      return out;
    };
    return client;
  };
  const rt: Runtime = {
    settings: { ...readSettings({}), tableName: 'table', bucketName: 'bucket', exportQueueUrl: 'https://sqs/q.fifo' },
    clock: { now: () => Date.now() },
    ddb: stub(DynamoDBDocumentClient.from(new DynamoDBClient({ region: 'us-east-1', credentials }))),
    s3: stub(new S3Client({ region: 'us-east-1', credentials })),
    sqs: stub(new SQSClient({ region: 'us-east-1', credentials })),
    sfn: stub(new SFNClient({ region: 'us-east-1', credentials })),
  };
  return { rt, sent };
}

/** An exporter whose job finishes at once, or runs until cancelled (or the worker's signal aborts). */
function fakeExporter(mode: 'instant' | 'endless') {
  const calls: Array<{ call: string; at: number }> = [];
  const exporter: Exporter = {
    async submit(taskId) {
      calls.push({ call: `submit ${taskId}`, at: Date.now() });
    },
    async status(taskId, _wait, signal): Promise<ExportJobStatus> {
      if (mode === 'instant') return { task_id: taskId, state: 'succeeded' };
      await new Promise<void>((resolve) => (signal?.aborted ? resolve() : signal?.addEventListener('abort', () => resolve(), { once: true })));
      return { task_id: taskId, state: 'running' };
    },
    async video() {
      return { body: Readable.from([Buffer.from([1, 2, 3])]), contentLength: 3 };
    },
    async cancel(taskId) {
      calls.push({ call: `cancel ${taskId}`, at: Date.now() });
    },
  };
  return { exporter, calls };
}

const MESSAGE = { task_id: 'task-1', creator_id: 'c', video_id: 'v', draft_key: 'tasks/task-1/draft.json', task_token: 'token-1' };
const received = { body: JSON.stringify(MESSAGE), receiptHandle: 'rh-1' };
const throttled = () => Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException', $metadata: { httpStatusCode: 400 } });

afterEach(() => {
  vi.useRealTimers();
});

describe('the export message lease', () => {
  it('cuts the message visibility to the lease before any other call, so a worker dying next frees it after one lease', async () => {
    const { rt, sent } = fakeRuntime();
    const outcome = await processExportMessage(
      { rt, exporter: fakeExporter('instant').exporter, queueUrl: 'https://sqs/q.fifo', visibilitySeconds: 60, pollSeconds: 1 },
      received,
    );

    expect(outcome).toBe('succeeded');
    expect(sent[0]).toMatchObject({ command: 'ChangeMessageVisibilityCommand', input: { ReceiptHandle: 'rh-1', VisibilityTimeout: 60 } });
  });

  it('cancels the job a third of the lease before it lapses when renewals keep failing, and leaves the message alone', async () => {
    vi.useFakeTimers({ now: Date.UTC(2026, 0, 1) });
    const leaseSeconds = 3;
    const { rt, sent } = fakeRuntime((command) => (command === 'ChangeMessageVisibilityCommand' ? throttled() : undefined));
    const { exporter, calls } = fakeExporter('endless');
    const startedAt = Date.now();

    const run = processExportMessage({ rt, exporter, queueUrl: 'https://sqs/q.fifo', visibilitySeconds: leaseSeconds, pollSeconds: 20 }, received);
    await vi.advanceTimersByTimeAsync(leaseSeconds * 1000);

    expect(calls.map((c) => c.call)).toEqual(['submit task-1', 'cancel task-1']);
    const cancelledAfterMs = calls[1].at - startedAt;
    expect(cancelledAfterMs).toBeLessThanOrEqual(((leaseSeconds * 1000) / 3) * 2);
    await expect(run).resolves.toBe('lease_lost');
    expect(sent.filter((s) => s.command === 'ChangeMessageVisibilityCommand').length).toBeGreaterThanOrEqual(3);
    expect(sent.some((s) => s.command === 'DeleteMessageCommand' || /^SendTask(Success|Failure)Command$/.test(s.command))).toBe(false);
  });

  it('rides out one failed renewal: the job goes on and finishes', async () => {
    vi.useFakeTimers({ now: Date.UTC(2026, 0, 1) });
    // The cut passes, the first renewal is refused, the next ones pass.
    const { rt, sent } = fakeRuntime((command) =>
      command === 'ChangeMessageVisibilityCommand' && sent.filter((s) => s.command === command).length === 2 ? throttled() : undefined,
    );
    const fake = fakeExporter('instant');
    let finish: () => void = () => undefined;
    const finished = new Promise<void>((r) => (finish = r));
    const exporter: Exporter = {
      ...fake.exporter,
      status: async (taskId) => {
        await finished;
        return { task_id: taskId, state: 'succeeded' };
      },
    };

    const run = processExportMessage({ rt, exporter, queueUrl: 'https://sqs/q.fifo', visibilitySeconds: 3, pollSeconds: 20 }, received);
    await vi.advanceTimersByTimeAsync(5000);
    finish();

    await expect(run).resolves.toBe('succeeded');
    expect(sent.filter((s) => s.command === 'ChangeMessageVisibilityCommand').length).toBeGreaterThanOrEqual(4);
    expect(fake.calls.map((c) => c.call)).toEqual(['submit task-1']);
  });

  it('stops at once when SQS says the message is no longer in flight for this worker', async () => {
    vi.useFakeTimers({ now: Date.UTC(2026, 0, 1) });
    const { rt, sent } = fakeRuntime((command) =>
      command === 'ChangeMessageVisibilityCommand' && sent.filter((s) => s.command === command).length > 1
        ? Object.assign(new Error('not in flight'), { name: 'MessageNotInflight' })
        : undefined,
    );
    const { exporter, calls } = fakeExporter('endless');

    const run = processExportMessage({ rt, exporter, queueUrl: 'https://sqs/q.fifo', visibilitySeconds: 30, pollSeconds: 20 }, received);
    await vi.advanceTimersByTimeAsync(10_000);

    await expect(run).resolves.toBe('lease_lost');
    expect(calls.map((c) => c.call)).toEqual(['submit task-1', 'cancel task-1']);
    expect(calls[1].at - Date.UTC(2026, 0, 1)).toBe(10_000);
  });
});

// ---------------------------------------------------------------------------------------------
// Two workers on the embedded stack's queue; the first cannot renew its lease.

const stacks: TestStack[] = [];
afterAll(async () => {
  for (const s of stacks) await s.close();
});

describe('a worker whose renewals fail', () => {
  it('cancels its job before another worker can receive the message: one render at a time, one video', async () => {
    const leaseSeconds = 3;
    const stack = await startTestStack({ exportWorker: false, exportVisibilitySeconds: leaseSeconds });
    stacks.push(stack);
    // Each worker drives its own exporter (as two Lambda instances with the builtin renderer
    // would); a shared count of running jobs is what two renders at once would show.
    let running = 0;
    let maxRunning = 0;
    const events: string[] = [];
    const makeExporter = (name: string, finishes: boolean): Exporter => {
      const jobs = new Map<string, 'running' | 'succeeded' | 'cancelled'>();
      return {
        async submit(taskId) {
          if (jobs.get(taskId) === 'running') return;
          jobs.set(taskId, 'running');
          running += 1;
          maxRunning = Math.max(maxRunning, running);
          events.push(`${name} submit`);
        },
        async status(taskId, _wait, signal) {
          if (finishes && jobs.get(taskId) === 'running') {
            jobs.set(taskId, 'succeeded');
            running -= 1;
          }
          // An endless render: answers `running` after each long poll, like a slow exporter.
          if (jobs.get(taskId) === 'running')
            await new Promise<void>((r) => (signal?.aborted ? r() : signal?.addEventListener('abort', () => r(), { once: true })));
          return { task_id: taskId, state: jobs.get(taskId) ?? 'failed' };
        },
        async video() {
          const bytes = Buffer.from(`video by ${name}`);
          return { body: Readable.from([bytes]), contentLength: bytes.length };
        },
        async cancel(taskId) {
          if (jobs.get(taskId) !== 'running') return;
          jobs.set(taskId, 'cancelled');
          running -= 1;
          events.push(`${name} cancel`);
        },
      };
    };
    const outcomes: Array<{ worker: string; outcome: ExportOutcome }> = [];
    const startWorker = (name: string, rt: Runtime, exporter: Exporter) => {
      const abort = new AbortController();
      const done = runExportAgent(
        {
          rt,
          exporter,
          queueUrl: stack.exportQueueUrl,
          visibilitySeconds: leaseSeconds,
          pollSeconds: 20,
          waitTimeSeconds: 1,
          onOutcome: (outcome) => {
            outcomes.push({ worker: name, outcome });
            if (name === 'A') abort.abort();
          },
        },
        abort.signal,
      );
      return { stop: async () => (abort.abort(), await done) };
    };
    // Worker A: every ChangeMessageVisibility it sends is refused (throttled). It stops after
    // its first message (see onOutcome), so only B can receive the redelivery.
    const rtA = createRuntime(stack.env);
    const sendA = rtA.sqs.send.bind(rtA.sqs) as (command: unknown, options?: unknown) => Promise<unknown>;
    (rtA.sqs as unknown as { send: unknown }).send = async (command: { constructor: { name: string } }, options?: unknown) => {
      if (command.constructor.name === 'ChangeMessageVisibilityCommand') throw throttled();
      return sendA(command, options);
    };
    let aSubmitted: () => void = () => undefined;
    const aHasJob = new Promise<void>((r) => (aSubmitted = r));
    const exporterA = makeExporter('A', false);
    const a = startWorker('A', rtA, { ...exporterA, submit: async (id, job) => (await exporterA.submit(id, job), aSubmitted()) });

    const sub = await stack.post({ creator_id: 'lease', video_id: 'renewals-fail', source_text: 'The first worker cannot renew.' });
    const taskId = sub.body.task_id as string;
    await aHasJob;
    // Worker B (healthy) starts only once A holds the job, so B can get the message only by redelivery.
    const b = startWorker('B', createRuntime(stack.env), makeExporter('B', true));

    const task = await stack.finished(taskId);
    await a.stop();
    await b.stop();

    expect(task.status, JSON.stringify(task.error)).toBe('SUCCEEDED');
    expect(events).toEqual(['A submit', 'A cancel', 'B submit']);
    expect(maxRunning).toBe(1);
    expect(outcomes.map((o) => `${o.worker} ${o.outcome}`).sort()).toEqual(['A lease_lost', 'B succeeded']);
    const videos = (await stack.objectKeys()).filter((k) => k.startsWith(`tasks/${taskId}/`) && k.endsWith('.mp4'));
    expect(videos).toEqual([task.final_video_key]);
    recordReliability({
      fault: 'export lease renewals refused (ChangeMessageVisibility throttled) with a second worker polling',
      runs: 1,
      outcome: `task ${task.status}; exporter calls in order: ${events.join(', ')}; max ${maxRunning} render(s) at once`,
      data_lost: task.artifacts.some((x) => x.name === 'final_video.mp4') ? 0 : 1,
      duplicates: maxRunning - 1,
      locks_leaked: (await stack.itemKeys()).filter((k) => k === 'LOCK#lease#renewals-fail').length,
    });
  }, 60_000);
});
