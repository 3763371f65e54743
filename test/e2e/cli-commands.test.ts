import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultFfmpegPath } from '../../shared/render/ffmpeg-process.js';
import { runReel } from '../support/reel-cli.js';
import { startTestStack, type TestStack } from '../support/stack.js';

/**
 * The single-task commands of `reel`, each run as its own process against an embedded stack:
 * submit with uploads (through the API, and by the presigned POST the API can answer with),
 * watch on a pipe, get --out, cancel, retry, list, and what a wrong command line gets.
 */
let stack: TestStack;
let presigned: TestStack;
let dir: string;
beforeAll(async () => {
  [stack, presigned] = await Promise.all([startTestStack(), startTestStack({ extraEnv: { MEDIA_UPLOAD: 'presigned' } })]);
  dir = mkdtempSync(join(tmpdir(), 'reel-cli-'));
  const ffmpeg = defaultFfmpegPath();
  execFileSync(ffmpeg, ['-v', 'error', '-y', '-f', 'lavfi', '-i', 'color=c=red:s=64x36', '-frames:v', '1', join(dir, 'red.png')]);
  execFileSync(ffmpeg, ['-v', 'error', '-y', '-f', 'lavfi', '-i', 'sine=f=330:r=16000', '-t', '1', join(dir, 'tone.wav')]);
});
afterAll(async () => {
  await Promise.all([stack?.close(), presigned?.close()]);
  rmSync(dir, { recursive: true, force: true });
});

const reel = (s: TestStack, ...args: string[]) => runReel([...args, '--api', s.apiUrl]);
const sources = async (s: TestStack, creator: string, video: string) =>
  (await (await fetch(`${s.apiUrl}/api/pipeline/sources/${creator}/${video}`)).json()) as {
    media: Array<{ file_name: string }>;
    music: Array<{ file_name: string }>;
  };

describe('reel submit --wait --out', () => {
  it('uploads the media, follows the task with plain lines on a pipe and downloads <task_id>.mp4 and the draft', async () => {
    const out = join(dir, 'out');
    const run = await reel(
      stack,
      ...['submit', '--creator-id', 'cli', '--video-id', 'v1', '--gender', '2', '--source-text', 'One short line.'],
      ...['--upload-media', join(dir, 'red.png'), '--upload-music', join(dir, 'tone.wav'), '--wait', '--out', out, '--interval', '0.2'],
    );

    expect(run.code, run.stderr).toBe(0);
    const taskId = /^accepted (\S+)$/m.exec(run.stdout)?.[1];
    expect(taskId).toBeDefined();
    expect(run.stdout).not.toContain('\x1b[');
    expect(run.stdout).toContain(`task ${taskId} SUCCEEDED`);
    for (const stage of ['story', 'tts', 'draft', 'export']) expect(run.stdout).toMatch(new RegExp(`^  ${stage} +succeeded +\\d+\\.\\ds$`, 'm'));
    // a piped line is printed when its stage changes, never again while it runs
    const lines = run.stdout.split('\n');
    expect(lines.filter((l) => /^ {2}tts +running/.test(l)).length).toBeLessThanOrEqual(1);
    expect(
      readFileSync(join(out, `${taskId}.mp4`))
        .subarray(4, 8)
        .toString('latin1'),
    ).toBe('ftyp');
    expect(existsSync(join(out, `${taskId}.draft.json`))).toBe(true);
    const listed = await sources(stack, 'cli', 'v1');
    expect(listed.media.map((m) => m.file_name)).toEqual(['red.png']);
    expect(listed.music.map((m) => m.file_name)).toEqual(['tone.wav']);
    expect((await stack.getTask(taskId!)).gender).toBe(2);
  });

  it('follows the presigned POST form when the API answers with one (MEDIA_UPLOAD=presigned)', async () => {
    const run = await reel(
      presigned,
      ...['submit', '--creator-id', 'cli', '--video-id', 'v2', '--export-video', 'false', '--source-text', 'One short line.'],
      ...['--upload-media', join(dir, 'red.png'), '--json'],
    );

    expect(run.code, run.stderr).toBe(0);
    const answer = JSON.parse(run.stdout);
    expect(answer.uploads).toEqual([expect.objectContaining({ folder: 'media', file_name: 'red.png', via: 'presigned-post' })]);
    expect((await sources(presigned, 'cli', 'v2')).media.map((m) => m.file_name)).toEqual(['red.png']);
    await presigned.finished(answer.task_id);
  });
});

describe('reel cancel, watch, retry, get, list', () => {
  it('cancels a running task, watches it end CANCELLED (exit 1), retries it and watches it succeed', async () => {
    stack.controls.closeGate('Story');
    const submitted = await reel(
      stack,
      'submit',
      '--creator-id',
      'cli',
      '--video-id',
      'v3',
      '--export-video',
      'false',
      '--source-text',
      'One short line.',
      '--json',
    );
    expect(submitted.code, submitted.stderr).toBe(0);
    const taskId = JSON.parse(submitted.stdout).task_id as string;
    await stack.controls.waitForArrivals('Story', 1);

    const early = await reel(stack, 'get', taskId, '--out', join(dir, 'early'));
    const cancelled = await reel(stack, 'cancel', taskId);
    const watched = await reel(stack, 'watch', taskId, '--interval', '0.2');
    stack.controls.openGate('Story');
    const retried = await reel(stack, 'retry', taskId);
    const rewatched = await reel(stack, 'watch', taskId, '--interval', '0.2', '--json');

    expect(early.code).toBe(1);
    expect(early.stderr).toContain(`task ${taskId} is RUNNING at submitted: nothing to download yet`);
    expect(existsSync(join(dir, 'early'))).toBe(false);
    expect(cancelled).toMatchObject({ code: 0, stdout: `cancelled ${taskId}\n` });
    expect(watched.code).toBe(1);
    expect(watched.stdout).toContain(`task ${taskId} CANCELLED`);
    expect(retried.code, retried.stderr).toBe(0);
    expect(retried.stdout).toBe(`retried ${taskId}: RUNNING (redrive 1)\n`);
    expect(rewatched.code, rewatched.stderr).toBe(0);
    const last = JSON.parse(rewatched.stdout.trim().split('\n').pop()!);
    expect(last).toMatchObject({ task_id: taskId, status: 'SUCCEEDED', redrives: 1 });
  });

  it('refuses to cancel a task that has ended, with the API code and sentence (exit 1)', async () => {
    const { tasks } = (await (await fetch(`${stack.apiUrl}/api/pipeline/tasks?status=SUCCEEDED&limit=1`)).json()) as { tasks: Array<{ task_id: string }> };

    const run = await reel(stack, 'cancel', tasks[0].task_id, '--json');

    expect(run.code).toBe(1);
    expect(JSON.parse(run.stdout)).toMatchObject({ error: 'task_not_running' });
  });

  it('lists tasks newest first as JSON and as plain rows', async () => {
    const [json, plain] = await Promise.all([
      reel(stack, 'list', '--creator-id', 'cli', '--json'),
      reel(stack, 'list', '--creator-id', 'cli', '--status', 'SUCCEEDED'),
    ]);

    expect(json.code).toBe(0);
    const tasks = JSON.parse(json.stdout).tasks as Array<{ task_id: string; video_id: string; created_at: string }>;
    expect(tasks.map((t) => t.video_id)).toEqual(['v3', 'v1']);
    expect(plain.code).toBe(0);
    expect(plain.stdout.trim().split('\n')).toEqual(tasks.map((t) => expect.stringMatching(new RegExp(`^${t.task_id}  SUCCEEDED  cli/${t.video_id}`))));
  });
});

describe('reel batch --wait with a task that fails', () => {
  it('reports the failed line with its stage and sentence and exits 1', async () => {
    const file = join(dir, 'one.jsonl');
    writeFileSync(file, `${JSON.stringify({ creator_id: 'cli', video_id: 'v4', export_video: false, source_text: 'One short line.' })}\n`);
    stack.controls.armFault('Tts', { error: 'TtsFailedError', message: 'the voice engine crashed', times: 1 });

    const run = await reel(stack, 'batch', file, '--wait', '--interval', '0.2');

    expect(run.code, run.stderr).toBe(1);
    expect(run.stdout).toMatch(/^1 +failed +\S+ +cli\/v4 — failed at tts: .*the voice engine crashed/m);
    expect(run.stderr).toMatch(/FAILED at tts/);
  });
});

describe('a wrong command line', () => {
  it('names the bad flag and exits 2', async () => {
    const run = await reel(stack, 'submit', '--creator-id', 'cli', '--colour', 'red');

    expect(run.code).toBe(2);
    expect(run.stderr).toContain("reel submit: Unknown option '--colour'.");
    expect(run.stderr).toContain('Run "reel help" for usage.');
  });

  it('refuses a value the API would refuse, with the API sentence, exit 2 and nothing submitted', async () => {
    const before = (await stack.itemKeys()).length;
    const run = await reel(stack, 'submit', '--creator-id', 'cli', '--video-id', 'v9', '--gender', '5', '--source-text', 'One short line.');
    const api = await stack.post({ creator_id: 'cli', video_id: 'v9', gender: 5, source_text: 'One short line.' });

    expect(run.code).toBe(2);
    expect(run.stderr).toContain(`reel: ${String(api.body.message)}`);
    expect((await stack.itemKeys()).length).toBe(before);
  });

  it('exits 2 for an unknown command and for a missing task id', async () => {
    const [unknown, missing] = await Promise.all([runReel(['render']), runReel(['watch'])]);

    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('unknown command "render"');
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('reel watch takes one task id');
  });
});
