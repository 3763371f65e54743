import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getObjectBytes, getObjectText, listKeys, putObject } from '../../shared/artifacts.js';
import type { Draft, MediaSegment } from '../../shared/draft/draft.js';
import type { NarrationTimings } from '../../shared/tts/narration-timings.js';
import type { VisualPlan } from '../../shared/video-options.js';
import { createDraftHandler } from '../../lambdas/draft/handler.js';
import { snapshotSourceMusic } from '../../shared/draft/source-media.js';
import { startFakeHttpTts, type FakeHttpTts } from '../support/fake-tts-services.js';
import { startTestStack, type TestStack } from '../support/stack.js';
import { BOTTOM, bandLevelDb, ffmpeg, colourAt, distance, expectCutsWhereTheDraftSays, near, toneSpeech, TOP, type RGB } from '../support/timeline-checks.js';
import { framePixels } from '../support/video-frames.js';

/**
 * The Draft stage's timeline through the whole embedded pipeline: media generated here by ffmpeg
 * are put under sources/, a task is submitted, and the exported mp4 is checked against the
 * draft.json the stage wrote — the right visual at each segment's midpoint, the cut where the
 * draft says (one frame either side of it), rotation applied as a player applies it, stills moving, music lower under
 * speech than in the pause. The narration is a fake TTS: 0.3 s tones per word, 1.2 s between
 * sentences. Two short tasks (about 4 s each).
 */

let tts: FakeHttpTts;
let stack: TestStack;
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'draft-timeline-'));
  const f = (name: string) => path.join(dir, name);
  const clip = (name: string, source: string) =>
    ffmpeg(['-f', 'lavfi', '-i', source, '-t', '2', '-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p', f(name)]);
  clip('red.mp4', 'color=c=red:s=320x180:r=25');
  clip('blue.mp4', 'color=c=blue:s=180x320:r=30');
  // Stored landscape, green on the left half; tagged rotate=90, a player shows it portrait.
  clip('sideways.mp4', 'color=c=black:s=320x180:r=25,drawbox=x=0:y=0:w=160:h=180:c=green:t=fill');
  ffmpeg(['-i', f('sideways.mp4'), '-c', 'copy', '-metadata:s:v:0', 'rotate=90', f('rotated.mp4')]);
  const still = (name: string, colour: string) =>
    ffmpeg(['-f', 'lavfi', '-i', `color=c=${colour}:s=540x960,drawgrid=w=60:h=60:t=4:c=black`, '-frames:v', '1', f(name)]);
  still('yellow.png', 'yellow');
  still('magenta.png', 'magenta');
  ffmpeg(['-f', 'lavfi', '-i', 'sine=f=440:r=44100:d=3', '-ac', '1', f('music.wav')]);
  tts = await startFakeHttpTts({ synthesize: toneSpeech });
  stack = await startTestStack({ extraEnv: { TTS_URL: tts.url } });
});
afterAll(async () => {
  await stack?.close();
  await tts?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

const put = async (key: string, file: string, type: string) => putObject(stack.runtime, key, await readFile(path.join(dir, file)), type);

/** Runs a task and brings back its record, draft, timings and mp4 (as a local file). */
async function runTask(creator: string, videoId: string, text: string) {
  const sub = await stack.post({ creator_id: creator, video_id: videoId, source_text: text });
  expect(sub.status).toBe(202);
  const task = await stack.finished(sub.body.task_id as string);
  expect(task.status, JSON.stringify(task.error)).toBe('SUCCEEDED');
  const draft = JSON.parse((await getObjectText(stack.runtime, `tasks/${task.task_id}/draft.json`))!) as Draft;
  const timings = JSON.parse((await getObjectText(stack.runtime, `tasks/${task.task_id}/narration.timings.json`))!) as NarrationTimings;
  const video = path.join(dir, `${task.task_id}.mp4`);
  await writeFile(video, (await getObjectBytes(stack.runtime, task.artifacts.find((a) => a.name === 'final_video.mp4')!.key))!);
  const visual = draft.tracks.find((t) => t.type === 'video')!.segments;
  const nameOf = (seg: MediaSegment) => {
    const m = draft.materials.find((x) => x.id === seg.material_id)!;
    return 'key' in m ? m.key.slice(m.key.lastIndexOf('/') + 1) : m.id;
  };
  return { task, draft, timings, video, visual, nameOf };
}

describe('the timeline the Draft stage builds, in the mp4', () => {
  it('plays the clips in name order, upright, cut where the draft says, with the music ducked under speech; a bad file is left out', async () => {
    const media = 'sources/film/clips/media/';
    await put(`${media}2 red.mp4`, 'red.mp4', 'video/mp4');
    await put(`${media}3 蓝色.mp4`, 'blue.mp4', 'video/mp4');
    await put(`${media}10 rotated.mp4`, 'rotated.mp4', 'video/mp4');
    await putObject(stack.runtime, `${media}4 notes.mp4`, 'shot list: red, blue, green', 'video/mp4');
    await put('sources/film/clips/music/bgm.wav', 'music.wav', 'audio/wav');

    const { task, draft, timings, video, visual, nameOf } = await runTask('film', 'clips', 'Red clip now. Blue then green.');

    // name order, numbers as numbers; the text file named .mp4 is left out with its reason
    expect(visual.map(nameOf)).toEqual(['01-2_red.mp4', '02-3_蓝色.mp4', '03-10_rotated.mp4']);
    expect(task.stages.draft.details).toMatchObject({
      clips: 3,
      music: { used: true, name: 'bgm.wav' },
      media_ignored: [{ key: `${media}4 notes.mp4`, code: 'unsupported_media_type', reason: expect.stringContaining('not') }],
    });
    // upright is how a player shows the rotated file: ffmpeg's own reading of its display matrix
    const uprightTop = colourAt(path.join(dir, 'rotated.mp4'), 0.5, { x: 40, y: 20, w: 100, h: 100 });
    const uprightBottom = colourAt(path.join(dir, 'rotated.mp4'), 0.5, { x: 40, y: 200, w: 100, h: 100 });
    expect(distance(uprightTop, uprightBottom)).toBeGreaterThan(100);
    const colours: Record<string, RGB> = { '01-2_red.mp4': [255, 0, 0], '02-3_蓝色.mp4': [0, 0, 255], '03-10_rotated.mp4': uprightTop };
    const colourOf = (seg: MediaSegment) => colours[nameOf(seg)];
    for (const seg of visual) {
      const mid = (seg.target.start_us + seg.target.duration_us / 2) / 1e6;
      expect(near(colourAt(video, mid), colourOf(seg)), `${nameOf(seg)} at ${mid} s: ${colourAt(video, mid).join(',')}`).toBe(true);
    }
    // the rotated clip upright, its two halves where a player shows them
    const rotated = visual[2];
    const mid = (rotated.target.start_us + rotated.target.duration_us / 2) / 1e6;
    expect(near(colourAt(video, mid, BOTTOM), uprightBottom)).toBe(true);
    expectCutsWhereTheDraftSays(video, visual, colourOf);

    // the music: on its own track in the draft, louder in the pause between the sentences than under them
    expect(draft.tracks.find((t) => t.name === 'music')!.segments.length).toBeGreaterThan(1);
    const [first, second] = timings.sentences;
    const underSpeech = bandLevelDb(video, 440, first.start_ms / 1000 + 0.3, first.end_ms / 1000 - 0.1);
    const pause = bandLevelDb(video, 440, first.end_ms / 1000 + 0.3, second.start_ms / 1000 - 0.3);
    expect(pause - underSpeech).toBeGreaterThan(6);
    // the editor draft has every clip and the music under materials/
    const folderFiles = (await listKeys(stack.runtime, `tasks/${task.task_id}/draft/`)).map((k) => k.key.slice(k.key.lastIndexOf('/materials/') + 1));
    expect(folderFiles).toEqual(
      expect.arrayContaining(['materials/01-2_red.mp4', 'materials/02-3_蓝色.mp4', 'materials/03-10_rotated.mp4', 'materials/music-bgm.wav']),
    );
  }, 120_000);

  it('moves the stills and cross-fades between them at the draft’s cut', async () => {
    const media = 'sources/film/stills/media/';
    await put(`${media}a.png`, 'yellow.png', 'image/png');
    await put(`${media}b.png`, 'magenta.png', 'image/png');

    const { video, visual, nameOf } = await runTask('film', 'stills', 'Yellow picture first. Magenta picture comes last.');

    expect(visual.map(nameOf)).toEqual(['01-a.png', '02-b.png']);
    expect(visual.every((s) => s.motion)).toBe(true);
    const colours: Record<string, RGB> = { '01-a.png': [222, 222, 0], '02-b.png': [222, 0, 222] };
    const colourOf = (seg: MediaSegment) => colours[nameOf(seg)];
    for (const seg of visual) {
      const start = seg.target.start_us / 1e6 + 0.4;
      expect(near(colourAt(video, start), colourOf(seg), 60), `${nameOf(seg)} at ${start} s`).toBe(true);
      // frames 0.5 s apart differ: the grid has moved under the window
      const a = framePixels(video, start, TOP);
      const b = framePixels(video, start + 0.5, TOP);
      let diff = 0;
      for (let i = 0; i < a.length; i++) diff += Math.abs(a[i] - b[i]);
      expect(diff / a.length, `${nameOf(seg)} moves`).toBeGreaterThan(5);
    }
    expectCutsWhereTheDraftSays(video, visual, colourOf);
  }, 120_000);

  it('cuts the footage plan’s ranges under their sentences, and falls back to name order with the reason when the plan is wrong', async () => {
    const media = 'sources/film/planned/media/';
    await put(`${media}1 red.mp4`, 'red.mp4', 'video/mp4');
    await put(`${media}2 blue.mp4`, 'blue.mp4', 'video/mp4');
    const text = 'Blue water first. Red sky later.';
    const plan = (clip: string): VisualPlan => ({
      version: 1,
      source: 'gemini',
      sentences: [
        { text: 'Blue water first.', clip: '2 blue.mp4', start_ms: 500, end_ms: 1500 },
        { text: 'Red sky later.', clip, start_ms: 0, end_ms: 1000 },
      ],
    });
    /** A task held before Draft while the plan artifact is written, as the story would have. */
    const runWithPlan = async (p: VisualPlan) => {
      stack.controls.closeGate('Draft');
      const before = stack.controls.arrivalsAt('Draft');
      const sub = await stack.post({ creator_id: 'film', video_id: 'planned', export_video: false, source_text: text });
      await stack.controls.waitForArrivals('Draft', before + 1);
      await putObject(stack.runtime, `tasks/${sub.body.task_id as string}/visual-plan.json`, JSON.stringify(p), 'application/json');
      stack.controls.openGate('Draft');
      const task = await stack.finished(sub.body.task_id as string);
      expect(task.status, JSON.stringify(task.error)).toBe('SUCCEEDED');
      const draft = JSON.parse((await getObjectText(stack.runtime, `tasks/${task.task_id}/draft.json`))!) as Draft;
      const timings = JSON.parse((await getObjectText(stack.runtime, `tasks/${task.task_id}/narration.timings.json`))!) as NarrationTimings;
      const visual = draft.tracks.find((t) => t.type === 'video')!.segments;
      const keys = visual.map((seg) => (draft.materials.find((m) => m.id === seg.material_id) as { key: string }).key.split('/').pop());
      return { task, visual, keys, timings };
    };

    const used = await runWithPlan(plan('1 red.mp4'));
    expect(used.task.stages.draft.details).toMatchObject({ visual_plan: { used: true, source: 'gemini' } });
    expect(used.keys).toEqual(['02-2_blue.mp4', '01-1_red.mp4']);
    // the cut is at the second sentence (to the frame), each clip from its planned start
    const second = used.timings.sentences[1].start_ms * 1000;
    expect(Math.abs(used.visual[1].target.start_us - second)).toBeLessThanOrEqual(20_000);
    expect(used.visual[1].source!.start_us).toBe(0);
    expect(used.visual[0].source!.start_us + used.visual[0].source!.duration_us).toBeLessThanOrEqual(2_000_000);

    const wrong = await runWithPlan(plan('3 missing.mp4'));
    expect(wrong.task.stages.draft.details).toMatchObject({ visual_plan: { used: false, reason: expect.stringContaining('"3 missing.mp4"') } });
    expect(wrong.keys).toEqual(['01-1_red.mp4', '02-2_blue.mp4']);
  });

  it('builds the draft from the video_options the Draft state is given', async () => {
    await put('sources/film/options/media/clip.mp4', 'red.mp4', 'video/mp4');
    await put('sources/film/options/music/bgm.wav', 'music.wav', 'audio/wav');
    stack.controls.closeGate('Draft');
    const before = stack.controls.arrivalsAt('Draft');
    const sub = await stack.post({ creator_id: 'film', video_id: 'options', export_video: false, source_text: 'One line only.' });
    const taskId = sub.body.task_id as string;
    await stack.controls.waitForArrivals('Draft', before + 1);
    try {
      // the state's own input, as the definition passes it, with the request's options
      const out = await createDraftHandler(stack.runtime)({
        task_id: taskId,
        creator_id: 'film',
        video_id: 'options',
        export_video: false,
        narration_key: `tasks/${taskId}/narration.wav`,
        timings_key: `tasks/${taskId}/narration.timings.json`,
        video_options: { visual_fit: 'cover', subtitle_style: 'boxed', music: null, music_volume: 0.5, source_audio_volume: 0.6 },
      });
      const draft = JSON.parse((await getObjectText(stack.runtime, out.draft_key))!) as Draft;
      expect(draft.tracks.map((t) => t.name)).toEqual(['narration', 'visual', 'subtitles']); // music: null
      expect(draft.tracks.find((t) => t.type === 'text')).toMatchObject({ style: 'boxed', position: 'bottom' });
      expect(draft.tracks.find((t) => t.type === 'video')!.segments[0]).toMatchObject({ fit: 'cover', volume: 0.6 });
    } finally {
      stack.controls.openGate('Draft');
    }
    // without options (the state's input today), the defaults: the music, bold outlined captions, blur
    const task = await stack.finished(taskId);
    const draft = JSON.parse((await getObjectText(stack.runtime, `tasks/${task.task_id}/draft.json`))!) as Draft;
    expect(draft.tracks.map((t) => t.name)).toEqual(['narration', 'visual', 'music', 'subtitles']);
    expect(draft.tracks.find((t) => t.type === 'text')).toMatchObject({ style: 'bold_outline' });
    expect(draft.tracks.find((t) => t.type === 'video')!.segments[0]).toMatchObject({ fit: 'blur', volume: 0 });
  });

  it('picks the music: the named file, none for null, else the first in name order; gone or unusable means none, with the reason', async () => {
    const music = 'sources/film/tunes/music/';
    await put(`${music}a10.wav`, 'music.wav', 'audio/wav');
    await put(`${music}a9.wav`, 'music.wav', 'audio/wav');
    await putObject(stack.runtime, `${music}b.mp3`, 'lyrics, not sound', 'audio/mpeg');
    const ids = { taskId: '019a0000-0000-7000-8000-00000000b6a1', creatorId: 'film', videoId: 'tunes' };

    expect((await snapshotSourceMusic(stack.runtime, ids)).music).toMatchObject({
      name: 'a9.wav',
      duration_ms: 3000,
      key: `tasks/${ids.taskId}/media/music-a9.wav`,
    });
    expect((await snapshotSourceMusic(stack.runtime, { ...ids, music: 'a10.wav' })).music).toMatchObject({ name: 'a10.wav' });
    expect(await snapshotSourceMusic(stack.runtime, { ...ids, music: null })).toEqual({});
    expect(await snapshotSourceMusic(stack.runtime, { ...ids, music: 'gone.mp3' })).toEqual({
      ignored: { key: `${music}gone.mp3`, reason: 'the music file gone.mp3 is no longer there' },
    });
    expect(await snapshotSourceMusic(stack.runtime, { ...ids, music: 'b.mp3' })).toEqual({
      ignored: { key: `${music}b.mp3`, code: 'unsupported_media_type', reason: expect.any(String) },
    });
  });
});
