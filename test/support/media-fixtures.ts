/**
 * Media made by ffmpeg at test time (nothing large committed): tiny stills, one-second clips and
 * tones in every format the upload routes take, plus hand-made hostile files.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { deflateSync } from 'node:zlib';
import { defaultFfmpegPath } from '../../shared/render/ffmpeg-process.js';

export interface MediaFixtures {
  dir: string;
  /** the file's bytes by fixture name */
  bytes(name: FixtureName): Buffer<ArrayBuffer>;
}

const RECIPES = {
  'red.png': ['-f', 'lavfi', '-i', 'color=c=red:s=64x36', '-frames:v', '1'],
  'green.jpg': ['-f', 'lavfi', '-i', 'color=c=green:s=36x64', '-frames:v', '1'],
  'blue.webp': ['-f', 'lavfi', '-i', 'color=c=blue:s=48x48', '-frames:v', '1', '-c:v', 'libwebp'],
  'landscape.mp4': [
    '-f',
    'lavfi',
    '-i',
    'testsrc=s=160x90:r=25',
    '-f',
    'lavfi',
    '-i',
    'sine=f=440:r=44100',
    '-t',
    '1',
    '-c:v',
    'libx264',
    '-pix_fmt',
    'yuv420p',
    '-c:a',
    'aac',
    '-shortest',
  ],
  'portrait.mov': ['-f', 'lavfi', '-i', 'testsrc=s=90x160:r=30', '-t', '1', '-c:v', 'libx264', '-pix_fmt', 'yuv420p'],
  'clip.webm': ['-f', 'lavfi', '-i', 'testsrc=s=64x64:r=25', '-t', '1', '-c:v', 'libvpx', '-b:v', '200k'],
  'audio-only.mp4': ['-f', 'lavfi', '-i', 'sine=f=440:r=44100', '-t', '1', '-c:a', 'aac', '-f', 'mp4'],
  'tone.mp3': ['-f', 'lavfi', '-i', 'sine=f=330:r=44100', '-t', '1', '-c:a', 'libmp3lame'],
  'tone.wav': ['-f', 'lavfi', '-i', 'sine=f=330:r=16000', '-t', '1'],
  'tone.m4a': ['-f', 'lavfi', '-i', 'sine=f=330:r=44100', '-t', '1', '-c:a', 'aac'],
  'tone.aac': ['-f', 'lavfi', '-i', 'sine=f=330:r=44100', '-t', '1', '-c:a', 'aac', '-f', 'adts'],
  'tone.flac': ['-f', 'lavfi', '-i', 'sine=f=330:r=44100', '-t', '1', '-c:a', 'flac'],
  'tone.ogg': ['-f', 'lavfi', '-i', 'sine=f=330:r=44100', '-t', '1', '-c:a', 'libvorbis'],
} as const;

export type FixtureName = keyof typeof RECIPES | 'rotated.mp4' | 'truncated.mp4' | 'truncated-faststart.mp4' | 'bomb.png' | 'bomb.jpg' | 'headless.png';

/** A PNG whose IHDR claims `width`x`height` (CRC correct), followed by a tiny IDAT: a decompression bomb's header. */
export function bombPng(width: number, height: number): Buffer {
  const chunk = (type: string, data: Buffer) => {
    const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
    const out = Buffer.alloc(8 + data.length + 4);
    out.writeUInt32BE(data.length, 0);
    body.copy(out, 4);
    out.writeUInt32BE(crc32(body), 8 + data.length);
    return out;
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr.set([8, 2, 0, 0, 0], 8); // 8-bit RGB
  // A few kilobytes of zlib that would inflate to gigabytes: the first rows of zeros.
  const idat = deflateSync(Buffer.alloc(1 << 20));
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', idat),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

/** A baseline JPEG header (SOI, SOF0) claiming `width`x`height`, then EOI. */
export function bombJpeg(width: number, height: number): Buffer {
  const sof = Buffer.from([0xff, 0xc0, 0x00, 0x11, 0x08, height >> 8, height & 0xff, width >> 8, width & 0xff, 0x03, 1, 0x22, 0, 2, 0x11, 1, 3, 0x11, 1]);
  return Buffer.concat([
    Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10, 0x4a, 0x46, 0x49, 0x46, 0x00, 1, 1, 0, 0, 1, 0, 1, 0, 0]),
    sof,
    Buffer.from([0xff, 0xd9]),
  ]);
}

let table: Uint32Array | undefined;
function crc32(bytes: Buffer): number {
  table ??= Uint32Array.from({ length: 256 }, (_, n) => {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    return c >>> 0;
  });
  let crc = 0xffffffff;
  for (const b of bytes) crc = table[(crc ^ b) & 0xff] ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

/** Makes every fixture into a fresh temporary folder (about 1 s on 2 cores). */
export function makeMediaFixtures(): MediaFixtures {
  const dir = mkdtempSync(path.join(tmpdir(), 'media-fixtures-'));
  const ffmpeg = defaultFfmpegPath();
  const run = (args: readonly string[], out: string) => execFileSync(ffmpeg, ['-v', 'error', '-y', ...args, path.join(dir, out)]);
  for (const [name, args] of Object.entries(RECIPES)) run(args, name);
  // Rotation metadata is written by a stream copy (the display matrix of a phone shot upright).
  run(['-i', path.join(dir, 'landscape.mp4'), '-c', 'copy', '-metadata:s:v:0', 'rotate=90'], 'rotated.mp4');
  run(['-f', 'lavfi', '-i', 'testsrc=s=160x90:r=25', '-t', '1', '-c:v', 'libx264', '-pix_fmt', 'yuv420p', '-movflags', '+faststart'], 'faststart.mp4');
  const whole = readFileSync(path.join(dir, 'landscape.mp4'));
  writeFileSync(path.join(dir, 'truncated.mp4'), whole.subarray(0, Math.floor(whole.length / 2)));
  const faststart = readFileSync(path.join(dir, 'faststart.mp4'));
  writeFileSync(path.join(dir, 'truncated-faststart.mp4'), faststart.subarray(0, Math.floor(faststart.length * 0.6)));
  writeFileSync(path.join(dir, 'bomb.png'), bombPng(30000, 30000));
  writeFileSync(path.join(dir, 'bomb.jpg'), bombJpeg(60000, 60000));
  writeFileSync(path.join(dir, 'headless.png'), Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 0]));
  return { dir, bytes: (name) => readFileSync(path.join(dir, name)) };
}
