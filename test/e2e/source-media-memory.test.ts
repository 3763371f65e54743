import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateBucketCommand, HeadObjectCommand, S3Client } from '@aws-sdk/client-s3';
import S3rver from 's3rver';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { s3rverClient } from '../support/s3rver-env.js';

/**
 * An upload is streamed — to a temporary file, checked there, then on to S3 in parts — never held
 * whole: the API process (test/support/media-upload-memory-child.ts) grows by a small fraction of
 * a 256 MiB music file it stores in s3rver.
 */
const AUDIO_BYTES = 256 * 1024 * 1024;
const CHUNK = 1024 * 1024;
const BUCKET = 'media-memory-test';
let s3rver: S3rver;
let s3Endpoint: string;
let s3: S3Client;
let dir: string;
let child: ChildProcess;
let apiPort: number;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'media-memory-'));
  s3rver = new S3rver({ port: 0, address: '127.0.0.1', silent: true, directory: dir });
  s3Endpoint = `http://127.0.0.1:${(await s3rver.run()).port}`;
  s3 = s3rverClient(s3Endpoint);
  await s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
  child = spawn(
    process.execPath,
    [
      '--expose-gc',
      '--import',
      'tsx',
      'test/support/media-upload-memory-child.ts',
      JSON.stringify({ s3Endpoint, bucket: BUCKET, musicMaxBytes: AUDIO_BYTES + 1024 }),
    ],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  apiPort = await new Promise<number>((ok, fail) => {
    let out = '';
    let err = '';
    child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      const line = out.split('\n').find((l) => l.startsWith('{'));
      if (line) ok((JSON.parse(line) as { port: number }).port);
    });
    child.on('close', (code) => fail(new Error(`the API process exited with ${code}: ${err.slice(-2000)}`)));
  });
}, 60_000);

afterAll(async () => {
  child?.kill();
  await s3rver?.close();
  rmSync(dir, { recursive: true, force: true });
});

/** A valid 16-bit mono 48 kHz WAV of `dataBytes` of silence, generated chunk by chunk. */
function* wavChunks(dataBytes: number): Generator<Buffer> {
  const header = Buffer.alloc(44);
  header.write('RIFF', 0, 'latin1');
  header.writeUInt32LE(36 + dataBytes, 4);
  header.write('WAVEfmt ', 8, 'latin1');
  header.writeUInt32LE(16, 16);
  header.writeUInt16LE(1, 20);
  header.writeUInt16LE(1, 22);
  header.writeUInt32LE(48_000, 24);
  header.writeUInt32LE(96_000, 28);
  header.writeUInt16LE(2, 32);
  header.writeUInt16LE(16, 34);
  header.write('data', 36, 'latin1');
  header.writeUInt32LE(dataBytes, 40);
  yield header;
  for (let sent = 0; sent < dataBytes; sent += CHUNK) yield Buffer.alloc(Math.min(CHUNK, dataBytes - sent), (sent / CHUNK) % 7);
}

function call(method: string, path: string, body?: Iterable<Buffer>): Promise<{ status: number; body: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: apiPort, method, path, headers: body ? { 'content-type': 'audio/wav' } : {} }, (res) => {
      let text = '';
      res.on('data', (d: Buffer) => (text += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) as Record<string, unknown> }));
    });
    req.on('error', reject);
    if (!body) return req.end();
    // Chunked, with back-pressure: the client never holds more than a chunk either.
    const chunks = body[Symbol.iterator]();
    const pump = () => {
      for (let next = chunks.next(); !next.done; next = chunks.next()) if (!req.write(next.value)) return void req.once('drain', pump);
      req.end();
    };
    pump();
  });
}

const MiB = (n: number) => `${(n / 1024 / 1024).toFixed(1)} MiB`;

describe('a large upload', () => {
  it('stores a 256 MiB music file while the API process grows by a small fraction of it', async () => {
    const res = await call('PUT', '/api/pipeline/sources/c1/v1/music/long.wav', wavChunks(AUDIO_BYTES - 44));
    const memory = (await call('GET', '/__memory')).body as { rss_growth: number; array_buffers_growth: number };

    console.info(`API memory growth for a ${MiB(AUDIO_BYTES)} upload: rss +${MiB(memory.rss_growth)}, array buffers +${MiB(memory.array_buffers_growth)}`);
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    expect(res.body).toMatchObject({ size: AUDIO_BYTES, facts: { kind: 'audio', format: 'wav' } });
    const stored = await s3.send(new HeadObjectCommand({ Bucket: BUCKET, Key: 'sources/c1/v1/music/long.wav' }));
    expect(stored.ContentLength).toBe(AUDIO_BYTES);
    // Held whole, both would grow by the whole file at least (256 MiB); streamed, by one 8 MiB part
    // buffer, the SDK's copy of it and garbage not yet collected (measured: about +40 MiB).
    expect(memory.array_buffers_growth).toBeLessThan(96 * 1024 * 1024);
    expect(memory.rss_growth).toBeLessThan(128 * 1024 * 1024);
  }, 120_000);
});
