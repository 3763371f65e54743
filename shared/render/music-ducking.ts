/**
 * Music ducked under speech: the volume keyframes of a music segment, from the narration's
 * speech spans (its word or sentence timings). The same list goes into the draft (the editor's
 * volume keyframes on the music segment) and into the render (a volume expression), so the
 * draft and the mp4 agree.
 */
import type { VolumeKeyframe } from '../draft/draft.js';

/** Options of {@link duckingKeyframes}. */
export interface DuckingOptions {
  /** when the narration speaks, on the music segment's own timeline (microseconds from its start) */
  speech: Array<{ startUs: number; endUs: number }>;
  /** length of the music segment, microseconds */
  durationUs: number;
  /** the music's level in a pause, 0–1 (the request's `music_volume`) */
  volume: number;
  /** the music's level under speech as a share of `volume`; default 0.3 (about -10 dB) */
  duckedShare?: number;
  /** how long the level takes to go down or up, microseconds; default 250 ms */
  rampUs?: number;
  /** pauses shorter than this stay ducked (no pumping between words); default 600 ms */
  holdUs?: number;
}

/**
 * Keyframes that hold `volume` in pauses and `volume × duckedShare` while the narration speaks,
 * ramping down just before speech starts and back up after it ends.
 */
export function duckingKeyframes(o: DuckingOptions): VolumeKeyframe[] {
  const ramp = o.rampUs ?? 250_000;
  const hold = o.holdUs ?? 600_000;
  const low = o.volume * (o.duckedShare ?? 0.3);
  const spans = [...o.speech].filter((s) => s.endUs > s.startUs).sort((a, b) => a.startUs - b.startUs);
  const merged: Array<{ startUs: number; endUs: number }> = [];
  for (const s of spans) {
    const last = merged.at(-1);
    if (last && s.startUs - last.endUs < hold) last.endUs = Math.max(last.endUs, s.endUs);
    else merged.push({ ...s });
  }
  const keys: VolumeKeyframe[] = [{ offset_us: 0, volume: o.volume }];
  const clamp = (us: number) => Math.min(o.durationUs, Math.max(0, Math.round(us)));
  for (const s of merged) {
    const down = clamp(s.startUs - ramp);
    const last = keys[keys.length - 1];
    if (down <= last.offset_us) keys.push({ offset_us: last.offset_us, volume: low });
    else keys.push({ offset_us: down, volume: o.volume }, { offset_us: clamp(s.startUs), volume: low });
    keys.push({ offset_us: clamp(s.endUs), volume: low }, { offset_us: clamp(s.endUs + ramp), volume: o.volume });
  }
  // drop repeats (a span at the very start)
  return keys.filter((k, i) => i === 0 || k.offset_us !== keys[i - 1].offset_us || k.volume !== keys[i - 1].volume);
}
