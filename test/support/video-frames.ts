import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';

const FFMPEG = (createRequire(import.meta.url)('@ffmpeg-installer/ffmpeg') as { path: string }).path;

/** A rectangle of a frame, in pixels. */
export interface FrameArea {
  x: number;
  y: number;
  w: number;
  h: number;
}

/** Raw RGB24 pixels of an `area` of the frame of `video` at `seconds` (what the render tests sample). */
export function framePixels(video: string, seconds: number, area: FrameArea): Buffer {
  const args = ['-hide_banner', '-v', 'error', '-ss', seconds.toFixed(3), '-i', video, '-frames:v', '1'];
  const out = spawnSync(FFMPEG, [...args, '-vf', `crop=${area.w}:${area.h}:${area.x}:${area.y}`, '-f', 'rawvideo', '-pix_fmt', 'rgb24', '-'], {
    maxBuffer: 64 * 1024 * 1024,
  });
  if (out.status !== 0) throw new Error(`ffmpeg could not read the frame at ${seconds} s of ${video}: ${out.stderr.toString()}`);
  return out.stdout;
}

/** The mean colour of RGB24 pixels. */
export function meanColour(pixels: Buffer): [number, number, number] {
  const sum = [0, 0, 0];
  for (let i = 0; i < pixels.length; i += 3) for (let c = 0; c < 3; c++) sum[c] += pixels[i + c];
  const n = pixels.length / 3;
  return [sum[0] / n, sum[1] / n, sum[2] / n];
}
