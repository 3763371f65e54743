/**
 * The footage plan (`tasks/<id>/visual-plan.json`, written by a story that watched the clips)
 * checked against what the Draft stage has: the usable clips and the narration's sentences. A
 * plan that fails is not used (the draft falls back to name order) and the reason is recorded.
 */
import type { VisualPlan } from '../video-options.js';
import type { FootageCut, TimelineVisual } from './picture-timeline.js';

/** Shortest clip range a plan may name (a flash is not a cut). */
export const MIN_PLAN_RANGE_US = 200_000;
/** A plan whose ranges add up to more than this many times the narration is confused, not used. */
export const MAX_PLAN_FOOTAGE_FACTOR = 4;
/** A range may end this far past the probed end of its clip (container and stream lengths differ by a frame or two). */
const END_TOLERANCE_US = 100_000;

export type VisualPlanCheck = { ok: true; cuts: FootageCut[] } | { ok: false; reason: string };

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
/** Sentences compared by their letters and digits only: the TTS may trim, re-space or re-punctuate them. */
const letters = (text: string) =>
  text
    .normalize('NFKC')
    .toLowerCase()
    .replace(/[^\p{L}\p{N}]+/gu, '');
const quote = (text: string) => JSON.stringify(text.length > 40 ? `${text.slice(0, 40)}…` : text);

/**
 * Checks `plan` (parsed JSON, not yet trusted): version 1, one entry per spoken sentence in order
 * (same words), each naming a usable clip by its file name, `0 ≤ start_ms < end_ms ≤` the clip's
 * length, ranges of at least {@link MIN_PLAN_RANGE_US}, and all of them together at most
 * {@link MAX_PLAN_FOOTAGE_FACTOR} × the narration.
 */
export function checkVisualPlan(
  plan: unknown,
  a: { visuals: TimelineVisual[]; sentences: Array<{ text: string; start_ms: number }>; totalUs: number; fps: number },
): VisualPlanCheck {
  const fail = (reason: string): VisualPlanCheck => ({ ok: false, reason });
  if (!isRecord(plan) || plan.version !== 1 || !Array.isArray(plan.sentences)) return fail('the plan is not a version 1 plan with a list of sentences');
  const entries = plan.sentences as unknown[];
  if (entries.length !== a.sentences.length)
    return fail(`the plan has ${entries.length} sentences, the narration ${a.sentences.length}: one entry per sentence is expected`);
  const clips = new Map(a.visuals.flatMap((v, i) => (v.kind === 'clip' ? [[v.name.normalize('NFC'), i] as const] : [])));
  const cuts: FootageCut[] = [];
  const frameUs = 1_000_000 / a.fps;
  let footage = 0;
  for (const [k, raw] of entries.entries()) {
    const n = k + 1;
    if (!isRecord(raw)) return fail(`entry ${n} is not an object`);
    const entry = raw as Partial<VisualPlan['sentences'][number]>;
    const { text, clip, start_ms, end_ms } = entry;
    if (typeof text !== 'string' || typeof clip !== 'string' || typeof start_ms !== 'number' || typeof end_ms !== 'number')
      return fail(`entry ${n} lacks text, clip, start_ms or end_ms`);
    if (letters(text) !== letters(a.sentences[k].text))
      return fail(`entry ${n} is ${quote(text)}, but sentence ${n} of the narration is ${quote(a.sentences[k].text)}`);
    const visual = clips.get(clip.normalize('NFC'));
    if (visual === undefined) return fail(`entry ${n} names ${quote(clip)}, which is not one of the usable clips`);
    const clipUs = a.visuals[visual].duration_us ?? 0;
    const start = Math.round(start_ms * 1000);
    const end = Math.round(end_ms * 1000);
    if (!(Number.isFinite(start) && Number.isFinite(end) && start >= 0 && start < end && end <= clipUs + END_TOLERANCE_US))
      return fail(`entry ${n} asks for ${start_ms}–${end_ms} ms of ${quote(clip)}, which lasts ${Math.round(clipUs / 1000)} ms`);
    if (end - start < MIN_PLAN_RANGE_US) return fail(`entry ${n} asks for ${end_ms - start_ms} ms, less than ${MIN_PLAN_RANGE_US / 1000} ms`);
    if (k > 0 && Math.round(a.sentences[k].start_ms * 1000) - Math.round(a.sentences[k - 1].start_ms * 1000) < 2 * frameUs)
      return fail(`sentence ${n} starts less than two frames after the one before it`);
    if (Math.round(a.sentences[k].start_ms * 1000) >= a.totalUs - 2 * frameUs) return fail(`sentence ${n} starts at the end of the narration`);
    footage += Math.min(end, clipUs) - start;
    cuts.push({ visual, start_us: start, end_us: Math.min(end, clipUs) });
  }
  if (footage > MAX_PLAN_FOOTAGE_FACTOR * a.totalUs)
    return fail(
      `the plan's ranges add up to ${(footage / 1e6).toFixed(1)} s, more than ${MAX_PLAN_FOOTAGE_FACTOR} × the ${(a.totalUs / 1e6).toFixed(1)} s narration`,
    );
  return { ok: true, cuts };
}
