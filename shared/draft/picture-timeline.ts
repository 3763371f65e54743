import type { Cue } from './subtitles.js';

/** Where one picture shows, in microseconds. */
export interface PictureSpan {
  start_us: number;
  duration_us: number;
}

/** A picture stays at least this long; more pictures than fit are left out. */
export const MIN_PICTURE_US = 2_000_000;

/**
 * Lays `count` pictures end to end over the narration: equal shares, each change moved to the
 * nearest subtitle change within a quarter share (the picture changes with the line being read).
 * The spans start at 0, never overlap, and add up to exactly `durationUs`.
 *
 * @returns at most `count` spans; fewer when the narration is too short for all of them.
 */
export function planPictureSpans(count: number, durationUs: number, cues: Cue[], minUs = MIN_PICTURE_US): PictureSpan[] {
  const total = Math.max(0, Math.round(durationUs));
  if (count <= 0 || total === 0) return [];
  const n = Math.max(1, Math.min(count, Math.floor(total / minUs)));
  const share = total / n;
  const cueStarts = cues.map((c) => Math.round(c.start_ms * 1000)).filter((us) => us > 0 && us < total);
  const bounds = [0];
  for (let k = 1; k < n; k++) {
    const ideal = k * share;
    const nearest = cueStarts.reduce<number | undefined>(
      (best, us) => (best === undefined || Math.abs(us - ideal) < Math.abs(best - ideal) ? us : best),
      undefined,
    );
    let at = nearest !== undefined && Math.abs(nearest - ideal) <= share / 4 ? nearest : Math.round(ideal);
    // Keep every span at least half a share long, whatever the cues say.
    at = Math.max(at, bounds[bounds.length - 1] + Math.round(share / 2));
    at = Math.min(at, total - Math.round(share / 2) * (n - k));
    bounds.push(at);
  }
  bounds.push(total);
  return bounds.slice(0, -1).map((start, i) => ({ start_us: start, duration_us: bounds[i + 1] - start }));
}
