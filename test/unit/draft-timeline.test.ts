import { describe, expect, it } from 'vitest';
import { buildDraft, type DraftFacts, type DraftMediaFile } from '../../shared/draft/build-draft.js';
import type { MediaSegment, TextTrack } from '../../shared/draft/draft.js';
import { envelopeAt } from '../../shared/draft/music-track.js';
import { CROSS_FADE_US, MAX_PICTURE_US, MIN_PICTURE_US, planNameOrder } from '../../shared/draft/picture-timeline.js';
import { byMediaName } from '../../shared/draft/source-media.js';
import type { SpokenSentence } from '../../shared/tts/tts-provider.js';
import { DEFAULT_VIDEO_OPTIONS, type VisualPlan } from '../../shared/video-options.js';

/**
 * The Draft stage's plan, from facts only (no bucket, no ffprobe): which visual is on screen when,
 * the moves, fades, music envelope and captions, and the footage plan's checks and fallback.
 */
const S = 1_000_000;
const FRAME = S / 25;
const TASK = '019a0000-0000-7000-8000-0000000d1aft';

const still = (name: string): DraftMediaFile => ({
  name,
  kind: 'still',
  key: `tasks/${TASK}/media/${name}`,
  file_name: name,
  content_type: 'image/png',
  width: 1080,
  height: 1920,
});
const clip = (name: string, seconds: number): DraftMediaFile => ({
  name,
  kind: 'clip',
  key: `tasks/${TASK}/media/${name}`,
  file_name: name,
  content_type: 'video/mp4',
  width: 1920,
  height: 1080,
  duration_ms: seconds * 1000,
});

/** Sentences of words 0.4 s long with 0.1 s between them; `gap` seconds of silence between sentences. */
function sentences(texts: string[], gap = 1, from = 0.2): SpokenSentence[] {
  let t = from;
  return texts.map((text) => {
    const words = text.split(' ').map((w) => {
      const word = { text: w, start_ms: Math.round(t * 1000), end_ms: Math.round((t + 0.4) * 1000) };
      t += 0.5;
      return word;
    });
    const s = { text, start_ms: words[0].start_ms, end_ms: words[words.length - 1].end_ms, words };
    t += gap;
    return s;
  });
}

function facts(over: Partial<DraftFacts> & { seconds: number }): DraftFacts {
  return {
    taskId: TASK,
    creatorId: 'c',
    videoId: 'v',
    narration: { key: `tasks/${TASK}/narration.wav`, contentType: 'audio/wav', durationMs: over.seconds * 1000 },
    timings: { language: 'en', sentences: sentences(['One two three.', 'Four five.']) },
    subtitlesKey: `tasks/${TASK}/subtitles.srt`,
    ...over,
  };
}

const visual = (f: DraftFacts): MediaSegment[] => buildDraft(f).draft.tracks.find((t) => t.type === 'video')!.segments;
const materialOf = (f: DraftFacts, seg: MediaSegment) => buildDraft(f).draft.materials.find((m) => m.id === seg.material_id)!;
const keyOf = (f: DraftFacts) => (seg: MediaSegment) => (materialOf(f, seg) as { key: string }).key.split('/').pop();

function expectCovering(segments: MediaSegment[], totalUs: number) {
  expect(segments[0].target.start_us).toBe(0);
  for (let i = 1; i < segments.length; i++) expect(segments[i].target.start_us).toBe(segments[i - 1].target.start_us + segments[i - 1].target.duration_us);
  const last = segments[segments.length - 1];
  expect(last.target.start_us + last.target.duration_us).toBe(totalUs);
}

describe('visuals in name order', () => {
  it('orders names with numbers compared as numbers, Unicode names kept', () => {
    expect(['10.mp4', '2.mp4', '1 山.png', 'b.png', 'a10.jpg', 'a9.jpg'].sort(byMediaName)).toEqual([
      '1 山.png',
      '2.mp4',
      '10.mp4',
      'a9.jpg',
      'a10.jpg',
      'b.png',
    ]);
  });

  it('covers the narration in the given order, clips trimmed from their start, stills between 2 and 5 s, cuts on whole frames', () => {
    const f = facts({ seconds: 9, media: [clip('1.mp4', 6), still('2.png'), clip('3.mp4', 1.5)] });
    const segs = visual(f);
    expectCovering(segs, 9 * S);
    expect(segs.map(keyOf(f))).toEqual(['1.mp4', '2.png', '3.mp4']);
    expect(segs.slice(1).every((s) => s.target.start_us % FRAME === 0)).toBe(true);
    // the short clip plays whole, the rest share the time equally
    expect(segs[2].target.duration_us).toBeGreaterThan(1.5 * S - FRAME);
    expect(segs[2].target.duration_us).toBeLessThanOrEqual(1.5 * S);
    expect(segs[0].source).toEqual({ start_us: 0, duration_us: segs[0].target.duration_us });
    expect(segs[1].target.duration_us).toBeGreaterThanOrEqual(MIN_PICTURE_US);
    expect(segs[1].target.duration_us).toBeLessThanOrEqual(MAX_PICTURE_US);
  });

  it('leaves out what does not fit, with the reason, and keeps every still at least 2 s', () => {
    const f = facts({ seconds: 5, media: [still('a.png'), still('b.png'), still('c.png'), clip('d.mp4', 3)] });
    const built = buildDraft(f);
    const segs = visual(f);
    expect(segs.map(keyOf(f))).toEqual(['a.png', 'b.png']);
    expect(segs.every((s) => s.target.duration_us >= MIN_PICTURE_US)).toBe(true);
    expect(built.leftOut).toEqual([
      { name: 'c.png', reason: expect.stringContaining('too short') },
      { name: 'd.mp4', reason: expect.stringContaining('too short') },
    ]);
    expect(built.files.map((x) => x.file.name)).toEqual(['a.png', 'b.png']);
  });

  it('repeats the set from the first visual when the narration outlasts it', () => {
    const f = facts({ seconds: 7, media: [clip('a.mp4', 2), clip('b.mp4', 2)] });
    const segs = visual(f);
    expectCovering(segs, 7 * S);
    expect(segs.map(keyOf(f))).toEqual(['a.mp4', 'b.mp4', 'a.mp4', 'b.mp4']);
    expect(segs.map((s) => s.id)).toEqual(['video-1-1', 'video-2-1', 'video-1-2', 'video-2-2']);
    // no clip plays past its end
    for (const s of segs) expect(s.source!.start_us + s.source!.duration_us).toBeLessThanOrEqual(2 * S);
  });

  it('cross-fades at every cut but the first frame, at most half of the shorter neighbour', () => {
    const segs = visual(facts({ seconds: 8, media: [still('a.png'), still('b.png'), clip('c.mp4', 0.5), still('d.png')] }));
    expect(segs[0].transition_in).toBeUndefined();
    expect(segs[1].transition_in).toEqual({ type: 'fade', duration_us: CROSS_FADE_US });
    // the 0.5 s clip leaves room for a fade of 0.5/2 − one frame = 0.21 s, whole even frames: 0.16 s
    expect(segs[2].transition_in).toEqual({ type: 'fade', duration_us: 4 * FRAME });
    expect(segs[3].transition_in).toEqual({ type: 'fade', duration_us: 4 * FRAME });
  });

  it('moves every still, never two in a row the same way, and the same way again for the same task', () => {
    const media = [still('a.png'), still('b.png'), still('c.png'), still('d.png')];
    const segs = visual(facts({ seconds: 12, media }));
    expect(segs.every((s) => s.motion)).toBe(true);
    for (let i = 1; i < segs.length; i++) expect(segs[i].motion).not.toEqual(segs[i - 1].motion);
    expect(visual(facts({ seconds: 12, media }))).toEqual(segs);
    const other = visual(facts({ seconds: 12, media, taskId: '019a0000-0000-7000-8000-0000000f0e1d' }));
    expect(other.map((s) => s.motion)).not.toEqual(segs.map((s) => s.motion));
  });

  it('leaves out a clip without length, with the reason', () => {
    const planned = planNameOrder({
      visuals: [
        { kind: 'clip', name: 'a', duration_us: 0 },
        { kind: 'still', name: 'b' },
      ],
      totalUs: 3 * S,
      fps: 25,
      seed: 0,
    });
    expect(planned.leftOut).toEqual([{ visual: 0, reason: 'the clip has no length' }]);
    expect(planned.segments.map((s) => s.visual)).toEqual([1]);
  });

  it('moves cuts to a caption start nearby', () => {
    const planned = planNameOrder({
      visuals: [
        { kind: 'still', name: 'a' },
        { kind: 'still', name: 'b' },
      ],
      totalUs: 8 * S,
      fps: 25,
      seed: 0,
      cueStartsUs: [0, 3.72 * S],
    });
    expect(planned.segments[1].target.start_us).toBe(3.72 * S);
  });

  it('lays the generated background when there is no media', () => {
    const built = buildDraft(facts({ seconds: 3 }));
    expect(visual(facts({ seconds: 3 }))).toEqual([{ id: 'background-1', material_id: 'background', target: { start_us: 0, duration_us: 3 * S } }]);
    expect(built.files).toEqual([]);
  });

  it('applies the options: fit, the clips’ own sound, the caption preset at the bottom', () => {
    const options = { ...DEFAULT_VIDEO_OPTIONS, visual_fit: 'cover' as const, source_audio_volume: 0.7, subtitle_style: 'word_highlight' as const };
    const f = facts({ seconds: 5, media: [clip('a.mp4', 3), still('b.png')], options });
    const segs = visual(f);
    expect(segs.map((s) => [s.fit, s.volume])).toEqual([
      ['cover', 0.7],
      ['cover', undefined],
    ]);
    expect(visual(facts({ seconds: 5, media: [clip('a.mp4', 3)] }))[0]).toMatchObject({ fit: 'blur', volume: 0 });
    const text = buildDraft(f).draft.tracks.find((t) => t.type === 'text') as TextTrack;
    expect(text).toMatchObject({ style: 'word_highlight', position: 'bottom' });
    // every caption carries its words, timed as spoken
    expect(text.segments[0].words).toEqual([
      { text: 'One', target: { start_us: 0.2 * S, duration_us: 0.4 * S } },
      { text: 'two', target: { start_us: 0.7 * S, duration_us: 0.4 * S } },
      { text: 'three.', target: { start_us: 1.2 * S, duration_us: 0.4 * S } },
    ]);
  });

  it('gives CJK captions the TTS’s word units', () => {
    const zh: SpokenSentence = {
      text: '山里有庙。',
      start_ms: 100,
      end_ms: 900,
      words: ['山', '里', '有', '庙。'].map((w, i) => ({ text: w, start_ms: 100 + i * 200, end_ms: 300 + i * 200 })),
    };
    const built = buildDraft(facts({ seconds: 2, timings: { language: 'cmn', sentences: [zh] } }));
    const text = built.draft.tracks.find((t) => t.type === 'text') as TextTrack;
    expect(text.segments[0].words!.map((w) => w.text)).toEqual(['山', '里', '有', '庙。']);
  });
});

describe('music under the narration', () => {
  const music = { name: 'bgm.mp3', key: `tasks/${TASK}/media/music-bgm.mp3`, file_name: 'music-bgm.mp3', content_type: 'audio/mpeg', duration_ms: 3000 };

  it('loops the file to the narration, one segment per pass, faded out at the end', () => {
    const built = buildDraft(facts({ seconds: 7, music }));
    const track = built.draft.tracks.find((t) => t.type === 'audio' && t.name === 'music')!;
    expect((track.segments as MediaSegment[]).map((s) => [s.target.start_us, s.target.duration_us, s.source])).toEqual([
      [0, 3 * S, { start_us: 0, duration_us: 3 * S }],
      [3 * S, 3 * S, { start_us: 0, duration_us: 3 * S }],
      [6 * S, 1 * S, { start_us: 0, duration_us: 1 * S }],
    ]);
    expect((track.segments as MediaSegment[]).map((s) => s.fade_out_us)).toEqual([undefined, undefined, 1 * S]);
    expect(built.files.map((f) => f.materialId)).toEqual(['music']);
  });

  it('ducks under the spoken words, at music_volume in the pause between sentences', () => {
    // words 0.2–1.6 s, a 1.1 s pause, words 2.7–3.6 s
    const options = { ...DEFAULT_VIDEO_OPTIONS, music_volume: 0.6 };
    const track = buildDraft(facts({ seconds: 4, music: { ...music, duration_ms: 10_000 }, options })).draft.tracks.find((t) => t.name === 'music')!;
    const keys = (track.segments[0] as MediaSegment).volume_keyframes!;
    const at = (s: number) => envelopeAt(keys, s * S);
    expect(at(0.9)).toBeCloseTo(0.18, 5); // 30 % under speech
    expect(at(2.2)).toBeCloseTo(0.6, 5); // the pause
    expect(at(3.2)).toBeCloseTo(0.18, 5);
  });

  it('cuts the keyframes at each pass so every segment carries its own part of the envelope', () => {
    const track = buildDraft(facts({ seconds: 4, music: { ...music, duration_ms: 2000 } })).draft.tracks.find((t) => t.name === 'music')!;
    const [first, second] = track.segments as MediaSegment[];
    // 2.0 s is in the pause: both sides agree at the joint
    expect(envelopeAt(first.volume_keyframes!, 2 * S)).toBeCloseTo(envelopeAt(second.volume_keyframes!, 0), 5);
    expect(envelopeAt(second.volume_keyframes!, 1.2 * S)).toBeCloseTo(0.15, 5); // 3.2 s: speaking
  });

  it('has no music track at music_volume 0 or for a file under a second, and says why', () => {
    const none = buildDraft(facts({ seconds: 4, music, options: { ...DEFAULT_VIDEO_OPTIONS, music_volume: 0 } }));
    expect(none.draft.tracks.some((t) => t.name === 'music')).toBe(false);
    expect(none.musicLeftOut).toBe('music_volume is 0');
    expect(buildDraft(facts({ seconds: 4, music: { ...music, duration_ms: 400 } })).musicLeftOut).toMatch(/less than 1000 ms/);
  });
});

describe('the footage plan', () => {
  const media = [clip('a.mp4', 6), clip('b.mp4', 3), still('c.png')];
  const spoken = sentences(['One two three.', 'Four five.']); // 0.2–1.6 s, 2.7–3.6 s
  const plan = (over: Partial<VisualPlan> = {}, entries?: VisualPlan['sentences']): VisualPlan => ({
    version: 1,
    source: 'gemini',
    sentences: entries ?? [
      { text: 'One two three.', clip: 'b.mp4', start_ms: 500, end_ms: 1500 },
      { text: 'Four five.', clip: 'a.mp4', start_ms: 4000, end_ms: 5000 },
    ],
    ...over,
  });
  const withPlan = (p: unknown) => facts({ seconds: 4, media, timings: { language: 'en', sentences: spoken }, visualPlan: { plan: p } });

  it('cuts each sentence’s range under it, extended within the clip when the sentence is longer', () => {
    const f = withPlan(plan());
    const built = buildDraft(f);
    const segs = visual(f);
    expect(built.visualPlan).toEqual({ used: true, source: 'gemini' });
    expect(segs.map(keyOf(f))).toEqual(['b.mp4', 'a.mp4']);
    // sentence 2 starts at 2.7 s: the cut is on the nearest frame
    expect(segs.map((s) => s.target)).toEqual([
      { start_us: 0, duration_us: 2.72 * S },
      { start_us: 2.72 * S, duration_us: 1.28 * S },
    ]);
    // 1 s asked for, 2.72 s on screen: on to the clip's end at 3 s, then back before its start
    expect(segs[0].source).toEqual({ start_us: 0.28 * S, duration_us: 2.72 * S });
    expect(segs[1].source).toEqual({ start_us: 4 * S, duration_us: 1.28 * S });
    expect(built.leftOut).toEqual([{ name: 'c.png', reason: 'the footage plan does not use it' }]);
  });

  it.each([
    ['a sentence too few', plan({}, plan().sentences.slice(0, 1)), /1 sentences, the narration 2/],
    ['other words', plan({}, [{ ...plan().sentences[0], text: 'Something else.' }, plan().sentences[1]]), /entry 1 is "Something else\."/],
    ['a clip that is not there', plan({}, [plan().sentences[0], { ...plan().sentences[1], clip: 'gone.mp4' }]), /entry 2 names "gone.mp4"/],
    ['a still named as a clip', plan({}, [plan().sentences[0], { ...plan().sentences[1], clip: 'c.png' }]), /entry 2 names "c.png"/],
    ['a range past the clip', plan({}, [{ ...plan().sentences[0], end_ms: 3500 }, plan().sentences[1]]), /500–3500 ms of "b.mp4", which lasts 3000 ms/],
    ['a range backwards', plan({}, [{ ...plan().sentences[0], start_ms: 1500, end_ms: 500 }, plan().sentences[1]]), /entry 1 asks for 1500–500 ms/],
    ['a flash', plan({}, [{ ...plan().sentences[0], end_ms: 600 }, plan().sentences[1]]), /less than 200 ms/],
    ['not a plan', { version: 2 }, /not a version 1 plan/],
  ])('falls back to name order with the reason for %s', (_what, bad, reason) => {
    const f = withPlan(bad);
    const built = buildDraft(f);
    expect(built.visualPlan).toEqual({ used: false, reason: expect.stringMatching(reason) });
    expect(visual(f).map(keyOf(f))).toEqual(['a.mp4', 'b.mp4', 'c.png']);
  });

  it('falls back for ranges adding up to far more than the narration', () => {
    const long = [clip('a.mp4', 60), clip('b.mp4', 60)];
    const entries = [
      { text: 'One two three.', clip: 'a.mp4', start_ms: 0, end_ms: 30_000 },
      { text: 'Four five.', clip: 'b.mp4', start_ms: 0, end_ms: 30_000 },
    ];
    const built = buildDraft(facts({ seconds: 4, media: long, timings: { language: 'en', sentences: spoken }, visualPlan: { plan: plan({}, entries) } }));
    expect(built.visualPlan).toEqual({ used: false, reason: expect.stringContaining('more than 4 × the 4.0 s narration') });
  });

  it('falls back when the artifact cannot be read', () => {
    const built = buildDraft(facts({ seconds: 4, media, visualPlan: { error: 'the plan is not JSON' } }));
    expect(built.visualPlan).toEqual({ used: false, reason: 'the plan is not JSON' });
  });
});
