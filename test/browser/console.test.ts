import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Exporter } from '../../shared/export/exporter.js';
import { defaultFfmpegPath } from '../../shared/render/ffmpeg-process.js';
import { launchChromium } from '../support/chromium.js';
import { gemini429, geminiText, startFakeGemini, standInGeminiEnv } from '../support/fake-gemini.js';
import { startTestStack, type TestStack } from '../support/stack.js';

/**
 * The console in a real browser (Debian's chromium): submit with uploads → watch → play and
 * download the mp4; cancel → retry; a failure's stage, code and sentence; the export queue in
 * order; user input shown as text. Every page also checks that it talked to no other host and
 * raised no error (a Content-Security-Policy violation is one).
 *
 * `SCREENSHOTS=1 npm run test:browser` rewrites the pictures under docs/console/.
 */
let stack: TestStack;
let browser: Browser;
let closeBrowser: () => Promise<void>;
let media: string;
let gemini: Awaited<ReturnType<typeof startFakeGemini>>;
let throttled = 0;
const SHOTS = process.env.SCREENSHOTS === '1' ? join(process.cwd(), 'docs/console') : mkdtempSync(join(tmpdir(), 'console-shots-'));

/** While set, every export job stays `running` at its first status call (the queue test). */
let exporterGate: Promise<void> | undefined;
let openExporterGate = () => undefined as void;

beforeAll(async () => {
  ({ browser, close: closeBrowser } = await launchChromium());
  // The story comes from a local fake Gemini, which refuses a "Marker wait" text's first call (a 1 s retry delay).
  gemini = await startFakeGemini((request) =>
    request.prompt.includes('Marker wait') && throttled++ === 0 ? gemini429('1s') : geminiText('The sun rose over the quiet hill.'),
  );
  stack = await startTestStack({
    extraEnv: {
      ...standInGeminiEnv(gemini.url),
      STORY_RPM: '6000',
      RATE_LIMIT_MAX_WAIT_SECONDS: '0.5',
    },
    wrapExporter: (inner: Exporter): Exporter => ({
      submit: (id, job, signal) => inner.submit(id, job, signal),
      status: async (id, wait, signal) => {
        if (exporterGate) await exporterGate;
        return inner.status(id, wait, signal);
      },
      video: (id, signal) => inner.video(id, signal),
      cancel: (id) => inner.cancel(id),
    }),
  });
  // Small media made here: a still and two seconds of music.
  media = mkdtempSync(join(tmpdir(), 'console-media-'));
  const ffmpeg = defaultFfmpegPath();
  execFileSync(ffmpeg, ['-v', 'error', '-y', '-f', 'lavfi', '-i', 'testsrc=s=320x568', '-frames:v', '1', join(media, 'sunrise.png')]);
  execFileSync(ffmpeg, ['-v', 'error', '-y', '-f', 'lavfi', '-i', 'sine=f=330:r=22050', '-t', '2', join(media, 'theme.wav')]);
  mkdirSync(SHOTS, { recursive: true });
});
afterAll(async () => {
  openExporterGate();
  await closeBrowser?.();
  await stack?.close();
  await gemini?.close();
  if (media) rmSync(media, { recursive: true, force: true });
});

const problems: string[] = [];
/** A page that records every request to another origin and every script error or CSP report. */
async function openPage(hash: string): Promise<Page> {
  const context = await browser.newContext({ viewport: { width: 1100, height: 760 }, acceptDownloads: true });
  const page = await context.newPage();
  const origin = new URL(stack.apiUrl).origin;
  page.on('request', (r) => {
    const url = r.url();
    if (!url.startsWith(`${origin}/`) && !url.startsWith('blob:') && !url.startsWith('data:')) problems.push(`request to another host: ${url}`);
  });
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('console', (m) => {
    // Chromium logs every 4xx answer the page asked for and shows; everything else is a problem.
    if (m.type() === 'error' && !/^Failed to load resource: the server responded with a status of 4\d\d /.test(m.text()))
      problems.push(`console error: ${m.text()}`);
  });
  page.on('dialog', (d) => {
    problems.push(`a dialog opened: ${d.message()}`);
    void d.dismiss();
  });
  await page.goto(`${stack.apiUrl}/${hash}`);
  return page;
}
afterEach(async () => {
  for (const context of browser.contexts()) await context.close();
  const seen = problems.splice(0);
  expect(seen).toEqual([]);
});

/** The page polls every 2 s: wait for what it shows for up to 15 s. */
const eventually = <T>(read: () => Promise<T>) => expect.poll(read, { timeout: 15_000, interval: 100 });
const statusOf = (page: Page) => page.locator('#task-head .status').textContent();

describe('the console', () => {
  it('submits with a still and music, shows the API’s own validation message, watches the task succeed and plays and downloads the mp4', async () => {
    const page = await openPage('#/submit');
    // A bad value first: the API's sentence, shown as text (the name is an attempt at markup).
    await page.fill('#creator_id', 'web');
    await page.fill('#video_id', 'v1');
    await page.fill('#account_name', '<script>window.__xss=1</script>');
    await page.fill('#source_text', 'The sun rises over the hill.');
    await page.click('#submit');
    const refused = await fetch(`${stack.apiUrl}/api/pipeline/run`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        creator_id: 'web',
        video_id: 'v1',
        account_name: '<script>window.__xss=1</script>',
        gender: 0,
        export_video: true,
        source_text: 'x',
      }),
    });
    const apiMessage = ((await refused.json()) as { message: string }).message;
    await eventually(() => page.locator('#submit-result .error-message').textContent()).toBe(apiMessage);
    expect(await page.locator('#submit-result .error-code').textContent()).toBe('invalid_request');
    expect(await page.evaluate(() => (window as unknown as { __xss?: number }).__xss)).toBeUndefined();
    expect(await stack.itemKeys()).not.toContain('LOCK#web#v1');

    // The video options go with the request: a volume out of range gets the API's sentence too.
    await page.fill('#account_name', 'Morgenrot');
    await page.fill('#music_volume', '2');
    await page.click('#submit');
    await eventually(() => page.locator('#submit-result .error-message').textContent()).toContain('music_volume must be at most 1 (full volume)');
    await page.fill('#music_volume', '0.4');
    await page.selectOption('#subtitle_style', 'word_highlight');
    await page.selectOption('#visual_fit', 'cover');
    await page.setInputFiles('#media', join(media, 'sunrise.png'));
    await page.setInputFiles('#music', join(media, 'theme.wav'));
    await page.click('#submit');
    await page.waitForURL(/#\/task\/[0-9a-f-]{36}$/);
    const taskId = decodeURIComponent(page.url().split('#/task/')[1]);
    // Live: the page polls; no reload.
    await expect.poll(() => statusOf(page), { timeout: 90_000, interval: 250 }).toBe('SUCCEEDED');
    const listed = (await (await fetch(`${stack.apiUrl}/api/pipeline/sources/web/v1`)).json()) as {
      media: Array<{ file_name: string }>;
      music: Array<{ file_name: string }>;
    };
    expect([listed.media.map((m) => m.file_name), listed.music.map((m) => m.file_name)]).toEqual([['sunrise.png'], ['theme.wav']]);
    expect((await stack.getTask(taskId)).video_options).toEqual({
      visual_fit: 'cover',
      subtitle_style: 'word_highlight',
      music: 'theme.wav',
      music_volume: 0.4,
      source_audio_volume: 0,
    });

    // The player loads the video.
    const duration = await page.locator('#player').evaluate(
      (v: HTMLVideoElement) =>
        new Promise<number>((ok, fail) => {
          if (v.readyState >= 1) return ok(v.duration);
          v.addEventListener('loadedmetadata', () => ok(v.duration));
          v.addEventListener('error', () => fail(new Error(`video error ${v.error?.code}`)));
        }),
    );
    expect(duration).toBeGreaterThan(0.5);
    await eventually(() => page.locator('.gantt .stage').count()).toBe(4);
    expect(await page.locator('.stage[data-stage="export"] .stage-words').textContent()).toMatch(/succeeded · queued .* · ran /);
    await page.screenshot({ path: join(SHOTS, 'task.png') });

    const [download] = await Promise.all([page.waitForEvent('download'), page.click('a.artifact:text-is("final_video.mp4")')]);
    const file = await download.path();
    const bytes = readFileSync(file);
    expect(bytes.subarray(4, 8).toString('latin1')).toBe('ftyp');
    expect(bytes.length).toBe((await stack.getTask(taskId)).artifacts.find((a) => a.name === 'final_video.mp4')?.size);

    // The list shows it, newest first, with the full id and the status as the API spells it.
    await page.goto(`${stack.apiUrl}/#/`);
    const row = page.locator(`tr[data-task-id="${taskId}"]`);
    await eventually(() => row.locator('.status').textContent()).toBe('SUCCEEDED');
    expect(await row.locator('.task-id').textContent()).toBe(taskId);
  });

  it('cancels a running task and retries it to SUCCEEDED from its page', async () => {
    stack.controls.closeGate('Tts');
    const before = stack.controls.arrivalsAt('Tts');
    const sub = await stack.post({ creator_id: 'web', video_id: 'cancel', export_video: false, source_text: 'A short line for the narrator.' });
    const taskId = sub.body.task_id as string;
    await stack.controls.waitForArrivals('Tts', before + 1);
    const page = await openPage(`#/task/${taskId}`);
    await eventually(() => statusOf(page)).toBe('RUNNING');
    expect(await page.locator('#retry').isDisabled()).toBe(true);
    await page.click('#cancel');
    await eventually(() => statusOf(page)).toBe('CANCELLED');
    await stack.finished(taskId);
    stack.controls.openGate('Tts');
    await eventually(() => page.locator('#retry').isDisabled()).toBe(false);
    await page.click('#retry');
    await expect.poll(() => statusOf(page), { timeout: 60_000, interval: 250 }).toBe('SUCCEEDED');
    expect(await page.locator('#task-head dd').nth(7).textContent()).toBe('1');
  });

  it('shows a failed task’s stage, code and sentence, in its page and in the filtered list', async () => {
    stack.controls.armFault('Tts', { error: 'TtsFailedError', message: 'the voice engine crashed', times: 1 });
    const sub = await stack.post({ creator_id: 'web', video_id: 'broken', export_video: false, source_text: 'A short line.' });
    const task = await stack.finished(sub.body.task_id as string);
    expect(task.status).toBe('FAILED');
    const page = await openPage(`#/task/${task.task_id}`);
    await eventually(() => page.locator('#failure .failure-code').textContent()).toBe(task.error!.code);
    expect(await page.locator('#failure .failure-stage').textContent()).toBe(task.error!.stage);
    expect(await page.locator('#failure .failure-message').textContent()).toBe(task.error!.message);
    await page.screenshot({ path: join(SHOTS, 'failed.png') });

    await page.goto(`${stack.apiUrl}/#/`);
    await page.selectOption('#filter-status', 'FAILED');
    await page.fill('#filter-creator', 'web');
    await page.click('.filters button');
    await page.waitForURL(/status=FAILED/);
    const rows = page.locator('#task-rows tr');
    await eventually(() => rows.count()).toBe(1);
    expect(await rows.first().locator('.failure').textContent()).toBe(`${task.error!.stage} · ${task.error!.code} · ${task.error!.message}`);
  });

  it('draws a rate-limit wait on the stage it held', async () => {
    const sub = await stack.post({ creator_id: 'web', video_id: 'waited', export_video: false, source_text: 'Marker wait. The sun rose.' });
    const task = await stack.finished(sub.body.task_id as string);
    expect(task.stages.story.rate_limit_waits).toHaveLength(1);
    const page = await openPage(`#/task/${task.task_id}`);
    const story = page.locator('.stage[data-stage="story"]');
    await eventually(() => story.locator('.seg-wait').count()).toBe(1);
    expect(await story.locator('.seg-wait').getAttribute('title')).toBe(`rate-limit wait ${task.stages.story.rate_limit_waits![0].seconds} s (gemini)`);
    expect(await story.locator('.stage-words').textContent()).toMatch(/2 attempts · 1 rate-limit wait, \d+ s$/);
  });

  it('shows markup in an id or a message as text, never as markup', async () => {
    const page = await openPage('#/task/<img src=x onerror="window.__xss=1">');
    await eventually(() => page.locator('#task-head .error-code').textContent()).toBe('task_not_found');
    expect(await page.locator('#task-id').textContent()).toBe('<img src=x onerror="window.__xss=1">');
    expect(await page.locator('#task-head .error-message').textContent()).toContain('<img src=x onerror="window.__xss=1">');
    expect(await page.locator('main img').count()).toBe(0);
    expect(await page.evaluate(() => (window as unknown as { __xss?: number }).__xss)).toBeUndefined();
  });

  it('shows the export queue: what renders now and what waits, in order, with estimated starts', async () => {
    exporterGate = new Promise<void>((ok) => (openExporterGate = ok));
    const ids: string[] = [];
    for (const video of ['q1', 'q2', 'q3']) {
      const sub = await stack.post({ creator_id: 'queue', video_id: video, source_text: 'One line.' });
      ids.push(sub.body.task_id as string);
      const wanted = video === 'q1' ? 'running' : 'queued';
      await expect.poll(async () => (await stack.getTask(ids.at(-1)!)).stages.export.status, { timeout: 30_000, interval: 100 }).toBe(wanted);
    }
    const page = await openPage('#/queue');
    await eventually(() => page.locator('#queued-rows tr').count()).toBe(2);
    expect(await page.locator('#rendering-rows tr').getAttribute('data-task-id')).toBe(ids[0]);
    expect(await page.locator('#queued-rows tr').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-task-id')))).toEqual([ids[1], ids[2]]);
    expect(await page.locator('#queued-rows .eta').first().textContent()).not.toBe('');
    // The figures are the route's, as the page shows them.
    const view = (await (await fetch(`${stack.apiUrl}/api/pipeline/export-queue`)).json()) as { mean_export_seconds: number; mean_samples: number };
    expect(await page.locator('#mean-export').textContent()).toBe(
      `${view.mean_export_seconds} s ${view.mean_samples ? `(last ${view.mean_samples})` : '(assumed; none measured yet)'}`,
    );
    const busy = Number(await page.locator('#utilization').getAttribute('value'));
    expect(busy >= 0 && busy <= 1).toBe(true);
    await page.screenshot({ path: join(SHOTS, 'queue.png') });
    for (const id of ids) expect((await fetch(`${stack.apiUrl}/api/pipeline/tasks/${id}/cancel`, { method: 'POST' })).status).toBe(200);
    exporterGate = undefined;
    openExporterGate();
    for (const id of ids) await stack.finished(id);
    // The list with every status of this file's tasks, for the README.
    await page.goto(`${stack.apiUrl}/#/`);
    await eventually(() => page.locator(`tr[data-task-id="${ids[2]}"] .status`).textContent()).toBe('CANCELLED');
    await page.screenshot({ path: join(SHOTS, 'tasks.png') });
  });
});
