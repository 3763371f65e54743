import { createHash } from 'node:crypto';
import type { NarrationTimings } from '../tts/narration-timings.js';
import { DEFAULT_VIDEO_OPTIONS, type VideoOptions } from '../video-options.js';
import { DRAFT_VERSION, type CaptionWord, type Draft, type DraftMaterial, type DraftTrack, type MediaSegment, type TextSegment } from './draft.js';
import { planMusicSegments } from './music-track.js';
import { planFootage, planNameOrder, type PlannedVisual, type TimelineVisual } from './picture-timeline.js';
import { cuesFromSentences, type Cue } from './subtitles.js';
import { checkVisualPlan } from './visual-plan-check.js';

const PALETTES: Array<[string, string]> = [
  ['#1e3a8a', '#0f172a'],
  ['#7c2d12', '#1c1917'],
  ['#14532d', '#052e16'],
  ['#581c87', '#1e1b4b'],
  ['#134e4a', '#0c0a09'],
  ['#9f1239', '#1f2937'],
];

/** The canvas of every draft: 9:16 at 25 frames per second. */
export const DRAFT_CANVAS = { width: 1080, height: 1920, fps: 25 } as const;
/** Music shorter than this is not looped under a narration (it would stutter), but left out. */
export const MIN_MUSIC_MS = 1000;

/** A usable still or clip of the task (checked, probed and copied under its prefix). */
export interface DraftMediaFile {
  /** the creator's file name under `media/` */
  name: string;
  kind: 'still' | 'clip';
  /** object key of the task's copy */
  key: string;
  /** file name inside the draft folder's `materials/` */
  file_name: string;
  content_type: string;
  /** size on screen (rotation applied) */
  width: number;
  height: number;
  /** clips: length */
  duration_ms?: number;
}

/** The task's music file (checked, probed and copied under its prefix). */
export interface DraftMusicFile {
  name: string;
  key: string;
  file_name: string;
  content_type: string;
  duration_ms: number;
}

/** Everything the draft is built from; nothing is read here. */
export interface DraftFacts {
  taskId: string;
  creatorId: string;
  videoId: string;
  narration: { key: string; contentType: string; durationMs: number };
  timings: Pick<NarrationTimings, 'language' | 'sentences'>;
  subtitlesKey: string;
  /** usable media in name order (none: the generated background) */
  media?: DraftMediaFile[];
  music?: DraftMusicFile;
  /** absent: {@link DEFAULT_VIDEO_OPTIONS} */
  options?: VideoOptions;
  /** the footage plan artifact when there is one: its parsed JSON, or why it could not be read */
  visualPlan?: { plan: unknown } | { error: string };
}

/** A material of the draft that has a file, and that file. */
export interface DraftMaterialFile {
  materialId: string;
  file: DraftMediaFile | DraftMusicFile;
}

export interface BuiltDraft {
  draft: Draft;
  cues: Cue[];
  /** the materials with files that the timeline uses (the narration and background excluded) */
  files: DraftMaterialFile[];
  /** usable media not on the timeline, by file name, with the reason */
  leftOut: Array<{ name: string; reason: string }>;
  /** present when the task has a footage plan */
  visualPlan?: { used: true; source: string } | { used: false; reason: string };
  /** the music not used although there was a file, and why */
  musicLeftOut?: string;
}

/** The two colours of the generated background of a creator+video (stable across runs). */
export function backgroundColors(creatorId: string, videoId: string): [string, string] {
  const index = createHash('sha256').update(`${creatorId}/${videoId}`).digest()[0] % PALETTES.length;
  return PALETTES[index];
}

/** The seed of a task's Ken Burns moves: the same task always gets the same moves. */
export function motionSeed(taskId: string): number {
  return createHash('sha256').update(taskId).digest().readUInt32BE(0);
}

const us = (ms: number) => Math.round(ms * 1000);

/** The caption cues with their words (those that start inside the cue), on the timeline. */
function captionSegments(cues: Cue[], timings: DraftFacts['timings'], totalUs: number): TextSegment[] {
  const words = timings.sentences.flatMap((s) => s.words);
  return cues.map((c, i) => {
    const start = Math.min(us(c.start_ms), totalUs);
    const end = Math.min(us(c.end_ms), totalUs);
    const seg: TextSegment = { id: `cue-${i + 1}`, text: c.text, target: { start_us: start, duration_us: Math.max(0, end - start) } };
    const inCue: CaptionWord[] = words
      .filter((w) => w.text.trim() && w.start_ms >= c.start_ms - 1 && w.start_ms < c.end_ms)
      .map((w) => {
        const from = Math.min(Math.max(us(w.start_ms), start), end);
        return { text: w.text.trim(), target: { start_us: from, duration_us: Math.max(0, Math.min(us(w.end_ms), end) - from) } };
      });
    if (inCue.length) seg.words = inCue;
    return seg;
  });
}

/** The visual track's plan: the footage plan when it passes its checks, else name order. */
function planVisuals(facts: DraftFacts, totalUs: number, cues: Cue[]) {
  const media = facts.media ?? [];
  const visuals: TimelineVisual[] = media.map((m) => ({
    kind: m.kind,
    name: m.name,
    ...(m.kind === 'clip' ? { duration_us: us(m.duration_ms ?? 0) } : {}),
  }));
  const leftOut: BuiltDraft['leftOut'] = [];
  let visualPlan: BuiltDraft['visualPlan'];
  if (facts.visualPlan) {
    const sentences = facts.timings.sentences.filter((s) => s.text.trim());
    const check =
      'error' in facts.visualPlan
        ? ({ ok: false, reason: facts.visualPlan.error } as const)
        : checkVisualPlan(facts.visualPlan.plan, { visuals, sentences, totalUs, fps: DRAFT_CANVAS.fps });
    if (check.ok) {
      const plan = (facts.visualPlan as { plan: { source?: unknown } }).plan;
      visualPlan = { used: true, source: typeof plan.source === 'string' ? plan.source : 'unknown' };
      const segments = planFootage({ visuals, cuts: check.cuts, sentenceStartsUs: sentences.map((s) => us(s.start_ms)), totalUs, fps: DRAFT_CANVAS.fps });
      const shown = new Set(segments.map((s) => s.visual));
      media.forEach((m, i) => {
        if (!shown.has(i)) leftOut.push({ name: m.name, reason: 'the footage plan does not use it' });
      });
      return { visuals, segments, leftOut, visualPlan };
    }
    visualPlan = { used: false, reason: check.reason };
  }
  const cueStartsUs = cues.map((c) => us(c.start_ms));
  const named = planNameOrder({ visuals, totalUs, fps: DRAFT_CANVAS.fps, seed: motionSeed(facts.taskId), cueStartsUs });
  for (const l of named.leftOut) leftOut.push({ name: media[l.visual].name, reason: l.reason });
  return { visuals, segments: named.segments, leftOut, visualPlan };
}

/**
 * The editing draft of a task, from facts only (pure): the narration on an audio track; the
 * creator's clips and stills on the visual track (the footage plan's ranges under their
 * sentences, or name order — see `picture-timeline.ts`), or without any a generated background;
 * the music on a second audio track, looped, ducked under speech and faded out; the captions on a
 * text track in the requested preset, each with its words. All in microseconds.
 */
export function buildDraft(facts: DraftFacts): BuiltDraft {
  const options = facts.options ?? DEFAULT_VIDEO_OPTIONS;
  const duration_us = us(facts.narration.durationMs);
  const media = facts.media ?? [];
  const cues = cuesFromSentences(facts.timings.sentences);
  const { segments, leftOut, visualPlan } = planVisuals(facts, duration_us, cues);

  const materials: DraftMaterial[] = [];
  const files: DraftMaterialFile[] = [];
  const idOf = (i: number) => `${media[i].kind === 'clip' ? 'video' : 'image'}-${i + 1}`;
  for (const i of [...new Set(segments.map((s) => s.visual))].sort((x, y) => x - y)) {
    const m = media[i];
    const id = idOf(i);
    materials.push(
      m.kind === 'clip'
        ? { id, type: 'video', key: m.key, content_type: m.content_type, width: m.width, height: m.height, duration_us: us(m.duration_ms ?? 0) }
        : { id, type: 'image', key: m.key, content_type: m.content_type, width: m.width, height: m.height },
    );
    files.push({ materialId: id, file: m });
  }
  const uses = new Map<number, number>();
  const visualSegments: MediaSegment[] = segments.map((p: PlannedVisual) => {
    const n = (uses.get(p.visual) ?? 0) + 1;
    uses.set(p.visual, n);
    const seg: MediaSegment = { id: `${idOf(p.visual)}-${n}`, material_id: idOf(p.visual), target: p.target, fit: options.visual_fit };
    if (p.source) seg.source = p.source;
    if (p.transition_in) seg.transition_in = p.transition_in;
    if (p.motion) seg.motion = p.motion;
    if (media[p.visual].kind === 'clip') seg.volume = options.source_audio_volume;
    return seg;
  });
  if (!visualSegments.length) {
    materials.push({ id: 'background', type: 'generated_background', colors: backgroundColors(facts.creatorId, facts.videoId) });
    visualSegments.push({ id: 'background-1', material_id: 'background', target: { start_us: 0, duration_us } });
  }

  const musicTracks: DraftTrack[] = [];
  let musicLeftOut: string | undefined;
  if (facts.music) {
    if (options.music_volume <= 0) musicLeftOut = 'music_volume is 0';
    else if (facts.music.duration_ms < MIN_MUSIC_MS) musicLeftOut = `the music lasts ${facts.music.duration_ms} ms, less than ${MIN_MUSIC_MS} ms`;
    else {
      const words = facts.timings.sentences.flatMap((s) => s.words);
      const spoken = words.length ? words : facts.timings.sentences;
      materials.push({ id: 'music', type: 'audio', key: facts.music.key, content_type: facts.music.content_type, duration_us: us(facts.music.duration_ms) });
      files.push({ materialId: 'music', file: facts.music });
      musicTracks.push({
        type: 'audio',
        name: 'music',
        segments: planMusicSegments({
          materialId: 'music',
          musicUs: us(facts.music.duration_ms),
          totalUs: duration_us,
          volume: options.music_volume,
          speech: spoken.map((s) => ({ startUs: us(s.start_ms), endUs: us(s.end_ms) })),
        }),
      });
    }
  }

  const draft: Draft = {
    version: DRAFT_VERSION,
    task_id: facts.taskId,
    canvas: { ...DRAFT_CANVAS },
    duration_us,
    language: facts.timings.language,
    materials: [
      { id: 'narration', type: 'audio', key: facts.narration.key, content_type: facts.narration.contentType, duration_us },
      ...materials,
      { id: 'subtitles', type: 'subtitles', key: facts.subtitlesKey, content_type: 'application/x-subrip' },
    ],
    tracks: [
      {
        type: 'audio',
        name: 'narration',
        segments: [{ id: 'narration-1', material_id: 'narration', target: { start_us: 0, duration_us }, source: { start_us: 0, duration_us } }],
      },
      { type: 'video', name: 'visual', segments: visualSegments },
      ...musicTracks,
      { type: 'text', name: 'subtitles', style: options.subtitle_style, position: 'bottom', segments: captionSegments(cues, facts.timings, duration_us) },
    ],
  };
  return { draft, cues, files, leftOut, ...(visualPlan ? { visualPlan } : {}), ...(musicLeftOut ? { musicLeftOut } : {}) };
}
