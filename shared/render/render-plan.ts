/**
 * The render plan: what is on screen and on the speakers when, computed from the draft alone —
 * pure data, no files, no ffmpeg. The ffmpeg command (`ffmpeg-command.ts`) is built from it.
 *
 * A new kind of thing on the timeline (clips, motion, cross-fades, music, caption styles) is a
 * new field here plus its filter in `ffmpeg-command.ts`; the process handling in
 * `ffmpeg-process.ts` never changes for it.
 */
import type { Draft, DraftMaterial, MediaSegment, MotionFrame, SubtitlePosition, SubtitleStylePreset, TextSegment, VisualFit } from '../draft/draft.js';
import { SUBTITLE_POSITIONS, SUBTITLE_STYLES } from '../draft/draft.js';
import { InvalidDraftError } from './render-errors.js';

/**
 * Highest frame rate used unless asked, when nothing on screen moves (gradients and still
 * pictures only): more frames only cost encode time (25 fps takes ~1.5x as long); subtitle
 * changes land within 67 ms. A timeline with clips, motion or cross-fades renders at the
 * canvas fps.
 */
export const DEFAULT_STILLS_FPS = 15;

/** Longest cross-fade accepted, microseconds (a transition, not a dissolve of whole shots). */
export const MAX_TRANSITION_US = 2_000_000;

/** One picture held on screen from `startFrame` (inclusive) to `endFrame` (exclusive). */
export interface VisualSpan {
  /** an `image`, `video` or `generated_background` material; null: no picture at all (black) */
  material: DraftMaterial | null;
  /** the boundaries: for a cross-fade, its midpoint (the fade runs `fadeInFrames / 2` either side) */
  startFrame: number;
  endFrame: number;
  /** how a picture that is not 9:16 fills the frame (absent: `cover`) */
  fit?: VisualFit;
  /** a still's motion from its first shown frame to its last (absent: it stands still) */
  motion?: { start: MotionFrame; end: MotionFrame };
  /** a clip: where in the clip the picture at `startFrame` comes from, microseconds */
  sourceStartUs?: number;
  /** frames of the cross-fade from the previous span, centred on `startFrame` (even; absent: a cut) */
  fadeInFrames?: number;
}

/** A stretch of one audio track: a piece of a material, or silence (`materialId` null). */
export interface AudioPart {
  materialId: string | null;
  /** where the piece starts inside the material's file */
  sourceStartUs: number;
  durationUs: number;
  /** gain 0–1 (absent: 1) */
  volume?: number;
  /** the envelope from the part's own start (absent: flat); multiplied with `volume` */
  keyframes?: Array<{ offsetUs: number; volume: number }>;
  /** fades at the part's start and end, microseconds */
  fadeInUs?: number;
  fadeOutUs?: number;
  /** the piece runs past the end of the material's file: the file is played in a loop */
  loop?: boolean;
  /** the material is a video clip (its sound stream is used) */
  fromVideo?: boolean;
}

/** One word of a cue, on the output timeline. */
export interface CueWord {
  text: string;
  startUs: number;
  endUs: number;
}

/** One subtitle cue on the output timeline. */
export interface SubtitleCue {
  text: string;
  startUs: number;
  endUs: number;
  /** the spoken words, when known (for `word_highlight`) */
  words?: CueWord[];
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
  /** the caption preset and position of the text track */
  captions: { style: SubtitleStylePreset; position: SubtitlePosition };
  /** something on screen moves (clips, motion, cross-fades): encoded for motion, at the canvas fps */
  moving: boolean;
}

/**
 * Computes the {@link RenderPlan} of `draft` at the requested frame rate (default: the canvas
 * fps; at most {@link DEFAULT_STILLS_FPS} when nothing moves).
 *
 * @throws {@link InvalidDraftError} when the draft cannot be rendered as given.
 */
export function planRender(draft: Draft, options: { fps?: number } = {}): RenderPlan {
  validateDraft(draft);
  const moving = draftMoves(draft);
  const canvasFps = draft.canvas.fps > 0 ? draft.canvas.fps : DEFAULT_STILLS_FPS;
  const fps = options.fps ?? (moving ? canvasFps : Math.min(canvasFps, DEFAULT_STILLS_FPS));
  if (!(fps > 0 && fps <= 120)) throw new InvalidDraftError(`fps must be in (0, 120], got ${fps}.`);
  const totalFrames = Math.max(1, Math.round((draft.duration_us * fps) / 1_000_000));
  const text = draft.tracks.find((t) => t.type === 'text');
  const captions = {
    style: text?.type === 'text' ? (text.style ?? 'plain') : 'plain',
    position: text?.type === 'text' ? (text.position ?? 'bottom') : 'bottom',
  };
  return {
    canvas: { width: draft.canvas.width, height: draft.canvas.height },
    fps,
    durationUs: draft.duration_us,
    totalFrames,
    visuals: planVisualSpans(draft, fps, totalFrames),
    audioTracks: planAudioTracks(draft),
    subtitles: planSubtitles(draft, captions.style),
    captions,
    moving,
  };
}

function draftMoves(draft: Draft): boolean {
  const videos = new Set(draft.materials.filter((m) => m.type === 'video').map((m) => m.id));
  return draft.tracks.some(
    (t) => t.type === 'video' && t.segments.some((s) => videos.has(s.material_id) || s.motion !== undefined || (s.transition_in?.duration_us ?? 0) > 0),
  );
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
  const pieces: Array<{ seg: MediaSegment | null; segStart: number; from: number; to: number }> = [];
  for (let i = 0; i + 1 < bounds.length; i++) {
    const [from, to] = [bounds[i], bounds[i + 1]];
    const top = placed
      .filter((p) => p.start <= from && p.end >= to)
      .sort((a, b) => a.layer - b.layer || a.start - b.start)
      .at(-1);
    pieces.push({ seg: top?.seg ?? null, segStart: top?.start ?? 0, from, to });
  }
  if (!placed.length) {
    const fallback = draft.materials.find((m) => m.type === 'generated_background') ?? null;
    return [{ material: fallback, startFrame: 0, endFrame: totalFrames }];
  }
  const spans: Array<VisualSpan & { seg: MediaSegment }> = [];
  let leading = 0;
  for (const piece of pieces) {
    const last = spans.at(-1);
    if (!piece.seg) {
      // A gap holds the previous picture (a clip plays on); a leading gap goes to the first one.
      if (last) last.endFrame = piece.to;
      else leading = piece.to;
      continue;
    }
    const seg = piece.seg;
    const material = byId.get(seg.material_id) ?? null;
    const isVideo = material?.type === 'video';
    const startsSegment = piece.from === piece.segStart;
    const fresh = startsSegment && ((seg.transition_in?.duration_us ?? 0) > 0 || seg.motion !== undefined);
    // Neighbours showing the same picture share one input — unless a clip jumps in its source
    // or the later one starts a motion or a fade of its own.
    const continues = last && (last.seg === seg || (last.material === material && !isVideo && !fresh && !last.motion));
    if (last && continues) {
      last.endFrame = piece.to;
      continue;
    }
    const span: VisualSpan & { seg: MediaSegment } = { seg, material, startFrame: spans.length ? piece.from : 0, endFrame: piece.to };
    if (seg.fit && seg.fit !== 'cover') span.fit = seg.fit;
    if (seg.motion && material?.type === 'image') span.motion = seg.motion;
    if (isVideo) {
      const shownFrom = spans.length ? piece.from : Math.min(piece.from, leading);
      span.sourceStartUs = Math.max(0, (seg.source?.start_us ?? 0) + Math.round(((shownFrom - piece.segStart) * 1_000_000) / fps));
    }
    if (startsSegment && spans.length && (seg.transition_in?.duration_us ?? 0) > 0)
      span.fadeInFrames = Math.round(((seg.transition_in?.duration_us ?? 0) * fps) / 1_000_000);
    spans.push(span);
  }
  // A cross-fade is centred on the boundary and may take at most half of either neighbour but
  // one frame, so each span keeps a frame of its own.
  for (let i = 1; i < spans.length; i++) {
    const fade = spans[i].fadeInFrames;
    if (fade === undefined) continue;
    const room = Math.min(spans[i - 1].endFrame - spans[i - 1].startFrame, spans[i].endFrame - spans[i].startFrame);
    const half = Math.min(Math.floor(fade / 2), Math.floor((room - 1) / 2));
    if (half > 0) spans[i].fadeInFrames = 2 * half;
    else delete spans[i].fadeInFrames;
  }
  return spans.map(({ seg: _seg, ...span }) => span);
}

/** Each audio track as a gapless sequence; a clip's own sound (when its `volume` > 0) as one more track. */
function planAudioTracks(draft: Draft): AudioPart[][] {
  const byId = new Map(draft.materials.map((m) => [m.id, m]));
  const tracks: AudioPart[][] = [];
  const clipSound: MediaSegment[] = [];
  for (const track of draft.tracks) {
    if (track.type === 'video') {
      clipSound.push(...track.segments.filter((s) => byId.get(s.material_id)?.type === 'video' && (s.volume ?? 0) > 0));
      continue;
    }
    if (track.type !== 'audio' || !track.segments.length) continue;
    const parts = gaplessParts(draft, track.segments, byId, false);
    if (parts.length) tracks.push(parts);
  }
  if (clipSound.length) {
    const parts = gaplessParts(draft, clipSound, byId, true);
    if (parts.length) tracks.push(parts);
  }
  return tracks;
}

/** Segments in timeline order, silence between them, each cut where the next begins and at the draft's end. */
function gaplessParts(draft: Draft, segments: MediaSegment[], byId: Map<string, DraftMaterial>, fromVideo: boolean): AudioPart[] {
  const sorted = [...segments].sort((a, b) => a.target.start_us - b.target.start_us);
  const parts: AudioPart[] = [];
  let cursor = 0;
  sorted.forEach((seg, i) => {
    const start = Math.max(cursor, seg.target.start_us);
    const nextStart = sorted[i + 1]?.target.start_us ?? Infinity;
    const segEnd = seg.target.start_us + seg.target.duration_us;
    const end = Math.min(segEnd, nextStart, draft.duration_us);
    if (end <= start) return;
    if (start > cursor) parts.push({ materialId: null, sourceStartUs: 0, durationUs: start - cursor });
    const skipped = start - seg.target.start_us;
    const part: AudioPart = { materialId: seg.material_id, sourceStartUs: (seg.source?.start_us ?? 0) + skipped, durationUs: end - start };
    if (fromVideo) part.fromVideo = true;
    const volume = seg.volume ?? 1;
    if (volume !== 1) part.volume = volume;
    if (seg.volume_keyframes?.length) {
      part.keyframes = [...seg.volume_keyframes].sort((a, b) => a.offset_us - b.offset_us).map((k) => ({ offsetUs: k.offset_us - skipped, volume: k.volume }));
    }
    if (seg.fade_in_us && skipped === 0) part.fadeInUs = Math.min(seg.fade_in_us, end - start);
    if (seg.fade_out_us) {
      // the fade ends where the segment ends; a part cut short (by the next segment or the draft's end) ends it there
      part.fadeOutUs = Math.min(seg.fade_out_us, end - start);
    }
    const material = byId.get(seg.material_id);
    const known = material?.type === 'audio' || material?.type === 'video' ? material.duration_us : undefined;
    if (known && known > 0 && part.sourceStartUs + part.durationUs > known + 1000) part.loop = true;
    parts.push(part);
    cursor = end;
  });
  return parts;
}

/**
 * The subtitles material wins over the text track (it is what the editor would show) — except
 * for a styled preset, which needs the text track's cues (their words, for the highlight).
 */
function planSubtitles(draft: Draft, style: SubtitleStylePreset): SubtitleSource | null {
  const material = draft.materials.find((m) => m.type === 'subtitles');
  const segments: TextSegment[] = draft.tracks.flatMap((t) => (t.type === 'text' ? t.segments : []));
  if (material && (style === 'plain' || !segments.length)) return { kind: 'material', materialId: material.id };
  if (!segments.length) return null;
  return {
    kind: 'cues',
    cues: segments.map((s) => {
      const cue: SubtitleCue = { text: s.text, startUs: s.target.start_us, endUs: s.target.start_us + s.target.duration_us };
      if (s.words?.length) cue.words = s.words.map((w) => ({ text: w.text, startUs: w.target.start_us, endUs: w.target.start_us + w.target.duration_us }));
      return cue;
    }),
  };
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
      const fits =
        track.type === 'audio' ? material.type === 'audio' : material.type === 'image' || material.type === 'video' || material.type === 'generated_background';
      if (!fits) throw new InvalidDraftError(`Segment "${seg.id}" puts ${material.type} material "${material.id}" on a ${track.type} track.`);
      validateSegmentOptions(seg);
    }
  }
  for (const track of draft.tracks) {
    if (track.type !== 'text') continue;
    if (track.style !== undefined && !(SUBTITLE_STYLES as readonly string[]).includes(track.style)) {
      throw new InvalidDraftError(`Subtitle style "${String(track.style)}" is not one of ${SUBTITLE_STYLES.join(', ')}.`);
    }
    if (track.position !== undefined && !(SUBTITLE_POSITIONS as readonly string[]).includes(track.position)) {
      throw new InvalidDraftError(`Subtitle position "${String(track.position)}" is not one of ${SUBTITLE_POSITIONS.join(', ')}.`);
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

const unitGain = (v: unknown) => typeof v === 'number' && Number.isFinite(v) && v >= 0 && v <= 1;

function validateSegmentOptions(seg: MediaSegment): void {
  if (seg.fit !== undefined && seg.fit !== 'cover' && seg.fit !== 'blur')
    throw new InvalidDraftError(`Segment "${seg.id}" has fit "${String(seg.fit)}"; expected cover or blur.`);
  if (seg.volume !== undefined && !unitGain(seg.volume)) throw new InvalidDraftError(`Segment "${seg.id}" has volume ${seg.volume}; expected 0 to 1.`);
  for (const k of seg.volume_keyframes ?? []) {
    if (!unitGain(k.volume) || !Number.isFinite(k.offset_us))
      throw new InvalidDraftError(`Segment "${seg.id}" has a volume keyframe ${JSON.stringify(k)}; expected a volume of 0 to 1 at a finite offset.`);
  }
  const transition = seg.transition_in;
  if (transition && (transition.type !== 'fade' || !(transition.duration_us >= 0 && transition.duration_us <= MAX_TRANSITION_US))) {
    throw new InvalidDraftError(`Segment "${seg.id}" has transition ${JSON.stringify(transition)}; expected a fade of 0 to ${MAX_TRANSITION_US / 1000} ms.`);
  }
  if (seg.motion) {
    for (const f of [seg.motion.start, seg.motion.end]) {
      const ok = f && f.scale >= 1 && f.scale <= 3 && Math.abs(f.x) <= 1 && Math.abs(f.y) <= 1;
      if (!ok) throw new InvalidDraftError(`Segment "${seg.id}" has motion ${JSON.stringify(seg.motion)}; expected scale 1 to 3 and x, y in [-1, 1].`);
    }
  }
}
