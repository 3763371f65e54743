import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getObjectText } from '../../shared/artifacts.js';
import { defaultFfmpegPath } from '../../shared/render/ffmpeg-process.js';
import { FOOTAGE_PROMPT_VERSION } from '../../shared/story/gemini-story-provider.js';
import type { VisualPlan } from '../../shared/video-options.js';
import { generated, startFakeGeminiFiles } from '../support/fake-gemini-files.js';
import { standInGeminiEnv } from '../support/fake-gemini.js';
import { startTestStack, type TestStack } from '../support/stack.js';

/**
 * The story that watches the footage, end to end on the embedded stack: clips uploaded through
 * the media routes, the Story stage streaming them to a stand-in Gemini (resumable upload,
 * files.get, generateContent with a response schema), the plan checked and written — or a
 * fallback with its reason — and the hand-back and redrive paths counting uploads at the stand-in.
 */
let gemini: Awaited<ReturnType<typeof startFakeGeminiFiles>>;
let stack: TestStack;
let dir: string;
const clip = (name: string) => readFileSync(path.join(dir, name));

/** What the text story (no footage) answers: not JSON, a narration a sentence a line. */
const TEXT_ANSWER = 'The river was calm that morning.\nWe walked along it until noon.';
const textOrPlan = (plan: unknown) => (request: { responseSchema?: unknown }) =>
  request.responseSchema ? generated(JSON.stringify(plan)) : generated(TEXT_ANSWER);
const GOOD_PLAN = {
  sentences: [
    { text: 'A red field opens the day.', clip: '2.mp4', start_seconds: 0, end_seconds: 1.2 },
    { text: 'Then the sky turns deep blue.', clip: '10.mp4', start_seconds: 0.2, end_seconds: 1.8 },
    { text: 'And the red comes back at dusk.', clip: '2.mp4', start_seconds: 1.2, end_seconds: 2.0 },
  ],
};

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'footage-story-'));
  const ffmpeg = defaultFfmpegPath();
  const make = (name: string, args: string[]) => execFileSync(ffmpeg, ['-hide_banner', '-loglevel', 'error', '-y', ...args, path.join(dir, name)]);
  const video = ['-t', '2', '-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p'];
  make('2.mp4', ['-f', 'lavfi', '-i', 'color=c=red:s=64x36:r=10', ...video]);
  make('10.mp4', ['-f', 'lavfi', '-i', 'color=c=blue:s=36x64:r=10', ...video]);
  make('cover.png', ['-f', 'lavfi', '-i', 'color=c=green:s=32x32', '-frames:v', '1']);
  gemini = await startFakeGeminiFiles({ generate: textOrPlan(GOOD_PLAN) });
  stack = await startTestStack({
    extraEnv: {
      ...standInGeminiEnv(gemini.url),
      STORY_RPM: '0',
      // no waiting inside the stage: a file still PROCESSING is handed back at once (1 s Wait)
      GEMINI_FILE_WAIT_SECONDS: '0',
      GEMINI_FILE_POLL_SECONDS: '1',
    },
    definition: { rateLimitMaxWaits: 5 },
  });
});
afterAll(async () => {
  await stack?.close();
  await gemini?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const api = () => `${stack.apiUrl}/api/pipeline`;
async function putMedia(s: TestStack, videoId: string, names: string[]) {
  for (const name of names) {
    const res = await fetch(`${s.apiUrl}/api/pipeline/sources/footage/${videoId}/media/${encodeURIComponent(name)}`, {
      method: 'PUT',
      headers: { 'content-type': 'application/octet-stream' },
      body: clip(name),
    });
    expect(res.status, `${name}: ${await res.clone().text()}`).toBe(201);
  }
}
async function waitForStatus(taskId: string, status: string) {
  for (let poll = 0; poll < 300; poll++) {
    const task = await stack.getTask(taskId);
    if (task.status === status) return task;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`task ${taskId} never reached ${status}`);
}
const storyOf = (taskId: string) => getObjectText(stack.runtime, `tasks/${taskId}/story.txt`);
const planOf = (taskId: string) => getObjectText(stack.runtime, `tasks/${taskId}/visual-plan.json`);
const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

describe('a story that watches the footage', () => {
  it('accepts a task without source text when a Gemini key and clips exist, uploads the clips and writes the plan Gemini made of them', async () => {
    // prepare: two clips (name order: 2 before 10) and a still, which is not sent
    await putMedia(stack, 'plan', ['10.mp4', '2.mp4', 'cover.png']);
    gemini.setGenerate(textOrPlan(GOOD_PLAN));
    const before = gemini.uploads.length;

    // act
    const sub = await stack.post({ creator_id: 'footage', video_id: 'plan', export_video: false });
    const task = await stack.finished(sub.body.task_id as string);

    // assess: the uploads arrived whole, in name order, by the resumable protocol
    expect(sub.status).toBe(202);
    expect(task.status).toBe('SUCCEEDED');
    expect(gemini.violations).toEqual([]);
    const uploads = gemini.uploads.slice(before);
    expect(uploads.map((u) => [u.displayName, u.mimeType, u.sha256])).toEqual([
      ['2.mp4', 'video/mp4', sha256(clip('2.mp4'))],
      ['10.mp4', 'video/mp4', sha256(clip('10.mp4'))],
    ]);
    // generateContent referenced the uploaded files, asked for JSON of the schema, listed the facts
    const request = gemini.generated.at(-1)!;
    expect(request.fileUris).toEqual(uploads.map((u) => u.uri));
    expect(request.responseMimeType).toBe('application/json');
    expect(JSON.stringify(request.responseSchema)).toContain('"enum":["2.mp4","10.mp4"]');
    expect(request.prompt).toContain('"2.mp4": 2.00 s, 64x36 (landscape)');
    expect(request.prompt).toContain('"10.mp4": 2.00 s, 36x64 (portrait)');
    // the plan and the story agree, sentence by sentence
    const plan = JSON.parse((await planOf(task.task_id))!) as VisualPlan;
    expect(plan).toEqual({
      version: 1,
      source: 'gemini',
      sentences: [
        { text: 'A red field opens the day.', clip: '2.mp4', start_ms: 0, end_ms: 1200 },
        { text: 'Then the sky turns deep blue.', clip: '10.mp4', start_ms: 200, end_ms: 1800 },
        { text: 'And the red comes back at dusk.', clip: '2.mp4', start_ms: 1200, end_ms: 2000 },
      ],
    });
    expect(await storyOf(task.task_id)).toBe(`${plan.sentences.map((s) => s.text).join('\n')}\n`);
    expect(await getObjectText(stack.runtime, `tasks/${task.task_id}/source.txt`)).toBeUndefined();
    expect(task.stages.story.details).toMatchObject({
      provider: 'gemini',
      prompt_version: FOOTAGE_PROMPT_VERSION,
      visual_plan: { used: true, sentences: 3 },
      // GEMINI_FILE_WAIT_SECONDS=0: one upload per run, so the second clip went up in a second run
      footage: { clips: 2, watched: ['2.mp4', '10.mp4'], uploaded: 1, reused: 1, uploads_total: 2, left_out: [] },
    });
    expect(task.stages.story.attempts).toBe(2);
  });

  it("falls back to the source text, with the reason, when the plan runs past a clip's end", async () => {
    // prepare
    await putMedia(stack, 'past-end', ['2.mp4']);
    gemini.setGenerate(textOrPlan({ sentences: [{ text: 'The field goes on and on.', clip: '2.mp4', start_seconds: 0.5, end_seconds: 5 }] }));

    // act
    const sub = await stack.post({ creator_id: 'footage', video_id: 'past-end', export_video: false, source_text: 'The river. We walked.' });
    const task = await stack.finished(sub.body.task_id as string);

    // assess: today's story from the text, no plan, and why
    expect(task.status).toBe('SUCCEEDED');
    expect(await planOf(task.task_id)).toBeUndefined();
    expect(await storyOf(task.task_id)).toBe(`${TEXT_ANSWER}\n`);
    const details = task.stages.story.details as { visual_plan: { used: boolean; reason: string } };
    expect(details.visual_plan.used).toBe(false);
    expect(details.visual_plan.reason).toBe('sentence 1 shows 0.5–5 s of "2.mp4", past its end (2 s)');
  });

  it("without source text, a plan naming an unknown clip falls back to the answer's sentences, and the record says why", async () => {
    // prepare
    await putMedia(stack, 'unknown-clip', ['2.mp4']);
    gemini.setGenerate(
      textOrPlan({
        sentences: [
          { text: 'Red, everywhere red.', clip: '2.mp4', start_seconds: 0, end_seconds: 1 },
          { text: 'A second look.', clip: 'other.mp4', start_seconds: 0, end_seconds: 1 },
        ],
      }),
    );

    // act
    const task = await stack.finished((await stack.post({ creator_id: 'footage', video_id: 'unknown-clip', export_video: false })).body.task_id as string);

    // assess
    expect(task.status).toBe('SUCCEEDED');
    expect(await planOf(task.task_id)).toBeUndefined();
    expect(await storyOf(task.task_id)).toBe('Red, everywhere red.\nA second look.\n');
    expect(task.stages.story.details).toMatchObject({
      visual_plan: { used: false, reason: 'sentence 2 names the clip "other.mp4", which is not one of "2.mp4"' },
    });
  });

  it('hands the wait for files still PROCESSING back to the state machine, and the re-runs upload nothing twice', async () => {
    // prepare: Gemini reports ACTIVE only at the third look at each file (counted, not timed)
    await putMedia(stack, 'processing', ['2.mp4', '10.mp4']);
    gemini.setGenerate(textOrPlan(GOOD_PLAN));
    gemini.setStateOf((file) => (file.polls >= 3 ? 'ACTIVE' : 'PROCESSING'));
    const before = gemini.uploads.length;

    // act
    const task = await stack.finished((await stack.post({ creator_id: 'footage', video_id: 'processing', export_video: false })).body.task_id as string);
    gemini.setStateOf(() => 'ACTIVE');

    // assess: four Story runs — upload 2.mp4 | upload 10.mp4, look (PROCESSING) | look | look (ACTIVE) —
    // two uploads in all, three looks at each file
    expect(task.status).toBe('SUCCEEDED');
    const uploads = gemini.uploads.slice(before);
    expect(uploads.map((u) => u.displayName)).toEqual(['2.mp4', '10.mp4']);
    expect(uploads.map((u) => u.polls)).toEqual([3, 3]);
    expect(task.stages.story.attempts).toBe(4);
    expect(task.stages.story.details).toMatchObject({ visual_plan: { used: true }, footage: { uploaded: 0, reused: 2, uploads_total: 2 } });
    expect(JSON.parse((await planOf(task.task_id))!)).toMatchObject({ sentences: [{ clip: '2.mp4' }, { clip: '10.mp4' }, { clip: '2.mp4' }] });
  });

  it('a redrive after Gemini refused the plan request uploads again only the file Gemini no longer has', async () => {
    // prepare: the plan request is refused (400): the task fails at story after both uploads
    await putMedia(stack, 'redrive', ['2.mp4', '10.mp4']);
    gemini.setGenerate(() => ({ status: 400, body: { error: { code: 400, message: 'Request contains an invalid argument.', status: 'INVALID_ARGUMENT' } } }));
    const before = gemini.uploads.length;
    const taskId = (await stack.post({ creator_id: 'footage', video_id: 'redrive', export_video: false })).body.task_id as string;
    const failed = await stack.finished(taskId);
    expect(failed.status).toBe('FAILED');
    expect(failed.error).toMatchObject({ stage: 'story', code: 'gemini_request_rejected' });
    const first = gemini.uploads.slice(before);
    expect(first.map((u) => u.displayName)).toEqual(['2.mp4', '10.mp4']);
    // meanwhile Gemini lost one of them (expired or deleted)
    gemini.forget(first[1].name);
    gemini.setGenerate(textOrPlan(GOOD_PLAN));

    // act
    const retried = await fetch(`${api()}/tasks/${taskId}/retry`, { method: 'POST' });
    const task = await waitForStatus(taskId, 'SUCCEEDED');

    // assess: one more upload in all, of the lost file; the plan references the live files
    expect(retried.status).toBe(202);
    const all = gemini.uploads.slice(before);
    expect(all.map((u) => u.displayName)).toEqual(['2.mp4', '10.mp4', '10.mp4']);
    expect(gemini.generated.at(-1)!.fileUris).toEqual([all[0].uri, all[2].uri]);
    expect(task.stages.story.details).toMatchObject({ visual_plan: { used: true }, footage: { uploaded: 1, reused: 2, uploads_total: 3 } });
    const ledger = JSON.parse((await getObjectText(stack.runtime, `tasks/${taskId}/gemini-files.json`))!) as { files: Record<string, { name: string }> };
    expect(Object.fromEntries(Object.entries(ledger.files).map(([k, v]) => [k, v.name]))).toEqual({ '2.mp4': all[0].name, '10.mp4': all[2].name });
  });

  it('leaves out a clip Gemini could not process, with its reason; with no clip left and no source text the task fails footage_unusable', async () => {
    // prepare: Gemini fails every upload of 10.mp4
    await putMedia(stack, 'failed-clip', ['2.mp4', '10.mp4']);
    gemini.setGenerate(textOrPlan({ sentences: [{ text: 'Only the red one.', clip: '2.mp4', start_seconds: 0, end_seconds: 2 }] }));
    gemini.setStateOf((file) => (file.displayName === '10.mp4' ? 'FAILED' : 'ACTIVE'));

    // act
    const one = await stack.finished((await stack.post({ creator_id: 'footage', video_id: 'failed-clip', export_video: false })).body.task_id as string);
    await putMedia(stack, 'all-failed', ['10.mp4']);
    const none = await stack.finished((await stack.post({ creator_id: 'footage', video_id: 'all-failed', export_video: false })).body.task_id as string);
    gemini.setStateOf(() => 'ACTIVE');

    // assess
    expect(one.status).toBe('SUCCEEDED');
    expect(gemini.generated.at(-1)!.fileUris).toHaveLength(1);
    expect(one.stages.story.details).toMatchObject({
      visual_plan: { used: true, sentences: 1 },
      footage: { watched: ['2.mp4'], left_out: [{ clip: '10.mp4', reason: 'Gemini could not process it (The video could not be decoded.)' }] },
    });
    expect(none.status).toBe('FAILED');
    expect(none.error).toEqual({
      stage: 'story',
      code: 'footage_unusable',
      message:
        'The task has no source text and its footage cannot be watched: no clip could be given to Gemini (10.mp4: Gemini could not process it (The video could not be decoded.)). Upload usable clips or send a source text.',
    });
  });

  it('refuses a task without source text when the video has no clip (422 source_missing), writing nothing', async () => {
    // prepare: a still is not footage
    await putMedia(stack, 'still-only', ['cover.png']);
    const keysBefore = await stack.objectKeys();

    // act
    const answer = await stack.post({ creator_id: 'footage', video_id: 'still-only', export_video: false });

    // assess
    expect(answer.status).toBe(422);
    expect(answer.body).toMatchObject({ error: 'source_missing' });
    expect(await stack.objectKeys()).toEqual(keysBefore);
  });
});

describe('without a Gemini key', () => {
  let offline: TestStack;
  beforeAll(async () => {
    offline = await startTestStack({ extraEnv: { GEMINI_BASE_URL: gemini.url } });
  });
  afterAll(async () => {
    await offline?.close();
  });

  it("uploads nothing and tells today's story from the source text; without source text it is still 422", async () => {
    // prepare
    await putMedia(offline, 'offline', ['2.mp4']);
    const uploadsBefore = gemini.uploads.length;
    const generatedBefore = gemini.generated.length;

    // act
    const refused = await offline.post({ creator_id: 'footage', video_id: 'offline', export_video: false });
    const sub = await offline.post({ creator_id: 'footage', video_id: 'offline', export_video: false, source_text: 'The river was calm. We walked.' });
    const task = await offline.finished(sub.body.task_id as string);

    // assess
    expect(refused.status).toBe(422);
    expect(refused.body).toMatchObject({ error: 'source_missing' });
    expect(task.status).toBe('SUCCEEDED');
    expect(task.stages.story.details).toEqual({ provider: 'passthrough', sentences: 2, characters: 29 });
    expect(await getObjectText(offline.runtime, `tasks/${task.task_id}/story.txt`)).toBe('The river was calm.\nWe walked.\n');
    expect(await getObjectText(offline.runtime, `tasks/${task.task_id}/visual-plan.json`)).toBeUndefined();
    expect(gemini.uploads.length - uploadsBefore).toBe(0);
    expect(gemini.generated.length - generatedBefore).toBe(0);
  });
});
