import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rmSync } from 'node:fs';
import { MediaRejectedError } from '../../shared/media/media-errors.js';
import { mediaFileName } from '../../shared/media/media-name.js';
import { sniffMedia } from '../../shared/media/media-sniff.js';
import { signPostPolicy } from '../../shared/media/presigned-post.js';
import { inspectMedia, type MediaLimits } from '../../shared/media/validate-source-media.js';
import { makeMediaFixtures, type FixtureName, type MediaFixtures } from '../support/media-fixtures.js';

/** The checks behind the media upload routes, without a stack: names, bytes, probe, the POST signature. */
let fixtures: MediaFixtures;
beforeAll(() => {
  fixtures = makeMediaFixtures();
});
afterAll(() => rmSync(fixtures.dir, { recursive: true, force: true }));

const limits: MediaLimits = { mediaMaxBytes: 10_000_000, musicMaxBytes: 10_000_000, mediaMaxPixels: 50_000_000 };
const inspect = (name: FixtureName, folder: 'media' | 'music', fileName: string = name, l = limits) => {
  const bytes = fixtures.bytes(name);
  return inspectMedia({ folder, fileName, size: bytes.length, head: bytes.subarray(0, 256 * 1024), input: path.join(fixtures.dir, name), limits: l });
};
const codeOf = async (p: Promise<unknown>) => {
  try {
    await p;
    return 'accepted';
  } catch (error: unknown) {
    if (error instanceof MediaRejectedError) return error.code;
    throw error;
  }
};

describe('media file names', () => {
  it('keeps readable Unicode names as given (NFC)', () => {
    expect(mediaFileName('media', '01 山顶 日出.JPG')).toBe('01 山顶 日出.JPG');
    expect(mediaFileName('music', 'cafe\u0301-背景音乐.mp3')).toBe('café-背景音乐.mp3');
  });

  it.each([
    ['traversal', '../x.png'],
    ['a dot-dot name', '..'],
    ['a hidden file', '.x.png'],
    ['a slash', 'a/b.png'],
    ['a backslash', 'a\\b.png'],
    ['a fullwidth slash', 'a／b.png'],
    ['a division slash', 'a\u2215b.png'],
    ['NUL', 'a\u0000.png'],
    ['a newline', 'a\n.png'],
    ['a right-to-left override', 'a\u202egnp.exe'],
    ['a zero-width joiner', 'a\u200d.png'],
    ['a trailing space', 'a.png '],
    ['201 characters', `${'山'.repeat(197)}.png`],
    ['a colon', 'c:x.png'],
  ])('refuses %s', (_what, name) => {
    expect(() => mediaFileName('media', name)).toThrow(expect.objectContaining({ code: 'invalid_file_name' }));
  });

  it('takes 200 characters and refuses an extension the folder does not hold', () => {
    expect(mediaFileName('media', `${'山'.repeat(196)}.png`)).toHaveLength(200);
    expect(() => mediaFileName('media', 'song.mp3')).toThrow(expect.objectContaining({ code: 'unsupported_extension' }));
    expect(() => mediaFileName('music', 'clip.mp4')).toThrow(expect.objectContaining({ code: 'unsupported_extension' }));
    expect(() => mediaFileName('media', 'noextension')).toThrow(expect.objectContaining({ code: 'unsupported_extension' }));
  });
});

describe('the type by the bytes', () => {
  it('recognizes every accepted format from its first bytes', () => {
    const seen = (
      [
        'red.png',
        'green.jpg',
        'blue.webp',
        'landscape.mp4',
        'portrait.mov',
        'clip.webm',
        'tone.mp3',
        'tone.wav',
        'tone.m4a',
        'tone.aac',
        'tone.flac',
        'tone.ogg',
      ] as const
    ).map((n) => `${n}:${sniffMedia(fixtures.bytes(n))?.format}`);
    expect(seen).toEqual([
      'red.png:png',
      'green.jpg:jpeg',
      'blue.webp:webp',
      'landscape.mp4:mp4',
      'portrait.mov:mov',
      'clip.webm:webm',
      'tone.mp3:mp3',
      'tone.wav:wav',
      'tone.m4a:m4a',
      'tone.aac:aac',
      'tone.flac:flac',
      'tone.ogg:ogg',
    ]);
  });

  it('recognizes nothing in text, HTML or a ZIP', () => {
    expect(sniffMedia(Buffer.from('hello, this is text'))).toBeUndefined();
    expect(sniffMedia(Buffer.from('<!doctype html><html><body>x</body></html>'))).toBeUndefined();
    expect(sniffMedia(Buffer.from([0x50, 0x4b, 0x03, 0x04, 0, 0, 0, 0]))).toBeUndefined();
  });
});

describe('inspecting a file', () => {
  it('reports size, duration, codecs and rotation from ffprobe', async () => {
    const clip = await inspect('landscape.mp4', 'media');
    expect(clip).toMatchObject({
      kind: 'clip',
      format: 'mp4',
      width: 160,
      height: 90,
      rotation: 0,
      display_width: 160,
      display_height: 90,
      video_codec: 'h264',
      audio_codec: 'aac',
      frame_rate: 25,
    });
    expect(clip.duration_ms).toBeGreaterThanOrEqual(950);
    const rotated = await inspect('rotated.mp4', 'media');
    expect(rotated).toMatchObject({ rotation: 90, width: 160, height: 90, display_width: 90, display_height: 160 });
    expect(await inspect('green.jpg', 'media')).toMatchObject({ kind: 'still', format: 'jpeg', width: 36, height: 64, frame_rate: null });
    expect(await inspect('tone.flac', 'music')).toMatchObject({ kind: 'audio', audio_codec: 'flac', video_codec: null });
  });

  it.each([
    ['an MP4 with only audio as a clip', 'audio-only.mp4', 'media', 'audio-only.mp4', 'no_video_stream'],
    ['an MP4 cut in half (no index)', 'truncated.mp4', 'media', 'truncated.mp4', 'unreadable_media'],
    ['an MP4 cut short with its index first', 'truncated-faststart.mp4', 'media', 'x.mp4', 'unreadable_media'],
    ['a PNG header claiming 30000x30000', 'bomb.png', 'media', 'bomb.png', 'too_many_pixels'],
    ['a JPEG header claiming 60000x60000', 'bomb.jpg', 'media', 'bomb.jpg', 'too_many_pixels'],
    ['a PNG without its header chunk', 'headless.png', 'media', 'headless.png', 'unreadable_media'],
    ['a PNG named .mp4', 'red.png', 'media', 'red.mp4', 'extension_mismatch'],
    ['music under media/', 'tone.m4a', 'media', 'tone.mp4', 'unsupported_media_type'],
    ['a clip under music/', 'clip.webm', 'music', 'clip.ogg', 'unsupported_media_type'],
  ] as const)('refuses %s', async (_what, fixture, folder, fileName, code) => {
    expect(await codeOf(inspect(fixture, folder, fileName))).toBe(code);
  });

  it('refuses a still over the pixel limit that a lower limit lets through', async () => {
    expect(await codeOf(inspect('red.png', 'media', 'red.png', { ...limits, mediaMaxPixels: 64 * 36 - 1 }))).toBe('too_many_pixels');
    expect(await codeOf(inspect('red.png', 'media', 'red.png', { ...limits, mediaMaxPixels: 64 * 36 }))).toBe('accepted');
  });

  it('names the size limit in the 413 sentence', async () => {
    const bytes = fixtures.bytes('tone.wav');
    const error = await inspect('tone.wav', 'music', 'tone.wav', { ...limits, musicMaxBytes: bytes.length - 1 }).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'file_too_large', status: 413 });
    expect((error as Error).message).toContain(`at most ${bytes.length - 1} bytes`);
  });
});

describe('the presigned POST signature', () => {
  // AWS's published example (Amazon S3 API reference, "Example: Browser-Based Upload using HTTP
  // POST (Using AWS Signature Version 4)"): its base64 policy, credentials and signature.
  const AWS_POLICY =
    'eyAiZXhwaXJhdGlvbiI6ICIyMDE1LTEyLTMwVDEyOjAwOjAwLjAwMFoiLA0KICAiY29uZGl0aW9ucyI6IFsNCiAgICB7ImJ1Y2tldCI6ICJzaWd2NGV4YW1wbGVidWNrZXQifSwNCiAgICBbInN0YXJ0cy13aXRoIiwgIiRrZXkiLCAidXNlci91c2VyMS8iXSwNCiAgICB7ImFjbCI6ICJwdWJsaWMtcmVhZCJ9LA0KICAgIHsic3VjY2Vzc19hY3Rpb25fcmVkaXJlY3QiOiAiaHR0cDovL3NpZ3Y0ZXhhbXBsZWJ1Y2tldC5zMy5hbWF6b25hd3MuY29tL3N1Y2Nlc3NmdWxfdXBsb2FkLmh0bWwifSwNCiAgICBbInN0YXJ0cy13aXRoIiwgIiRDb250ZW50LVR5cGUiLCAiaW1hZ2UvIl0sDQogICAgeyJ4LWFtei1tZXRhLXV1aWQiOiAiMTQzNjUxMjM2NTEyNzQifSwNCiAgICB7IngtYW16LXNlcnZlci1zaWRlLWVuY3J5cHRpb24iOiAiQUVTMjU2In0sDQogICAgWyJzdGFydHMtd2l0aCIsICIkeC1hbXotbWV0YS10YWciLCAiIl0sDQoNCiAgICB7IngtYW16LWNyZWRlbnRpYWwiOiAiQUtJQUlPU0ZPRE5ON0VYQU1QTEUvMjAxNTEyMjkvdXMtZWFzdC0xL3MzL2F3czRfcmVxdWVzdCJ9LA0KICAgIHsieC1hbXotYWxnb3JpdGhtIjogIkFXUzQtSE1BQy1TSEEyNTYifSwNCiAgICB7IngtYW16LWRhdGUiOiAiMjAxNTEyMjlUMDAwMDAwWiIgfQ0KICBdDQp9';

  it("signs AWS's example policy as AWS did", () => {
    const signature = signPostPolicy({
      policyBase64: AWS_POLICY,
      secretAccessKey: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY',
      date: '20151229',
      region: 'us-east-1',
    });
    expect(signature).toBe('8afdbf4008c03f22c2cd3cdb72e4afbb1f6a588f3255ac628749a66d7f09699e');
  });

  it('gives another signature for another secret, date or region', () => {
    const base = { policyBase64: AWS_POLICY, secretAccessKey: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY', date: '20151229', region: 'us-east-1' };
    const signatures = new Set([
      signPostPolicy(base),
      signPostPolicy({ ...base, secretAccessKey: 'x' }),
      signPostPolicy({ ...base, date: '20151230' }),
      signPostPolicy({ ...base, region: 'eu-west-1' }),
    ]);
    expect(signatures.size).toBe(4);
  });
});
