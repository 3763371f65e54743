import { request as httpRequest } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Exporter } from '../../shared/export/exporter.js';
import { startTestStack, type TestStack } from '../support/stack.js';

/**
 * The console's HTTP face on the embedded stack: the page and its policy, the cross-site and
 * Host checks in front of the state-changing routes, and the export queue route it polls.
 */
let stack: TestStack;
/** Export status calls held until the test opens them: the first job stays `running`. */
let openExporter!: () => void;
const exporterOpen = new Promise<void>((ok) => (openExporter = ok));
let exporterReached!: () => void;
const reachedExporter = new Promise<void>((ok) => (exporterReached = ok));

beforeAll(async () => {
  stack = await startTestStack({
    wrapExporter: (inner: Exporter): Exporter => ({
      ...inner,
      submit: (id, job, signal) => inner.submit(id, job, signal),
      status: async (id, wait, signal) => {
        exporterReached();
        await exporterOpen;
        return inner.status(id, wait, signal);
      },
      video: (id, signal) => inner.video(id, signal),
      cancel: (id) => inner.cancel(id),
    }),
  });
});
afterAll(async () => {
  openExporter();
  await stack?.close();
});

/** A raw request, so that Host can be anything (DNS rebinding). */
function raw(method: string, path: string, headers: Record<string, string>, body?: string): Promise<{ status: number; body: string }> {
  const url = new URL(stack.apiUrl);
  return new Promise((ok, fail) => {
    const req = httpRequest({ host: url.hostname, port: url.port, method, path, headers }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (text += d));
      res.on('end', () => ok({ status: res.statusCode ?? 0, body: text }));
    });
    req.on('error', fail);
    req.end(body);
  });
}

const RUN = JSON.stringify({ creator_id: 'csrf', video_id: 'v1', export_video: false, source_text: 'A short line.' });

describe('the console page', () => {
  it('is served at / with a policy that allows no inline script and no other host', async () => {
    const res = await fetch(`${stack.apiUrl}/`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/html/);
    const csp = res.headers.get('content-security-policy') ?? '';
    expect(csp).toMatch(/(^|; )default-src 'self'(;|$)/);
    expect(csp).toMatch(/script-src 'self'(;|$)/);
    expect(csp).not.toMatch(/unsafe-inline|unsafe-eval|https?:/);
    const html = await res.text();
    expect(html).toContain('<script src="/console/console.js" defer></script>');
    expect(html).not.toMatch(/<script>|<script[^>]*>[^<]+<\/script>|\son\w+=|style=/);
    const script = await fetch(`${stack.apiUrl}/console/console.js`);
    expect(script.headers.get('content-type')).toMatch(/^text\/javascript/);
    const etag = script.headers.get('etag') ?? '';
    expect((await fetch(`${stack.apiUrl}/console/console.js`, { headers: { 'if-none-match': etag } })).status).toBe(304);
    // No innerHTML anywhere: user input reaches the page as text only.
    expect(await script.text()).not.toMatch(/innerHTML|outerHTML|insertAdjacentHTML|document\.write/);
  });
});

describe('state-changing routes refuse other sites', () => {
  it('refuses a submission from another origin or marked cross-site with 403, writing nothing', async () => {
    const before = { items: await stack.itemKeys(), objects: await stack.objectKeys() };
    const host = new URL(stack.apiUrl).host;
    for (const headers of [{ origin: 'http://evil.example' }, { 'sec-fetch-site': 'cross-site' }] as Array<Record<string, string>>) {
      const out = await raw('POST', '/api/pipeline/run', { host, 'content-type': 'application/json', ...headers }, RUN);
      expect(out.status).toBe(403);
      expect(JSON.parse(out.body)).toMatchObject({ error: 'cross_site_request' });
    }
    const put = await raw('PUT', '/api/pipeline/sources/csrf/v1/source.txt', { host, 'content-type': 'text/plain', origin: 'http://evil.example' }, 'x');
    expect(put.status).toBe(403);
    const media = await raw('DELETE', '/api/pipeline/sources/csrf/v1/media/a.png', { host, 'sec-fetch-site': 'same-site' });
    expect(media.status).toBe(403);
    expect({ items: await stack.itemKeys(), objects: await stack.objectKeys() }).toEqual(before);
  });

  it('answers no request for a host name that is not its own (DNS rebinding), and its own names still work', async () => {
    const port = new URL(stack.apiUrl).port;
    const rebound = await raw('GET', '/api/pipeline/tasks', { host: `evil.example:${port}` });
    expect(rebound.status).toBe(403);
    expect(JSON.parse(rebound.body)).toMatchObject({ error: 'host_not_allowed' });
    expect((await raw('GET', '/', { host: `evil.example:${port}` })).status).toBe(403);
    expect((await raw('GET', '/api/health', { host: `localhost:${port}` })).status).toBe(200);
    // A client without Origin or Sec-Fetch-Site (curl, the CLI) submits as before.
    const ok = await raw('POST', '/api/pipeline/run', { host: `localhost:${port}`, 'content-type': 'application/json' }, RUN);
    expect(ok.status).toBe(202);
    await stack.finished((JSON.parse(ok.body) as { task_id: string }).task_id);
  });
});

describe('GET /api/pipeline/export-queue', () => {
  it('shows what renders and what waits, in order; a task record answers 304 while it has not changed', async () => {
    const ids: string[] = [];
    for (const video of ['q1', 'q2', 'q3']) {
      const sub = await stack.post({ creator_id: 'queue', video_id: video, source_text: 'One line.' });
      expect(sub.status).toBe(202);
      ids.push(sub.body.task_id as string);
      // Each joins the queue before the next is submitted, so the queue order is known.
      if (video === 'q1') await reachedExporter;
      else await expect.poll(async () => (await stack.getTask(ids.at(-1)!)).stages.export.status, { timeout: 30_000, interval: 100 }).toBe('queued');
    }
    const res = await fetch(`${stack.apiUrl}/api/pipeline/export-queue`);
    expect(res.status).toBe(200);
    const view = (await res.json()) as {
      rendering: Array<{ task_id: string }>;
      queued: Array<{ task_id: string; position: number; estimated_start_at: string }>;
    };
    expect(view.rendering.map((r) => r.task_id)).toEqual([ids[0]]);
    expect(view.queued.map((q) => [q.position, q.task_id])).toEqual([
      [1, ids[1]],
      [2, ids[2]],
    ]);
    expect(Date.parse(view.queued[1].estimated_start_at)).toBeGreaterThan(Date.parse(view.queued[0].estimated_start_at));
    // The task record's ETag changes only when the record does.
    const taskUrl = `${stack.apiUrl}/api/pipeline/tasks/${ids[2]}`;
    const tag = (await fetch(taskUrl)).headers.get('etag') ?? '';
    expect((await fetch(taskUrl, { headers: { 'if-none-match': tag } })).status).toBe(304);
    for (const id of ids) expect((await fetch(`${stack.apiUrl}/api/pipeline/tasks/${id}/cancel`, { method: 'POST' })).status).toBe(200);
    for (const id of ids) await stack.finished(id);
  });
});
