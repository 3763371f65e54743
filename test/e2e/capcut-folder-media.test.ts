import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { readFile, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { CreateBucketCommand, GetObjectCommand, HeadObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import S3rver from 's3rver';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listKeys, putObject, putObjectStream } from '../../shared/artifacts.js';
import { checkCapcutDraftFolder } from '../../shared/draft/capcut-draft-check.js';
import { DraftFolderError, storeCapcutDraftFolder, type CapcutFolderMedia } from '../../shared/draft/capcut-folder.js';
import type { Draft } from '../../shared/draft/draft.js';
import { TarEntrySizeError, tarGzStream } from '../../shared/draft/tar-archive.js';
import { createRuntime, type Runtime } from '../../shared/runtime.js';
import { encodeWav } from '../../shared/tts/wav.js';
import { s3rverClient, s3rverEnv } from '../support/s3rver-env.js';

/**
 * The draft folder with media given by object key (clips, stills, music): copied into the folder
 * by S3 (CopyObject), streamed into the archive, streamed into the local copy; names in Unicode
 * kept, names that would leave the folder refused. The memory test stores a 200 MiB clip from a
 * child process (test/support/draft-archive-memory-child.ts) and measures its growth.
 */
const BUCKET = 'draft-folder-media';
const S = 1_000_000;
const MiB = 1024 * 1024;
let s3rver: S3rver;
let s3Endpoint: string;
let s3: S3Client;
let rt: Runtime;
let dir: string;

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'draft-folder-media-'));
  s3rver = new S3rver({ port: 0, address: '127.0.0.1', silent: true, directory: path.join(dir, 's3') });
  s3Endpoint = `http://127.0.0.1:${(await s3rver.run()).port}`;
  s3 = s3rverClient(s3Endpoint);
  await s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
  rt = createRuntime({ ...s3rverEnv(s3Endpoint, BUCKET) });
}, 60_000);

afterAll(async () => {
  await s3rver?.close();
  rmSync(dir, { recursive: true, force: true });
});

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

/** The entries of a gzipped tar as path → size and sha256, read as a stream (pax `path` records honoured). */
async function readTarGz(body: Readable): Promise<Map<string, { size: number; sha256: string }>> {
  const entries = new Map<string, { size: number; sha256: string }>();
  let pending = Buffer.alloc(0);
  let current: { path: string; size: number; left: number; pad: number; hash: ReturnType<typeof createHash>; pax: Buffer[] | null } | null = null;
  let paxPath: string | null = null;
  for await (const chunk of body.pipe(createGunzip())) {
    pending = Buffer.concat([pending, chunk as Buffer]);
    for (;;) {
      if (current) {
        const take = Math.min(current.left, pending.length);
        const piece = pending.subarray(0, take);
        if (current.pax) current.pax.push(Buffer.from(piece));
        else current.hash.update(piece);
        current.left -= take;
        pending = pending.subarray(take);
        if (current.left > 0) break;
        if (pending.length < current.pad) break;
        pending = pending.subarray(current.pad);
        if (current.pax) paxPath = /(?:^|\n)\d+ path=([^\n]*)\n/.exec(Buffer.concat(current.pax).toString('utf8'))?.[1] ?? null;
        else entries.set(current.path, { size: current.size, sha256: current.hash.digest('hex') });
        current = null;
      }
      if (pending.length < 512) break;
      const header = pending.subarray(0, 512);
      pending = pending.subarray(512);
      if (header.every((b) => b === 0)) continue;
      const name = header.subarray(0, 100).toString('utf8').replace(/\0.*$/s, '');
      const size = parseInt(header.subarray(124, 136).toString('ascii').replace(/\0.*$/s, '').trim(), 8);
      const type = String.fromCharCode(header[156]);
      current = {
        path: type === 'x' ? name : (paxPath ?? name),
        size,
        left: size,
        pad: (512 - (size % 512)) % 512,
        hash: createHash('sha256'),
        pax: type === 'x' ? [] : null,
      };
      if (type !== 'x') paxPath = null;
    }
  }
  return entries;
}

async function objectStream(key: string): Promise<Readable> {
  return (await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }))).Body as Readable;
}

function clipDraft(taskId: string, clips: Array<{ id: string; type: 'video' | 'image' | 'audio' }>): Draft {
  const duration_us = 2 * S;
  return {
    version: 1,
    task_id: taskId,
    canvas: { width: 1080, height: 1920, fps: 25 },
    duration_us,
    language: 'cmn',
    materials: [
      { id: 'narration', type: 'audio', key: `tasks/${taskId}/narration.wav`, content_type: 'audio/wav', duration_us },
      ...clips.map((c) =>
        c.type === 'video'
          ? { id: c.id, type: 'video' as const, key: `k/${c.id}`, content_type: 'video/mp4', width: 1080, height: 1920, duration_us: 5 * S }
          : c.type === 'image'
            ? { id: c.id, type: 'image' as const, key: `k/${c.id}`, content_type: 'image/png', width: 1080, height: 1920 }
            : { id: c.id, type: 'audio' as const, key: `k/${c.id}`, content_type: 'audio/mpeg', duration_us: 10 * S },
      ),
    ],
    tracks: [
      { type: 'audio', name: 'narration', segments: [{ id: 'n1', material_id: 'narration', target: { start_us: 0, duration_us } }] },
      {
        type: 'video',
        name: 'visual',
        segments: clips
          .filter((c) => c.type !== 'audio')
          .map((c, i, all) => ({
            id: `s-${c.id}`,
            material_id: c.id,
            target: { start_us: (i * duration_us) / all.length, duration_us: duration_us / all.length },
          })),
      },
      ...clips
        .filter((c) => c.type === 'audio')
        .map((c) => ({
          type: 'audio' as const,
          name: 'music',
          segments: [{ id: `s-${c.id}`, material_id: c.id, target: { start_us: 0, duration_us }, volume: 0.5 }],
        })),
    ],
  };
}

const narration = (): CapcutFolderMedia => ({
  materialId: 'narration',
  path: 'materials/narration.wav',
  bytes: encodeWav(new Int16Array(8_000), 16_000),
  contentType: 'audio/wav',
});

describe('draft folder media by object key', () => {
  it('copies clips, stills and music into the folder with CopyObject, streams them into the archive and the local copy, Chinese names kept', async () => {
    const taskId = 'folder-by-key';
    const sources = {
      'clip-1': { key: `tasks/${taskId}/media/01-海边 日落.mp4`, path: 'materials/01-海边 日落.mp4', bytes: randomBytes(700_000), type: 'video/mp4' },
      'image-1': { key: `tasks/${taskId}/media/02-庙.png`, path: 'materials/02-庙.png', bytes: randomBytes(3000), type: 'image/png' },
      music: { key: `tasks/${taskId}/music/背景音乐.mp3`, path: 'materials/背景音乐.mp3', bytes: randomBytes(90_000), type: 'audio/mpeg' },
    };
    for (const s of Object.values(sources)) await putObject(rt, s.key, s.bytes, s.type);
    const sent: Array<{ command: string; key?: string; source?: string }> = [];
    const send = rt.s3.send.bind(rt.s3) as (command: unknown, options?: unknown) => Promise<unknown>;
    const recording: Runtime = { ...rt, s3: Object.create(rt.s3) as Runtime['s3'] };
    (recording.s3 as unknown as { send: typeof send }).send = (command, options) => {
      const c = command as { constructor: { name: string }; input: { Key?: string; CopySource?: string } };
      sent.push({ command: c.constructor.name, key: c.input.Key, source: c.input.CopySource });
      return send(command, options);
    };
    const localDir = path.join(dir, 'local');

    const result = await storeCapcutDraftFolder(recording, {
      draft: clipDraft(taskId, [
        { id: 'clip-1', type: 'video' },
        { id: 'image-1', type: 'image' },
        { id: 'music', type: 'audio' },
      ]),
      creatorId: '创作者',
      videoId: 'v',
      media: [narration(), ...Object.entries(sources).map(([materialId, s]) => ({ materialId, path: s.path, key: s.key, contentType: s.type }))],
      createdAtMs: Date.UTC(2026, 0, 2),
      localDir,
    });

    const folder = `创作者_v_${taskId}`;
    expect(result.report.problems).toEqual([]);
    // Each keyed media: one server-side copy, never a read of its source into this process.
    const copies = sent.filter((c) => c.command === 'CopyObjectCommand');
    expect(copies.map((c) => decodeURIComponent(c.source!.slice(BUCKET.length + 1))).sort()).toEqual(
      Object.values(sources)
        .map((s) => s.key)
        .sort(),
    );
    const sourceKeys = new Set(Object.values(sources).map((s) => s.key));
    expect(sent.filter((c) => c.command === 'GetObjectCommand' && sourceKeys.has(c.key!))).toEqual([]);
    expect(sent.filter((c) => c.command === 'PutObjectCommand' && c.key!.includes('/materials/') && !c.key!.endsWith('narration.wav'))).toEqual([]);
    // The stored folder holds the same bytes under their Chinese names.
    for (const s of Object.values(sources)) {
      const key = `tasks/${taskId}/draft/${folder}/${s.path}`;
      const stored = await (await objectStream(key)).toArray();
      expect(sha256(Buffer.concat(stored as Buffer[])), key).toBe(sha256(s.bytes));
    }
    // The archive: every file of the folder, byte for byte, under the folder's name.
    const archive = await readTarGz(await objectStream(result.archive_key));
    expect([...archive.keys()].sort()).toEqual(
      [
        `${folder}/draft_content.json`,
        `${folder}/draft_meta_info.json`,
        `${folder}/materials/narration.wav`,
        ...Object.values(sources).map((s) => `${folder}/${s.path}`),
      ].sort(),
    );
    for (const s of Object.values(sources)) expect(archive.get(`${folder}/${s.path}`)).toEqual({ size: s.bytes.length, sha256: sha256(s.bytes) });
    // The local copy: the same files, streamed from the bucket, checked with its absolute paths.
    const local = path.join(localDir, folder);
    expect((await readdir(path.join(local, 'materials'))).sort()).toEqual(['01-海边 日落.mp4', '02-庙.png', 'narration.wav', '背景音乐.mp3'].sort());
    for (const s of Object.values(sources)) expect(sha256(await readFile(path.join(local, s.path)))).toBe(sha256(s.bytes));
    const files = new Map<string, unknown>([
      ['draft_content.json', await readFile(path.join(local, 'draft_content.json'), 'utf8')],
      ['draft_meta_info.json', await readFile(path.join(local, 'draft_meta_info.json'), 'utf8')],
      ...['materials/narration.wav', ...Object.values(sources).map((s) => s.path)].map((p) => [p, true] as [string, unknown]),
    ]);
    expect(checkCapcutDraftFolder(files, { folderName: folder, absoluteRoot: local.replace(/\\/g, '/') }).problems).toEqual([]);
  });

  it('refuses media paths that would leave materials/ and writes nothing', async () => {
    const taskId = 'folder-hostile-names';
    const draft = clipDraft(taskId, [{ id: 'clip-1', type: 'video' }]);
    for (const bad of [
      'materials/../../etc/passwd',
      '../x.mp4',
      'materials/a/b.mp4',
      'materials/a\\b.mp4',
      'materials/a\u0000b.mp4',
      'materials/',
      'materials/..',
      `materials/${'長'.repeat(90)}.mp4`,
    ]) {
      await expect(
        storeCapcutDraftFolder(rt, {
          draft,
          creatorId: 'c',
          videoId: 'v',
          media: [narration(), { materialId: 'clip-1', path: bad, key: 'tasks/x/media/clip.mp4', contentType: 'video/mp4' }],
          createdAtMs: 0,
          localDir: path.join(dir, 'hostile'),
        }),
        bad,
      ).rejects.toThrow(DraftFolderError);
    }
    await expect(
      storeCapcutDraftFolder(rt, {
        draft,
        creatorId: 'c',
        videoId: 'v',
        media: [narration(), { materialId: 'clip-1', path: 'materials/narration.wav', key: 'tasks/x/media/clip.mp4', contentType: 'video/mp4' }],
        createdAtMs: 0,
      }),
    ).rejects.toThrow(/the path of two media/);
    expect(await listKeys(rt, `tasks/${taskId}/`)).toEqual([]);
  });

  it('fails the archive when an entry streams more or fewer bytes than it announced', async () => {
    const entry = (size: number, bytes: number) => ({ path: 'f/materials/a.mp4', open: () => Promise.resolve({ size, body: [Buffer.alloc(bytes)] }) });
    await expect(Readable.from(tarGzStream([entry(10, 5)], 0)).toArray()).rejects.toThrow(TarEntrySizeError);
    await expect(Readable.from(tarGzStream([entry(10, 11)], 0)).toArray()).rejects.toThrow(/ran past/);
    expect((await readTarGz(tarGzStream([entry(10, 10)], 0))).get('f/materials/a.mp4')?.size).toBe(10);
  });

  it('archives a 200 MiB clip, and lists it in the manifest, while the process grows by a small fraction of it', async () => {
    const CLIP_BYTES = 200 * MiB;
    const base = randomBytes(MiB);
    // Incompressible chunks that differ (a rotation of one random MiB): gzip passes them through at full size.
    function* clipChunks(): Generator<Buffer> {
      for (let i = 0; i * MiB < CLIP_BYTES; i++) {
        const k = (i * 7919) % MiB;
        yield Buffer.concat([base.subarray(k), base.subarray(0, k)]);
      }
    }
    const expected = createHash('sha256');
    for (const c of clipChunks()) expected.update(c);
    const taskId = 'folder-memory';
    const clipKey = `tasks/${taskId}/media/01-长镜头.mp4`;
    await putObjectStream(rt, { key: clipKey, body: Readable.from(clipChunks()), contentType: 'video/mp4', contentLength: CLIP_BYTES });

    const child = spawn(
      process.execPath,
      ['--expose-gc', '--import', 'tsx', 'test/support/draft-archive-memory-child.ts', JSON.stringify({ s3Endpoint, bucket: BUCKET, taskId, clipKey })],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const code = await new Promise<number | null>((ok) => child.on('close', ok));
    if (code !== 0) throw new Error(`the folder writer exited with ${code}: ${err.slice(-2000)}`);
    const result = JSON.parse(out.trim().split('\n').pop() ?? '{}') as {
      sent: string[];
      archive_key: string;
      manifest: Array<{ name: string; size: number; sha256: string }>;
      rss_growth: number;
      array_buffers_growth: number;
    };

    console.info(
      `folder writer memory growth for a ${CLIP_BYTES / MiB} MiB clip: rss +${(result.rss_growth / MiB).toFixed(1)} MiB, array buffers +${(result.array_buffers_growth / MiB).toFixed(1)} MiB`,
    );
    const folder = `c_v_${taskId}`;
    const copied = await s3.send(new HeadObjectCommand({ Bucket: BUCKET, Key: `tasks/${taskId}/draft/${folder}/materials/01-长镜头.mp4` }));
    expect(copied.ContentLength).toBe(CLIP_BYTES);
    expect(result.sent.filter((c) => c === 'CopyObjectCommand')).toHaveLength(1);
    expect(result.sent.filter((c) => c === 'UploadPartCommand').length).toBeGreaterThanOrEqual(CLIP_BYTES / (8 * MiB));
    const clipSha = expected.digest('hex');
    const archive = await readTarGz(await objectStream(result.archive_key));
    expect(archive.get(`${folder}/materials/01-长镜头.mp4`)).toEqual({ size: CLIP_BYTES, sha256: clipSha });
    // Finalize's manifest hashes each artifact as it streams (the clip, its copy and the archive).
    expect(result.manifest.find((e) => e.name === `draft/${folder}/materials/01-长镜头.mp4`)).toMatchObject({ size: CLIP_BYTES, sha256: clipSha });
    expect(result.manifest.find((e) => e.name === 'editor_draft.tar.gz')?.size).toBeGreaterThan(CLIP_BYTES);
    // Held whole, both would grow by the clip at least (and by its gzip besides).
    // (measured here: rss +51 MiB, array buffers +45 MiB, most of it chunks the collector has not taken yet)
    expect(result.array_buffers_growth).toBeLessThan(CLIP_BYTES / 3);
    expect(result.rss_growth).toBeLessThan(CLIP_BYTES * 0.4);
  }, 180_000);
});
