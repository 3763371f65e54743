/**
 * The background music under the narration (pure): the file played from its start, again and
 * again until the narration ends (one segment per pass, as an editor lays a looped track), cut
 * at the narration's end with a fade-out, ducked under speech by volume keyframes.
 */
import { duckingKeyframes } from '../render/music-ducking.js';
import type { MediaSegment, VolumeKeyframe } from './draft.js';

/** The music fades out over the last this many microseconds of the narration. */
export const MUSIC_FADE_OUT_US = 1_500_000;

/**
 * The level of a keyframe envelope at `us`: linear between keyframes, held outside them; where two
 * keyframes share an offset (a step), the later one holds from there on.
 */
export function envelopeAt(keys: VolumeKeyframe[], us: number): number {
  if (!keys.length) return 1;
  let j = -1;
  for (let i = 0; i < keys.length; i++) if (keys[i].offset_us <= us) j = i;
  if (j < 0) return keys[0].volume;
  if (j === keys.length - 1) return keys[j].volume;
  const a = keys[j];
  const b = keys[j + 1];
  return a.volume + ((b.volume - a.volume) * (us - a.offset_us)) / (b.offset_us - a.offset_us);
}

/** The part of an envelope between `from` and `to`, as offsets from `from` (the value at both ends included). */
function sliceEnvelope(keys: VolumeKeyframe[], from: number, to: number): VolumeKeyframe[] {
  const round = (v: number) => Math.round(v * 10_000) / 10_000;
  const inside = keys.filter((k) => k.offset_us > from && k.offset_us < to).map((k) => ({ offset_us: k.offset_us - from, volume: round(k.volume) }));
  return [{ offset_us: 0, volume: round(envelopeAt(keys, from)) }, ...inside, { offset_us: to - from, volume: round(envelopeAt(keys, to)) }];
}

/**
 * The music track's segments over `totalUs`.
 *
 * @param a.speech when the narration speaks (its words, or its sentences without word timings), µs
 * @param a.volume the request's `music_volume` (the level in pauses; 30 % of it under speech)
 */
export function planMusicSegments(a: {
  materialId: string;
  musicUs: number;
  totalUs: number;
  volume: number;
  speech: Array<{ startUs: number; endUs: number }>;
}): MediaSegment[] {
  const envelope = duckingKeyframes({ speech: a.speech, durationUs: a.totalUs, volume: a.volume });
  const segments: MediaSegment[] = [];
  if (!(a.musicUs > 0)) return segments;
  for (let start = 0, pass = 1; start < a.totalUs; start += a.musicUs, pass++) {
    const duration = Math.min(a.musicUs, a.totalUs - start);
    segments.push({
      id: `music-${pass}`,
      material_id: a.materialId,
      target: { start_us: start, duration_us: duration },
      source: { start_us: 0, duration_us: duration },
      volume_keyframes: sliceEnvelope(envelope, start, start + duration),
    });
  }
  const last = segments[segments.length - 1];
  if (last) last.fade_out_us = Math.min(MUSIC_FADE_OUT_US, last.target.duration_us);
  return segments;
}
