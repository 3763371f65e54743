import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { DescribeExecutionCommand, StopExecutionCommand } from '@aws-sdk/client-sfn';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getObjectText } from '../../shared/artifacts.js';
import { defaultFfmpegPath } from '../../shared/render/ffmpeg-process.js';
import { DEFAULT_VIDEO_OPTIONS } from '../../shared/video-options.js';
import { recordReliability } from '../support/reliability.js';
import { RefusalTally } from '../support/refusal-tally.js';
import { startTestStack, type TestStack } from '../support/stack.js';

/**
 * The look-and-sound fields of POST /run: bad values get a 4xx with a stable code and a sentence
 * and write nothing; good ones reach the task record and the execution input; an Idempotency-Key
 * replay treats an option sent with its default like the option left out. Tasks are held at the
 * Story gate while the test looks, so nothing depends on timing.
 */
let stack: TestStack;
let dir: string;
const api = () => `${stack.apiUrl}/api/pipeline`;
const ok = { creator_id: 'c-opt', video_id: 'v-opt', export_video: false, source_text: 'A line.' };
const tally = new RefusalTally(() => stack);

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'request-options-'));
  execFileSync(defaultFfmpegPath(), ['-v', 'error', '-f', 'lavfi', '-i', 'sine=f=330:r=16000', '-t', '0.5', path.join(dir, 'tone.wav')]);
  stack = await startTestStack();
  const put = await fetch(`${api()}/sources/c-opt/v-opt/music/${encodeURIComponent('背景 音乐.wav')}`, {
    method: 'PUT',
    headers: { 'content-type': 'audio/wav' },
    body: readFileSync(path.join(dir, 'tone.wav')),
  });
  expect(put.status).toBe(201);
}, 60_000);
afterAll(async () => {
  await stack?.close();
  rmSync(dir, { recursive: true, force: true });
});

/** Stops a held task and waits for its end, so the next test finds the creator+video free. */
async function stopTask(taskId: string) {
  const record = await stack.getTask(taskId);
  await stack.runtime.sfn.send(new StopExecutionCommand({ executionArn: record.execution_arn }));
  await stack.finished(taskId);
}

const hostile: Array<{ name: string; status: number; code: string; body: Record<string, unknown> }> = [
  { name: 'an unknown subtitle_style', status: 400, code: 'invalid_request', body: { subtitle_style: 'neon' } },
  { name: 'a subtitle_style in the wrong case', status: 400, code: 'invalid_request', body: { subtitle_style: 'Boxed' } },
  { name: 'music_volume 2', status: 400, code: 'invalid_request', body: { music_volume: 2 } },
  { name: 'music_volume -0.1', status: 400, code: 'invalid_request', body: { music_volume: -0.1 } },
  { name: 'music_volume "loud"', status: 400, code: 'invalid_request', body: { music_volume: 'loud' } },
  { name: 'music_volume null', status: 400, code: 'invalid_request', body: { music_volume: null } },
  { name: 'source_audio_volume 1.5', status: 400, code: 'invalid_request', body: { source_audio_volume: 1.5 } },
  { name: 'source_audio_volume "0.5"', status: 400, code: 'invalid_request', body: { source_audio_volume: '0.5' } },
  { name: 'visual_fit "stretch"', status: 400, code: 'invalid_request', body: { visual_fit: 'stretch' } },
  { name: 'visual_fit true', status: 400, code: 'invalid_request', body: { visual_fit: true } },
  { name: 'music naming a missing file', status: 422, code: 'music_missing', body: { music: 'missing.mp3' } },
  { name: 'music naming a file of another video', status: 422, code: 'music_missing', body: { music: '背景 音乐.wav', video_id: 'v-other' } },
  { name: 'music with traversal', status: 400, code: 'invalid_request', body: { music: '../../v-opt/music/背景 音乐.wav' } },
  { name: 'music with an encoded traversal', status: 400, code: 'invalid_request', body: { music: '..%2f..%2fx.mp3' } },
  { name: 'music with a backslash', status: 400, code: 'invalid_request', body: { music: '..\\x.mp3' } },
  { name: 'music with a look-alike slash', status: 400, code: 'invalid_request', body: { music: 'a\u2215b.mp3' } },
  { name: 'music with NUL', status: 400, code: 'invalid_request', body: { music: 'a\u0000.mp3' } },
  { name: 'music of 201 characters', status: 400, code: 'invalid_request', body: { music: `${'曲'.repeat(197)}.mp3` } },
  { name: 'music that is not audio by its name', status: 400, code: 'invalid_request', body: { music: 'clip.mp4' } },
  { name: 'music as a number', status: 400, code: 'invalid_request', body: { music: 1 } },
  { name: 'music as an object', status: 400, code: 'invalid_request', body: { music: { name: 'a.mp3' } } },
  { name: 'music as false', status: 400, code: 'invalid_request', body: { music: false } },
];

describe('hostile video options', () => {
  it.each(hostile)('answers $status ($code) to $name and writes nothing', async (c) => {
    const { res, objectsBefore, objectsAfter, itemsBefore, itemsAfter } = await tally.send(() => stack.post({ ...ok, ...c.body }));
    expect(res.status).toBe(c.status);
    expect(res.body.error).toBe(c.code);
    expect(String(res.body.message).length).toBeGreaterThan(20);
    expect(objectsAfter).toEqual(objectsBefore);
    expect(itemsAfter).toEqual(itemsBefore);
  });

  it('recorded every hostile case', () => {
    expect(tally.runs).toBe(hostile.length);
    recordReliability({
      fault: `${hostile.length} hostile video options (unknown styles, volumes out of range or of the wrong type, missing or escaping music names)`,
      runs: tally.runs,
      outcome: tally.outcome(),
      data_lost: 0,
      duplicates: 0,
      locks_leaked: 0,
    });
  });

  it('moves an inbox document naming missing music to inbox-rejected/ with the reason, starting nothing', async () => {
    const itemsBefore = (await stack.itemKeys()).filter((k) => !k.startsWith('IDEM#'));
    const doc = JSON.stringify({ ...ok, music: 'missing.mp3' });
    await stack.runtime.s3.send(
      new PutObjectCommand({ Bucket: stack.runtime.settings.bucketName, Key: 'inbox/music.json', Body: doc, ContentType: 'application/json' }),
    );
    await stack.inboxIdle();
    expect(await stack.objectKeys()).toContain('inbox-rejected/music.json');
    expect(await getObjectText(stack.runtime, 'inbox-rejected/music.json.error.txt')).toContain('No music file "missing.mp3"');
    expect((await stack.itemKeys()).filter((k) => !k.startsWith('IDEM#'))).toEqual(itemsBefore);
  });

  it('names the missing music file and how to upload it', async () => {
    const res = await stack.post({ ...ok, music: 'missing.mp3' });
    expect(res.body.message).toContain('"missing.mp3"');
    expect(res.body.message).toContain('/api/pipeline/sources/c-opt/v-opt/music/missing.mp3');
  });
});

describe('accepted video options', () => {
  it('shows the options on the task and hands them to the execution, defaults filled', async () => {
    stack.controls.closeGate('Story');
    const asked = { visual_fit: 'cover', subtitle_style: 'word_highlight', music: '背景 音乐.wav', source_audio_volume: 0.25 } as const;
    const res = await stack.post({ ...ok, ...asked });
    expect(res.status).toBe(202);
    const taskId = res.body.task_id as string;
    const expected = { ...asked, music_volume: DEFAULT_VIDEO_OPTIONS.music_volume };

    const record = await stack.getTask(taskId);
    expect(record.video_options).toEqual(expected);
    const execution = await stack.runtime.sfn.send(new DescribeExecutionCommand({ executionArn: record.execution_arn }));
    expect((JSON.parse(execution.input ?? '{}') as { video_options: unknown }).video_options).toEqual(expected);

    stack.controls.openGate('Story');
    await stopTask(taskId);
  });

  it('records music: null (no music) and leaves music out when the request does', async () => {
    stack.controls.closeGate('Story');
    const silent = await stack.post({ ...ok, music: null });
    expect((await stack.getTask(silent.body.task_id as string)).video_options?.music).toBeNull();
    await stopTask(silent.body.task_id as string);
    const first = await stack.post(ok);
    const options = (await stack.getTask(first.body.task_id as string)).video_options;
    expect(options).toEqual({ ...DEFAULT_VIDEO_OPTIONS });
    expect(options && 'music' in options).toBe(false);
    stack.controls.openGate('Story');
    await stopTask(first.body.task_id as string);
  });

  it('replays an Idempotency-Key for the same options spelled out, refuses it for other options, and 409s a second task while one runs', async () => {
    stack.controls.closeGate('Story');
    const key = { 'idempotency-key': 'options-replay-1' };
    const first = await stack.post(ok, { headers: key });
    expect(first.status).toBe(202);
    const taskId = first.body.task_id as string;

    const spelledOut = await stack.post({ ...ok, ...DEFAULT_VIDEO_OPTIONS }, { headers: key });
    expect(spelledOut.status).toBe(202);
    expect(spelledOut.body.task_id).toBe(taskId);

    const other = await stack.post({ ...ok, subtitle_style: 'boxed' }, { headers: key });
    expect(other.status).toBe(422);
    expect(other.body.error).toBe('idempotency_key_reused');

    const duplicate = await stack.post({ ...ok, subtitle_style: 'boxed' });
    expect(duplicate.status).toBe(409);
    expect(duplicate.body.task_id).toBe(taskId);

    stack.controls.openGate('Story');
    await stopTask(taskId);
  });
});
