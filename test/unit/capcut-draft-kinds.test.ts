import { describe, expect, it } from 'vitest';
import {
  buildCapcutDraft,
  CANVAS_BLUR,
  CAPTION_TRANSFORM_Y,
  CROSS_FADE_TRANSITION,
  DRAFT_PATH_PLACEHOLDER,
  EDITOR_CAPTION_STYLES,
  HIGHLIGHT_RGB,
  type CapcutMediaFile,
} from '../../shared/draft/capcut-draft.js';
import { checkCapcutDraftFolder } from '../../shared/draft/capcut-draft-check.js';
import type { Draft, MediaSegment, MotionFrame, SubtitleStylePreset, TextSegment, TextTrack } from '../../shared/draft/draft.js';

/**
 * The JianYing draft of a hand-built draft.json with every kind of thing on the timeline: clips
 * (landscape with `fit: blur`, portrait, with and without their own sound), stills with motion,
 * cross-fades, narration, looped music with fades and ducking keyframes, and captions in each
 * preset. The editor's view of the timeline (as it computes it, overlapping transitions
 * centred on their cuts) must equal draft.json's within one frame.
 */
const TASK = '019a0000-0000-7000-8000-0000000ca9c0';
const FOLDER = `creator_video_${TASK}`;
const FPS = 25;
const FRAME_US = 1_000_000 / FPS;
const S = 1_000_000;

type Json = Record<string, any>;

const word = (text: string, startMs: number, endMs: number) => ({ text, target: { start_us: startMs * 1000, duration_us: (endMs - startMs) * 1000 } });
const CUES: TextSegment[] = [
  {
    id: 'cue-1',
    text: '山里有一座庙 temple bells',
    target: { start_us: 200_000, duration_us: 3_300_000 },
    words: [word('山里', 300, 900), word('有一座庙', 900, 1900), word('temple', 2100, 2700), word('bells', 2700, 3400)],
  },
  {
    id: 'cue-2',
    text: '老和尚讲故事',
    target: { start_us: 4_000_000, duration_us: 2_500_000 },
    words: [word('老和尚', 4100, 5000), word('讲故事', 5000, 6300)],
  },
  { id: 'cue-3', text: 'The end, for now.', target: { start_us: 7_000_000, duration_us: 2_800_000 } },
];

const ZOOM_IN = { start: { scale: 1, x: 0, y: 0 }, end: { scale: 1.2, x: 0.5, y: -0.5 } };
const ZOOM_OUT = { start: { scale: 1.15, x: -1, y: 1 }, end: { scale: 1.05, x: 0.25, y: 0 } };

function handBuiltDraft(style: SubtitleStylePreset = 'word_highlight', position: TextTrack['position'] = 'top'): Draft {
  return {
    version: 1,
    task_id: TASK,
    canvas: { width: 1080, height: 1920, fps: FPS },
    duration_us: 10 * S,
    language: 'cmn',
    materials: [
      { id: 'narration', type: 'audio', key: `tasks/${TASK}/narration.wav`, content_type: 'audio/wav', duration_us: 10 * S },
      { id: 'music', type: 'audio', key: `tasks/${TASK}/music/歌.mp3`, content_type: 'audio/mpeg', duration_us: 6 * S },
      { id: 'clip-1', type: 'video', key: `tasks/${TASK}/media/01-海边.mp4`, content_type: 'video/mp4', width: 1920, height: 1080, duration_us: 8 * S },
      {
        id: 'clip-2',
        type: 'video',
        key: `tasks/${TASK}/media/03-portrait.mov`,
        content_type: 'video/quicktime',
        width: 1080,
        height: 1920,
        duration_us: 2_500_000,
      },
      { id: 'image-1', type: 'image', key: `tasks/${TASK}/media/02-庙.jpg`, content_type: 'image/jpeg', width: 4000, height: 3000 },
      { id: 'image-2', type: 'image', key: `tasks/${TASK}/media/04-end.png`, content_type: 'image/png', width: 1080, height: 1920 },
      { id: 'subtitles', type: 'subtitles', key: `tasks/${TASK}/subtitles.srt`, content_type: 'application/x-subrip' },
    ],
    tracks: [
      {
        type: 'audio',
        name: 'narration',
        segments: [{ id: 'narration-1', material_id: 'narration', target: { start_us: 0, duration_us: 10 * S }, source: { start_us: 0, duration_us: 10 * S } }],
      },
      {
        type: 'video',
        name: 'visual',
        segments: [
          {
            id: 'v1',
            material_id: 'clip-1',
            target: { start_us: 0, duration_us: 3 * S },
            source: { start_us: 1 * S, duration_us: 3 * S },
            fit: 'blur',
            volume: 0.4,
          },
          {
            id: 'v2',
            material_id: 'image-1',
            target: { start_us: 3 * S, duration_us: 3 * S },
            motion: ZOOM_IN,
            transition_in: { type: 'fade', duration_us: 500_000 },
          },
          {
            id: 'v3',
            material_id: 'clip-2',
            target: { start_us: 6 * S, duration_us: 2_200_000 },
            source: { start_us: 0, duration_us: 2_200_000 },
            transition_in: { type: 'fade', duration_us: 410_000 },
          },
          { id: 'v4', material_id: 'image-2', target: { start_us: 8_200_000, duration_us: 1_800_000 }, motion: ZOOM_OUT, fit: 'cover' },
        ],
      },
      {
        type: 'audio',
        name: 'music',
        segments: [
          {
            id: 'm1',
            material_id: 'music',
            target: { start_us: 0, duration_us: 6 * S },
            source: { start_us: 0, duration_us: 6 * S },
            volume: 0.5,
            fade_in_us: 500_000,
            volume_keyframes: [
              { offset_us: 0, volume: 1 },
              { offset_us: 50_000, volume: 1 },
              { offset_us: 300_000, volume: 0.3 },
              { offset_us: 3_400_000, volume: 0.3 },
              { offset_us: 3_650_000, volume: 1 },
            ],
          },
          {
            id: 'm2',
            material_id: 'music',
            target: { start_us: 6 * S, duration_us: 4 * S },
            source: { start_us: 0, duration_us: 4 * S },
            volume: 0.5,
            fade_out_us: 1_500_000,
            volume_keyframes: [
              { offset_us: 0, volume: 0.3 },
              { offset_us: 300_000, volume: 0.3 },
              { offset_us: 550_000, volume: 1 },
            ],
          },
        ],
      },
      { type: 'text', name: 'subtitles', segments: CUES, style, position },
    ],
  };
}

const FILES: Record<string, CapcutMediaFile> = {
  narration: { path: 'materials/narration.wav' },
  music: { path: 'materials/歌.mp3' },
  'clip-1': { path: 'materials/01-海边.mp4', width: 1920, height: 1080 },
  'clip-2': { path: 'materials/03-portrait.mov', width: 1080, height: 1920 },
  'image-1': { path: 'materials/02-庙.jpg', width: 4000, height: 3000 },
  'image-2': { path: 'materials/04-end.png', width: 1080, height: 1920 },
};

function build(draft: Draft): { content: Json; meta: Json; folder: Map<string, unknown> } {
  const { content, meta } = buildCapcutDraft({ draft, folderName: FOLDER, files: FILES, createdAtMs: Date.UTC(2026, 0, 2), mediaRoot: DRAFT_PATH_PLACEHOLDER });
  const folder = new Map<string, unknown>([
    ['draft_content.json', JSON.stringify(content)],
    ['draft_meta_info.json', JSON.stringify(meta)],
  ]);
  for (const f of Object.values(FILES)) folder.set(f.path, { key: `tasks/${TASK}/${f.path}` });
  return { content: content, meta: meta, folder };
}

/** The materials of every list by id. */
const materialsById = (content: Json) =>
  new Map<string, Json>(Object.values(content.materials as Record<string, Json[]>).flatMap((list) => list.map((m) => [m.id, m] as [string, Json])));
const trackNamed = (content: Json, name: string) => (content.tracks as Json[]).find((t) => t.name === name)!;
const keyframes = (seg: Json, property: string): Array<[number, number]> =>
  ((seg.common_keyframes as Json[]).find((k) => k.property_type === property)?.keyframe_list ?? []).map((k: Json) => [k.time_offset, k.values[0]]);

/**
 * The timeline as the editor computes it from draft_content.json: cuts at the segments' starts,
 * an overlapping transition of length d on the segment before a cut fading from cut − d/2 to
 * cut + d/2; captions from the text segments; volume keyframes on the timeline.
 */
function editorTimeline(content: Json) {
  const byId = materialsById(content);
  const visual = trackNamed(content, 'visual');
  const cuts = (visual.segments as Json[]).slice(1).map((seg, i) => {
    const before = visual.segments[i] as Json;
    const transition = (before.extra_material_refs as string[]).map((r) => byId.get(r)!).find((m) => m.type === 'transition');
    const at = seg.target_timerange.start as number;
    return { at, fade: transition ? { from: at - transition.duration / 2, to: at + transition.duration / 2 } : null };
  });
  const texts = (trackNamed(content, 'subtitles').segments as Json[]).map((seg) => {
    const c = JSON.parse(byId.get(seg.material_id)!.content as string) as { text: string; styles: Array<{ range: [number, number]; fill: Json }> };
    const lit = c.styles.find((s) => s.fill.content.solid.color.join() === HIGHLIGHT_RGB.join());
    return {
      text: c.text,
      start: seg.target_timerange.start as number,
      end: (seg.target_timerange.start + seg.target_timerange.duration) as number,
      lit: lit && c.text.slice(...lit.range),
    };
  });
  const music = (trackNamed(content, 'music').segments as Json[]).flatMap((seg) =>
    keyframes(seg, 'KFTypeVolume').map(([t, v]) => ({ at: seg.target_timerange.start + t, volume: v })),
  );
  return { cuts, texts, music };
}

/** A still's motion frame back from the editor's scale and position (the inverse of the mapping in capcut-draft.ts). */
function motionFrameOf(scale: number, x: number, y: number, baseScale: number): MotionFrame {
  const zoom = scale / baseScale;
  return { scale: zoom, x: zoom > 1 ? -x / (zoom - 1) : 0, y: zoom > 1 ? y / (zoom - 1) : 0 };
}

describe('JianYing draft of clips, stills, motion, cross-fades, music and styled captions', () => {
  it('lays clips as video materials and stills as photos, with their ranges, fit, sound and the music on a second audio track', () => {
    const { content, folder } = build(handBuiltDraft());

    expect(checkCapcutDraftFolder(folder, { folderName: FOLDER }).problems).toEqual([]);
    const byId = materialsById(content);
    expect(content.materials.videos.map((v: Json) => [v.type, v.material_name, v.duration, v.width, v.height])).toEqual([
      ['video', '01-海边.mp4', 8 * S, 1920, 1080],
      ['video', '03-portrait.mov', 2_500_000, 1080, 1920],
      ['photo', '02-庙.jpg', 10_800_000_000, 4000, 3000],
      ['photo', '04-end.png', 10_800_000_000, 1080, 1920],
    ]);
    expect(content.materials.audios.map((a: Json) => [a.name, a.duration, a.path])).toEqual([
      ['narration.wav', 10 * S, `${DRAFT_PATH_PLACEHOLDER}/materials/narration.wav`],
      ['歌.mp3', 6 * S, `${DRAFT_PATH_PLACEHOLDER}/materials/歌.mp3`],
    ]);
    const [v1, v2, v3, v4] = trackNamed(content, 'visual').segments as Json[];
    expect([v1.source_timerange, v1.target_timerange]).toEqual([
      { start: 1 * S, duration: 3 * S },
      { start: 0, duration: 3 * S },
    ]);
    // The landscape clip sits whole (scale 1) over the editor's canvas blur, its sound at 0.4;
    // the portrait clip fills the frame, muted (a clip's sound is off unless asked for).
    expect([v1.clip.scale.x, v1.volume]).toEqual([1, 0.4]);
    const canvas = (v1.extra_material_refs as string[]).map((r) => byId.get(r)!).find((m) => m.type === 'canvas_blur');
    expect(canvas).toMatchObject({ type: 'canvas_blur', blur: CANVAS_BLUR });
    expect(content.materials.canvases).toHaveLength(1);
    expect([v3.clip.scale.x, v3.volume, v3.source_timerange]).toEqual([1, 0, { start: 0, duration: 2_200_000 }]);
    // Stills are photos whose segments carry keyframes; the still without motion in cover fit keeps its cover scale.
    expect((v2.common_keyframes as Json[]).map((k) => k.property_type)).toEqual(['KFTypeScaleX', 'KFTypeScaleY', 'KFTypePositionX', 'KFTypePositionY']);
    expect(v4.uniform_scale.on).toBe(false);
    // Cross-fades: JianYing's overlapping 叠化 on the segment before the cut.
    expect(content.materials.transitions).toEqual([
      expect.objectContaining({ ...CROSS_FADE_TRANSITION, type: 'transition', is_overlap: true, duration: 480_000 }),
      expect.objectContaining({ is_overlap: true, duration: 400_000 }),
    ]);
    expect(v1.extra_material_refs).toContain(content.materials.transitions[0].id);
    expect(v2.extra_material_refs).toContain(content.materials.transitions[1].id);
    // Music: a second audio track, its volume, a fade-in on the first segment and a fade-out on the last.
    const audioTracks = (content.tracks as Json[]).filter((t) => t.type === 'audio').map((t) => t.name);
    expect(audioTracks).toEqual(['narration', 'music']);
    const [m1, m2] = trackNamed(content, 'music').segments as Json[];
    expect([m1.volume, m2.volume, m2.source_timerange]).toEqual([0.5, 0.5, { start: 0, duration: 4 * S }]);
    const fades = (seg: Json) => (seg.extra_material_refs as string[]).map((r) => byId.get(r)!).filter((m) => m.type === 'audio_fade');
    expect(fades(m1)).toEqual([expect.objectContaining({ fade_in_duration: 500_000, fade_out_duration: 0 })]);
    expect(fades(m2)).toEqual([expect.objectContaining({ fade_in_duration: 0, fade_out_duration: 1_500_000 })]);
    expect(trackNamed(content, 'narration').segments[0].common_keyframes).toEqual([]);
  });

  it('agrees with draft.json within one frame: boundaries, cross-fade windows, cue and word times, ducking keyframes, motion endpoints', () => {
    const draft = handBuiltDraft();
    const { content } = build(draft);
    const editor = editorTimeline(content);
    const close = (a: number, b: number) => Math.abs(a - b) <= FRAME_US;
    const visual = draft.tracks.find((t) => t.type === 'video')!.segments;

    // Boundaries: the cut is the fade's midpoint, the fade window the same.
    expect(editor.cuts.map((c) => c.at)).toEqual(visual.slice(1).map((s) => s.target.start_us));
    editor.cuts.forEach((cut, i) => {
      const fade = visual[i + 1].transition_in;
      if (!fade) return expect(cut.fade).toBeNull();
      const boundary = visual[i + 1].target.start_us;
      expect(
        close(cut.fade!.from, boundary - fade.duration_us / 2) && close(cut.fade!.to, boundary + fade.duration_us / 2),
        JSON.stringify({ cut, fade }),
      ).toBe(true);
    });

    // Captions: each cue from its start to its end, and the lit word from its own start.
    for (const cue of CUES) {
      const pieces = editor.texts.filter((t) => t.text === cue.text);
      expect(close(pieces[0].start, cue.target.start_us) && close(pieces.at(-1)!.end, cue.target.start_us + cue.target.duration_us)).toBe(true);
      for (let i = 1; i < pieces.length; i++) expect(pieces[i].start).toBe(pieces[i - 1].end);
      for (const w of cue.words ?? []) {
        const lit = pieces.find((p) => p.lit === w.text);
        expect(lit, w.text).toBeDefined();
        expect(close(lit!.start, Math.max(cue.target.start_us, w.target.start_us))).toBe(true);
      }
    }
    expect(editor.texts.filter((t) => t.lit).map((t) => t.lit)).toEqual(['山里', '有一座庙', 'temple', 'bells', '老和尚', '讲故事']);

    // Ducking: the music's volume keyframes at the same instants, volume × envelope.
    const music = draft.tracks.find((t) => t.type === 'audio' && t.name === 'music')!.segments as MediaSegment[];
    const expected = music.flatMap((s) => (s.volume_keyframes ?? []).map((k) => ({ at: s.target.start_us + k.offset_us, volume: (s.volume ?? 1) * k.volume })));
    expect(editor.music.map((k) => k.at)).toEqual(expected.map((k) => k.at));
    expect(editor.music.map((k) => k.volume)).toEqual(expected.map((k) => Math.round(k.volume * 10000) / 10000));

    // Motion: the first keyframe at the segment's first frame is the start frame, the last at its last frame the end frame.
    const segs = trackNamed(content, 'visual').segments as Json[];
    for (const [i, cover] of [
      [1, 2.3704],
      [3, 1],
    ] as const) {
      const seg = segs[i];
      const ours = visual[i];
      const scale = keyframes(seg, 'KFTypeScaleX');
      const x = keyframes(seg, 'KFTypePositionX');
      const y = keyframes(seg, 'KFTypePositionY');
      expect(keyframes(seg, 'KFTypeScaleY')).toEqual(scale);
      const first = motionFrameOf(scale[0][1], x[0][1], y[0][1], cover);
      const last = motionFrameOf(scale.at(-1)![1], x.at(-1)![1], y.at(-1)![1], cover);
      expect(scale[0][0]).toBe(0);
      expect(close(ours.target.start_us + scale.at(-1)![0], ours.target.start_us + ours.target.duration_us - FRAME_US)).toBe(true);
      for (const [got, want] of [
        [first, ours.motion!.start],
        [last, ours.motion!.end],
      ]) {
        expect(got.scale).toBeCloseTo(want.scale, 3);
        expect(got.x).toBeCloseTo(want.x, 2);
        expect(got.y).toBeCloseTo(want.y, 2);
      }
      // eased as the renderer eases it: the editor's linear path between keyframes stays within 1 % of the motion's range
      const lastUs = scale.at(-1)![0];
      const { start: from, end: to } = ours.motion!;
      for (let t = 0; t <= lastUs; t += FRAME_US) {
        const i = Math.max(
          1,
          scale.findIndex(([o]) => o >= t),
        );
        const [[o0, v0], [o1, v1]] = [scale[i - 1], scale[i]];
        const editorZoom = (v0 + ((v1 - v0) * (t - o0)) / (o1 - o0)) / cover;
        const rendererZoom = from.scale + (to.scale - from.scale) * ((1 - Math.cos((Math.PI * t) / lastUs)) / 2);
        expect(Math.abs(editorZoom - rendererZoom), `at ${t} µs`).toBeLessThan(Math.abs(to.scale - from.scale) * 0.01 + 1e-4);
      }
    }
  });

  it('lays music longer than its file as one editor segment per pass, the ducking envelope and fades unchanged', () => {
    const draft = handBuiltDraft();
    const keys = [
      { offset_us: 0, volume: 1 },
      { offset_us: 5_000_000, volume: 1 },
      { offset_us: 7_000_000, volume: 0.2 },
      { offset_us: 9_000_000, volume: 0.6 },
    ];
    const looped: MediaSegment = {
      id: 'm1',
      material_id: 'music',
      target: { start_us: 0, duration_us: 10 * S },
      volume: 0.5,
      volume_keyframes: keys,
      fade_in_us: 400_000,
      fade_out_us: 1_000_000,
    };
    draft.tracks = draft.tracks.map((t) => (t.name === 'music' && t.type === 'audio' ? { ...t, segments: [looped] } : t));

    const { content, folder } = build(draft);

    expect(checkCapcutDraftFolder(folder, { folderName: FOLDER }).problems).toEqual([]);
    const pieces = trackNamed(content, 'music').segments as Json[];
    expect(pieces.map((p) => [p.source_timerange, p.target_timerange])).toEqual([
      [
        { start: 0, duration: 6 * S },
        { start: 0, duration: 6 * S },
      ],
      [
        { start: 0, duration: 4 * S },
        { start: 6 * S, duration: 4 * S },
      ],
    ]);
    // The editor's envelope, sampled every 100 ms, is draft.json's (volume × keyframes).
    const editorAt = (t: number) => {
      const seg = pieces.find((p) => t >= p.target_timerange.start && t <= p.target_timerange.start + p.target_timerange.duration)!;
      const kf = keyframes(seg, 'KFTypeVolume').map(([o, v]) => ({ offset_us: seg.target_timerange.start + o, volume: v }));
      const next = kf.findIndex((k) => k.offset_us >= t);
      if (next <= 0) return kf[Math.max(0, next)].volume;
      const [a, b] = [kf[next - 1], kf[next]];
      return a.volume + ((b.volume - a.volume) * (t - a.offset_us)) / (b.offset_us - a.offset_us);
    };
    const oursAt = (t: number) => {
      const next = keys.findIndex((k) => k.offset_us >= t);
      if (next < 0) return 0.5 * keys.at(-1)!.volume;
      if (next === 0) return 0.5 * keys[0].volume;
      const [a, b] = [keys[next - 1], keys[next]];
      return 0.5 * (a.volume + ((b.volume - a.volume) * (t - a.offset_us)) / (b.offset_us - a.offset_us));
    };
    for (let t = 0; t <= 10 * S; t += 100_000) expect(editorAt(t), `at ${t} µs`).toBeCloseTo(oursAt(t), 3);
    const byId = materialsById(content);
    const fadesOf = (seg: Json) => (seg.extra_material_refs as string[]).map((r) => byId.get(r)!).filter((m) => m.type === 'audio_fade');
    expect(fadesOf(pieces[0])).toEqual([expect.objectContaining({ fade_in_duration: 400_000, fade_out_duration: 0 })]);
    expect(fadesOf(pieces[1])).toEqual([expect.objectContaining({ fade_in_duration: 0, fade_out_duration: 1_000_000 })]);
  });

  it('plays a clip that ends before its segment slowed to fill it, inside the clip, the boundaries unchanged', () => {
    const draft = handBuiltDraft();
    const visual = draft.tracks.find((t) => t.type === 'video')!;
    // clip-2 lasts 2.5 s; its segment asks for 2.2 s from 1.8 s on (the renderer holds the last frame)
    visual.segments[2] = { ...visual.segments[2], source: { start_us: 1_800_000, duration_us: 2_200_000 } };

    const { content, folder } = build(draft);

    expect(checkCapcutDraftFolder(folder, { folderName: FOLDER }).problems).toEqual([]);
    const v3 = (trackNamed(content, 'visual').segments as Json[])[2];
    expect([v3.source_timerange, v3.target_timerange, v3.speed]).toEqual([
      { start: 1_800_000, duration: 700_000 },
      { start: 6 * S, duration: 2_200_000 },
      0.3182,
    ]);
  });

  it('keeps volume keyframes inside their segment: one at its end, with the gain there, instead of those past it', () => {
    const draft = handBuiltDraft();
    const music = draft.tracks.find((t) => t.name === 'music' && t.type === 'audio')!;
    music.segments[1] = {
      ...music.segments[1],
      volume_keyframes: [
        { offset_us: 0, volume: 1 },
        { offset_us: 3 * S, volume: 1 },
        { offset_us: 5 * S, volume: 0 },
      ],
    };

    const { content, folder } = build(draft);

    expect(checkCapcutDraftFolder(folder, { folderName: FOLDER }).problems).toEqual([]);
    expect(keyframes((trackNamed(content, 'music').segments as Json[])[1], 'KFTypeVolume')).toEqual([
      [0, 0.5],
      [3 * S, 0.5],
      [4 * S, 0.25],
    ]);
  });

  it('keeps word-highlight pieces in order and without overlap when word timings are not', () => {
    const draft = handBuiltDraft();
    const text = draft.tracks.find((t) => t.type === 'text')!;
    text.segments = [{ ...CUES[0], words: [word('山里', 300, 900), word('temple', 2100, 2700), word('有一座庙', 900, 1900), word('bells', 2700, 3400)] }];

    const { content, folder } = build(draft);

    expect(checkCapcutDraftFolder(folder, { folderName: FOLDER }).problems).toEqual([]);
    const pieces = (trackNamed(content, 'subtitles').segments as Json[]).map((s) => [
      s.target_timerange.start,
      s.target_timerange.start + s.target_timerange.duration,
    ]);
    for (let i = 1; i < pieces.length; i++) expect(pieces[i][0]).toBeGreaterThanOrEqual(pieces[i - 1][1]);
    expect([pieces[0][0], pieces.at(-1)![1]]).toEqual([CUES[0].target.start_us, CUES[0].target.start_us + CUES[0].target.duration_us]);
  });

  it('styles captions per preset and places them in the safe area', () => {
    const looks = (['plain', 'bold_outline', 'boxed', 'word_highlight'] as const).map((style) => {
      const { content } = build(handBuiltDraft(style, style === 'boxed' ? 'middle' : 'bottom'));
      const text = content.materials.texts[0] as Json;
      const styles = JSON.parse(text.content as string).styles as Json[];
      return {
        style,
        size: styles[0].size,
        stroke: styles[0].strokes[0]?.width ?? 0,
        shadow: Boolean(styles[0].shadows),
        box: text.background_color ? [text.background_color, text.background_alpha] : null,
        flag: text.check_flag,
        y: trackNamed(content, 'subtitles').segments[0].clip.transform.y,
        segments: trackNamed(content, 'subtitles').segments.length,
      };
    });
    expect(looks).toEqual([
      { style: 'plain', size: 6, stroke: 0.08, shadow: false, box: null, flag: 15, y: CAPTION_TRANSFORM_Y.bottom, segments: 3 },
      { style: 'bold_outline', size: 7.5, stroke: 0.14, shadow: true, box: null, flag: 47, y: CAPTION_TRANSFORM_Y.bottom, segments: 3 },
      { style: 'boxed', size: 6, stroke: 0, shadow: false, box: ['#000000', 0.75], flag: 23, y: CAPTION_TRANSFORM_Y.middle, segments: 3 },
      // one text segment per spoken word, plus the moment before a cue's first word: 5 + 3 + 1
      {
        style: 'word_highlight',
        size: EDITOR_CAPTION_STYLES.word_highlight.size,
        stroke: 0.14,
        shadow: true,
        box: null,
        flag: 47,
        y: CAPTION_TRANSFORM_Y.bottom,
        segments: 9,
      },
    ]);
    expect(CAPTION_TRANSFORM_Y.top).toBeGreaterThan(0.5);
  });

  it('finds what is broken in the new kinds: transitions off a cut or too long, keyframes outside their segment, fades that do not fit, paths out of materials/', () => {
    const { content, meta, folder } = build(handBuiltDraft());
    const broken = (mutate: (c: Json) => void) => {
      const c = structuredClone(content);
      mutate(c);
      const files = new Map(folder);
      files.set('draft_content.json', JSON.stringify(c));
      files.set('draft_meta_info.json', JSON.stringify(meta));
      return checkCapcutDraftFolder(files, { folderName: FOLDER }).problems.join('\n');
    };
    const visual = (c: Json) => trackNamed(c, 'visual').segments as Json[];
    const music = (c: Json) => trackNamed(c, 'music').segments as Json[];
    expect(broken((c) => (c.materials.transitions[0].duration = 4 * S))).toMatch(/longer than a segment of its cut/);
    expect(broken((c) => visual(c)[3].extra_material_refs.push(c.materials.transitions[1].id))).toMatch(/on no cut/);
    expect(broken((c) => (c.materials.transitions[0].is_overlap = false))).toMatch(/not an overlapping one/);
    expect(broken((c) => (c.materials.transitions = []))).toMatch(/extra material .* does not exist/);
    expect(broken((c) => (visual(c)[1].common_keyframes[0].keyframe_list.at(-1).time_offset = 3 * S + 1))).toMatch(
      /KFTypeScaleX keyframe at .* outside the segment/,
    );
    expect(broken((c) => (visual(c)[1].common_keyframes[2].keyframe_list[2].time_offset = 1))).toMatch(/not in time order/);
    expect(broken((c) => (music(c)[0].common_keyframes[0].property_type = 'KFTypePositionX'))).toMatch(
      /KFTypePositionX keyframes, which a audio track has not/,
    );
    expect(broken((c) => (c.materials.audio_fades[1].fade_out_duration = 5 * S))).toMatch(/fades .* do not fit/);
    expect(broken((c) => (c.materials.canvases[0].blur = 0))).toMatch(/canvas blur 0/);
    expect(broken((c) => (c.materials.videos[0].duration = 2 * S))).toMatch(/plays past the end of its material/);
    expect(broken((c) => (c.materials.videos[0].path = `${DRAFT_PATH_PLACEHOLDER}/materials/../../escape.mp4`))).toMatch(
      /not a file under the folder's materials/,
    );
    expect(broken((c) => (c.materials.audios[1].path = `${DRAFT_PATH_PLACEHOLDER}/歌.mp3`))).toMatch(/not a file under the folder's materials/);
    expect(broken((c) => (visual(c)[2].target_timerange.start -= 100_000))).toMatch(/overlaps the segment before it/);
  });
});
