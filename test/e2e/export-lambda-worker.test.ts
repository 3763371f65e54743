import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetQueueAttributesCommand, SetQueueAttributesCommand } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startExportService } from '../../infra/embedded/export-service.js';
import { createExportWorkerHandler, type ExportWorkerLambdaDeps } from '../../lambdas/export/handler.js';
import type { Exporter } from '../../shared/export/exporter.js';
import { HttpExporter } from '../../shared/export/http-exporter.js';
import { createRuntime, type Runtime } from '../../shared/runtime.js';
import { recordReliability } from '../support/reliability.js';
import { runSqsEventSource, type Invocation } from '../support/sqs-event-source.js';
import { startTestStack, type TestStack } from '../support/stack.js';

/**
 * The Lambda export worker (the `lambda` worker mode) on the embedded stack's FIFO queue, driven
 * the way Lambda's event source drives it, with short settings: 3 s invocations, a 2 s lease,
 * maxReceiveCount 2, and a queue visibility of 30 s standing in for the deployed 930 s.
 */
const LEASE_SECONDS = 2;
const QUEUE_VISIBILITY_SECONDS = 30;
const MAX_RECEIVE_COUNT = 2;

let stack: TestStack;
/** the exporter's bearer secret, shared by the test's export service and its workers */
const EXPORT_TOKEN = 'test-export-secret';
let exporterPort: number;
let exporterDir: string;
let exportService: Awaited<ReturnType<typeof startExportService>> | undefined;
const invocations: Array<Invocation & { task_id: string }> = [];
const waiters: Array<() => void> = [];
const abort = new AbortController();
let eventSource: Promise<void>;
/** the next invocation for this video id runs in a worker that dies at its first read of the task record */
let killNextOf: string | undefined;
let killedAt = 0;

const taskIdOf = (body: string) => (JSON.parse(body) as { task_id: string }).task_id;
const videoIdOf = (body: string) => (JSON.parse(body) as { video_id: string }).video_id;

/** A runtime whose every call fails once `dead` is set, as if its process had been killed. */
function killableRuntime(env: Record<string, string>, dieOn: string) {
  const rt = createRuntime(env);
  let dead = false;
  for (const client of [rt.ddb, rt.s3, rt.sqs, rt.sfn] as Array<{ send: (...args: unknown[]) => Promise<unknown> }>) {
    const send = client.send.bind(client);
    client.send = async (...args: unknown[]) => {
      if (!dead && (args[0] as { constructor: { name: string } }).constructor.name === dieOn) {
        dead = true;
        killedAt = Date.now();
      }
      if (dead) throw new Error('the worker process was killed (injected)');
      return send(...args);
    };
  }
  return rt;
}

function workerDeps(rt: Runtime): ExportWorkerLambdaDeps {
  const inner = new HttpExporter(`http://127.0.0.1:${exporterPort}`, EXPORT_TOKEN);
  // A poison message: the worker crashes on it every time (its draft folder names the video).
  const exporter: Exporter = {
    submit: async (id, job, signal) => {
      if (job.editor_draft?.folder.includes('_poison_')) throw new Error('the exporter client crashed on this job (injected)');
      return inner.submit(id, job, signal);
    },
    status: (id, wait, signal) => inner.status(id, wait, signal),
    video: (id, signal) => inner.video(id, signal),
    cancel: (id) => inner.cancel(id),
  };
  return {
    rt,
    exporter,
    queueUrl: stack.exportQueueUrl,
    visibilitySeconds: LEASE_SECONDS,
    pollSeconds: 1,
    maxBackoffMs: 500,
    deadlineMarginMs: 500,
    retryDelaySeconds: 1,
    cancelAbandonedJobs: false,
  };
}

/** Resolves when `done()` holds, re-checked after every invocation. */
const until = (done: () => boolean) =>
  new Promise<void>((resolve) => {
    const check = () => (done() ? resolve() : waiters.push(check));
    check();
  });

beforeAll(async () => {
  exporterDir = mkdtempSync(join(tmpdir(), 'reel-exporter-'));
  const probe = await startExportService({ port: 0, workDir: exporterDir, authToken: EXPORT_TOKEN });
  exporterPort = probe.port;
  await probe.close(); // the exporter is down at first
  stack = await startTestStack({
    exportWorker: false,
    exportVideoUrl: `http://127.0.0.1:${exporterPort}`,
    exportVisibilitySeconds: LEASE_SECONDS,
    exportMaxReceiveCount: MAX_RECEIVE_COUNT,
    extraEnv: { EXPORT_AUTH_TOKEN: EXPORT_TOKEN },
  });
  await stack.runtime.sqs.send(
    new SetQueueAttributesCommand({ QueueUrl: stack.exportQueueUrl, Attributes: { VisibilityTimeout: String(QUEUE_VISIBILITY_SECONDS) } }),
  );
  const healthy = createExportWorkerHandler(workerDeps(createRuntime(stack.env)));
  eventSource = runSqsEventSource({
    sqs: createRuntime(stack.env).sqs,
    queueUrl: stack.exportQueueUrl,
    functionTimeoutSeconds: 3,
    signal: abort.signal,
    invoke: (event, context) => {
      const body = event.Records[0].body;
      if (killNextOf && videoIdOf(body) === killNextOf) {
        killNextOf = undefined;
        // A fresh instance that dies right after receiving: before the first renewal.
        return createExportWorkerHandler(workerDeps(killableRuntime(stack.env, 'GetCommand')))(event, context);
      }
      return healthy(event, context);
    },
    onInvocation: (invocation) => {
      invocations.push({ ...invocation, task_id: taskIdOf(invocation.record.body) });
      for (const check of waiters.splice(0)) check();
    },
  });
});
afterAll(async () => {
  abort.abort();
  await eventSource?.catch(() => undefined);
  await exportService?.close();
  await stack?.close();
});

const dlqDepth = async () => {
  const out = await stack.runtime.sqs.send(
    new GetQueueAttributesCommand({ QueueUrl: stack.exportDlqUrl, AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'] }),
  );
  return Number(out.Attributes?.ApproximateNumberOfMessages ?? 0) + Number(out.Attributes?.ApproximateNumberOfMessagesNotVisible ?? 0);
};

describe('the Lambda export worker', () => {
  it('waits out an exporter outage longer than maxReceiveCount invocations: the task SUCCEEDS and nothing is dead-lettered', async () => {
    const sub = await stack.post({ creator_id: 'lambda', video_id: 'outage', source_text: 'The exporter is down for a while.' });
    const taskId = sub.body.task_id as string;
    const mine = () => invocations.filter((i) => i.task_id === taskId);
    let settled = false;
    void stack.settled(taskId).then(() => ((settled = true), waiters.splice(0).forEach((check) => check())));

    await until(() => settled || mine().length > MAX_RECEIVE_COUNT);
    const waiting = await stack.getTask(taskId);
    expect(waiting.status, JSON.stringify(waiting.error)).toBe('RUNNING');
    expect(mine().map((i) => i.result)).toEqual(mine().map(() => ({ outcomes: ['requeued'] })));
    expect(mine().map((i) => i.record.attributes?.ApproximateReceiveCount)).toEqual(mine().map(() => '1'));

    const waitedInvocations = mine().length;
    exportService = await startExportService({ port: exporterPort, workDir: exporterDir, authToken: EXPORT_TOKEN }); // back on the same address
    const task = await stack.finished(taskId);

    expect(task.status, JSON.stringify(task.error)).toBe('SUCCEEDED');
    expect(task.artifacts.map((a) => a.name)).toContain('final_video.mp4');
    expect(await dlqDepth()).toBe(0);
    expect(exportService.stats().jobs.filter((j) => j.task_id === taskId)).toHaveLength(1);
    recordReliability({
      fault: `exporter down for ${waitedInvocations} Lambda invocations (maxReceiveCount ${MAX_RECEIVE_COUNT}), lambda worker + http exporter`,
      runs: 1,
      outcome: `task ${task.status}; ${mine().filter((i) => (i.result as { outcomes?: string[] })?.outcomes?.[0] === 'requeued').length} invocations requeued the message; DLQ depth ${await dlqDepth()}`,
      data_lost: task.artifacts.some((a) => a.name === 'final_video.mp4') ? 0 : 1,
      duplicates: exportService.stats().jobs.filter((j) => j.task_id === taskId).length - 1,
      locks_leaked: (await stack.itemKeys()).filter((k) => k === 'LOCK#lambda#outage').length,
    });
  }, 120_000);

  it('frees the message within one lease when the worker dies right after receiving it, and renders once', async () => {
    exportService ??= await startExportService({ port: exporterPort, workDir: exporterDir, authToken: EXPORT_TOKEN });
    killNextOf = 'killed';
    const sub = await stack.post({ creator_id: 'lambda', video_id: 'killed', source_text: 'The worker dies at once.' });
    const taskId = sub.body.task_id as string;

    const task = await stack.finished(taskId);

    expect(task.status, JSON.stringify(task.error)).toBe('SUCCEEDED');
    const mine = invocations.filter((i) => i.task_id === taskId);
    // The dead one, then healthy ones (a render longer than one 3 s invocation is requeued and picked up again).
    expect(mine.map((i) => (i.error ? 'died' : 'ok'))).toEqual(['died', ...mine.slice(1).map(() => 'ok')]);
    // The next export starts a lease after the death, not after the queue's visibility.
    const freedAfterMs = mine[1].receivedAt - killedAt;
    expect(freedAfterMs).toBeLessThan(5 * LEASE_SECONDS * 1000);
    const runs = exportService.stats().jobs.filter((j) => j.task_id === taskId);
    expect(runs).toHaveLength(1);
    expect(exportService.stats().max_concurrent_renders).toBe(1);
    recordReliability({
      fault: 'Lambda export worker killed right after receiving (before its first renewal)',
      runs: 1,
      outcome: `task ${task.status}; message received again ${(freedAfterMs / 1000).toFixed(1)} s after the death (lease ${LEASE_SECONDS} s, queue visibility ${QUEUE_VISIBILITY_SECONDS} s); ${runs.length} render(s)`,
      data_lost: task.artifacts.some((a) => a.name === 'final_video.mp4') ? 0 : 1,
      duplicates: runs.length - 1,
      locks_leaked: (await stack.itemKeys()).filter((k) => k === 'LOCK#lambda#killed').length,
    });
  }, 120_000);

  it('still dead-letters a message the worker crashes on, and fails its task with the reason', async () => {
    const sub = await stack.post({ creator_id: 'lambda', video_id: 'poison', source_text: 'The worker crashes on this one.' });
    const taskId = sub.body.task_id as string;

    const task = await stack.finished(taskId);

    expect(task.status).toBe('FAILED');
    expect(task.error).toMatchObject({ stage: 'export', code: 'export_dead_lettered' });
    const mine = invocations.filter((i) => i.task_id === taskId);
    expect(mine.map((i) => i.record.attributes?.ApproximateReceiveCount)).toEqual(['1', '2']);
    expect(mine.every((i) => i.error)).toBe(true);
  }, 120_000);
});
