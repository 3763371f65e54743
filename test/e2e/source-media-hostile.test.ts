import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bombPng, makeMediaFixtures, type MediaFixtures } from '../support/media-fixtures.js';
import { recordReliability } from '../support/reliability.js';
import { startTestStack, type TestStack } from '../support/stack.js';

/**
 * Hostile media uploads and requests: each gets a 4xx with a stable code and a sentence, and
 * writes nothing — no object in the bucket, no item in the table, no temporary file left behind.
 * Paths are sent byte for byte (node:http), so `%2e%2e` and `%00` reach the API as a client sent them.
 */
const MEDIA_MAX = 300_000;
const MUSIC_MAX = 200_000;
/** Under the 50 MP default: the setting is read (a 6400x6400 header passes the default). */
const MAX_PIXELS = 40_000_000;
let stack: TestStack;
let fixtures: MediaFixtures;
beforeAll(async () => {
  fixtures = makeMediaFixtures();
  stack = await startTestStack({ extraEnv: { MEDIA_MAX_BYTES: String(MEDIA_MAX), MUSIC_MAX_BYTES: String(MUSIC_MAX), MEDIA_MAX_PIXELS: String(MAX_PIXELS) } });
  // The API spools uploads under os.tmpdir(): a folder of this process's own, so that another
  // test file's uploads (a process of its own) cannot show up in it.
  previousTmpdir = process.env.TMPDIR;
  spoolDir = mkdtempSync(path.join(tmpdir(), 'hostile-spool-'));
  process.env.TMPDIR = spoolDir;
}, 60_000);
afterAll(async () => {
  if (previousTmpdir === undefined) delete process.env.TMPDIR;
  else process.env.TMPDIR = previousTmpdir;
  await stack?.close();
  rmSync(fixtures.dir, { recursive: true, force: true });
  if (spoolDir) rmSync(spoolDir, { recursive: true, force: true });
});
let previousTmpdir: string | undefined;
let spoolDir: string | undefined;

const tally = { runs: 0, answered4xx: 0, written: 0 };

/** Sends `path` verbatim; `body` as one buffer (content-length) or, with `chunked`, in pieces without one. */
function send(a: {
  method: string;
  path: string;
  body?: Buffer;
  contentType?: string;
  chunked?: boolean;
}): Promise<{ status: number; body: Record<string, unknown> }> {
  const target = new URL(stack.apiUrl);
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { 'content-type': a.contentType ?? 'application/octet-stream' };
    if (a.body && !a.chunked) headers['content-length'] = String(a.body.length);
    const req = request({ host: target.hostname, port: target.port, method: a.method, path: a.path, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let body: Record<string, unknown>;
        try {
          body = JSON.parse(text) as Record<string, unknown>;
        } catch {
          body = { unparsed: text };
        }
        resolve({ status: res.statusCode ?? 0, body });
      });
    });
    // The server may answer (413) and close before the whole body is sent.
    req.on('error', (error: NodeJS.ErrnoException) => (error.code === 'EPIPE' || error.code === 'ECONNRESET' ? undefined : reject(error)));
    if (a.body && a.chunked) {
      for (let i = 0; i < a.body.length; i += 64 * 1024) req.write(a.body.subarray(i, i + 64 * 1024));
      req.end();
    } else {
      req.end(a.body);
    }
  });
}

const M = '/api/pipeline/sources/c1/v1/media/';
const U = '/api/pipeline/sources/c1/v1/music/';
const text = Buffer.from('This is a plain text file, not a video at all.\n'.repeat(20));
const html = Buffer.from('<!doctype html><html><head><script>alert(1)</script></head><body>hi</body></html>');
const svg = Buffer.from('<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"></svg>');
const zip = Buffer.from([0x50, 0x4b, 0x03, 0x04, ...Buffer.alloc(60)]);
const gif = Buffer.concat([Buffer.from('GIF89a'), Buffer.alloc(40)]);

type Case = { name: string; method?: string; path: string; body?: () => Buffer; contentType?: string; chunked?: boolean; status: number; code: string };
const cases: Case[] = [
  { name: 'a text file named .mp4', path: `${M}notes.mp4`, body: () => text, status: 415, code: 'unsupported_media_type' },
  { name: 'an HTML file sent as image/png', path: `${M}x.png`, body: () => html, contentType: 'image/png', status: 415, code: 'unsupported_media_type' },
  { name: 'an SVG named .png', path: `${M}x.png`, body: () => svg, contentType: 'image/png', status: 415, code: 'unsupported_media_type' },
  { name: 'a ZIP named .png', path: `${M}x.png`, body: () => zip, status: 415, code: 'unsupported_media_type' },
  { name: 'a GIF named .png', path: `${M}x.png`, body: () => gif, status: 415, code: 'unsupported_media_type' },
  { name: 'a text file named .mp3', path: `${U}song.mp3`, body: () => text, status: 415, code: 'unsupported_media_type' },
  { name: '0 bytes', path: `${M}empty.png`, body: () => Buffer.alloc(0), status: 400, code: 'empty_file' },
  { name: 'no body at all', path: `${M}none.mp4`, status: 400, code: 'empty_file' },
  { name: 'a clip over the limit (announced)', path: `${M}big.mp4`, body: () => Buffer.alloc(MEDIA_MAX + 1), status: 413, code: 'file_too_large' },
  {
    name: 'a clip over the limit (chunked, no length)',
    path: `${M}big.mp4`,
    body: () => Buffer.concat([fixtures.bytes('landscape.mp4'), Buffer.alloc(MEDIA_MAX)]),
    chunked: true,
    status: 413,
    code: 'file_too_large',
  },
  { name: 'music over its limit', path: `${U}big.wav`, body: () => Buffer.alloc(MUSIC_MAX + 1), status: 413, code: 'file_too_large' },
  { name: 'a truncated MP4 (index lost)', path: `${M}cut.mp4`, body: () => fixtures.bytes('truncated.mp4'), status: 422, code: 'unreadable_media' },
  {
    name: 'a truncated MP4 (index first, data cut)',
    path: `${M}cut2.mp4`,
    body: () => fixtures.bytes('truncated-faststart.mp4'),
    status: 422,
    code: 'unreadable_media',
  },
  { name: 'an MP4 with only audio as a clip', path: `${M}voice.mp4`, body: () => fixtures.bytes('audio-only.mp4'), status: 422, code: 'no_video_stream' },
  { name: 'a PNG whose header claims 30000x30000', path: `${M}bomb.png`, body: () => fixtures.bytes('bomb.png'), status: 422, code: 'too_many_pixels' },
  { name: 'a PNG claiming 6400x6400 (over the 40 MP set)', path: `${M}bomb2.png`, body: () => bombPng(6400, 6400), status: 422, code: 'too_many_pixels' },
  { name: 'a JPEG whose header claims 60000x60000', path: `${M}bomb.jpg`, body: () => fixtures.bytes('bomb.jpg'), status: 422, code: 'too_many_pixels' },
  { name: 'a PNG signature without a header', path: `${M}headless.png`, body: () => fixtures.bytes('headless.png'), status: 422, code: 'unreadable_media' },
  { name: 'PNG bytes named .jpg', path: `${M}x.jpg`, body: () => fixtures.bytes('red.png'), status: 415, code: 'extension_mismatch' },
  { name: 'JPEG bytes named .webp', path: `${M}x.webp`, body: () => fixtures.bytes('green.jpg'), status: 415, code: 'extension_mismatch' },
  { name: 'WebM bytes named .mp4', path: `${M}x.mp4`, body: () => fixtures.bytes('clip.webm'), status: 415, code: 'extension_mismatch' },
  { name: 'FLAC bytes named .mp3', path: `${U}x.mp3`, body: () => fixtures.bytes('tone.flac'), status: 415, code: 'extension_mismatch' },
  { name: 'an MP3 under media/ named .mp4', path: `${M}song.mp4`, body: () => fixtures.bytes('tone.mp3'), status: 415, code: 'unsupported_media_type' },
  { name: 'a clip under music/ named .ogg', path: `${U}clip.ogg`, body: () => fixtures.bytes('clip.webm'), status: 415, code: 'unsupported_media_type' },
  { name: 'an unknown extension (.exe)', path: `${M}x.exe`, body: () => fixtures.bytes('red.png'), status: 415, code: 'unsupported_extension' },
  { name: 'a music extension under media/', path: `${M}x.mp3`, body: () => fixtures.bytes('tone.mp3'), status: 415, code: 'unsupported_extension' },
  { name: 'path traversal (encoded slashes)', path: `${M}..%2F..%2Fsource.txt`, body: () => text, status: 400, code: 'invalid_file_name' },
  { name: 'path traversal (encoded backslashes)', path: `${M}..%5C..%5Cx.png`, body: () => fixtures.bytes('red.png'), status: 400, code: 'invalid_file_name' },
  // The HTTP server resolves an encoded dot-dot segment before any route sees it: no route, nothing stored.
  { name: 'a name of encoded dots', path: `${M}%2e%2e`, body: () => text, status: 404, code: 'not_found' },
  { name: 'a name of encoded dots and an extension', path: `${M}%2e%2e.png`, body: () => fixtures.bytes('red.png'), status: 400, code: 'invalid_file_name' },
  { name: 'NUL in the name', path: `${M}a%00.png`, body: () => fixtures.bytes('red.png'), status: 400, code: 'invalid_file_name' },
  { name: 'a newline in the name', path: `${M}a%0A.png`, body: () => fixtures.bytes('red.png'), status: 400, code: 'invalid_file_name' },
  { name: 'a fullwidth slash in the name', path: `${M}a%EF%BC%8Fb.png`, body: () => fixtures.bytes('red.png'), status: 400, code: 'invalid_file_name' },
  {
    name: 'a right-to-left override in the name',
    path: `${M}a%E2%80%AEgnp.png`,
    body: () => fixtures.bytes('red.png'),
    status: 400,
    code: 'invalid_file_name',
  },
  { name: 'a hidden file name', path: `${M}.htaccess.png`, body: () => fixtures.bytes('red.png'), status: 400, code: 'invalid_file_name' },
  {
    name: 'a name of 201 characters',
    path: `${M}${encodeURIComponent(`${'山'.repeat(197)}.png`)}`,
    body: () => fixtures.bytes('red.png'),
    status: 400,
    code: 'invalid_file_name',
  },
  { name: 'a name of 5000 characters', path: `${M}${'a'.repeat(4996)}.png`, body: () => fixtures.bytes('red.png'), status: 400, code: 'invalid_file_name' },
  { name: 'malformed percent-encoding in the name', path: `${M}%E4%B8.png`, body: () => fixtures.bytes('red.png'), status: 400, code: 'invalid_file_name' },
  { name: 'a wrong folder', path: '/api/pipeline/sources/c1/v1/clips/x.mp4', body: () => fixtures.bytes('landscape.mp4'), status: 404, code: 'not_found' },
  { name: 'a nested folder', path: `${M}sub/x.png`, body: () => fixtures.bytes('red.png'), status: 404, code: 'not_found' },
  {
    name: 'traversal in creator_id',
    path: '/api/pipeline/sources/..%2F..%2Ftasks/v1/media/x.png',
    body: () => fixtures.bytes('red.png'),
    status: 400,
    code: 'invalid_request',
  },
  {
    name: 'a hash in video_id',
    path: '/api/pipeline/sources/c1/a%23b/media/x.png',
    body: () => fixtures.bytes('red.png'),
    status: 400,
    code: 'invalid_request',
  },
  { name: 'DELETE with traversal', method: 'DELETE', path: `${M}..%2F..%2Fsource.txt`, status: 400, code: 'invalid_file_name' },
  { name: 'DELETE of a file that is not there', method: 'DELETE', path: `${M}missing.png`, status: 404, code: 'media_not_found' },
  { name: 'a listing with traversal in video_id', method: 'GET', path: '/api/pipeline/sources/c1/..%2F..', status: 400, code: 'invalid_request' },
];

describe('hostile media uploads and requests', () => {
  it.each(cases)('answers $status ($code) to $name and writes nothing', async (c) => {
    const objectsBefore = await stack.objectKeys();
    const itemsBefore = await stack.itemKeys();
    const res = await send({ method: c.method ?? 'PUT', path: c.path, body: c.body?.(), contentType: c.contentType, chunked: c.chunked });
    const objectsAfter = await stack.objectKeys();
    const itemsAfter = await stack.itemKeys();
    tally.runs += 1;
    if (res.status >= 400 && res.status < 500) tally.answered4xx += 1;
    tally.written += objectsAfter.length - objectsBefore.length + itemsAfter.length - itemsBefore.length;
    expect(res.body.error, JSON.stringify(res.body)).toBe(c.code);
    expect(res.status).toBe(c.status);
    expect(String(res.body.message).length).toBeGreaterThan(10);
    expect(objectsAfter).toEqual(objectsBefore);
    expect(itemsAfter).toEqual(itemsBefore);
    expect(readdirSync(spoolDir!)).toEqual([]);
  });

  it('names the limit in the 413 sentence', async () => {
    const res = await send({ method: 'PUT', path: `${M}big.mp4`, body: Buffer.alloc(MEDIA_MAX + 1) });
    expect(res.body.message).toContain(`${MEDIA_MAX} bytes`);
  });

  it('recorded every hostile case', async () => {
    expect(tally.runs).toBe(cases.length);
    recordReliability({
      fault: `${cases.length} hostile media uploads and requests (text/HTML/SVG/ZIP as media, 0 bytes, over the limit, truncated and audio-only MP4, decompression-bomb headers, extension/content mismatch, traversal, NUL, look-alike slashes, long names, wrong folder)`,
      runs: tally.runs,
      outcome: `${tally.answered4xx}/${tally.runs} answered 4xx with a code and a sentence; objects or items written: ${tally.written}`,
      data_lost: 0,
      duplicates: 0,
      locks_leaked: (await stack.itemKeys()).filter((k) => k.startsWith('LOCK#')).length,
    });
  });
});
