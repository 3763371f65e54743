/** What ffprobe (from npm) says about a media file or URL: streams, size, duration, rotation. */
import { defaultFfprobePath, runCollect } from '../render/ffmpeg-process.js';

export interface ProbedStream {
  type: 'video' | 'audio' | 'subtitle' | 'data' | 'other';
  codec: string | null;
}

/** ffprobe's facts about one file, as the listing and Draft show them. */
export interface MediaProbe {
  /** ffprobe's container name, e.g. `mov,mp4,m4a,3gp,3g2,mj2`, `png_pipe`, `mp3` */
  container: string | null;
  streams: ProbedStream[];
  /** codec of the first video stream (`h264`, `png`, `mjpeg`, `webp`…), null without one */
  video_codec: string | null;
  /** stored size of the first video stream's frames */
  width: number | null;
  height: number | null;
  /** rotation the player applies, in degrees clockwise (0, 90, 180, 270) — phone clips shot upright */
  rotation: number;
  /** size on screen, rotation applied (what the timeline lays out) */
  display_width: number | null;
  display_height: number | null;
  /** average frames per second of the first video stream; null for a still */
  frame_rate: number | null;
  /** true when the stream's nominal and average frame rates differ (a phone's variable rate) */
  variable_frame_rate: boolean;
  duration_ms: number;
  audio_codec: string | null;
  audio_channels: number | null;
  audio_sample_rate: number | null;
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const str = (v: unknown) => (typeof v === 'string' && v ? v : null);
const num = (v: unknown) =>
  typeof v === 'number' && Number.isFinite(v) ? v : typeof v === 'string' && v !== '' && Number.isFinite(Number(v)) ? Number(v) : null;

function rate(v: unknown): number | null {
  if (typeof v !== 'string') return null;
  const [n, d] = v.split('/').map(Number);
  if (!Number.isFinite(n) || !Number.isFinite(d) || d === 0 || n === 0) return null;
  return Math.round((n / d) * 1000) / 1000;
}

function rotationOf(stream: Record<string, unknown>): number {
  const side = Array.isArray(stream.side_data_list) ? stream.side_data_list.filter(isRecord) : [];
  const fromMatrix = side.map((s) => num(s.rotation)).find((r) => r !== null);
  const fromTag = isRecord(stream.tags) ? num(stream.tags.rotate) : null;
  const degrees = fromMatrix ?? fromTag ?? 0;
  // Quarter turns only: a player snaps anything else to the nearest one.
  return (((Math.round(degrees / 90) * 90) % 360) + 360) % 360;
}

/**
 * Runs ffprobe on a local path or an http(s) URL (a presigned GET). Resolves undefined when
 * ffprobe cannot read it (truncated, corrupt, not media) — with its last error lines.
 */
export async function probeMedia(input: string, a: { readPackets?: boolean; ffprobePath?: string } = {}): Promise<{ probe?: MediaProbe; error?: string }> {
  // With readPackets every packet is demuxed (not decoded): a cut-off file whose index survived
  // (moov first) shows as "partial file" errors here and nowhere else.
  const args = ['-v', 'error', ...(a.readPackets ? ['-count_packets'] : []), '-print_format', 'json', '-show_format', '-show_streams', input];
  const { code, stdout, stderr } = await runCollect(a.ffprobePath ?? defaultFfprobePath(), args);
  const parsed: unknown = code === 0 ? safeJson(stdout) : undefined;
  // Never the input itself in a message: a temporary path, or a presigned URL with its signature.
  const errors = stderr
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((line) =>
      line
        .split(input)
        .join('the file')
        .replace(/\[[^\]]*@ 0x[0-9a-f]+\]\s*/g, ''),
    );
  if (!isRecord(parsed)) return { error: errors.slice(-2).join(' | ') || `ffprobe exited with ${code}` };
  if (a.readPackets && errors.length > 0) return { error: errors.slice(-2).join(' | ') };
  const streams = Array.isArray(parsed.streams) ? parsed.streams.filter(isRecord) : [];
  const format = isRecord(parsed.format) ? parsed.format : {};
  if (streams.length === 0) return { error: 'no streams' };
  const video = streams.find((s) => s.codec_type === 'video' && !(isRecord(s.disposition) && s.disposition.attached_pic === 1));
  const audio = streams.find((s) => s.codec_type === 'audio');
  const rotation = video ? rotationOf(video) : 0;
  const width = num(video?.width);
  const height = num(video?.height);
  const quarter = rotation === 90 || rotation === 270;
  const duration = num(format.duration) ?? num(video?.duration) ?? num(audio?.duration);
  const average = rate(video?.avg_frame_rate);
  const nominal = rate(video?.r_frame_rate);
  const isStill = ['png', 'mjpeg', 'webp'].includes(str(video?.codec_name) ?? '') && (duration === null || duration <= 0.05);
  return {
    probe: {
      container: str(format.format_name),
      streams: streams.map((s) => ({
        type: (['video', 'audio', 'subtitle', 'data'] as const).find((t) => t === s.codec_type) ?? 'other',
        codec: str(s.codec_name),
      })),
      video_codec: str(video?.codec_name),
      width,
      height,
      rotation,
      display_width: quarter ? height : width,
      display_height: quarter ? width : height,
      frame_rate: isStill ? null : (average ?? nominal),
      variable_frame_rate: !isStill && average !== null && nominal !== null && Math.abs(average - nominal) > 0.01,
      duration_ms: duration !== null && duration > 0 ? Math.round(duration * 1000) : 0,
      audio_codec: str(audio?.codec_name),
      audio_channels: num(audio?.channels),
      audio_sample_rate: num(audio?.sample_rate),
    },
  };
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
