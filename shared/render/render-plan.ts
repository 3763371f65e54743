/**
 * The render plan: what is on screen and on the speakers when, computed from the draft alone —
 * pure data, no files, no ffmpeg. The ffmpeg command (`ffmpeg-command.ts`) is built from it.
 *
 * A new kind of thing on the timeline (clips, motion, cross-fades, music, caption styles) is a
 * new field here plus its filter in `ffmpeg-command.ts`; the process handling in
 * `ffmpeg-process.ts` never changes for it.
 */
import type { Draft, DraftMaterial, MediaSegment, TextSegment } from '../draft/draft.js';
import { InvalidDraftError } from './render-errors.js';

/**
 * Highest frame rate used unless asked. Every picture is a still (gradient or image), so more
 * frames only cost encode time (25 fps takes ~1.5x as long); subtitle changes land within 67 ms.
 */
export const DEFAULT_STILLS_FPS = 15;

/** One picture held on screen from `startFrame` (inclusive) to `endFrame` (exclusive). */
export interface VisualSpan {
  /** an `image` or `generated_background` material; null: no picture at all (black) */
  material: DraftMaterial | null;
  startFrame: number;
  endFrame: number;
}

/** A stretch of one audio track: a piece of a material, or silence (`materialId` null). */
export interface AudioPart {
  materialId: string | null;
  /** where the piece starts inside the material's file */
  sourceStartUs: number;
  durationUs: number;
}

/** One subtitle cue on the output timeline. */
export interface SubtitleCue {
  text: string;
  startUs: number;
  endUs: number;
}

/** Where the burned-in subtitles come from. */
export type SubtitleSource =
  /** the draft's subtitles material (an SRT file) */
  | { kind: 'material'; materialId: string }
  /** the draft's text track */
  | { kind: 'cues'; cues: SubtitleCue[] };

/** Everything the render shows and plays, on a timeline of frames (video) and microseconds (audio). */
export interface RenderPlan {
  canvas: { width: number; height: number };
  fps: number;
  durationUs: number;
  totalFrames: number;
  /** gapless, in order, covering frames 0 … totalFrames; neighbours show different pictures */
  visuals: VisualSpan[];
  /** each audio track as a gapless sequence of parts; several tracks are mixed */
  audioTracks: AudioPart[][];
  /** null: nothing to burn in */
  subtitles: SubtitleSource | null;
}

/**
 * Computes the {@link RenderPlan} of `draft` at the requested frame rate (default: the canvas
 * fps, at most {@link DEFAULT_STILLS_FPS}).
 *
 * @throws {@link InvalidDraftError} when the draft cannot be rendered as given.
 */
export function planRender(draft: Draft, options: { fps?: number } = {}): RenderPlan {
  validateDraft(draft);
  const fps = options.fps ?? Math.min(draft.canvas.fps > 0 ? draft.canvas.fps : DEFAULT_STILLS_FPS, DEFAULT_STILLS_FPS);
  if (!(fps > 0 && fps <= 120)) throw new InvalidDraftError(`fps must be in (0, 120], got ${fps}.`);
  const totalFrames = Math.max(1, Math.round((draft.duration_us * fps) / 1_000_000));
  return {
    canvas: { width: draft.canvas.width, height: draft.canvas.height },
    fps,
    durationUs: draft.duration_us,
    totalFrames,
    visuals: planVisualSpans(draft, fps, totalFrames),
    audioTracks: planAudioTracks(draft),
    subtitles: planSubtitles(draft),
  };
}

/**
 * The picture at every frame: on overlap the later track wins (it is drawn on top), and within
 * a track the later segment. A gap holds the previous picture (the first picture fills a
 * leading gap), so the frame is never black unless there is no picture at all.
 */
function planVisualSpans(draft: Draft, fps: number, totalFrames: number): VisualSpan[] {
  const byId = new Map(draft.materials.map((m) => [m.id, m]));
  const frame = (us: number) => Math.min(totalFrames, Math.max(0, Math.round((us * fps) / 1_000_000)));
  const placed: Array<{ layer: number; seg: MediaSegment; start: number; end: number }> = [];
  draft.tracks.forEach((track, layer) => {
    if (track.type !== 'video') return;
    for (const seg of track.segments) {
      const start = frame(seg.target.start_us);
      const end = frame(seg.target.start_us + seg.target.duration_us);
      if (end > start) placed.push({ layer, seg, start, end });
    }
  });
  const bounds = [...new Set([0, totalFrames, ...placed.flatMap((p) => [p.start, p.end])])].sort((a, b) => a - b);
  const spans: VisualSpan[] = [];
  for (let i = 0; i + 1 < bounds.length; i++) {
    const [from, to] = [bounds[i], bounds[i + 1]];
    const top = placed
      .filter((p) => p.start <= from && p.end >= to)
      .sort((a, b) => a.layer - b.layer || a.start - b.start)
      .at(-1);
    spans.push({ material: top ? (byId.get(top.seg.material_id) ?? null) : null, startFrame: from, endFrame: to });
  }
  const fallback = spans.find((s) => s.material)?.material ?? draft.materials.find((m) => m.type === 'generated_background') ?? null;
  let previous = fallback;
  for (const span of spans) {
    span.material ??= previous;
    previous = span.material;
  }
  // Merge neighbours showing the same picture: one input and one loop each.
  return spans.reduce<VisualSpan[]>((merged, span) => {
    const last = merged.at(-1);
    if (last && last.material === span.material) last.endFrame = span.endFrame;
    else merged.push({ ...span });
    return merged;
  }, []);
}

/** Each audio track as a gapless sequence: segments in timeline order, silence between them. */
function planAudioTracks(draft: Draft): AudioPart[][] {
  const tracks: AudioPart[][] = [];
  for (const track of draft.tracks) {
    if (track.type !== 'audio' || !track.segments.length) continue;
    const segments = [...track.segments].sort((a, b) => a.target.start_us - b.target.start_us);
    const parts: AudioPart[] = [];
    let cursor = 0;
    segments.forEach((seg, i) => {
      const start = Math.max(cursor, seg.target.start_us);
      const nextStart = segments[i + 1]?.target.start_us ?? Infinity;
      const end = Math.min(seg.target.start_us + seg.target.duration_us, nextStart, draft.duration_us);
      if (end <= start) return;
      if (start > cursor) parts.push({ materialId: null, sourceStartUs: 0, durationUs: start - cursor });
      parts.push({ materialId: seg.material_id, sourceStartUs: (seg.source?.start_us ?? 0) + (start - seg.target.start_us), durationUs: end - start });
      cursor = end;
    });
    if (parts.length) tracks.push(parts);
  }
  return tracks;
}

/** The subtitles material wins over the text track (it is what the editor would show). */
function planSubtitles(draft: Draft): SubtitleSource | null {
  const material = draft.materials.find((m) => m.type === 'subtitles');
  if (material) return { kind: 'material', materialId: material.id };
  const segments: TextSegment[] = draft.tracks.flatMap((t) => (t.type === 'text' ? t.segments : []));
  if (!segments.length) return null;
  return { kind: 'cues', cues: segments.map((s) => ({ text: s.text, startUs: s.target.start_us, endUs: s.target.start_us + s.target.duration_us })) };
}

function validateDraft(draft: Draft): void {
  const { width, height } = draft.canvas ?? {};
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 16 || height < 16 || width % 2 || height % 2 || width > 4096 || height > 4096) {
    throw new InvalidDraftError(`Canvas ${width}x${height} is not an even size between 16 and 4096.`);
  }
  if (!(Number.isFinite(draft.duration_us) && draft.duration_us > 0)) {
    throw new InvalidDraftError(`Draft duration ${draft.duration_us} µs is not a positive number.`);
  }
  const byId = new Map(draft.materials.map((m) => [m.id, m]));
  for (const track of draft.tracks) {
    if (track.type === 'text') continue;
    for (const seg of track.segments) {
      const material = byId.get(seg.material_id);
      if (!material) throw new InvalidDraftError(`Segment "${seg.id}" refers to unknown material "${seg.material_id}".`);
      const fits = track.type === 'audio' ? material.type === 'audio' : material.type === 'image' || material.type === 'generated_background';
      if (!fits) throw new InvalidDraftError(`Segment "${seg.id}" puts ${material.type} material "${material.id}" on a ${track.type} track.`);
    }
  }
  for (const m of draft.materials) {
    if (m.type === 'generated_background') {
      for (const colour of m.colors) {
        if (!/^#?[0-9a-f]{6}$/i.test(colour.trim())) throw new InvalidDraftError(`Background colour "${colour}" is not #rrggbb.`);
      }
    }
  }
}
