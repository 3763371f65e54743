/** Measuring a media file with ffprobe: codecs, size, duration, audio channels. */
import { defaultFfprobePath, runCollect } from './ffmpeg-process.js';
import { VideoProbeError } from './render-errors.js';

/** What {@link probeVideo} reports about a media file. */
export interface VideoProbe {
  /** codec of the first video stream, e.g. `h264` */
  codec: string | null;
  width: number | null;
  height: number | null;
  duration_ms: number;
  /** codec of the first audio stream, e.g. `aac`, or null without audio */
  audio_codec: string | null;
  /** channel count of the first audio stream, or null without audio */
  audio_channels: number | null;
}

/**
 * Reads codec, size and duration of a media file with ffprobe.
 *
 * @throws {@link VideoProbeError} when ffprobe cannot read it.
 */
export async function probeVideo(filePath: string, ffprobePath: string = defaultFfprobePath()): Promise<VideoProbe> {
  const { code, stdout, stderr } = await runCollect(ffprobePath, ['-v', 'error', '-print_format', 'json', '-show_format', '-show_streams', filePath]);
  if (code !== 0) throw new VideoProbeError(`ffprobe cannot read ${filePath}: ${stderr.trim().split('\n').slice(-3).join(' | ')}`);
  const parsed: unknown = JSON.parse(stdout);
  const streams = isRecord(parsed) && Array.isArray(parsed.streams) ? parsed.streams.filter(isRecord) : [];
  const format = isRecord(parsed) && isRecord(parsed.format) ? parsed.format : {};
  const video = streams.find((s) => s.codec_type === 'video');
  const audio = streams.find((s) => s.codec_type === 'audio');
  const duration = Number(format.duration);
  return {
    codec: typeof video?.codec_name === 'string' ? video.codec_name : null,
    width: typeof video?.width === 'number' ? video.width : null,
    height: typeof video?.height === 'number' ? video.height : null,
    duration_ms: Number.isFinite(duration) ? Math.round(duration * 1000) : 0,
    audio_codec: typeof audio?.codec_name === 'string' ? audio.codec_name : null,
    audio_channels: typeof audio?.channels === 'number' ? audio.channels : null,
  };
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
