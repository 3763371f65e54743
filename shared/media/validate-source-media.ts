/**
 * The one check of a creator's media file, used at the door (the upload routes, on a local copy of
 * the body) and after the fact (the listing, and Draft for files that arrived by a presigned
 * POST, on the stored object): size, the type by the bytes, the extension agreeing with them, the
 * pixel count read from the header before any decoder sees it, then ffprobe.
 */
import { GetObjectCommand } from '@aws-sdk/client-s3';
import { presignGet } from '../artifacts.js';
import type { Runtime } from '../runtime.js';
import type { Settings } from '../settings.js';
import { readImageInfo } from '../draft/image-info.js';
import { MediaRejectedError, type MediaProblemCode } from './media-errors.js';
import { extensionOf, mediaFileName, type MediaFolder } from './media-name.js';
import { probeMedia, type MediaProbe } from './media-probe.js';
import { SNIFF_BYTES, sniffMedia, type MediaKind } from './media-sniff.js';

/** The limits of media/ and music/ (settings MEDIA_MAX_BYTES, MUSIC_MAX_BYTES, MEDIA_MAX_PIXELS). */
export interface MediaLimits {
  mediaMaxBytes: number;
  musicMaxBytes: number;
  mediaMaxPixels: number;
}

export const mediaLimitsOf = (s: Pick<Settings, 'mediaMaxBytes' | 'musicMaxBytes' | 'mediaMaxPixels'>): MediaLimits => ({
  mediaMaxBytes: s.mediaMaxBytes,
  musicMaxBytes: s.musicMaxBytes,
  mediaMaxPixels: s.mediaMaxPixels,
});

/** What a usable file is. */
export interface MediaFacts extends MediaProbe {
  kind: MediaKind;
  /** the format the bytes say (`png`, `jpeg`, `webp`, `mp4`, `mov`, `webm`, `mp3`, `wav`, `aac`, `m4a`, `flac`, `ogg`) */
  format: string;
  content_type: string;
}

const mib = (bytes: number) => `${Math.round((bytes / 1024 / 1024) * 10) / 10} MiB`;
const maxBytesOf = (folder: MediaFolder, limits: MediaLimits) => (folder === 'media' ? limits.mediaMaxBytes : limits.musicMaxBytes);

/** The size limit as a sentence, for a 413 (also when a presigned POST is refused by S3). */
export function sizeLimitMessage(folder: MediaFolder, limits: MediaLimits, size?: number): string {
  const max = maxBytesOf(folder, limits);
  const what = folder === 'media' ? 'A still or clip' : 'A music file';
  return `${what} may be at most ${max} bytes (${mib(max)})${size === undefined ? '' : `; this one has ${size} bytes or more`}.`;
}

/** Size against the folder's limit; throws `empty_file` or `file_too_large`. */
export function checkMediaSize(folder: MediaFolder, size: number, limits: MediaLimits): void {
  if (size === 0) throw new MediaRejectedError('empty_file', 'The file is empty (0 bytes).');
  if (size > maxBytesOf(folder, limits)) throw new MediaRejectedError('file_too_large', sizeLimitMessage(folder, limits, size));
}

const KIND_WORD: Record<MediaKind, string> = { still: 'a still image', clip: 'a video clip', audio: 'audio' };

/**
 * Everything the first bytes can tell, before any decoder runs: the type, that it belongs in this
 * folder and matches the name's extension, and for a still its header's pixel count.
 */
export function checkMediaHead(a: { folder: MediaFolder; fileName: string; head: Uint8Array; limits: MediaLimits }) {
  const sniffed = sniffMedia(a.head);
  const expected = a.folder === 'media' ? 'a PNG, JPEG or WebP still or an MP4, MOV or WebM clip' : 'MP3, WAV, AAC/M4A, FLAC or OGG audio';
  if (!sniffed)
    throw new MediaRejectedError(
      'unsupported_media_type',
      `The bytes are not ${expected} (the type is read from the file's content, not its name or Content-Type).`,
    );
  // An MP4/MOV container under music/ is audio if it has an audio stream (the probe checks).
  const kind: MediaKind = a.folder === 'music' && sniffed.kind === 'clip' && sniffed.format !== 'webm' ? 'audio' : sniffed.kind;
  const fits = a.folder === 'media' ? kind !== 'audio' : kind === 'audio';
  if (!fits) {
    throw new MediaRejectedError('unsupported_media_type', `The bytes are ${KIND_WORD[kind]} (${sniffed.format}); ${a.folder}/ takes ${expected}.`);
  }
  const extension = extensionOf(a.fileName);
  const extensions = kind === 'audio' && (sniffed.format === 'mp4' || sniffed.format === 'mov') ? ['m4a', 'aac'] : sniffed.extensions;
  if (!extensions.includes(extension)) {
    throw new MediaRejectedError(
      'extension_mismatch',
      `The name ends in .${extension} but the bytes are ${KIND_WORD[kind]} in ${sniffed.format} format: name it .${extensions[0]}.`,
    );
  }
  let pixels: { width: number; height: number } | undefined;
  if (kind === 'still') {
    const info = readImageInfo(a.head);
    if (!info)
      throw new MediaRejectedError('unreadable_media', `The ${sniffed.format} header carries no readable picture size (a damaged or truncated image).`);
    checkPixels(info.width, info.height, a.limits);
    pixels = { width: info.width, height: info.height };
  }
  return { ...sniffed, kind, content_type: kind === 'audio' && sniffed.kind === 'clip' ? 'audio/mp4' : sniffed.content_type, pixels };
}

function checkPixels(width: number, height: number, limits: MediaLimits): void {
  if (width * height > limits.mediaMaxPixels) {
    throw new MediaRejectedError(
      'too_many_pixels',
      `The picture claims ${width}x${height} pixels (${Math.round((width * height) / 1e6)} MP), over the limit of ${limits.mediaMaxPixels} pixels; a decoder would need ${mib(width * height * 4)} for it.`,
    );
  }
}

/**
 * The whole check of one file: size, head ({@link checkMediaHead}) and ffprobe on `input` (a path
 * or an http(s) URL of the same bytes). Throws {@link MediaRejectedError}; resolves with the facts.
 */
export async function inspectMedia(a: {
  folder: MediaFolder;
  fileName: string;
  size: number;
  head: Uint8Array;
  input: string;
  limits: MediaLimits;
  /** demux every packet of a clip or music file (default): finds a file cut short behind an intact index, at the cost of reading it all */
  readPackets?: boolean;
}): Promise<MediaFacts> {
  checkMediaSize(a.folder, a.size, a.limits);
  const head = checkMediaHead(a);
  const { probe, error } = await probeMedia(a.input, { readPackets: head.kind !== 'still' && a.readPackets !== false });
  if (!probe)
    throw new MediaRejectedError(
      'unreadable_media',
      `The file cannot be read as ${head.format} (${error ?? 'unknown error'}); it may be truncated or damaged.`,
    );
  if (head.kind === 'audio') {
    if (!probe.audio_codec) throw new MediaRejectedError('no_audio_stream', 'The file has no audio stream.');
  } else {
    if (!probe.video_codec || probe.width === null || probe.height === null) {
      throw new MediaRejectedError(
        'no_video_stream',
        head.kind === 'clip' ? 'The clip has no video stream (audio only?): music goes under music/.' : 'The image holds no picture.',
      );
    }
    checkPixels(probe.width, probe.height, a.limits);
  }
  if (head.kind !== 'still' && probe.duration_ms <= 0)
    throw new MediaRejectedError('zero_duration', `The ${head.kind === 'clip' ? 'clip' : 'audio'} has no duration.`);
  return { kind: head.kind, format: head.format, content_type: head.content_type, ...probe };
}

/** One stored file of a video's media, as the listing and Draft see it. */
export interface SourceMediaCheck {
  key: string;
  folder: MediaFolder;
  file_name: string;
  size: number;
  /** set when usable */
  facts?: MediaFacts;
  /** set when not: left out of the video, with the reason */
  unusable?: { code: MediaProblemCode; message: string };
}

/**
 * Checks a file already in the bucket under `sources/<creator>/<video>/<folder>/<name>` — what
 * Draft calls for files that arrived through a presigned POST (nothing checked them at the door)
 * and the listing shows. Reads the first {@link SNIFF_BYTES} with a ranged GET and lets ffprobe read
 * the object through a presigned URL (nothing is held whole in memory). Never throws for a bad
 * file: it comes back with `unusable`. Draft keeps the default `readPackets` (a clip is read once,
 * and a task never fails late in the export); the listing passes `false` (headers only, fast).
 */
export async function validateSourceMedia(rt: Runtime, a: { key: string; size: number; readPackets?: boolean }): Promise<SourceMediaCheck> {
  const parts = a.key.split('/');
  const folder = parts[parts.length - 2] as MediaFolder;
  const rawName = parts[parts.length - 1];
  const base = { key: a.key, folder, file_name: rawName, size: a.size };
  try {
    if (folder !== 'media' && folder !== 'music') throw new MediaRejectedError('invalid_file_name', `${a.key} is not under media/ or music/.`);
    const fileName = mediaFileName(folder, rawName);
    const limits = mediaLimitsOf(rt.settings);
    checkMediaSize(folder, a.size, limits);
    const out = await rt.s3.send(new GetObjectCommand({ Bucket: rt.settings.bucketName, Key: a.key, Range: `bytes=0-${SNIFF_BYTES - 1}` }));
    const head = out.Body ? await out.Body.transformToByteArray() : new Uint8Array();
    const facts = await inspectMedia({ folder, fileName, size: a.size, head, input: await presignGet(rt, a.key), limits, readPackets: a.readPackets });
    return { ...base, facts };
  } catch (error: unknown) {
    if (error instanceof MediaRejectedError) return { ...base, unusable: { code: error.code, message: error.message } };
    throw error;
  }
}
