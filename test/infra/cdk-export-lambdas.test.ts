import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { S3Client } from '@aws-sdk/client-s3';
import { SFNClient } from '@aws-sdk/client-sfn';
import { SQSClient } from '@aws-sdk/client-sqs';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createExportDeadLetterHandler } from '../../lambdas/export-dlq/handler.js';
import { DEAD_LETTER_ATTEMPTS } from '../../shared/export/dead-letter.js';
import { ExportMessageReturnedError, createExportWorkerHandler } from '../../lambdas/export/handler.js';
import type { Draft } from '../../shared/draft/draft.js';
import { BuiltinExporter } from '../../shared/export/builtin-exporter.js';
import { ExportJobLostError, ExporterBusyError, type ExportJob, type ExportJobStatus, type Exporter } from '../../shared/export/exporter.js';
import { setStdoutLogging } from '../../shared/logger.js';
import type { Runtime } from '../../shared/runtime.js';
import { readSettings } from '../../shared/settings.js';
import { encodeWav } from '../../shared/tts/wav.js';

/**
 * The AWS-only export pieces: the builtin exporter (renders in the worker with the static
 * ffmpeg), the Lambda worker entry (batch of one, gives the message back when its time runs
 * out) and the dead-letter consumer (fails the task token).
 */
setStdoutLogging(process.env.TEST_LOGS === '1');

// ---------------------------------------------------------------------------------------------
// A runtime whose AWS calls are answered in memory, recording every command sent.

type Sent = { client: string; command: string; input: Record<string, any> };

function fakeRuntime(answer: (client: string, command: string, input: Record<string, any>) => unknown = () => ({})) {
  const sent: Sent[] = [];
  const credentials = { accessKeyId: 'AKIDTEST', secretAccessKey: 'secret' };
  const stub = <T extends { send: unknown }>(client: T, name: string): T => {
    (client as { send: unknown }).send = async (command: { constructor: { name: string }; input: Record<string, any> }) => {
      sent.push({ client: name, command: command.constructor.name, input: command.input });
      const out = answer(name, command.constructor.name, command.input);
      if (out instanceof Error) throw out;
      return out;
    };
    return client;
  };
  const rt: Runtime = {
    settings: { ...readSettings({}), tableName: 'table', bucketName: 'bucket', exportQueueUrl: 'https://sqs/q.fifo' },
    clock: { now: () => Date.now() },
    ddb: stub(DynamoDBDocumentClient.from(new DynamoDBClient({ region: 'us-east-1', credentials })), 'ddb'),
    s3: stub(new S3Client({ region: 'us-east-1', credentials }), 's3'),
    sqs: stub(new SQSClient({ region: 'us-east-1', credentials }), 'sqs'),
    sfn: stub(new SFNClient({ region: 'us-east-1', credentials }), 'sfn'),
  };
  return { rt, sent };
}

const DRAFT: Draft = {
  version: 1,
  task_id: 'task-1',
  canvas: { width: 1080, height: 1920, fps: 25 },
  duration_us: 1_500_000,
  language: 'en',
  materials: [
    { id: 'narration', type: 'audio', key: 'tasks/task-1/narration.wav', content_type: 'audio/wav', duration_us: 1_500_000 },
    { id: 'background', type: 'generated_background', colors: ['#1e3a8a', '#0f172a'] },
  ],
  tracks: [
    { type: 'audio', name: 'narration', segments: [{ id: 'n', material_id: 'narration', target: { start_us: 0, duration_us: 1_500_000 } }] },
    { type: 'video', name: 'visual', segments: [{ id: 'b', material_id: 'background', target: { start_us: 0, duration_us: 1_500_000 } }] },
    { type: 'text', name: 'subtitles', segments: [{ id: 't', text: 'Hello there.', target: { start_us: 0, duration_us: 1_500_000 } }] },
  ],
};

const MESSAGE = { task_id: 'task-1', creator_id: 'c', video_id: 'v', draft_key: 'tasks/task-1/draft.json', task_token: 'token-1' };

/** Answers for a RUNNING task whose draft exists and whose video is not stored yet. */
function runningTask(_client: string, command: string): unknown {
  if (command === 'GetCommand') return { Item: { pk: 'TASK#task-1', task_id: 'task-1', status: 'RUNNING', creator_id: 'c', video_id: 'v', lock_fence: 7 } };
  if (command === 'HeadObjectCommand') return Object.assign(new Error('NotFound'), { name: 'NotFound', $metadata: { httpStatusCode: 404 } });
  if (command === 'GetObjectCommand') return { Body: { transformToByteArray: async () => new TextEncoder().encode(JSON.stringify(DRAFT)) } };
  return {};
}

/** An exporter that finishes at once, or never (until the signal aborts). */
function fakeExporter(mode: 'instant' | 'never') {
  const calls: string[] = [];
  const exporter: Exporter = {
    async submit(taskId) {
      calls.push(`submit ${taskId}`);
    },
    async status(taskId, _waitSeconds, signal): Promise<ExportJobStatus> {
      if (mode === 'instant') return { task_id: taskId, state: 'succeeded' };
      await new Promise<void>((resolve) => (signal?.aborted ? resolve() : signal?.addEventListener('abort', () => resolve(), { once: true })));
      return { task_id: taskId, state: 'running' };
    },
    async video() {
      return { body: Readable.from([Buffer.from([1, 2, 3])]), contentLength: 3 };
    },
    async cancel(taskId) {
      calls.push(`cancel ${taskId}`);
    },
  };
  return { exporter, calls };
}

const record = (body: unknown, receiveCount = '1') => ({
  messageId: 'm-1',
  body: JSON.stringify(body),
  receiptHandle: 'rh-1',
  attributes: { ApproximateReceiveCount: receiveCount },
});

describe('the Lambda export worker', () => {
  const deps = (rt: Runtime, exporter: Exporter) => ({
    rt,
    exporter,
    queueUrl: 'https://sqs/q.fifo',
    visibilitySeconds: 300,
    pollSeconds: 1,
    deadlineMarginMs: 0,
    retryDelaySeconds: 10,
    cancelAbandonedJobs: true,
  });

  it('renders the one message of its batch, stores the video, reports success and deletes the message', async () => {
    const { rt, sent } = fakeRuntime(runningTask);
    const { exporter } = fakeExporter('instant');
    const handler = createExportWorkerHandler(deps(rt, exporter));

    const result = await handler({ Records: [record(MESSAGE)] }, { getRemainingTimeInMillis: () => 900_000 });

    expect(result.outcomes).toEqual(['succeeded']);
    expect(sent.find((s) => s.command === 'PutObjectCommand')?.input).toMatchObject({
      Key: 'tasks/task-1/attempts/7/final_video.mp4',
      ContentType: 'video/mp4',
    });
    // The upload becomes the result only through the commit, conditional on the task's lock token.
    const commit = sent.find((s) => s.command === 'UpdateCommand' && String(s.input.UpdateExpression).includes('final_video_key'));
    expect(commit?.input).toMatchObject({ ExpressionAttributeValues: { ':k': 'tasks/task-1/attempts/7/final_video.mp4', ':fence': 7 } });
    expect(commit?.input.ConditionExpression).toContain('lock_fence = :fence');
    expect(sent.find((s) => s.command === 'SendTaskSuccessCommand')?.input).toMatchObject({ taskToken: 'token-1' });
    expect(sent.find((s) => s.command === 'DeleteMessageCommand')?.input).toMatchObject({ ReceiptHandle: 'rh-1' });
  });

  it('gives the message back soon (and cancels its render) when the invocation runs out of time', async () => {
    const { rt, sent } = fakeRuntime(runningTask);
    const { exporter, calls } = fakeExporter('never');
    const handler = createExportWorkerHandler(deps(rt, exporter));

    const run = handler({ Records: [record(MESSAGE)] }, { getRemainingTimeInMillis: () => 300 });

    await expect(run).rejects.toThrow(ExportMessageReturnedError);
    expect(calls).toEqual(['submit task-1', 'cancel task-1']);
    expect(sent.filter((s) => s.command === 'ChangeMessageVisibilityCommand').at(-1)?.input).toMatchObject({ ReceiptHandle: 'rh-1', VisibilityTimeout: 10 });
    expect(sent.some((s) => s.command === 'DeleteMessageCommand' || /^SendTask(Success|Failure)Command$/.test(s.command))).toBe(false);
  });

  it('requeues a message still waiting on a remote exporter when time runs out: a fresh copy, the original deleted, nothing reported', async () => {
    const { rt, sent } = fakeRuntime(runningTask);
    const { exporter, calls } = fakeExporter('never');
    const handler = createExportWorkerHandler({ ...deps(rt, exporter), cancelAbandonedJobs: false });

    const result = await handler({ Records: [record(MESSAGE)] }, { getRemainingTimeInMillis: () => 300 });

    expect(result.outcomes).toEqual(['requeued']);
    expect(calls).toEqual(['submit task-1']);
    const sendAt = sent.findIndex((s) => s.command === 'SendMessageCommand');
    expect(sent[sendAt].input).toMatchObject({ QueueUrl: 'https://sqs/q.fifo', MessageBody: JSON.stringify(MESSAGE), MessageGroupId: 'exports' });
    expect(sent[sendAt].input.MessageDeduplicationId).toMatch(/^[0-9a-f]{64}$/);
    expect(sent.findIndex((s) => s.command === 'DeleteMessageCommand' && s.input.ReceiptHandle === 'rh-1')).toBeGreaterThan(sendAt);
    expect(
      sent.some(
        (s) => /^SendTask(Success|Failure)Command$/.test(s.command) || (s.command === 'ChangeMessageVisibilityCommand' && s.input.VisibilityTimeout === 10),
      ),
    ).toBe(false);
  });

  it('fails the invocation without touching the message when its lease is lost, so the event source does not delete it', async () => {
    vi.useFakeTimers();
    try {
      const throttled = Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException' });
      const { rt, sent } = fakeRuntime((client, command) => (command === 'ChangeMessageVisibilityCommand' ? throttled : runningTask(client, command)));
      const { exporter, calls } = fakeExporter('never');
      const handler = createExportWorkerHandler({ ...deps(rt, exporter), visibilitySeconds: 3 });

      const run = handler({ Records: [record(MESSAGE)] }, { getRemainingTimeInMillis: () => 900_000 });
      const settled = run.then(
        () => 'returned',
        (error: unknown) => error,
      );
      await vi.advanceTimersByTimeAsync(3000);

      expect(calls).toEqual(['submit task-1', 'cancel task-1']);
      expect(await settled).toBeInstanceOf(ExportMessageReturnedError);
      expect(sent.filter((s) => s.command === 'ChangeMessageVisibilityCommand').every((s) => s.input.VisibilityTimeout === 3)).toBe(true);
      expect(sent.some((s) => s.command === 'DeleteMessageCommand' || /^SendTask(Success|Failure)Command$/.test(s.command))).toBe(false);
    } finally {
      vi.useRealTimers();
    }
  });

  it('gives the message back soon when the worker fails, instead of leaving it invisible for the queue timeout', async () => {
    const { rt, sent } = fakeRuntime((_client, command) =>
      command === 'GetCommand' ? Object.assign(new Error('throttled'), { name: 'ProvisionedThroughputExceededException' }) : {},
    );
    const handler = createExportWorkerHandler(deps(rt, fakeExporter('instant').exporter));

    await expect(handler({ Records: [record(MESSAGE)] }, { getRemainingTimeInMillis: () => 900_000 })).rejects.toThrow(ExportMessageReturnedError);
    expect(sent.at(-1)).toMatchObject({ command: 'ChangeMessageVisibilityCommand', input: { VisibilityTimeout: 10 } });
  });
});

describe('the export dead-letter consumer', () => {
  it('fails the task token with ExportDeadLetteredError and a cause naming the receive count', async () => {
    const { rt, sent } = fakeRuntime();
    const result = await createExportDeadLetterHandler(rt)({ Records: [record(MESSAGE, '6')] });
    expect(result.outcomes).toEqual(['failed']);
    const failure = sent.find((s) => s.command === 'SendTaskFailureCommand')!.input;
    expect(failure).toMatchObject({ taskToken: 'token-1', error: 'ExportDeadLetteredError' });
    expect(failure.cause).toContain('6');
  });

  it('accepts a token that already timed out or is unknown, so the message leaves the queue', async () => {
    for (const name of ['TaskTimedOut', 'InvalidToken']) {
      const { rt } = fakeRuntime(() => Object.assign(new Error(name), { name }));
      await expect(createExportDeadLetterHandler(rt)({ Records: [record(MESSAGE, '6')] })).resolves.toEqual({ outcomes: ['stale'] });
    }
  });

  it('tries a throttled or unreachable Step Functions again with backoff, then fails the task', async () => {
    // prepare: two passing faults, then an answer
    const faults = [
      Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException', $metadata: { httpStatusCode: 400 } }),
      Object.assign(new Error('connect ECONNRESET'), { name: 'Error' }),
    ];
    const { rt, sent } = fakeRuntime(() => faults.shift() ?? {});
    const waits: number[] = [];

    // act
    const result = await createExportDeadLetterHandler(rt, { sleep: async (ms) => void waits.push(ms) })({ Records: [record(MESSAGE, '6')] });

    // assess
    expect(result.outcomes).toEqual(['failed']);
    expect(sent.filter((s) => s.command === 'SendTaskFailureCommand')).toHaveLength(3);
    expect(waits).toEqual([1000, 2000]);
  });

  it(`gives up after ${DEAD_LETTER_ATTEMPTS} tries of a fault that persists, without failing the invocation (the FIFO queue moves on)`, async () => {
    // prepare
    const { rt, sent } = fakeRuntime(() => Object.assign(new Error('service unavailable'), { name: 'ServiceUnavailable', $metadata: { httpStatusCode: 503 } }));
    const waits: number[] = [];

    // act
    const result = await createExportDeadLetterHandler(rt, { sleep: async (ms) => void waits.push(ms) })({ Records: [record(MESSAGE, '6')] });

    // assess
    expect(result.outcomes).toEqual(['unresolved']);
    expect(sent.filter((s) => s.command === 'SendTaskFailureCommand')).toHaveLength(DEAD_LETTER_ATTEMPTS);
    expect(waits).toEqual([1000, 2000, 4000, 8000]);
  });

  it('gives up at once on a fault that will not pass (access denied)', async () => {
    const { rt, sent } = fakeRuntime(() => Object.assign(new Error('not authorized'), { name: 'AccessDeniedException', $metadata: { httpStatusCode: 400 } }));
    const waits: number[] = [];
    const result = await createExportDeadLetterHandler(rt, { sleep: async (ms) => void waits.push(ms) })({ Records: [record(MESSAGE, '6')] });
    expect(result.outcomes).toEqual(['unresolved']);
    expect(sent.filter((s) => s.command === 'SendTaskFailureCommand')).toHaveLength(1);
    expect(waits).toEqual([]);
  });
});

// ---------------------------------------------------------------------------------------------
// The builtin exporter, rendering for real with the static ffmpeg.

describe('the builtin exporter', () => {
  let server: Server;
  let base: string;
  let workRoot: string;
  const wav = (() => {
    const rate = 22_050;
    const samples = new Float32Array(Math.round(1.5 * rate));
    for (let i = 0; i < samples.length; i++) samples[i] = 0.3 * Math.sin((2 * Math.PI * 440 * i) / rate);
    return encodeWav(samples, rate);
  })();

  beforeAll(async () => {
    workRoot = await mkdtemp(path.join(os.tmpdir(), 'reel-builtin-'));
    server = createServer((req, res) => {
      if (req.url?.startsWith('/narration.wav')) {
        res.writeHead(200, { 'content-type': 'audio/wav' }).end(wav);
      } else if (req.url?.startsWith('/slow.wav')) {
        setTimeout(() => res.writeHead(200, { 'content-type': 'audio/wav' }).end(wav), 3000);
      } else {
        res.writeHead(403).end('<Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>');
      }
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await rm(workRoot, { recursive: true, force: true });
  });

  const job = (narrationUrl: string): ExportJob => ({ draft: DRAFT, media: { narration: narrationUrl } });

  it('downloads the media, renders the mp4 in-process and hands it over, keeping nothing but the video', async () => {
    const exporter = new BuiltinExporter({ workRoot });

    await exporter.submit('task-1', job(`${base}/narration.wav?X-Amz-Signature=secret`));
    let status = await exporter.status('task-1', 60);
    while (status.state === 'running') status = await exporter.status('task-1', 60);

    expect(status).toMatchObject({ task_id: 'task-1', state: 'succeeded' });
    const handed = await exporter.video('task-1');
    const video = await buffer(handed.body);
    expect(handed.contentLength).toBe(video.length);
    expect(video.subarray(4, 8).toString('ascii')).toBe('ftyp');
    expect(await readdir(path.join(workRoot, 'task-1'))).toEqual(['video.mp4']);
    // a new attempt of the same task (its first store failed) gets the same video without a second render
    await exporter.submit('task-1', job(`${base}/narration.wav`));
    expect((await exporter.status('task-1', 0)).state).toBe('succeeded');
    expect(await buffer((await exporter.video('task-1')).body)).toEqual(video);
    // the next job clears the folder of the last one
    await exporter.submit('task-4', { draft: DRAFT, media: {} });
    await exporter.status('task-4', 30);
    expect(await readdir(workRoot)).toEqual([]);
  }, 60_000);

  it('renders one job at a time: another task is told it is busy; the same task is the same job', async () => {
    const exporter = new BuiltinExporter({ workRoot });
    await exporter.submit('task-a', job(`${base}/slow.wav`));

    await expect(exporter.submit('task-b', job(`${base}/narration.wav`))).rejects.toBeInstanceOf(ExporterBusyError);
    await expect(exporter.submit('task-a', job(`${base}/slow.wav`))).resolves.toBeUndefined();
    await exporter.cancel('task-a');
    expect((await exporter.status('task-a', 0)).state).toBe('cancelled');
  }, 30_000);

  it('reports an expired media URL as a failure a new attempt may fix, without the URL signature', async () => {
    const exporter = new BuiltinExporter({ workRoot });
    await exporter.submit('task-2', job(`${base}/expired.wav?X-Amz-Signature=secret`));
    const status = await exporter.status('task-2', 30);
    expect(status).toMatchObject({ state: 'failed', retryable: true });
    expect(status.error).toContain('HTTP 403');
    expect(status.error).not.toContain('secret');
  });

  it('reports a draft without a media URL as a failure the same draft cannot fix', async () => {
    const exporter = new BuiltinExporter({ workRoot });
    await exporter.submit('task-3', { draft: DRAFT, media: {} });
    expect(await exporter.status('task-3', 30)).toMatchObject({ state: 'failed', retryable: false });
  });

  it('answers a job it does not have as lost, like a 404 of the HTTP service (a fresh instance after a restart: submit again)', async () => {
    const exporter = new BuiltinExporter({ workRoot });
    await expect(exporter.status('unknown-task', 0)).rejects.toBeInstanceOf(ExportJobLostError);
  });
});
