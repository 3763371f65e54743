import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { getObjectBytes, getObjectText, listKeys, putObject } from '../../shared/artifacts.js';
import { checkCapcutDraftFolder } from '../../shared/draft/capcut-draft-check.js';
import { DRAFT_PATH_PLACEHOLDER } from '../../shared/draft/capcut-draft.js';
import type { Draft } from '../../shared/draft/draft.js';
import { gradientPng } from '../../shared/draft/gradient-png.js';
import { probeVideo } from '../../shared/render/probe-video.js';
import { startFakeHttpTts, startFakePolly, type FakeHttpTts, type FakePolly } from '../support/fake-tts-services.js';
import { recordedCalls } from '../support/aws-call-recorder.js';
import { startTestStack, type TestStack } from '../support/stack.js';

/**
 * The draft stage end to end on the embedded stack, with the team TTS service faked on loopback
 * (TTS_URL) and DRAFT_LOCAL_DIR set: the CapCut/JianYing folder of every task, stored and copied.
 */
let tts: FakeHttpTts;
let stack: TestStack;
let localDir: string;

beforeAll(async () => {
  tts = await startFakeHttpTts();
  localDir = await mkdtemp(path.join(tmpdir(), 'jianying-drafts-'));
  stack = await startTestStack({ extraEnv: { TTS_URL: tts.url, DRAFT_LOCAL_DIR: localDir } });
});
afterAll(async () => {
  await stack?.close();
  await tts?.close();
  await rm(localDir, { recursive: true, force: true });
});

type TaskRecord = Awaited<ReturnType<TestStack['finished']>>;

/** The stored draft folder of a task, as path → bytes. */
async function storedFolder(taskId: string): Promise<{ folder: string; files: Map<string, Uint8Array> }> {
  const keys = await listKeys(stack.runtime, `tasks/${taskId}/draft/`);
  const folders = new Set(keys.map((k) => k.key.split('/')[3]));
  expect(folders.size).toBe(1);
  const [folder] = folders;
  const files = new Map<string, Uint8Array>();
  for (const { key } of keys) files.set(key.split('/').slice(4).join('/'), (await getObjectBytes(stack.runtime, key))!);
  return { folder, files };
}

/** A folder on disk, as path → bytes. */
async function diskFolder(dir: string): Promise<Map<string, Uint8Array>> {
  const files = new Map<string, Uint8Array>();
  const walk = async (sub: string) => {
    for (const entry of await readdir(path.join(dir, sub), { withFileTypes: true })) {
      const relative = sub ? `${sub}/${entry.name}` : entry.name;
      if (entry.isDirectory()) await walk(relative);
      else files.set(relative, await readFile(path.join(dir, relative)));
    }
  };
  await walk('');
  return files;
}

const sha = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

function textTrack(files: Map<string, Uint8Array>): string[] {
  const content = JSON.parse(Buffer.from(files.get('draft_content.json')!).toString('utf8')) as {
    materials: { texts: Array<{ id: string; content: string }> };
    tracks: Array<{ type: string; segments: Array<{ material_id: string }> }>;
  };
  const texts = new Map(content.materials.texts.map((t) => [t.id, (JSON.parse(t.content) as { text: string }).text]));
  return content.tracks.filter((t) => t.type === 'text').flatMap((t) => t.segments.map((s) => texts.get(s.material_id)!));
}

/** Checks a finished task's stored and local folders; returns the local folder's files. */
async function expectCompleteFolders(task: TaskRecord): Promise<Map<string, Uint8Array>> {
  expect(task.status, JSON.stringify(task.error)).toBe('SUCCEEDED');
  const expectedName = `${task.creator_id}_${task.video_id}_${task.task_id}`;
  const stored = await storedFolder(task.task_id);
  expect(stored.folder).toBe(expectedName);
  expect(checkCapcutDraftFolder(stored.files, { folderName: expectedName }).problems).toEqual([]);

  const localPath = path.join(localDir, expectedName);
  const local = await diskFolder(localPath);
  const absolute = path.resolve(localPath).replace(/\\/g, '/');
  expect(checkCapcutDraftFolder(local, { folderName: expectedName, absoluteRoot: absolute }).problems).toEqual([]);
  expect([...local.keys()].sort()).toEqual([...stored.files.keys()].sort());
  // The folder's narration is this task's narration, byte for byte.
  const narration = await getObjectBytes(stack.runtime, `tasks/${task.task_id}/narration.wav`);
  expect(sha(local.get('materials/narration.wav')!)).toBe(sha(narration!));
  expect(task.stages.draft.details).toMatchObject({ capcut_draft: { folder: expectedName, local_path: path.resolve(localPath) } });
  return local;
}

describe('the CapCut / JianYing draft of a task', () => {
  it("lays the creator's stills, the narration and the cues in a folder that passes the structure checks, stored and copied locally", async () => {
    await putObject(stack.runtime, 'sources/studio/v-pics/media/01-sunrise.png', gradientPng(720, 1280, '#ff8800', '#220044'), 'image/png');
    await putObject(stack.runtime, 'sources/studio/v-pics/media/02-river.png', gradientPng(1280, 720, '#003355', '#88ccff'), 'image/png');
    await putObject(stack.runtime, 'sources/studio/v-pics/media/10-bridge.png', gradientPng(600, 600, '#224422', '#aaddaa'), 'image/png');
    await putObject(stack.runtime, 'sources/studio/v-pics/media/intro.mp4', Buffer.from('not really a video'), 'video/mp4');
    await putObject(stack.runtime, 'sources/studio/v-pics/media/notes.txt', 'shot list', 'text/plain');
    const source =
      'The river was calm that morning. We walked along it until the sun stood high above the old stone bridge. Nobody else was there, and the water kept its secrets. Later, the fog came back.';

    const sub = await stack.post({ creator_id: 'studio', video_id: 'v-pics', export_video: false, gender: 2, source_text: source });
    const task = await stack.finished(sub.body.task_id as string);
    const local = await expectCompleteFolders(task);

    // TTS went through the team service; the record says how.
    expect(task.stages.tts.details).toMatchObject({ provider: 'http', requests: expect.any(Number), chunks: expect.any(Number) });
    // Pictures: three stills in name order (numbers as numbers), the clip and the text file reported.
    const draft = JSON.parse((await getObjectText(stack.runtime, `tasks/${task.task_id}/draft.json`))!) as Draft;
    const images = draft.materials.filter((m) => m.type === 'image');
    expect(images.map((m) => m.key)).toEqual([1, 2, 3].map((n) => expect.stringMatching(new RegExp(`^tasks/${task.task_id}/media/0${n}-`))));
    expect(images.map((m) => ('width' in m ? m.width : 0))).toEqual([720, 1280, 600]);
    expect(task.stages.draft.details).toMatchObject({
      pictures: 3,
      media_ignored: [{ key: 'sources/studio/v-pics/media/intro.mp4' }, { key: 'sources/studio/v-pics/media/notes.txt' }],
    });
    // On AWS the Draft function's role reads them: recorded as its calls, checked against its policy after this file.
    const draftReads = recordedCalls()
      .filter((c) => c.principal === 'draft')
      .flatMap((c) => c.requests.map((r) => `${r.action} ${r.resource}`));
    expect(draftReads).toContain('s3:GetObject arn:aws:s3:::reel-pipeline-artifacts/sources/studio/v-pics/media/01-sunrise.png');
    expect([...local.keys()].filter((k) => k.startsWith('materials/')).sort()).toEqual([
      'materials/01-01-sunrise.png',
      'materials/02-02-river.png',
      'materials/03-10-bridge.png',
      'materials/narration.wav',
    ]);
    // The folder's subtitles are the task's cues; its timeline lasts as long as draft.json's.
    const srt = (await getObjectText(stack.runtime, `tasks/${task.task_id}/subtitles.srt`))!;
    const srtTexts = srt
      .trim()
      .split(/\n\n/)
      .map((block) => block.split('\n').slice(2).join('\n'));
    expect(textTrack(local)).toEqual(srtTexts);
    const content = JSON.parse(Buffer.from(local.get('draft_content.json')!).toString('utf8')) as {
      duration: number;
      materials: { audios: Array<{ path: string }> };
    };
    expect(content.duration).toBe(draft.duration_us);
    // Stored copy: placeholder paths; local copy: absolute paths to its own files.
    const stored = await storedFolder(task.task_id);
    expect(Buffer.from(stored.files.get('draft_content.json')!).toString('utf8')).toContain(`${DRAFT_PATH_PLACEHOLDER}/materials/narration.wav`);
    expect(content.materials.audios[0].path).toBe(`${path.resolve(localDir, stored.folder).replace(/\\/g, '/')}/materials/narration.wav`);
  });

  it('gives 3 runs of one creator+video in a row and 5 concurrent tasks of other videos 8 distinct, complete local folders', async () => {
    const tasks: TaskRecord[] = [];
    for (let run = 1; run <= 3; run++) {
      const sub = await stack.post({
        creator_id: 'batch',
        video_id: 'same',
        export_video: false,
        source_text: `Run number ${run} of the same video. It has its own words.`,
      });
      expect(sub.status).toBe(202);
      tasks.push(await stack.finished(sub.body.task_id as string));
    }
    // The 5 concurrent tasks reach the draft stage together, so their folders are written at once.
    stack.controls.closeGate('Draft');
    const before = stack.controls.arrivalsAt('Draft');
    const subs = await Promise.all(
      [1, 2, 3, 4, 5].map((n) =>
        stack.post({ creator_id: 'batch', video_id: `v${n}`, export_video: false, source_text: `Video ${n} is told here. It ends now.` }),
      ),
    );
    expect(subs.map((s) => s.status)).toEqual([202, 202, 202, 202, 202]);
    await stack.controls.waitForArrivals('Draft', before + 5);
    stack.controls.openGate('Draft');
    tasks.push(...(await Promise.all(subs.map((s) => stack.finished(s.body.task_id as string)))));

    const entries = await readdir(localDir);
    const batch = entries.filter((e) => e.startsWith('batch_'));
    expect(batch.sort()).toEqual(tasks.map((t) => `batch_${t.video_id}_${t.task_id}`).sort());
    expect(new Set(batch).size).toBe(8);
    expect(entries.filter((e) => e.startsWith('.'))).toEqual([]); // no temporary folder left behind
    for (const [i, task] of tasks.entries()) {
      const local = await expectCompleteFolders(task);
      expect((await stat(path.join(localDir, `batch_${task.video_id}_${task.task_id}`))).isDirectory()).toBe(true);
      // Each folder holds its own task's words.
      expect(textTrack(local).join(' ')).toContain(i < 3 ? `Run number ${i + 1}` : `Video ${i - 2} is told here.`);
    }
  });

  it("exports a video from a draft with the creator's stills", async () => {
    await putObject(stack.runtime, 'sources/render/pics/media/a.png', gradientPng(540, 960, '#aa0000', '#000000'), 'image/png');
    // A Chinese name travels as it is: S3 key, presigned URL, the exporter's download, ffmpeg.
    await putObject(stack.runtime, 'sources/render/pics/media/b-山.png', gradientPng(960, 540, '#0000aa', '#000000'), 'image/png');
    const sub = await stack.post({ creator_id: 'render', video_id: 'pics', source_text: 'Two pictures. And a short line of narration to carry them.' });
    const task = await stack.finished(sub.body.task_id as string);
    expect(task.status, JSON.stringify(task.error)).toBe('SUCCEEDED');
    expect(task.artifacts.map((a) => a.name)).toContain('media/02-b-山.png');
    const dir = await mkdtemp(path.join(tmpdir(), 'reel-pics-'));
    try {
      const file = path.join(dir, 'final_video.mp4');
      await writeFile(file, (await getObjectBytes(stack.runtime, task.artifacts.find((a) => a.name === 'final_video.mp4')!.key))!);
      const probe = await probeVideo(file);
      expect(probe).toMatchObject({ codec: 'h264', width: 1080, height: 1920, audio_codec: 'aac' });
      expect(Math.abs(probe.duration_ms - (task.stages.tts.details as { duration_ms: number }).duration_ms)).toBeLessThan(200);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('Polly through the pipeline', () => {
  let polly: FakePolly;
  let pollyStack: TestStack;
  beforeAll(async () => {
    polly = await startFakePolly();
    pollyStack = await startTestStack({ extraEnv: { TTS_PROVIDER: 'polly', AWS_ENDPOINT_URL_POLLY: polly.endpoint } });
  });
  afterAll(async () => {
    await pollyStack?.close();
    await polly?.close();
  });

  it('records in the task that a male Mandarin narration was spoken by Zhiyu', async () => {
    const sub = await pollyStack.post({
      creator_id: 'zh',
      video_id: 'v1',
      export_video: false,
      gender: 1,
      source_text: '今天我们去公园散步。天气很好，阳光照在湖面上。',
    });
    const task = await pollyStack.finished(sub.body.task_id as string);
    expect(task.status, JSON.stringify(task.error)).toBe('SUCCEEDED');
    expect(task.stages.tts.details).toMatchObject({
      provider: 'polly',
      voice: 'Zhiyu',
      language: 'cmn',
      voice_substitution: { language: 'cmn', requested_gender: 'male', voice: 'Zhiyu', reason: expect.stringContaining('no male Mandarin') },
    });
    expect(polly.calls.map((c) => c.VoiceId)).toEqual(['Zhiyu', 'Zhiyu']);
    // The provider's own Polly client is recorded too, as the TTS function's calls.
    expect(
      recordedCalls()
        .filter((c) => c.operation === 'polly.SynthesizeSpeech')
        .map((c) => c.principal),
    ).toEqual(['tts', 'tts']);
  });
});
