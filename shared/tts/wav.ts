/**
 * Mono 16-bit PCM helpers for the TTS stage: WAV encode/parse, silence detection, resampling and
 * click-free joining of per-sentence clips onto one narration timeline.
 *
 * Everything works on plain typed arrays; no I/O.
 */

/** PCM samples as the engines hand them over: 16-bit integers or floats in [-1, 1]. */
export type PcmSamples = Int16Array | Float32Array;

/** One mono clip (for example one synthesized sentence). */
export interface PcmClip {
  samples: PcmSamples;
  sampleRate: number;
}

/** A WAV file's content after {@link parseWav}. */
export interface ParsedWav {
  sampleRate: number;
  channels: number;
  /** Interleaved when `channels > 1`. */
  samples: Int16Array;
  /** Frames / sample rate, in milliseconds (not rounded). */
  durationMs: number;
}

/** Where one input clip landed in a {@link JoinedPcm}. */
export interface ClipPlacement {
  /** First sample of the clip in the joined audio. */
  startSample: number;
  /** One past the clip's last sample in the joined audio. */
  endSample: number;
  start_ms: number;
  end_ms: number;
}

/** Result of {@link joinPcmClips}. */
export interface JoinedPcm {
  samples: Int16Array;
  sampleRate: number;
  /** One entry per input clip, in input order. */
  placements: ClipPlacement[];
}

/** Options of {@link joinPcmClips}. */
export interface JoinPcmOptions {
  /** Silence inserted between consecutive clips. Default {@link DEFAULT_SENTENCE_GAP_MS}. */
  gapMs?: number;
  /** Linear fade applied at both ends of every clip. Default {@link DEFAULT_JOIN_FADE_MS}. */
  fadeMs?: number;
  /** Output rate; clips at another rate are resampled. Default: the first clip's rate. */
  sampleRate?: number;
}

/** Default pause between two sentences of a narration. */
export const DEFAULT_SENTENCE_GAP_MS = 250;
/** Default fade at each clip edge: long enough to kill a click, too short to hear. */
export const DEFAULT_JOIN_FADE_MS = 5;

const WAV_HEADER_BYTES = 44;
/** Typed arrays use the host's byte order; WAV is little-endian, as are x64 and arm64 hosts. */
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** Error thrown when a buffer is not a WAV this module can read. */
export class WavFormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'WavFormatError';
  }
}

/** Converts float samples in [-1, 1] to 16-bit integers (clamped); returns Int16Array input as is. */
export function toInt16(samples: PcmSamples): Int16Array {
  if (samples instanceof Int16Array) return samples;
  const out = new Int16Array(samples.length);
  for (let i = 0; i < samples.length; i++) {
    const clamped = Math.max(-1, Math.min(1, samples[i]));
    out[i] = clamped < 0 ? Math.round(clamped * 32768) : Math.round(clamped * 32767);
  }
  return out;
}

/**
 * Encodes mono 16-bit PCM as a canonical 44-byte-header WAV file.
 *
 * @param samples - Int16 samples, or floats in [-1, 1] (clamped).
 * @param sampleRate - Samples per second, e.g. 22050.
 */
export function encodeWav(samples: PcmSamples, sampleRate: number): Buffer {
  if (!Number.isInteger(sampleRate) || sampleRate <= 0) {
    throw new RangeError(`sampleRate must be a positive integer, got ${sampleRate}`);
  }
  const pcm = toInt16(samples);
  const dataBytes = pcm.length * 2;
  const buffer = Buffer.alloc(WAV_HEADER_BYTES + dataBytes);
  buffer.write('RIFF', 0, 'ascii');
  buffer.writeUInt32LE(36 + dataBytes, 4);
  buffer.write('WAVE', 8, 'ascii');
  buffer.write('fmt ', 12, 'ascii');
  buffer.writeUInt32LE(16, 16); // fmt chunk size
  buffer.writeUInt16LE(1, 20); // PCM
  buffer.writeUInt16LE(1, 22); // mono
  buffer.writeUInt32LE(sampleRate, 24);
  buffer.writeUInt32LE(sampleRate * 2, 28); // byte rate
  buffer.writeUInt16LE(2, 32); // block align
  buffer.writeUInt16LE(16, 34); // bits per sample
  buffer.write('data', 36, 'ascii');
  buffer.writeUInt32LE(dataBytes, 40);
  if (LITTLE_ENDIAN) {
    Buffer.from(pcm.buffer, pcm.byteOffset, dataBytes).copy(buffer, WAV_HEADER_BYTES);
  } else {
    for (let i = 0; i < pcm.length; i++) buffer.writeInt16LE(pcm[i], WAV_HEADER_BYTES + i * 2);
  }
  return buffer;
}

/**
 * Parses a 16-bit PCM WAV file (any channel count; chunks other than `fmt ` and `data` are skipped).
 *
 * @throws {@link WavFormatError} when the buffer is not RIFF/WAVE 16-bit PCM.
 */
export function parseWav(buffer: Buffer): ParsedWav {
  if (buffer.length < 12 || buffer.toString('ascii', 0, 4) !== 'RIFF' || buffer.toString('ascii', 8, 12) !== 'WAVE') {
    throw new WavFormatError('not a RIFF/WAVE buffer');
  }
  let offset = 12;
  let format: { audioFormat: number; channels: number; sampleRate: number; bitsPerSample: number } | undefined;
  while (offset + 8 <= buffer.length) {
    const chunkId = buffer.toString('ascii', offset, offset + 4);
    const chunkSize = buffer.readUInt32LE(offset + 4);
    const body = offset + 8;
    if (chunkId === 'fmt ') {
      if (chunkSize < 16 || body + 16 > buffer.length) throw new WavFormatError('truncated fmt chunk');
      format = {
        audioFormat: buffer.readUInt16LE(body),
        channels: buffer.readUInt16LE(body + 2),
        sampleRate: buffer.readUInt32LE(body + 4),
        bitsPerSample: buffer.readUInt16LE(body + 14),
      };
    } else if (chunkId === 'data') {
      if (!format) throw new WavFormatError('data chunk before fmt chunk');
      // 0xFFFE is WAVE_FORMAT_EXTENSIBLE; with 16 bits it is plain PCM for our purposes.
      if ((format.audioFormat !== 1 && format.audioFormat !== 0xfffe) || format.bitsPerSample !== 16) {
        throw new WavFormatError(`unsupported WAV format ${format.audioFormat}/${format.bitsPerSample}-bit (need 16-bit PCM)`);
      }
      if (format.channels < 1 || format.sampleRate < 1) throw new WavFormatError('invalid channel count or sample rate');
      // A streaming writer may leave the size unset (0 or 0xFFFFFFFF): read to the end then.
      const available = buffer.length - body;
      const dataBytes = chunkSize === 0 || chunkSize > available ? available : chunkSize;
      const count = Math.floor(dataBytes / 2);
      const samples = new Int16Array(count);
      if (LITTLE_ENDIAN) {
        // Copy the bytes (the data may start at an odd offset, which an Int16Array view cannot).
        new Uint8Array(samples.buffer).set(buffer.subarray(body, body + count * 2));
      } else {
        for (let i = 0; i < count; i++) samples[i] = buffer.readInt16LE(body + i * 2);
      }
      const frames = Math.floor(count / format.channels);
      return {
        sampleRate: format.sampleRate,
        channels: format.channels,
        samples,
        durationMs: (frames * 1000) / format.sampleRate,
      };
    }
    offset = body + chunkSize + (chunkSize % 2); // chunks are word-aligned
  }
  throw new WavFormatError('no data chunk');
}

/** Converts a sample count (or sample index) to milliseconds, rounded down so it never passes the audio's end. */
export function samplesToMs(samples: number, sampleRate: number): number {
  return Math.floor((samples * 1000) / sampleRate);
}

/** Converts milliseconds to a whole number of samples (rounded). */
export function msToSamples(ms: number, sampleRate: number): number {
  return Math.round((ms * sampleRate) / 1000);
}

/**
 * Resamples mono PCM by linear interpolation. Returns the input unchanged when the rates match,
 * which is the normal case: every sentence of a narration comes from one engine at one rate.
 */
export function resamplePcm(samples: Int16Array, fromRate: number, toRate: number): Int16Array {
  if (fromRate === toRate || samples.length === 0) return samples;
  const outLength = Math.max(1, Math.round((samples.length * toRate) / fromRate));
  const out = new Int16Array(outLength);
  const step = fromRate / toRate;
  for (let i = 0; i < outLength; i++) {
    const position = i * step;
    const left = Math.min(Math.floor(position), samples.length - 1);
    const right = Math.min(left + 1, samples.length - 1);
    const fraction = position - left;
    out[i] = Math.round(samples[left] * (1 - fraction) + samples[right] * fraction);
  }
  return out;
}

/** Options of {@link findVoicedRange}. */
export interface VoicedRangeOptions {
  /** Absolute sample value regarded as sound. Default 328 (1 % of full scale, about -40 dBFS). */
  threshold?: number;
  /** Silence kept on each side of the sound, in ms. Default 0. */
  padMs?: number;
  /** Restrict the search to `[from, to)`. Defaults: the whole array. */
  from?: number;
  to?: number;
}

/**
 * Finds the span that holds sound: from the first to one past the last sample whose magnitude
 * reaches the threshold, widened by `padMs` and kept inside `[from, to)`.
 *
 * @returns `undefined` when the range is silent.
 */
export function findVoicedRange(samples: Int16Array, sampleRate: number, options: VoicedRangeOptions = {}): { start: number; end: number } | undefined {
  const threshold = options.threshold ?? 328;
  const from = Math.max(0, options.from ?? 0);
  const to = Math.min(samples.length, options.to ?? samples.length);
  let first = -1;
  for (let i = from; i < to; i++) {
    if (Math.abs(samples[i]) >= threshold) {
      first = i;
      break;
    }
  }
  if (first < 0) return undefined;
  let last = first;
  for (let i = to - 1; i > first; i--) {
    if (Math.abs(samples[i]) >= threshold) {
      last = i;
      break;
    }
  }
  const pad = msToSamples(options.padMs ?? 0, sampleRate);
  return { start: Math.max(from, first - pad), end: Math.min(to, last + 1 + pad) };
}

/**
 * Applies a linear fade-in over the first and a fade-out over the last `fadeSamples` samples,
 * in place. The fade is shortened to half the clip for very short clips.
 */
export function applyEdgeFades(samples: Int16Array, fadeSamples: number): void {
  const length = Math.min(Math.floor(fadeSamples), Math.floor(samples.length / 2));
  if (length <= 0) return;
  for (let i = 0; i < length; i++) {
    // Gain reaches 0 exactly at the outermost sample, so the clip starts and ends on silence.
    const gain = i / length;
    samples[i] = Math.round(samples[i] * gain);
    const tail = samples.length - 1 - i;
    samples[tail] = Math.round(samples[tail] * gain);
  }
}

/**
 * Joins mono clips in order with a silence gap between consecutive clips and a short linear fade at
 * both edges of every clip, so no join clicks. Clips at a different rate from the output are
 * resampled. The inputs are not modified.
 *
 * Length of the result: sum of the (resampled) clip lengths + `(clips - 1)` gaps of
 * `round(gapMs * rate / 1000)` samples.
 */
export function joinPcmClips(clips: PcmClip[], options: JoinPcmOptions = {}): JoinedPcm {
  const gapMs = options.gapMs ?? DEFAULT_SENTENCE_GAP_MS;
  const fadeMs = options.fadeMs ?? DEFAULT_JOIN_FADE_MS;
  if (gapMs < 0 || fadeMs < 0) throw new RangeError('gapMs and fadeMs must not be negative');
  const sampleRate = options.sampleRate ?? clips[0]?.sampleRate ?? 22050;
  const gapSamples = msToSamples(gapMs, sampleRate);
  const fadeSamples = msToSamples(fadeMs, sampleRate);

  const prepared = clips.map((clip) => resamplePcm(toInt16(clip.samples), clip.sampleRate, sampleRate));
  const total = prepared.reduce((sum, clip) => sum + clip.length, 0) + Math.max(0, prepared.length - 1) * gapSamples;
  const samples = new Int16Array(total);
  const placements: ClipPlacement[] = [];
  let cursor = 0;
  prepared.forEach((clip, index) => {
    if (index > 0) cursor += gapSamples; // the gap is already zeros
    const copy = clip.slice();
    applyEdgeFades(copy, fadeSamples);
    samples.set(copy, cursor);
    placements.push({
      startSample: cursor,
      endSample: cursor + copy.length,
      start_ms: samplesToMs(cursor, sampleRate),
      end_ms: samplesToMs(cursor + copy.length, sampleRate),
    });
    cursor += copy.length;
  });
  return { samples, sampleRate, placements };
}
