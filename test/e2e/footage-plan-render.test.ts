import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getObjectBytes, getObjectText, listKeys, putObject } from '../../shared/artifacts.js';
import type { Draft, MediaSegment } from '../../shared/draft/draft.js';
import type { NarrationTimings } from '../../shared/tts/narration-timings.js';
import type { VisualPlan } from '../../shared/video-options.js';
import { generated, startFakeGeminiFiles, type FakeGenerateRequest } from '../support/fake-gemini-files.js';
import { startFakeHttpTts, type FakeHttpTts } from '../support/fake-tts-services.js';
import { startTestStack, type TestStack } from '../support/stack.js';
import { framePixels, type FrameArea } from '../support/video-frames.js';
import { bandLevelDb, colourAt, ffmpeg, distance, expectCutsWhereTheDraftSays, FRAME_S, near, toneSpeech, type RGB } from '../support/timeline-checks.js';

/**
 * A footage plan from Gemini, through the whole embedded pipeline to the mp4: three colour clips
 * (name order red, green, blue; a white bar in each grows with the clip's time) and a tone as
 * music are uploaded through the media routes,
 * the task has no source text, the stand-in Gemini watches the clips and answers a plan that is
 * not name order, the tone narration speaks its sentences, and the export renders them. Then the
 * record, draft.json, the JianYing draft_content.json and the mp4 are held against the plan.
 * One render of about 5 s.
 */
const CREATOR = 'planner';
const CLIPS: Record<string, RGB> = { 'a red.mp4': [255, 0, 0], 'b green.mp4': [0, 255, 0], 'c blue.mp4': [0, 0, 255] };
const CLIP_US = 3_000_000;
const CLIP_W = 320;
const BAR_PX_PER_S = 100;
/** A row of the canvas through the clip's time bar: a 320x180 clip fit whole (blur) is 1080 wide, centred, 3.375× (y 656–1264). */
const BAR_ROW: FrameArea = { x: 0, y: 1190, w: 1080, h: 2 };

/** Which second of its clip the frame at `seconds` shows: the width of the time bar, read in the canvas. */
function clipSecondShown(video: string, seconds: number, clipColour: RGB): number {
  const pixels = framePixels(video, seconds, BAR_ROW);
  let bar = 0;
  for (let i = 0; i < BAR_ROW.w * 3; i += 3) if (distance([pixels[i], pixels[i + 1], pixels[i + 2]], clipColour) > 150) bar++;
  return bar / (BAR_ROW.w / CLIP_W) / BAR_PX_PER_S;
}
/** What Gemini answers: blue, then red, then green — not name order; the first two ranges shorter than their sentences, the last longer. */
const PLAN = {
  sentences: [
    { text: 'Blue water.', clip: 'c blue.mp4', start_seconds: 1.0, end_seconds: 2.2 },
    { text: 'Red sky.', clip: 'a red.mp4', start_seconds: 0.2, end_seconds: 1.4 },
    { text: 'Green hills.', clip: 'b green.mp4', start_seconds: 0.4, end_seconds: 2.8 },
  ],
};
const planOrText = (plan: unknown) => (request: FakeGenerateRequest) => (request.responseSchema ? generated(JSON.stringify(plan)) : generated('Not a plan.'));

let gemini: Awaited<ReturnType<typeof startFakeGeminiFiles>>;
let tts: FakeHttpTts;
let stack: TestStack;
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'footage-plan-'));
  for (const [name, [r, g, b]] of Object.entries(CLIPS)) {
    const colour = `0x${[r, g, b].map((c) => c.toString(16).padStart(2, '0')).join('')}`;
    // a white bar along the bottom, BAR_PX_PER_S wider each second: a frame tells which second of the clip it is
    const bar = `[0][1]overlay=x='t*${BAR_PX_PER_S}-${CLIP_W}':y=140:eval=frame`;
    ffmpeg([
      ...['-f', 'lavfi', '-i', `color=c=${colour}:s=${CLIP_W}x180:r=25`, '-f', 'lavfi', '-i', `color=c=white:s=${CLIP_W}x40:r=25`],
      ...['-filter_complex', bar, '-t', String(CLIP_US / 1e6), '-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p', path.join(dir, name)],
    ]);
  }
  ffmpeg(['-f', 'lavfi', '-i', 'sine=f=440:r=44100:d=3', '-ac', '1', path.join(dir, 'bgm.wav')]);
  gemini = await startFakeGeminiFiles({ generate: planOrText(PLAN) });
  tts = await startFakeHttpTts({ synthesize: toneSpeech });
  stack = await startTestStack({
    extraEnv: { GEMINI_API_KEY: 'test-key', GEMINI_BASE_URL: gemini.url, STORY_LANGUAGE: 'en', STORY_TARGET_CHARS: '200', STORY_RPM: '0', TTS_URL: tts.url },
  });
});
afterAll(async () => {
  await stack?.close();
  await tts?.close();
  await gemini?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** Uploads the three clips and the music for `videoId` through the media routes, as a creator does. */
async function upload(videoId: string) {
  const files = [...Object.keys(CLIPS).map((name) => ['media', name]), ['music', 'bgm.wav']];
  for (const [folder, name] of files) {
    const res = await fetch(`${stack.apiUrl}/api/pipeline/sources/${CREATOR}/${videoId}/${folder}/${encodeURIComponent(name)}`, {
      method: 'PUT',
      headers: { 'content-type': 'application/octet-stream' },
      body: await readFile(path.join(dir, name)),
    });
    expect(res.status, `${name}: ${await res.clone().text()}`).toBe(201);
  }
}

/**
 * Runs a task without source text and brings back its record, draft, timings and visual track;
 * `beforeDraft` runs while the task is held at the Draft state's gate (after Story and Tts).
 */
async function runTask(videoId: string, a: { exportVideo: boolean; beforeDraft?: (taskId: string) => Promise<void> }) {
  await upload(videoId);
  if (a.beforeDraft) stack.controls.closeGate('Draft');
  const arrivals = stack.controls.arrivalsAt('Draft');
  const sub = await stack.post({ creator_id: CREATOR, video_id: videoId, export_video: a.exportVideo });
  expect(sub.status, JSON.stringify(sub.body)).toBe(202);
  if (a.beforeDraft) {
    try {
      await stack.controls.waitForArrivals('Draft', arrivals + 1);
      await a.beforeDraft(sub.body.task_id as string);
    } finally {
      stack.controls.openGate('Draft');
    }
  }
  const task = await stack.finished(sub.body.task_id as string);
  expect(task.status, JSON.stringify(task.error)).toBe('SUCCEEDED');
  const text = (name: string) => getObjectText(stack.runtime, `tasks/${task.task_id}/${name}`);
  const draft = JSON.parse((await text('draft.json'))!) as Draft;
  const timings = JSON.parse((await text('narration.timings.json'))!) as NarrationTimings;
  const visual = draft.tracks.find((t) => t.type === 'video')!.segments;
  /** the creator's file name of a segment's clip (the task copy is `<nn>-<name>`, spaces as `_`) */
  const clipOf = (seg: MediaSegment) => {
    const m = draft.materials.find((x) => x.id === seg.material_id) as { key: string };
    return Object.keys(CLIPS).find((name) => m.key.endsWith(`-${name.replace(/ /g, '_')}`))!;
  };
  return { task, draft, timings, visual, clipOf, text };
}

/** The stored JianYing draft_content.json of a task. */
async function jianyingContent(taskId: string) {
  const key = (await listKeys(stack.runtime, `tasks/${taskId}/draft/`)).map((k) => k.key).find((k) => k.endsWith('/draft_content.json'))!;
  type Range = { start: number; duration: number };
  return JSON.parse((await getObjectText(stack.runtime, key))!) as {
    tracks: Array<{ type: string; segments: Array<{ target_timerange: Range; source_timerange: Range | null }> }>;
  };
}

describe('a footage plan from Gemini, in the draft and the mp4', () => {
  it('cuts the planned clips, in the plan’s order, over their sentences — in draft.json, the JianYing draft and the video, with the music ducked', async () => {
    // prepare
    gemini.setGenerate(planOrText(PLAN));

    // act
    const { task, draft, timings, visual, clipOf, text } = await runTask('sunset', { exportVideo: true });

    // assess: the story watched the clips and wrote the plan; the Draft stage used it
    expect(gemini.violations).toEqual([]);
    expect(task.stages.story.details).toMatchObject({ provider: 'gemini', visual_plan: { used: true, sentences: 3 } });
    expect(task.stages.draft.details).toMatchObject({ visual_plan: { used: true, source: 'gemini' } });
    const plan = JSON.parse((await text('visual-plan.json'))!) as VisualPlan;
    expect(plan.sentences.map((s) => s.clip)).toEqual(['c blue.mp4', 'a red.mp4', 'b green.mp4']);
    expect(timings.sentences.map((s) => s.text)).toEqual(PLAN.sentences.map((s) => s.text));

    // draft.json: one segment per sentence, the plan's clip, from the sentence's start (the first
    // from 0) to the next one's, on whole frames; the source range the plan's, extended within the
    // clip (past its end first) when shorter than the sentence, cut when longer (docs/rendering.md)
    expect(visual.map(clipOf)).toEqual(plan.sentences.map((s) => s.clip));
    const frameUs = FRAME_S * 1e6;
    const starts = timings.sentences.map((s, k) => (k === 0 ? 0 : Math.round((s.start_ms * 1000) / frameUs) * frameUs));
    const bounds = [...starts, draft.duration_us];
    const expected = plan.sentences.map((s, k) => {
      const wanted = bounds[k + 1] - bounds[k];
      const [from, to] = [s.start_ms * 1000, s.end_ms * 1000];
      const end = to - from >= wanted ? from + wanted : Math.min(CLIP_US, from + wanted);
      return { clip: s.clip, target: { start_us: bounds[k], duration_us: wanted }, source: { start_us: Math.max(0, end - wanted), duration_us: wanted } };
    });
    visual.forEach((seg, k) =>
      expect({ target: seg.target, source: seg.source }, `segment ${k + 1}`).toEqual({ target: expected[k].target, source: expected[k].source }),
    );
    // at least one range was extended and one cut short, so both rules are on show
    expect(visual[0].source!.start_us + visual[0].source!.duration_us).toBeGreaterThan(plan.sentences[0].end_ms * 1000);
    expect(visual[2].source!.duration_us).toBeLessThan((plan.sentences[2].end_ms - plan.sentences[2].start_ms) * 1000);

    // the JianYing draft's video segments say the same, to within a frame
    const content = await jianyingContent(task.task_id);
    const editorVideo = content.tracks.find((t) => t.type === 'video')!.segments;
    expect(editorVideo).toHaveLength(visual.length);
    editorVideo.forEach((seg, k) => {
      const ours = visual[k];
      expect(Math.abs(seg.target_timerange.start - ours.target.start_us), `editor segment ${k + 1} start`).toBeLessThanOrEqual(frameUs);
      expect(Math.abs(seg.target_timerange.duration - ours.target.duration_us), `editor segment ${k + 1} length`).toBeLessThanOrEqual(frameUs);
      expect(Math.abs(seg.source_timerange!.start - ours.source!.start_us), `editor segment ${k + 1} source`).toBeLessThanOrEqual(frameUs);
      expect(Math.abs(seg.source_timerange!.duration - ours.source!.duration_us), `editor segment ${k + 1} source length`).toBeLessThanOrEqual(frameUs);
    });

    // the mp4, held against the plan and the narration (not against draft.json): the planned clip's
    // colour at the middle of each sentence's span, each cut at a sentence start to the frame
    const video = path.join(dir, `${task.task_id}.mp4`);
    await writeFile(video, (await getObjectBytes(stack.runtime, task.artifacts.find((a) => a.name === 'final_video.mp4')!.key))!);
    for (const span of expected) {
      const mid = (span.target.start_us + span.target.duration_us / 2) / 1e6;
      expect(near(colourAt(video, mid), CLIPS[span.clip]), `${span.clip} at ${mid} s: ${colourAt(video, mid).join(',')}`).toBe(true);
      // and the planned part of it: the clip's time bar shows the source second the plan puts there
      const clipSecond = (span.source.start_us + span.target.duration_us / 2) / 1e6;
      expect(Math.abs(clipSecondShown(video, mid, CLIPS[span.clip]) - clipSecond), `${span.clip} at ${mid} s shows its second ${clipSecond}`).toBeLessThan(0.1);
    }
    expectCutsWhereTheDraftSays(video, expected, (span) => CLIPS[span.clip]);

    // the music: lower under the first sentence than in the pause after it (the tone narration pauses 1.2 s)
    const [first, second] = timings.sentences;
    expect(second.start_ms - first.end_ms).toBeGreaterThan(900);
    const underSpeech = bandLevelDb(video, 440, first.start_ms / 1000 + 0.3, first.end_ms / 1000 - 0.1);
    const pause = bandLevelDb(video, 440, first.end_ms / 1000 + 0.3, second.start_ms / 1000 - 0.3);
    expect(pause - underSpeech).toBeGreaterThan(6);
  }, 120_000);

  it('falls back to name order, with the reason, when the plan in the task has fewer entries than the narration has sentences', async () => {
    // prepare: the Story stage writes one entry per narration line, so a short plan is one written
    // otherwise (by hand, or left from another story): here it replaces the story's while the task waits at Draft
    gemini.setGenerate(planOrText(PLAN));

    // act
    const { task, timings, visual, clipOf } = await runTask('short-plan', {
      exportVideo: false,
      beforeDraft: async (taskId) => {
        const key = `tasks/${taskId}/visual-plan.json`;
        const plan = JSON.parse((await getObjectText(stack.runtime, key))!) as VisualPlan;
        await putObject(stack.runtime, key, JSON.stringify({ ...plan, sentences: plan.sentences.slice(0, 2) }), 'application/json');
      },
    });

    // assess: three sentences spoken, two planned: name order, and the record says why
    expect(task.stages.story.details).toMatchObject({ visual_plan: { used: true, sentences: 3 } });
    expect(timings.sentences).toHaveLength(3);
    expect(task.stages.draft.details).toMatchObject({
      visual_plan: { used: false, reason: 'the plan has 2 sentences, the narration 3: one entry per sentence is expected' },
    });
    expect(visual.map(clipOf)).toEqual(['a red.mp4', 'b green.mp4', 'c blue.mp4']);
    expect(visual.every((seg) => seg.source!.start_us === 0)).toBe(true);
  });

  it('falls back to name order, with the reason, when a planned clip is deleted after the story watched it', async () => {
    // prepare
    gemini.setGenerate(planOrText(PLAN));

    // act: the creator deletes the red clip while the task waits at Draft
    const { task, visual, clipOf } = await runTask('deleted-clip', {
      exportVideo: false,
      beforeDraft: async () => {
        const res = await fetch(`${stack.apiUrl}/api/pipeline/sources/${CREATOR}/deleted-clip/media/${encodeURIComponent('a red.mp4')}`, { method: 'DELETE' });
        expect(res.status, await res.clone().text()).toBeLessThan(300);
      },
    });

    // assess
    expect(task.stages.draft.details).toMatchObject({
      visual_plan: { used: false, reason: 'entry 2 names "a red.mp4", which is not one of the usable clips' },
    });
    expect(visual.map(clipOf)).toEqual(['b green.mp4', 'c blue.mp4']);
  });
});
