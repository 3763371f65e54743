import { rmSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GetObjectCommand, HeadObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { validateSourceMedia } from '../../shared/media/validate-source-media.js';
import { makeMediaFixtures, type FixtureName, type MediaFixtures } from '../support/media-fixtures.js';
import { startTestStack, type TestStack } from '../support/stack.js';

/** The creator's media through the HTTP API of an embedded stack: upload, list, delete, presigned POST. */
let stack: TestStack;
let presigned: TestStack;
let fixtures: MediaFixtures;
beforeAll(async () => {
  fixtures = makeMediaFixtures();
  [stack, presigned] = await Promise.all([startTestStack(), startTestStack({ extraEnv: { MEDIA_UPLOAD: 'presigned', MEDIA_MAX_BYTES: '100000' } })]);
}, 60_000);
afterAll(async () => {
  await Promise.all([stack?.close(), presigned?.close()]);
  rmSync(fixtures.dir, { recursive: true, force: true });
});

const url = (s: TestStack, path: string) => `${s.apiUrl}/api/pipeline/sources/${path}`;
const put = async (s: TestStack, path: string, body: Uint8Array<ArrayBuffer>, contentType = 'application/octet-stream') => {
  const res = await fetch(url(s, path), { method: 'PUT', headers: { 'content-type': contentType }, body });
  return { status: res.status, body: (await res.json()) as Record<string, any> };
};
const list = async (s: TestStack, creator: string, video: string) => {
  const res = await fetch(url(s, `${creator}/${video}`));
  return { status: res.status, body: (await res.json()) as Record<string, any> };
};
const enc = encodeURIComponent;

describe('uploading media and music (MEDIA_UPLOAD=stream)', () => {
  it.each<[FixtureName, 'media' | 'music', string, string]>([
    ['red.png', 'media', 'still', 'image/png'],
    ['green.jpg', 'media', 'still', 'image/jpeg'],
    ['blue.webp', 'media', 'still', 'image/webp'],
    ['landscape.mp4', 'media', 'clip', 'video/mp4'],
    ['portrait.mov', 'media', 'clip', 'video/quicktime'],
    ['clip.webm', 'media', 'clip', 'video/webm'],
    ['tone.mp3', 'music', 'audio', 'audio/mpeg'],
    ['tone.wav', 'music', 'audio', 'audio/wav'],
    ['tone.m4a', 'music', 'audio', 'audio/mp4'],
    ['tone.aac', 'music', 'audio', 'audio/aac'],
    ['tone.flac', 'music', 'audio', 'audio/flac'],
    ['tone.ogg', 'music', 'audio', 'audio/ogg'],
  ])('stores %s under %s/ as %s, typed %s by its bytes whatever the Content-Type said', async (name, folder, kind, contentType) => {
    const bytes = fixtures.bytes(name);
    const res = await put(stack, `formats/v1/${folder}/${name}`, bytes, 'text/plain');
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({
      key: `sources/formats/v1/${folder}/${name}`,
      folder,
      file_name: name,
      size: bytes.length,
      facts: { kind, content_type: contentType },
    });
    const head = await stack.runtime.s3.send(new HeadObjectCommand({ Bucket: stack.runtime.settings.bucketName, Key: res.body.key }));
    expect(head.ContentType).toBe(contentType);
    expect(head.ContentLength).toBe(bytes.length);
  });

  it('keeps a Chinese file name, lists it with its facts in name order (numbers as numbers), and deletes it', async () => {
    await stack.putSource('cn', 'v1', '山里有一座庙。');
    expect((await put(stack, `cn/v1/media/${enc('10 山顶日出.jpg')}`, fixtures.bytes('green.jpg'))).status).toBe(201);
    expect((await put(stack, `cn/v1/media/${enc('2 竖拍.mp4')}`, fixtures.bytes('rotated.mp4'))).status).toBe(201);
    expect((await put(stack, `cn/v1/music/${enc('背景音乐.mp3')}`, fixtures.bytes('tone.mp3'))).status).toBe(201);

    const listed = await list(stack, 'cn', 'v1');
    expect(listed.status).toBe(200);
    expect(listed.body.source).toMatchObject({ key: 'sources/cn/v1/source.txt', size: Buffer.byteLength('山里有一座庙。') });
    expect(listed.body.media.map((m: { file_name: string }) => m.file_name)).toEqual(['2 竖拍.mp4', '10 山顶日出.jpg']);
    expect(listed.body.media[0].facts).toMatchObject({
      kind: 'clip',
      rotation: 90,
      width: 160,
      height: 90,
      display_width: 90,
      display_height: 160,
      video_codec: 'h264',
      audio_codec: 'aac',
    });
    expect(listed.body.media[0].facts.streams).toEqual([
      { type: 'video', codec: 'h264' },
      { type: 'audio', codec: 'aac' },
    ]);
    expect(listed.body.media[1]).toMatchObject({ size: fixtures.bytes('green.jpg').length, facts: { kind: 'still', width: 36, height: 64 } });
    expect(listed.body.music).toEqual([
      expect.objectContaining({ file_name: '背景音乐.mp3', facts: expect.objectContaining({ kind: 'audio', audio_codec: 'mp3' }) }),
    ]);

    const del = await fetch(url(stack, `cn/v1/media/${enc('10 山顶日出.jpg')}`), { method: 'DELETE' });
    expect(del.status).toBe(204);
    expect((await list(stack, 'cn', 'v1')).body.media.map((m: { file_name: string }) => m.file_name)).toEqual(['2 竖拍.mp4']);
    const again = await fetch(url(stack, `cn/v1/media/${enc('10 山顶日出.jpg')}`), { method: 'DELETE' });
    expect(again.status).toBe(404);
    expect(((await again.json()) as { error: string }).error).toBe('media_not_found');
  });

  it('answers 200 when a file replaces one of the same name, and the new bytes are stored', async () => {
    expect((await put(stack, 'replace/v1/media/a.png', fixtures.bytes('red.png'))).status).toBe(201);
    const second = await put(stack, 'replace/v1/media/a.png', fixtures.bytes('red.png').subarray(0));
    expect(second.status).toBe(200);
    const jpeg = await put(stack, 'replace/v1/media/a.jpg', fixtures.bytes('green.jpg'));
    expect(jpeg.status).toBe(201);
  });

  it('lists a file written into media/ by hand that cannot be used with its reason, and the usable ones beside it', async () => {
    const { s3, settings } = stack.runtime;
    await s3.send(
      new PutObjectCommand({ Bucket: settings.bucketName, Key: 'sources/hand/v1/media/notes.mp4', Body: 'just some text', ContentType: 'video/mp4' }),
    );
    await s3.send(new PutObjectCommand({ Bucket: settings.bucketName, Key: 'sources/hand/v1/media/bomb.png', Body: fixtures.bytes('bomb.png') }));
    await s3.send(new PutObjectCommand({ Bucket: settings.bucketName, Key: 'sources/hand/v1/media/ok.webm', Body: fixtures.bytes('clip.webm') }));
    const listed = await list(stack, 'hand', 'v1');
    expect(listed.body.source).toBeNull();
    const byName = Object.fromEntries(listed.body.media.map((m: { file_name: string }) => [m.file_name, m]));
    expect(byName['notes.mp4'].unusable).toMatchObject({ code: 'unsupported_media_type' });
    expect(byName['bomb.png'].unusable).toMatchObject({ code: 'too_many_pixels' });
    expect(byName['ok.webm']).toMatchObject({ facts: { kind: 'clip', format: 'webm', video_codec: 'vp8' } });
    expect(byName['ok.webm'].unusable).toBeUndefined();
  });

  it('keeps PUT …/source.txt as it was', async () => {
    await stack.putSource('text', 'v1', 'Hello there.');
    const stored = await stack.runtime.s3.send(new GetObjectCommand({ Bucket: stack.runtime.settings.bucketName, Key: 'sources/text/v1/source.txt' }));
    expect(await stored.Body?.transformToString()).toBe('Hello there.');
  });
});

describe('MEDIA_UPLOAD=presigned', () => {
  it('answers the PUT with a presigned POST for exactly that key, bounded by content-length-range, that uploads to the bucket', async () => {
    const objectsBefore = await presigned.objectKeys();
    const res = await put(presigned, `pre/v1/media/${enc('片段 1.mp4')}`, new Uint8Array());
    expect(res.status).toBe(200);
    expect(await presigned.objectKeys()).toEqual(objectsBefore);
    const { upload } = res.body as { upload: { method: string; url: string; fields: Record<string, string>; max_bytes: number } };
    expect(upload).toMatchObject({ method: 'POST', max_bytes: 100_000 });
    const policy = JSON.parse(Buffer.from(upload.fields.policy, 'base64').toString('utf8')) as { conditions: unknown[]; expiration: string };
    expect(policy.conditions).toEqual(
      expect.arrayContaining([
        { bucket: presigned.runtime.settings.bucketName },
        { key: 'sources/pre/v1/media/片段 1.mp4' },
        ['content-length-range', 1, 100_000],
        { 'x-amz-algorithm': 'AWS4-HMAC-SHA256' },
      ]),
    );
    expect(Date.parse(policy.expiration) - Date.now()).toBeGreaterThan(800_000);
    expect(upload.fields['x-amz-signature']).toMatch(/^[0-9a-f]{64}$/);

    // act: the client's POST, the way a browser form sends it (s3rver stores it; it does not enforce policies)
    const form = new FormData();
    for (const [k, v] of Object.entries(upload.fields)) form.append(k, v);
    form.append('file', new Blob([fixtures.bytes('landscape.mp4')]), 'x.mp4');
    const posted = await fetch(upload.url, { method: 'POST', body: form });
    expect(posted.status).toBe(204);

    // assess: the object is there, and the check Draft will run finds it usable
    const check = await validateSourceMedia(presigned.runtime, { key: 'sources/pre/v1/media/片段 1.mp4', size: fixtures.bytes('landscape.mp4').length });
    expect(check.facts).toMatchObject({ kind: 'clip', width: 160, height: 90 });
  });

  it('finds a bad file that arrived through a presigned POST unusable, with its reason', async () => {
    const res = await put(presigned, 'pre/v1/media/fake.png', new Uint8Array());
    const { upload } = res.body as { upload: { url: string; fields: Record<string, string> } };
    const form = new FormData();
    for (const [k, v] of Object.entries(upload.fields)) form.append(k, v);
    form.append('file', new Blob(['<html><body>not a picture</body></html>']), 'fake.png');
    expect((await fetch(upload.url, { method: 'POST', body: form })).status).toBe(204);
    const listed = await list(presigned, 'pre', 'v1');
    const fake = listed.body.media.find((m: { file_name: string }) => m.file_name === 'fake.png');
    expect(fake.unusable).toMatchObject({ code: 'unsupported_media_type' });
  });

  it("finds a clip cut short behind an intact index unusable in Draft's full check, which the listing's quick one lets pass", async () => {
    const res = await put(presigned, 'pre/v2/media/cut.mp4', new Uint8Array());
    const { upload } = res.body as { upload: { url: string; fields: Record<string, string> } };
    const form = new FormData();
    for (const [k, v] of Object.entries(upload.fields)) form.append(k, v);
    const bytes = fixtures.bytes('truncated-faststart.mp4');
    form.append('file', new Blob([bytes]), 'cut.mp4');
    expect((await fetch(upload.url, { method: 'POST', body: form })).status).toBe(204);

    const full = await validateSourceMedia(presigned.runtime, { key: 'sources/pre/v2/media/cut.mp4', size: bytes.length });
    const listed = await list(presigned, 'pre', 'v2');

    expect(full.unusable).toMatchObject({ code: 'unreadable_media' });
    expect(full.unusable?.message).not.toContain('X-Amz-Signature');
    expect(listed.body.media[0].facts).toMatchObject({ kind: 'clip' });
  });

  it('checks the name before it signs anything', async () => {
    const traversal = await put(presigned, 'pre/v1/media/..%2F..%2Fsource.txt', new Uint8Array());
    const wrongKind = await put(presigned, 'pre/v1/music/clip.mp4', new Uint8Array());
    expect([traversal.status, traversal.body.error, traversal.body.upload]).toEqual([400, 'invalid_file_name', undefined]);
    expect([wrongKind.status, wrongKind.body.error, wrongKind.body.upload]).toEqual([415, 'unsupported_extension', undefined]);
  });

  it('refuses at once a presigned upload whose announced size is over the limit, naming the limit', async () => {
    const res = await fetch(url(presigned, 'pre/v1/media/big.mp4'), { method: 'PUT', headers: { 'content-length': '100001' }, body: new Uint8Array(100_001) });
    expect(res.status).toBe(413);
    const body = (await res.json()) as { error: string; message: string };
    expect(body.error).toBe('file_too_large');
    expect(body.message).toContain('100000 bytes');
  });
});
