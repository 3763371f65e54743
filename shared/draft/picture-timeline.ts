/**
 * Where each of the creator's visuals shows: the visual track of the draft, planned from facts
 * only (pure). In name order (see {@link planNameOrder}) or, when the story watched the footage,
 * one clip range under each sentence (see {@link planFootage}).
 *
 * ```
 * narration  |-------- sentence 1 --------|--- sentence 2 ---|------ sentence 3 ------|
 * name order [ clip 1 (trimmed) ][ still 1 ≥ 2 s ][ clip 2 ][ still 2 ][ clip 1 again ]
 *                               ↑ cut = the midpoint of a 0.4 s cross-fade (none at 0)
 * ```
 */
import type { MotionFrame, SegmentTransition, TimeRange } from './draft.js';

/** A still stays on screen at least this long; more visuals than fit are left out. */
export const MIN_PICTURE_US = 2_000_000;
/** A still is shown at most this long before the next visual (or the set again) takes over. */
export const MAX_PICTURE_US = 5_000_000;
/** A clip plays at least this long (or whole, if shorter). */
export const MIN_CLIP_US = 1_000_000;
/** The cross-fade between two visuals; its midpoint is the cut. */
export const CROSS_FADE_US = 400_000;

/** One usable visual, as the planner sees it. */
export interface TimelineVisual {
  kind: 'still' | 'clip';
  /** the creator's file name (for the reasons of what is left out) */
  name: string;
  /** a clip's length, microseconds */
  duration_us?: number;
}

/** One segment of the visual track. */
export interface PlannedVisual {
  /** index into the visuals given to the planner */
  visual: number;
  target: TimeRange;
  /** clips: the part that plays */
  source?: TimeRange;
  transition_in?: SegmentTransition;
  /** stills: the Ken Burns move */
  motion?: { start: MotionFrame; end: MotionFrame };
}

/** A visual that is not on the timeline, and why. */
export interface LeftOutVisual {
  visual: number;
  reason: string;
}

/**
 * The Ken Burns moves a still is given, in turn: zoom in, pan right, zoom out, pan down, pan left,
 * zoom into the upper left, pan up. Slow (at most 15 % zoom, a pan across the 12 % the zoom
 * leaves), so a 2 s still does not lurch and a 5 s one still visibly moves.
 */
const MOVES: Array<{ start: MotionFrame; end: MotionFrame }> = [
  { start: { scale: 1, x: 0, y: 0 }, end: { scale: 1.15, x: 0, y: 0 } },
  { start: { scale: 1.12, x: -1, y: 0 }, end: { scale: 1.12, x: 1, y: 0 } },
  { start: { scale: 1.15, x: 0, y: 0 }, end: { scale: 1, x: 0, y: 0 } },
  { start: { scale: 1.12, x: 0, y: -1 }, end: { scale: 1.12, x: 0, y: 1 } },
  { start: { scale: 1.12, x: 1, y: 0 }, end: { scale: 1.12, x: -1, y: 0 } },
  { start: { scale: 1, x: 0, y: 0 }, end: { scale: 1.15, x: -0.6, y: -0.6 } },
  { start: { scale: 1.12, x: 0, y: 1 }, end: { scale: 1.12, x: 0, y: -1 } },
];

/** The move of the `index`-th still of a timeline (0-based): consecutive stills never share one; `seed` picks where the cycle starts. */
export function stillMotion(seed: number, index: number): { start: MotionFrame; end: MotionFrame } {
  const move = MOVES[(((seed + index) % MOVES.length) + MOVES.length) % MOVES.length];
  return { start: { ...move.start }, end: { ...move.end } };
}

const minimumOf = (v: TimelineVisual) => (v.kind === 'still' ? MIN_PICTURE_US : Math.min(v.duration_us ?? 0, MIN_CLIP_US));
const naturalOf = (v: TimelineVisual) => (v.kind === 'still' ? MAX_PICTURE_US : (v.duration_us ?? 0));

/**
 * Lengths that add up to `total`: every item an equal share, bounded below by `lo` and above by
 * `hi` (water filling); when even the lower bounds do not fit, the lower bounds scaled down.
 */
function shares(lo: number[], hi: number[], total: number): number[] {
  const sumLo = lo.reduce((s, v) => s + v, 0);
  if (sumLo >= total) return lo.map((v) => (v * total) / sumLo);
  const fill = (level: number) => lo.reduce((s, l, i) => s + Math.min(hi[i], Math.max(l, level)), 0);
  let low = 0;
  let high = Math.max(total, ...hi);
  for (let k = 0; k < 60; k++) {
    const mid = (low + high) / 2;
    if (fill(mid) < total) low = mid;
    else high = mid;
  }
  return lo.map((l, i) => Math.min(hi[i], Math.max(l, high)));
}

/**
 * Boundaries from lengths, on whole frames (the draft's cuts are the mp4's cuts), the last at
 * `total`: each length rounded to frames but never past its upper bound (a clip's own length);
 * what rounding leaves over or short is moved, a frame at a time, to neighbours with room.
 */
function frameBounds(lengths: number[], lo: number[], hi: number[], total: number, frameUs: number): number[] {
  const n = lengths.length;
  const frames = lengths.slice(0, -1).map((l, i) => Math.max(1, Math.min(Math.round(l / frameUs), Math.floor(hi[i] / frameUs))));
  let last = total / frameUs - frames.reduce((s, f) => s + f, 0);
  for (let i = n - 2; i >= 0 && last > hi[n - 1] / frameUs; i--) {
    while (last > hi[n - 1] / frameUs && frames[i] + 1 <= hi[i] / frameUs) {
      frames[i]++;
      last--;
    }
  }
  const floor = Math.max(1, Math.min(lo[n - 1] / frameUs, hi[n - 1] / frameUs));
  for (let i = n - 2; i >= 0 && last < floor; i--) {
    while (last < floor && frames[i] - 1 >= Math.max(1, Math.ceil(lo[i] / frameUs))) {
      frames[i]--;
      last++;
    }
  }
  const bounds = [0];
  let at = 0;
  for (const f of frames) bounds.push(Math.round((at += f) * frameUs));
  bounds.push(total);
  return bounds;
}

/** Moves interior cuts to the nearest caption start nearby, keeping both neighbours within their bounds. */
function snapToCues(bounds: number[], items: TimelineVisual[], cueStartsUs: number[], frameUs: number): void {
  const fits = (v: TimelineVisual, length: number) => length >= minimumOf(v) && length <= naturalOf(v);
  for (let k = 1; k < bounds.length - 1; k++) {
    const reach = Math.min(500_000, (bounds[k + 1] - bounds[k - 1]) / 8);
    const near = cueStartsUs
      .map((c) => Math.round(Math.round(c / frameUs) * frameUs))
      .filter((c) => Math.abs(c - bounds[k]) <= reach && fits(items[k - 1], c - bounds[k - 1]) && fits(items[k], bounds[k + 1] - c))
      .sort((x, y) => Math.abs(x - bounds[k]) - Math.abs(y - bounds[k]));
    if (near.length) bounds[k] = near[0];
  }
}

/** The fade into segment `i` from `i - 1`: {@link CROSS_FADE_US}, or less so it takes at most half of either neighbour minus a frame. */
function crossFade(previousUs: number, currentUs: number, frameUs: number): SegmentTransition | undefined {
  const room = Math.min(previousUs, currentUs) / 2 - frameUs;
  // whole frames, an even number of them: the fade is centred on the cut
  const frames = Math.floor(Math.min(CROSS_FADE_US, room) / frameUs / 2) * 2;
  return frames >= 2 ? { type: 'fade', duration_us: Math.round(frames * frameUs) } : undefined;
}

/** Fades and motion on laid-out segments. */
function finish(segments: PlannedVisual[], visuals: TimelineVisual[], frameUs: number, seed: number): PlannedVisual[] {
  let stills = 0;
  segments.forEach((seg, i) => {
    if (i > 0) {
      const fade = crossFade(segments[i - 1].target.duration_us, seg.target.duration_us, frameUs);
      if (fade) seg.transition_in = fade;
    }
    if (visuals[seg.visual].kind === 'still') seg.motion = stillMotion(seed, stills++);
  });
  return segments;
}

/**
 * Visuals in the order given (name order) over `totalUs` of narration:
 * - each gets an equal share, a still at least {@link MIN_PICTURE_US} and at most
 *   {@link MAX_PICTURE_US}, a clip at least {@link MIN_CLIP_US} and at most its own length
 *   (trimmed from its start to fit);
 * - more visuals than those minimums allow: the first that do not fit and all after them are left
 *   out (with the reason);
 * - a narration longer than the whole set: the set is repeated from the first visual (a still
 *   again with another move, a clip again from its start) until it is covered;
 * - a cut moves to the nearest caption start within a quarter of its segment (the visual changes
 *   with the line being read) when both neighbours stay within their bounds;
 * - cuts on whole frames, a {@link CROSS_FADE_US} cross-fade at every cut (none at the start), a
 *   Ken Burns move on every still, varied from one still to the next and fixed by `seed` (the same
 *   task gets the same draft on a redrive).
 */
export function planNameOrder(a: {
  visuals: TimelineVisual[];
  totalUs: number;
  fps: number;
  seed: number;
  /** where captions start: a cut within a quarter of its segment (at most 0.5 s) moves there */
  cueStartsUs?: number[];
}): {
  segments: PlannedVisual[];
  leftOut: LeftOutVisual[];
} {
  const total = Math.max(0, Math.round(a.totalUs));
  const frameUs = 1_000_000 / a.fps;
  const leftOut: LeftOutVisual[] = a.visuals.flatMap((v, i) => (naturalOf(v) > 0 ? [] : [{ visual: i, reason: 'the clip has no length' }]));
  const usable = a.visuals.map((v, i) => ({ v, i })).filter(({ v }) => naturalOf(v) > 0);
  if (!usable.length || total === 0) return { segments: [], leftOut };
  const kept: typeof usable = [];
  let full = false;
  let sumMin = 0;
  for (const item of usable) {
    if (!full && (kept.length === 0 || sumMin + minimumOf(item.v) <= total)) {
      kept.push(item);
      sumMin += minimumOf(item.v);
    } else {
      full = true;
      leftOut.push({
        visual: item.i,
        reason: `the narration (${(total / 1e6).toFixed(1)} s) is too short to show it as well (a still needs ${MIN_PICTURE_US / 1e6} s, a clip ${MIN_CLIP_US / 1e6} s)`,
      });
    }
  }
  const items = [...kept];
  let sumNatural = items.reduce((s, x) => s + naturalOf(x.v), 0);
  for (let k = 0; sumNatural < total; k++) {
    const again = kept[k % kept.length];
    items.push(again);
    sumNatural += naturalOf(again.v);
  }
  const lo = items.map((x) => minimumOf(x.v));
  const hi = items.map((x) => naturalOf(x.v));
  const bounds = frameBounds(shares(lo, hi, total), lo, hi, total, frameUs);
  snapToCues(
    bounds,
    items.map((x) => x.v),
    a.cueStartsUs ?? [],
    frameUs,
  );
  const segments: PlannedVisual[] = items.map((x, k) => {
    const target = { start_us: bounds[k], duration_us: bounds[k + 1] - bounds[k] };
    const seg: PlannedVisual = { visual: x.i, target };
    if (x.v.kind === 'clip') seg.source = { start_us: 0, duration_us: Math.min(target.duration_us, x.v.duration_us ?? 0) };
    return seg;
  });
  return { segments: finish(segments, a.visuals, frameUs, a.seed), leftOut };
}

/** One sentence's clip range of a validated footage plan. */
export interface FootageCut {
  /** index into the visuals (a clip) */
  visual: number;
  start_us: number;
  end_us: number;
}

/**
 * The footage plan's ranges under their sentences: sentence `k` is on screen from its own start
 * (the first from 0) to the next sentence's start (the last to `totalUs`). A range shorter than
 * its sentence is extended within the clip (past its end first, then before its start); a clip
 * shorter than the sentence holds its last frame. A longer range plays from its start, cut where
 * the next sentence begins. Cuts on whole frames, cross-fades as in name order.
 */
export function planFootage(a: { visuals: TimelineVisual[]; cuts: FootageCut[]; sentenceStartsUs: number[]; totalUs: number; fps: number }): PlannedVisual[] {
  const frameUs = 1_000_000 / a.fps;
  const total = Math.round(a.totalUs);
  const starts = a.sentenceStartsUs.map((us, k) => (k === 0 ? 0 : Math.round(Math.round(us / frameUs) * frameUs)));
  const bounds = [...starts, total];
  const segments = a.cuts.map((cut, k): PlannedVisual => {
    const target = { start_us: bounds[k], duration_us: bounds[k + 1] - bounds[k] };
    const clipUs = a.visuals[cut.visual].duration_us ?? 0;
    const wanted = target.duration_us;
    let start = cut.start_us;
    let end = cut.end_us;
    if (end - start >= wanted) end = start + wanted;
    else {
      end = Math.min(clipUs, start + wanted);
      start = Math.max(0, end - wanted);
    }
    return { visual: cut.visual, target, source: { start_us: Math.round(start), duration_us: Math.round(end - start) } };
  });
  return finish(segments, a.visuals, frameUs, 0);
}
