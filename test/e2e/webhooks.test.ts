import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { WebhookDeliveryAttempt } from '../../shared/task-record.js';
import type { ResolvedAddress } from '../../shared/webhook/webhook-hosts.js';
import { verifyWebhook } from '../../shared/webhook/webhook-signature.js';
import { startTestStack, type TestStack } from '../support/stack.js';
import { createWebhookHandler } from '../../lambdas/webhook/handler.js';
import { endedTaskEvent } from '../../shared/webhook/webhook-event.js';
import { getTask } from '../../shared/task-record.js';

const SECRET = 'receiver-test-secret-4f1c';
const SRC = 'A short story for the webhook test. It ends well.';

interface Received {
  path: string;
  host: string | undefined;
  signature: string | undefined;
  raw: string;
}

/** A receiver on loopback: records every POST, answers what the test scripted for its path (default 200). */
function startReceiver() {
  const received: Received[] = [];
  const scripted = new Map<string, number[]>();
  const waiters: Array<{ path: string; count: number; resolve: () => void }> = [];
  const held: Array<{ destroy: () => void }> = [];
  const readBody = async (req: IncomingMessage) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks).toString('utf8');
  };
  const server: Server = createServer((req, res) => {
    void readBody(req).then((raw) => {
      const path = req.url ?? '/';
      received.push({ path, host: req.headers.host, signature: req.headers['x-reel-signature'] as string | undefined, raw });
      const status = scripted.get(path)?.shift() ?? 200;
      // 0: never answer (the sender's timeout ends it)
      if (status === 0) held.push(res);
      else if (status === 302) res.writeHead(302, { location: url('/elsewhere') }).end();
      else res.writeHead(status).end();
      for (const w of waiters.filter((x) => x.path === path && received.filter((r) => r.path === path).length >= x.count)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve();
      }
    });
  });
  return {
    received,
    at: (path: string) => received.filter((r) => r.path === path),
    script: (path: string, statuses: number[]) => scripted.set(path, statuses),
    /** resolves once `count` POSTs reached `path` */
    arrivals: (path: string, count: number) =>
      received.filter((r) => r.path === path).length >= count ? Promise.resolve() : new Promise<void>((resolve) => waiters.push({ path, count, resolve })),
    listen: () => new Promise<number>((ok) => server.listen(0, '127.0.0.1', () => ok((server.address() as AddressInfo).port))),
    close: () => {
      for (const res of held) res.destroy();
      return new Promise<void>((ok) => server.close(() => ok()));
    },
  };
}

let receiver: ReturnType<typeof startReceiver>;
let port: number;
let stack: TestStack;
/** What `hooks.test` and `rebind.test` resolve to: the test changes it between submission and delivery. */
const dns = new Map<string, ResolvedAddress[]>();

/** Polls the task record until its webhook attempts satisfy `done` (the wait, not the outcome, is bounded by time). */
async function deliveries(taskId: string, done: (a: WebhookDeliveryAttempt[]) => boolean): Promise<WebhookDeliveryAttempt[]> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const attempts = (await stack.getTask(taskId)).webhook_deliveries ?? [];
    if (done(attempts) || Date.now() > deadline) return attempts;
    await new Promise((r) => setTimeout(r, 50));
  }
}

beforeAll(async () => {
  receiver = startReceiver();
  port = await receiver.listen();
  stack = await startTestStack({
    exportWorker: false,
    extraEnv: {
      WEBHOOK_ALLOWED_HOSTS: '127.0.0.1,hooks.test,rebind.test',
      WEBHOOK_SECRET: SECRET,
      WEBHOOK_RETRY_BASE_SECONDS: '0',
      WEBHOOK_MAX_ATTEMPTS: '4',
      WEBHOOK_TIMEOUT_SECONDS: '2',
      // The webhook of a submission that names none.
      WEBHOOK_URL: `http://127.0.0.1:${port}/default`,
    },
    webhookResolver: (host) => Promise.resolve(dns.get(host) ?? []),
  });
});

afterAll(async () => {
  await stack?.close();
  await receiver?.close();
});

const url = (path: string, host = '127.0.0.1') => `http://${host}:${port}${path}`;

describe('completion webhooks', () => {
  it('POSTs one signed delivery for SUCCEEDED with the artifact links, which verifies and fails verification when tampered', async () => {
    // act
    const res = await stack.post({ creator_id: 'hook', video_id: 'ok', export_video: false, source_text: SRC, webhook_url: url('/ok') });
    const taskId = res.body.task_id as string;
    const task = await stack.finished(taskId);
    await receiver.arrivals('/ok', 1);
    const attempts = await deliveries(taskId, (a) => a.length >= 1);

    // assess
    expect(task.status).toBe('SUCCEEDED');
    const [delivery] = receiver.at('/ok');
    const check = verifyWebhook(SECRET, delivery.raw, delivery.signature);
    expect(check.ok).toBe(true);
    const event = JSON.parse(delivery.raw) as Record<string, unknown> & { artifacts: Array<{ name: string; url: string }> };
    expect(event).toMatchObject({
      type: 'task.ended',
      task_id: taskId,
      status: 'SUCCEEDED',
      error: null,
      redrives: 0,
      attempt: 1,
      delivery_id: `${taskId}:SUCCEEDED:0`,
    });
    expect(Math.abs(Date.parse(event.sent_at as string) - Date.now())).toBeLessThan(60_000);
    expect(event.artifacts.map((a) => a.name)).toContain('subtitles.srt');
    expect(event.artifacts.find((a) => a.name === 'subtitles.srt')?.url).toBe(`/api/pipeline/tasks/${taskId}/artifacts/subtitles.srt`);
    expect(verifyWebhook(SECRET, delivery.raw.replace('SUCCEEDED', 'FAILED'), delivery.signature)).toEqual({ ok: false, reason: 'bad_signature' });
    expect(attempts).toEqual([expect.objectContaining({ status: 'SUCCEEDED', redrives: 0, attempt: 1, outcome: 'delivered', http_status: 200 })]);
    expect(receiver.at('/ok')).toHaveLength(1);
  });

  it('POSTs one delivery for FAILED (a timeout, with its code) and one for CANCELLED', async () => {
    // prepare: Draft times out, as Step Functions reports a state over its TimeoutSeconds
    stack.controls.armFault('Draft', { error: 'States.Timeout', message: 'the draft took too long', times: 3 });
    stack.controls.closeGate('Story');
    const storyBefore = stack.controls.arrivalsAt('Story');

    // act
    const failed = await stack.post({ creator_id: 'hook', video_id: 'fails', export_video: false, source_text: SRC, webhook_url: url('/failed') });
    const cancelled = await stack.post({ creator_id: 'hook', video_id: 'cancels', export_video: false, source_text: SRC, webhook_url: url('/cancelled') });
    await stack.controls.waitForArrivals('Story', storyBefore + 2);
    const cancel = await fetch(`${stack.apiUrl}/api/pipeline/tasks/${cancelled.body.task_id as string}/cancel`, { method: 'POST' });
    stack.controls.openGate('Story');
    const failedTask = await stack.finished(failed.body.task_id as string);
    await stack.finished(cancelled.body.task_id as string);
    await Promise.all([receiver.arrivals('/failed', 1), receiver.arrivals('/cancelled', 1)]);

    // assess
    expect(cancel.status).toBe(200);
    expect(failedTask.status).toBe('FAILED');
    const failedEvent = JSON.parse(receiver.at('/failed')[0].raw) as Record<string, unknown>;
    expect(failedTask.error?.code).toBe('stage_timed_out');
    expect(failedEvent).toMatchObject({ status: 'FAILED', error: { stage: 'draft', code: 'stage_timed_out' }, artifacts: [] });
    expect((failedEvent.error as { message: string }).message).toBe(failedTask.error?.message);
    const cancelledEvent = JSON.parse(receiver.at('/cancelled')[0].raw) as Record<string, unknown>;
    expect(cancelledEvent).toMatchObject({ status: 'CANCELLED', task_id: cancelled.body.task_id, error: { code: 'cancelled' } });
    expect(verifyWebhook(SECRET, receiver.at('/cancelled')[0].raw, receiver.at('/cancelled')[0].signature).ok).toBe(true);
    stack.controls.clearFaults();
    await deliveries(failed.body.task_id as string, (a) => a.length >= 1);
    await deliveries(cancelled.body.task_id as string, (a) => a.length >= 1);
    expect(receiver.at('/failed')).toHaveLength(1);
    expect(receiver.at('/cancelled')).toHaveLength(1);
  });

  it('gets a receiver that answers 500 twice its third attempt, each attempt recorded on the task', async () => {
    // prepare
    receiver.script('/flaky', [500, 500]);

    // act
    const res = await stack.post({ creator_id: 'hook', video_id: 'flaky', export_video: false, source_text: SRC, webhook_url: url('/flaky') });
    const taskId = res.body.task_id as string;
    await stack.finished(taskId);
    await receiver.arrivals('/flaky', 3);
    const attempts = await deliveries(taskId, (a) => a.length >= 3);

    // assess
    const posts = receiver.at('/flaky').map((r) => JSON.parse(r.raw) as { attempt: number; delivery_id: string });
    expect(posts.map((p) => p.attempt)).toEqual([1, 2, 3]);
    expect(new Set(posts.map((p) => p.delivery_id))).toEqual(new Set([`${taskId}:SUCCEEDED:0`]));
    for (const r of receiver.at('/flaky')) expect(verifyWebhook(SECRET, r.raw, r.signature).ok).toBe(true);
    expect(attempts.map((a) => [a.attempt, a.outcome, a.http_status])).toEqual([
      [1, 'retrying', 500],
      [2, 'retrying', 500],
      [3, 'delivered', 200],
    ]);
  });

  it('gives up after WEBHOOK_MAX_ATTEMPTS failed POSTs, recorded as gave_up', async () => {
    // prepare
    receiver.script('/down', [503, 503, 503, 503, 503]);

    // act
    const res = await stack.post({ creator_id: 'hook', video_id: 'down', export_video: false, source_text: SRC, webhook_url: url('/down') });
    await stack.finished(res.body.task_id as string);
    const attempts = await deliveries(res.body.task_id as string, (a) => a.some((x) => x.outcome === 'gave_up'));

    // assess
    expect(attempts.map((a) => [a.attempt, a.outcome, a.http_status])).toEqual([
      [1, 'retrying', 503],
      [2, 'retrying', 503],
      [3, 'retrying', 503],
      [4, 'gave_up', 503],
    ]);
    expect(receiver.at('/down')).toHaveLength(4);
  });

  it('retries a receiver that does not answer in time, and gives up at once on a redirect, which it does not follow', async () => {
    // prepare
    receiver.script('/hang', [0]);
    receiver.script('/moved', [302]);

    // act
    const hang = await stack.post({ creator_id: 'hook', video_id: 'hang', export_video: false, source_text: SRC, webhook_url: url('/hang') });
    const moved = await stack.post({ creator_id: 'hook', video_id: 'moved', export_video: false, source_text: SRC, webhook_url: url('/moved') });
    await Promise.all([stack.finished(hang.body.task_id as string), stack.finished(moved.body.task_id as string)]);
    const hangAttempts = await deliveries(hang.body.task_id as string, (a) => a.length >= 2);
    const movedAttempts = await deliveries(moved.body.task_id as string, (a) => a.length >= 1);

    // assess
    expect(hangAttempts.map((a) => [a.attempt, a.outcome])).toEqual([
      [1, 'retrying'],
      [2, 'delivered'],
    ]);
    expect(hangAttempts[0].error).toMatch(/no complete answer within 2000 ms/);
    expect(movedAttempts).toEqual([expect.objectContaining({ attempt: 1, outcome: 'rejected', http_status: 302, error: 'redirect not followed' })]);
    expect(receiver.at('/elsewhere')).toHaveLength(0);
    expect(receiver.at('/moved')).toHaveLength(1);
  });

  it('delivers again when a redriven task ends again, under a new delivery id', async () => {
    // prepare: the first run fails at Draft
    stack.controls.armFault('Draft', { error: 'DraftInputError', message: 'the draft could not be built', times: 1 });
    const res = await stack.post({ creator_id: 'hook', video_id: 'redrive', export_video: false, source_text: SRC, webhook_url: url('/redrive') });
    const taskId = res.body.task_id as string;
    await stack.finished(taskId);
    await receiver.arrivals('/redrive', 1);

    // act
    const retry = await fetch(`${stack.apiUrl}/api/pipeline/tasks/${taskId}/retry`, { method: 'POST' });
    await receiver.arrivals('/redrive', 2);

    // assess
    expect(retry.status).toBe(202);
    const events = receiver.at('/redrive').map((r) => JSON.parse(r.raw) as { status: string; redrives: number; delivery_id: string });
    expect(events.map((e) => [e.status, e.redrives, e.delivery_id])).toEqual([
      ['FAILED', 0, `${taskId}:FAILED:0`],
      ['SUCCEEDED', 1, `${taskId}:SUCCEEDED:1`],
    ]);
  });

  it('refuses a host that is not allowed at submission with 400, writing nothing', async () => {
    // prepare
    const objectsBefore = await stack.objectKeys();
    const itemsBefore = await stack.itemKeys();

    // act
    const unlisted = await stack.post({ creator_id: 'hook', video_id: 'denied', source_text: SRC, webhook_url: 'https://evil.example.com/hook' });
    const metadata = await stack.post({ creator_id: 'hook', video_id: 'denied', source_text: SRC, webhook_url: 'http://169.254.169.254/latest/meta-data' });
    dns.set('hooks.test', [{ address: '10.1.2.3', family: 4 }]);
    const privateDns = await stack.post({ creator_id: 'hook', video_id: 'denied', source_text: SRC, webhook_url: url('/never', 'hooks.test') });

    // assess
    expect([unlisted.status, metadata.status, privateDns.status]).toEqual([400, 400, 400]);
    expect(unlisted.body).toMatchObject({ error: 'webhook_host_not_allowed', details: [{ field: 'webhook_url' }] });
    expect(unlisted.body.message).toMatch(/not in WEBHOOK_ALLOWED_HOSTS/);
    expect(metadata.body.error).toBe('webhook_host_not_allowed');
    expect(privateDns.body.error).toBe('webhook_address_not_allowed');
    expect(await stack.objectKeys()).toEqual(objectsBefore);
    expect(await stack.itemKeys()).toEqual(itemsBefore);
  });

  it('connects to the address it checked, with the name as Host, and refuses a name rebound to a private address by delivery', async () => {
    // prepare: both names pass at submission (loopback is listed); one moves to a private address before delivery
    dns.set('hooks.test', [{ address: '127.0.0.1', family: 4 }]);
    dns.set('rebind.test', [{ address: '127.0.0.1', family: 4 }]);
    stack.controls.closeGate('Finalize');
    const before = stack.controls.arrivalsAt('Finalize');
    const pinned = await stack.post({
      creator_id: 'hook',
      video_id: 'pinned',
      export_video: false,
      source_text: SRC,
      webhook_url: url('/pinned', 'hooks.test'),
    });
    const rebound = await stack.post({
      creator_id: 'hook',
      video_id: 'rebound',
      export_video: false,
      source_text: SRC,
      webhook_url: url('/rebound', 'rebind.test'),
    });
    expect([pinned.status, rebound.status]).toEqual([202, 202]);
    await stack.controls.waitForArrivals('Finalize', before + 2);

    // act
    dns.set('rebind.test', [{ address: '10.9.9.9', family: 4 }]);
    stack.controls.openGate('Finalize');
    await stack.finished(pinned.body.task_id as string);
    await stack.finished(rebound.body.task_id as string);
    await receiver.arrivals('/pinned', 1);
    const refused = await deliveries(rebound.body.task_id as string, (a) => a.length >= 1);

    // assess
    expect(receiver.at('/pinned')[0].host).toBe(`hooks.test:${port}`);
    expect(refused).toEqual([
      expect.objectContaining({ attempt: 1, outcome: 'refused', error: expect.stringMatching(/^webhook_address_not_allowed: .*10\.9\.9\.9/) as unknown }),
    ]);
    expect(receiver.at('/rebound')).toHaveLength(0);
  });

  it('sends a submission without webhook_url to WEBHOOK_URL', async () => {
    // act
    const res = await stack.post({ creator_id: 'hook', video_id: 'default', export_video: false, source_text: SRC });
    const taskId = res.body.task_id as string;
    await stack.finished(taskId);
    const attempts = await deliveries(taskId, (a) => a.length >= 1);

    // assess
    expect((await stack.getTask(taskId)).webhook_url).toBe(url('/default'));
    expect(attempts).toEqual([expect.objectContaining({ outcome: 'delivered', http_status: 200 })]);
    expect(receiver.at('/default').map((r) => (JSON.parse(r.raw) as { task_id: string }).task_id)).toContain(taskId);
  });

  it('runs as the webhook Lambda: a batch delivered in parallel, a message it could not record reported as a batch item failure', async () => {
    // prepare: an ended task to report (its own default delivery done), and a message about a task that does not exist
    const res = await stack.post({ creator_id: 'hook', video_id: 'lambda', export_video: false, source_text: SRC });
    const taskId = res.body.task_id as string;
    await stack.finished(taskId);
    await deliveries(taskId, (a) => a.length >= 1);
    const task = (await getTask(stack.runtime, taskId))!;
    const event = endedTaskEvent({ task, status: 'SUCCEEDED', endedAt: new Date().toISOString() });
    const ghost = { ...event, task_id: '00000000-0000-4000-8000-000000000000', delivery_id: 'ghost' };
    const handler = createWebhookHandler(stack.runtime, { secret: { get: () => Promise.resolve(SECRET), forget: () => undefined } });

    // act
    const out = await handler({
      Records: [
        { messageId: 'm1', body: JSON.stringify({ url: url('/lambda'), event, attempt: 1 }) },
        { messageId: 'm2', body: JSON.stringify({ url: url('/lambda'), event: ghost, attempt: 1 }) },
        { messageId: 'm3', body: 'not json' },
      ],
    });

    // assess
    expect(out.batchItemFailures).toEqual([{ itemIdentifier: 'm2' }]);
    expect(out.outcomes).toEqual(['delivered', 'malformed']);
    const delivered = receiver.at('/lambda').map((r) => JSON.parse(r.raw) as { task_id: string });
    expect(delivered.map((d) => d.task_id).sort()).toEqual([ghost.task_id, taskId].sort());
    expect((await stack.getTask(taskId)).webhook_deliveries).toEqual([
      expect.objectContaining({ attempt: 1, outcome: 'delivered' }),
      expect.objectContaining({ attempt: 1, outcome: 'delivered' }),
    ]);
  });
});
