import { readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startExportService, type ExportService, type ExportServiceStats } from '../../infra/embedded/export-service.js';
import type { BuiltinJobStatus as ExportJobView } from '../../shared/export/builtin-exporter.js';
import type { Draft } from '../../shared/draft/draft.js';
import { ExporterAuthError } from '../../shared/export/exporter.js';
import { HttpExporter } from '../../shared/export/http-exporter.js';
import type { Logger } from '../../shared/logger.js';
import { probeVideo } from '../../shared/render/probe-video.js';
import type { renderDraft } from '../../shared/render/render-draft.js';
import { encodeWav } from '../../shared/tts/wav.js';

const quiet: Logger = { debug() {}, info() {}, warn() {}, error() {}, child: () => quiet };

/** The shared secret of every service this file starts. */
const TOKEN = 'export-service-test-secret';
/** Every request of this file carries the secret, as the worker's client does; the authentication tests call `globalThis.fetch`. */
const fetch = (url: string, init: RequestInit = {}) =>
  globalThis.fetch(url, { ...init, headers: { ...(init.headers as Record<string, string> | undefined), authorization: `Bearer ${TOKEN}` } });
const SRT = '1\n00:00:00,000 --> 00:00:01,000\nHello there.\n\n2\n00:00:01,000 --> 00:00:02,000\n你好，世界。\n';

function sineWav(seconds: number, sampleRate = 22_050): Buffer {
  const samples = new Float32Array(Math.round(seconds * sampleRate));
  for (let i = 0; i < samples.length; i++) samples[i] = 0.3 * Math.sin((2 * Math.PI * 330 * i) / sampleRate);
  return encodeWav(samples, sampleRate);
}

function draftOf(taskId: string, seconds: number): Draft {
  const duration_us = Math.round(seconds * 1_000_000);
  return {
    version: 1,
    task_id: taskId,
    canvas: { width: 1080, height: 1920, fps: 25 },
    duration_us,
    language: 'cmn',
    materials: [
      { id: 'narration', type: 'audio', key: 'narration.wav', content_type: 'audio/wav', duration_us },
      { id: 'background', type: 'generated_background', colors: ['#581c87', '#1e1b4b'] },
      { id: 'subtitles', type: 'subtitles', key: 'subtitles.srt', content_type: 'application/x-subrip' },
    ],
    tracks: [
      { type: 'audio', name: 'narration', segments: [{ id: 'n-1', material_id: 'narration', target: { start_us: 0, duration_us } }] },
      { type: 'video', name: 'visual', segments: [{ id: 'bg-1', material_id: 'background', target: { start_us: 0, duration_us } }] },
    ],
  };
}

/** ffmpeg processes whose command line mentions `dir` (the service's work folder). */
function ffmpegProcessesUnder(dir: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8');
      if (cmdline.includes('ffmpeg') && cmdline.includes(dir)) pids.push(Number(entry));
    } catch {
      // the process ended while we looked
    }
  }
  return pids;
}

async function until(check: () => boolean | Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not reached in time');
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('export service', () => {
  let media: Server;
  let mediaUrl: string;
  let workDir: string;
  let service: ExportService;

  const mediaFor = (narration = 'narration.wav') => ({ narration: `${mediaUrl}/${narration}?X-Amz-Signature=secret`, subtitles: `${mediaUrl}/subtitles.srt` });
  const put = (taskId: string, body: unknown) =>
    fetch(`${service.url}/jobs/${encodeURIComponent(taskId)}`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const status = async (taskId: string, wait = 0) => {
    const res = await fetch(`${service.url}/jobs/${encodeURIComponent(taskId)}?wait=${wait}`);
    return { res, body: (await res.json()) as ExportJobView };
  };
  const stats = async () => (await (await fetch(`${service.url}/stats`)).json()) as ExportServiceStats;

  beforeAll(async () => {
    const files: Record<string, Buffer> = {
      '/narration.wav': sineWav(2),
      '/subtitles.srt': Buffer.from(SRT),
      '/corrupt.wav': Buffer.concat([Buffer.from('RIFF\u0000\u0000\u0000\u0000WAVEjunk'), Buffer.alloc(2048, 3)]),
    };
    media = createServer((req, res) => {
      const file = files[new URL(req.url ?? '/', 'http://x').pathname];
      res.writeHead(file ? 200 : 404, { 'content-type': 'application/octet-stream' }).end(file ?? 'not found');
    });
    await new Promise<void>((resolve) => media.listen(0, '127.0.0.1', resolve));
    mediaUrl = `http://127.0.0.1:${(media.address() as AddressInfo).port}`;
    workDir = await mkdtemp(path.join(os.tmpdir(), 'export-service-'));
    service = await startExportService({ workDir, log: quiet, authToken: TOKEN });
  });

  afterAll(async () => {
    await service?.close();
    await new Promise((resolve) => media?.close(resolve));
    await rm(workDir, { recursive: true, force: true });
  });

  it('accepts a job with 202 and renders a repeated PUT of the same task only once', async () => {
    const before = (await stats()).renders_started;
    const job = { draft: draftOf('task-ok', 2), media: mediaFor() };

    const first = await put('task-ok', job);
    const second = await put('task-ok', job);
    const finished = await status('task-ok', 30);
    const again = await put('task-ok', job);

    expect(first.status).toBe(202);
    expect(first.headers.get('content-type')).toMatch(/application\/json/);
    expect(await first.json()).toMatchObject({ task_id: 'task-ok', state: 'running', ended_at: null });
    expect(second.status).toBe(202);
    expect(finished.body).toMatchObject({ task_id: 'task-ok', state: 'succeeded' });
    expect(Date.parse(finished.body.ended_at ?? '')).toBeGreaterThanOrEqual(Date.parse(finished.body.started_at));
    expect(again.status).toBe(202);
    expect(await again.json()).toMatchObject({ state: 'succeeded' });
    expect((await stats()).renders_started - before).toBe(1);
  }, 30_000);

  it('serves the finished video as mp4 bytes: h264 1080x1920 with aac, as long as the narration', async () => {
    const res = await fetch(`${service.url}/jobs/task-ok/video`);
    const bytes = Buffer.from(await res.arrayBuffer());
    const file = path.join(workDir, 'downloaded.mp4');
    await writeFile(file, bytes);

    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('video/mp4');
    expect(bytes.subarray(4, 8).toString('ascii')).toBe('ftyp');
    const probe = await probeVideo(file);
    expect(probe).toMatchObject({ codec: 'h264', width: 1080, height: 1920, audio_codec: 'aac' });
    expect(Math.abs(probe.duration_ms - 2000)).toBeLessThanOrEqual(500);
  });

  it('answers 409 to a PUT of a finished task with a different draft', async () => {
    const res = await put('task-ok', { draft: draftOf('task-ok', 3), media: mediaFor() });

    expect(res.status).toBe(409);
    expect(await res.json()).toMatchObject({ error: 'conflict' });
  });

  it('answers 404 for an unknown task', async () => {
    for (const [method, suffix] of [
      ['GET', ''],
      ['GET', '/video'],
      ['DELETE', ''],
    ]) {
      const res = await fetch(`${service.url}/jobs/no-such-task${suffix}`, { method });
      expect(res.status).toBe(404);
      expect(await res.json()).toMatchObject({ error: 'not_found' });
    }
  });

  it('refuses every job request without the shared secret or with a wrong one: 401 unauthorized, nothing accepted or given out', async () => {
    const before = (await stats()).renders_started;
    const body = JSON.stringify({ draft: draftOf('task-intruder', 2), media: mediaFor() });
    const requests: Array<[string, string, string | undefined]> = [
      ['PUT', '/jobs/task-intruder', body],
      ['GET', '/jobs/task-ok?wait=0', undefined],
      ['GET', '/jobs/task-ok/video', undefined],
      ['DELETE', '/jobs/task-ok', undefined],
    ];
    const answers: Array<{ status: number; body: unknown; challenge: string | null }> = [];
    for (const headers of [{}, { authorization: 'Bearer not-the-secret' }, { authorization: TOKEN }] as Array<Record<string, string>>) {
      for (const [method, route, payload] of requests) {
        const res = await globalThis.fetch(`${service.url}${route}`, { method, headers: { 'content-type': 'application/json', ...headers }, body: payload });
        answers.push({ status: res.status, body: await res.json(), challenge: res.headers.get('www-authenticate') });
      }
    }

    expect(answers.map((a) => a.status)).toEqual(Array(12).fill(401));
    for (const a of answers) {
      expect(a.body).toMatchObject({ error: 'unauthorized', message: expect.stringMatching(/secret/) });
      expect(a.challenge).toMatch(/^Bearer/);
    }
    expect((await stats()).renders_started).toBe(before);
    expect((await status('task-intruder')).res.status).toBe(404);
    expect((await status('task-ok')).body.state).toBe('succeeded');
  });

  it("is driven by the worker's HTTP client with the secret, which reports a wrong secret as an auth error and reads it again", async () => {
    const job = { draft: draftOf('task-ok', 2), media: mediaFor() };
    let forgotten = 0;
    const wrong = new HttpExporter(service.url, { token: async () => 'not-the-secret', forget: () => void forgotten++ });
    const right = new HttpExporter(service.url, TOKEN);

    const refused = await wrong.submit('task-ok', job).catch((error: unknown) => error);
    await right.submit('task-ok', job);
    const done = await right.status('task-ok', 5);
    const video = Buffer.concat(await (await right.video('task-ok')).body.toArray());

    expect(refused).toBeInstanceOf(ExporterAuthError);
    expect((refused as Error).message).toMatch(/refused the worker's credentials \(401\).*EXPORT_AUTH_TOKEN/);
    expect(forgotten).toBe(1);
    expect(done.state).toBe('succeeded');
    expect(Buffer.from(video).subarray(4, 8).toString('ascii')).toBe('ftyp');
  });

  it('rejects a body that is not a job with 400', async () => {
    const notJson = await fetch(`${service.url}/jobs/task-bad`, { method: 'PUT', body: '{nope' });
    const noMedia = await put('task-bad', { draft: draftOf('task-bad', 2), media: { narration: `${mediaUrl}/narration.wav` } });
    const badUrl = await put('task-bad', { draft: draftOf('task-bad', 2), media: { ...mediaFor(), subtitles: 'file:///etc/passwd' } });

    expect(notJson.status).toBe(400);
    expect(noMedia.status).toBe(400);
    expect(await noMedia.json()).toMatchObject({ message: expect.stringContaining('"subtitles"') });
    expect(badUrl.status).toBe(400);
    expect((await status('task-bad')).res.status).toBe(404);
  });

  it('answers 503 while another task renders', async () => {
    const long = await put('task-long', { draft: draftOf('task-long', 600), media: mediaFor() });

    const other = await put('task-other', { draft: draftOf('task-other', 2), media: mediaFor() });

    expect(long.status).toBe(202);
    expect(other.status).toBe(503);
    expect(Number(other.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(await other.json()).toMatchObject({ error: 'busy', running_task_id: 'task-long', message: expect.any(String) });
    expect((await status('task-other')).res.status).toBe(404);
    await fetch(`${service.url}/jobs/task-long`, { method: 'DELETE' });
  }, 30_000);

  it('cancels a running render on DELETE, leaves no ffmpeg behind, and runs again on a new PUT', async () => {
    const job = { draft: draftOf('task-cancel', 600), media: mediaFor() };
    expect((await put('task-cancel', job)).status).toBe(202);
    await until(() => ffmpegProcessesUnder(workDir).length > 0);

    const deleted = await fetch(`${service.url}/jobs/task-cancel`, { method: 'DELETE' });

    expect(deleted.status).toBe(200);
    expect(await deleted.json()).toMatchObject({ task_id: 'task-cancel', state: 'cancelled' });
    expect(ffmpegProcessesUnder(workDir)).toEqual([]);
    expect((await status('task-cancel')).body.state).toBe('cancelled');
    expect((await fetch(`${service.url}/jobs/task-cancel/video`)).status).toBe(409);

    const startedBefore = (await stats()).renders_started;
    const rerun = await put('task-cancel', job);
    expect(rerun.status).toBe(202);
    expect(await rerun.json()).toMatchObject({ state: 'running' });
    await until(async () => (await stats()).renders_started === startedBefore + 1);
    await fetch(`${service.url}/jobs/task-cancel`, { method: 'DELETE' });
    const runs = (await stats()).jobs.filter((j) => j.task_id === 'task-cancel');
    expect(runs.map((r) => r.state)).toEqual(['cancelled', 'cancelled']);
  }, 30_000);

  it('marks the job failed with a message when a media URL answers 404, and runs it again on a new PUT', async () => {
    const job = { draft: draftOf('task-404', 2), media: mediaFor('missing.wav') };

    expect((await put('task-404', job)).status).toBe(202);
    const failed = (await status('task-404', 10)).body;
    expect((await put('task-404', job)).status).toBe(202);
    const failedAgain = (await status('task-404', 10)).body;

    expect(failed).toMatchObject({ state: 'failed', error_name: 'MediaDownloadError', retryable: false });
    expect(failed.error).toMatch(/"narration".*HTTP 404/);
    expect(failed.error).not.toContain('secret');
    expect(failedAgain.state).toBe('failed');
    expect(Date.parse(failedAgain.started_at)).toBeGreaterThanOrEqual(Date.parse(failed.ended_at ?? ''));
    expect((await stats()).jobs.filter((j) => j.task_id === 'task-404')).toHaveLength(2);
  });

  it('marks the job failed with the ffmpeg error when the narration is corrupt', async () => {
    expect((await put('task-corrupt', { draft: draftOf('task-corrupt', 2), media: mediaFor('corrupt.wav') })).status).toBe(202);

    const failed = (await status('task-corrupt', 20)).body;

    expect(failed).toMatchObject({ state: 'failed', error_name: 'RenderFailedError', retryable: false });
    expect(failed.error).toMatch(/render failed.*ffmpeg exited with code/);
    expect((await fetch(`${service.url}/jobs/task-corrupt/video`)).status).toBe(409);
  }, 30_000);

  it('never ran two renders at once across this suite, by its own accounting', async () => {
    const s = await stats();

    expect(s.max_concurrent_renders).toBe(1);
    expect(s.renders_started).toBeGreaterThanOrEqual(4);
    const runs = s.jobs.map((j) => [Date.parse(j.started_at), Date.parse(j.ended_at ?? '')] as const);
    for (let i = 1; i < runs.length; i++) expect(runs[i][0]).toBeGreaterThanOrEqual(runs[i - 1][1]);
  });
});

describe('export service under a burst of PUTs', () => {
  it('accepts exactly one job and answers 503 to the others until it ends', async () => {
    let inFlight = 0;
    let peak = 0;
    const slowRender: typeof renderDraft = async ({ outputPath, signal }) => {
      inFlight++;
      peak = Math.max(peak, inFlight);
      try {
        await new Promise((resolve) => setTimeout(resolve, 300));
        signal?.throwIfAborted();
        await writeFile(outputPath, 'not really an mp4');
        return { duration_ms: 1000, render_ms: 300 };
      } finally {
        inFlight--;
      }
    };
    const files = createServer((_req, res) => res.end('bytes'));
    await new Promise<void>((resolve) => files.listen(0, '127.0.0.1', resolve));
    const base = `http://127.0.0.1:${(files.address() as AddressInfo).port}`;
    const workDir = await mkdtemp(path.join(os.tmpdir(), 'export-burst-'));
    const service = await startExportService({ workDir, log: quiet, render: slowRender, authToken: TOKEN });
    const job = (id: string) => ({ draft: draftOf(id, 1), media: { narration: `${base}/n.wav`, subtitles: `${base}/s.srt` } });
    try {
      const answers = await Promise.all(
        ['a', 'b', 'c', 'd', 'e'].map((id) =>
          fetch(`${service.url}/jobs/burst-${id}`, {
            method: 'PUT',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify(job(`burst-${id}`)),
          }),
        ),
      );
      const accepted = (await Promise.all(answers.map((r) => r.json() as Promise<ExportJobView>))).filter((b) => b.state === 'running');
      await fetch(`${service.url}/jobs/${accepted[0]?.task_id}?wait=5`);
      const afterwards = await fetch(`${service.url}/jobs/burst-f`, {
        method: 'PUT',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(job('burst-f')),
      });

      expect(answers.map((r) => r.status).sort()).toEqual([202, 503, 503, 503, 503]);
      expect(afterwards.status).toBe(202);
      await fetch(`${service.url}/jobs/burst-f?wait=5`);
      expect(peak).toBe(1);
      expect(service.stats()).toMatchObject({ renders_started: 2, renders_completed: 2, max_concurrent_renders: 1 });
    } finally {
      await service.close();
      await new Promise((resolve) => files.close(resolve));
      await rm(workDir, { recursive: true, force: true });
    }
  });

  it('keeps only the newest finished jobs and their videos', async () => {
    const quick: typeof renderDraft = async ({ outputPath }) => {
      await writeFile(outputPath, 'video');
      return { duration_ms: 1000, render_ms: 1 };
    };
    const files = createServer((_req, res) => res.end('bytes'));
    await new Promise<void>((resolve) => files.listen(0, '127.0.0.1', resolve));
    const base = `http://127.0.0.1:${(files.address() as AddressInfo).port}`;
    const workDir = await mkdtemp(path.join(os.tmpdir(), 'export-keep-'));
    const service = await startExportService({ workDir, log: quiet, render: quick, keepJobs: 2, authToken: TOKEN });
    try {
      for (const id of ['k1', 'k2', 'k3']) {
        const body = JSON.stringify({ draft: draftOf(id, 1), media: { narration: `${base}/n.wav`, subtitles: `${base}/s.srt` } });
        expect((await fetch(`${service.url}/jobs/${id}`, { method: 'PUT', body })).status).toBe(202);
        await fetch(`${service.url}/jobs/${id}?wait=5`);
      }

      const codes = await Promise.all(['k1', 'k2', 'k3'].map(async (id) => (await fetch(`${service.url}/jobs/${id}/video`)).status));

      expect(codes).toEqual([404, 200, 200]);
      expect(readdirSync(path.join(workDir, 'jobs'))).toHaveLength(2);
    } finally {
      await service.close();
      await new Promise((resolve) => files.close(resolve));
      await rm(workDir, { recursive: true, force: true });
    }
  });
});
