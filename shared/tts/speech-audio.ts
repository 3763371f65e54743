/**
 * Turns what a speech service answers (WAV, MP3, Polly's raw PCM) into mono 16-bit PCM, the form
 * every narration is joined in.
 */
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { parseWav, WavFormatError } from './wav.js';

/** Mono 16-bit PCM at its own rate. */
export interface MonoPcm {
  samples: Int16Array;
  sampleRate: number;
}

/** The answer of a speech service is not audio this module can read. */
export class SpeechAudioError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'SpeechAudioError';
  }
}

const requireFromHere = createRequire(import.meta.url);
let installedFfmpegPath: string | undefined;

function defaultFfmpegPath(): string {
  installedFfmpegPath ??= (requireFromHere('@ffmpeg-installer/ffmpeg') as { path: string }).path;
  return installedFfmpegPath;
}

/** Averages interleaved channels into one. */
export function downmixToMono(samples: Int16Array, channels: number): Int16Array {
  if (channels <= 1) return samples;
  const frames = Math.floor(samples.length / channels);
  const out = new Int16Array(frames);
  for (let f = 0; f < frames; f++) {
    let sum = 0;
    for (let c = 0; c < channels; c++) sum += samples[f * channels + c];
    out[f] = Math.round(sum / channels);
  }
  return out;
}

/** Signed 16-bit little-endian mono bytes (Polly's `pcm`) as samples; a trailing odd byte is dropped. */
export function pcm16leToSamples(bytes: Uint8Array): Int16Array {
  const count = Math.floor(bytes.byteLength / 2);
  const view = new DataView(bytes.buffer, bytes.byteOffset, count * 2);
  const out = new Int16Array(count);
  for (let i = 0; i < count; i++) out[i] = view.getInt16(i * 2, true);
  return out;
}

/** Reads a WAV file (16-bit PCM, any rate and channel count) as mono. */
export function decodeWavToMono(bytes: Uint8Array): MonoPcm {
  try {
    const wav = parseWav(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
    return { samples: downmixToMono(wav.samples, wav.channels), sampleRate: wav.sampleRate };
  } catch (error: unknown) {
    if (error instanceof WavFormatError) throw new SpeechAudioError(`the WAV answer cannot be read: ${error.message}`, { cause: error });
    throw error;
  }
}

/**
 * Decodes compressed audio (MP3) with ffmpeg to mono 16-bit WAV at the file's own rate. ffmpeg
 * honours the encoder delay and padding of LAME-tagged MP3s, so the parts of a narration keep
 * their true length when joined.
 */
export async function decodeWithFfmpeg(bytes: Uint8Array, options: { ffmpegPath?: string; signal?: AbortSignal } = {}): Promise<MonoPcm> {
  const ffmpeg = options.ffmpegPath ?? defaultFfmpegPath();
  const args = ['-hide_banner', '-nostdin', '-loglevel', 'error', '-i', 'pipe:0', '-vn', '-ac', '1', '-c:a', 'pcm_s16le', '-f', 'wav', 'pipe:1'];
  const wav = await new Promise<Buffer>((resolve, reject) => {
    const child = spawn(ffmpeg, args, { stdio: ['pipe', 'pipe', 'pipe'], signal: options.signal });
    const out: Buffer[] = [];
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => out.push(chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      stderr = (stderr + chunk).slice(-2000);
    });
    child.on('error', (error) => reject(new SpeechAudioError(`ffmpeg could not start: ${error.message}`, { cause: error })));
    child.on('close', (code) => {
      if (code === 0) resolve(Buffer.concat(out));
      else reject(new SpeechAudioError(`ffmpeg could not decode the audio (exit ${code}): ${stderr.trim().split('\n').slice(-2).join(' | ')}`));
    });
    // ffmpeg may exit before reading everything (bad input): ignore the broken pipe, 'close' reports.
    child.stdin.on('error', () => undefined);
    child.stdin.end(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  });
  return decodeWavToMono(wav);
}

/** Media type without parameters, lower case: `Audio/WAV; codecs=1` → `audio/wav`. */
export function baseMediaType(contentType: string | null | undefined): string {
  return (contentType ?? '').split(';')[0].trim().toLowerCase();
}

const WAV_TYPES = new Set(['audio/wav', 'audio/wave', 'audio/x-wav', 'audio/vnd.wave']);
const MPEG_TYPES = new Set(['audio/mpeg', 'audio/mp3', 'audio/mpeg3', 'audio/x-mpeg-3']);

/**
 * Decodes a speech service's answer by its content type (and, when the type is missing or
 * generic, by its first bytes).
 *
 * @throws {@link SpeechAudioError} for anything that is not WAV or MP3, or cannot be decoded.
 */
export async function decodeSpeechAudio(
  bytes: Uint8Array,
  contentType: string | null | undefined,
  options: { ffmpegPath?: string; signal?: AbortSignal } = {},
): Promise<MonoPcm> {
  const type = baseMediaType(contentType);
  const head = Buffer.from(bytes.buffer, bytes.byteOffset, Math.min(bytes.byteLength, 12));
  const looksWav = head.length >= 12 && head.toString('ascii', 0, 4) === 'RIFF' && head.toString('ascii', 8, 12) === 'WAVE';
  const looksMpeg = (head.length >= 3 && head.toString('ascii', 0, 3) === 'ID3') || (head.length >= 2 && head[0] === 0xff && (head[1] & 0xe0) === 0xe0);
  if (bytes.byteLength === 0) throw new SpeechAudioError('the answer has no audio (empty body)');
  if (WAV_TYPES.has(type) || ((type === '' || type === 'application/octet-stream') && looksWav)) return decodeWavToMono(bytes);
  if (MPEG_TYPES.has(type) || ((type === '' || type === 'application/octet-stream') && looksMpeg)) return decodeWithFfmpeg(bytes, options);
  throw new SpeechAudioError(`unsupported audio type "${type || 'none'}" (expected audio/wav or audio/mpeg)`);
}
