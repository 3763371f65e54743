import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { CreateBucketCommand } from '@aws-sdk/client-s3';
import S3rver from 's3rver';
import { putObject } from '../../shared/artifacts.js';
import { createRuntime, type Runtime } from '../../shared/runtime.js';
import { backgroundColors, buildDraft } from '../../shared/draft/build-draft.js';
import { buildCapcutDraft, capcutFolderName, CAPCUT_TARGET, DRAFT_PATH_PLACEHOLDER } from '../../shared/draft/capcut-draft.js';
import { checkCapcutDraftFolder } from '../../shared/draft/capcut-draft-check.js';
import { backgroundMedia, writeFolderAtomically, type CapcutFolderMedia } from '../../shared/draft/capcut-folder.js';
import type { Draft } from '../../shared/draft/draft.js';
import { gradientPng } from '../../shared/draft/gradient-png.js';
import { readImageInfo } from '../../shared/draft/image-info.js';
import { pictureFileName, snapshotSourceMedia } from '../../shared/draft/source-media.js';
import type { Cue } from '../../shared/draft/subtitles.js';
import { renderDraft } from '../../shared/render/render-draft.js';
import { encodeWav } from '../../shared/tts/wav.js';
import { s3rverEnv } from '../support/s3rver-env.js';
import { DEFAULT_VIDEO_OPTIONS } from '../../shared/video-options.js';

const TASK = '019a0000-0000-7000-8000-00000000c0de';
const FOLDER = capcutFolderName({ creatorId: 'creator_1', videoId: 'video-7', taskId: TASK });

/** Cues every 1.5 s over 12 s. */
const CUES: Cue[] = Array.from({ length: 8 }, (_, i) => ({ text: `第${i + 1}句字幕，line ${i + 1}`, start_ms: i * 1500 + 100, end_ms: i * 1500 + 1400 }));
const DURATION_MS = 12_000;

function picture(width: number, height: number, colors: [string, string]) {
  const bytes = gradientPng(width, height, colors[0], colors[1]);
  return { bytes, ...readImageInfo(bytes)! };
}

function draftWithPictures(count: number): { draft: Draft; media: CapcutFolderMedia[] } {
  const pictures = Array.from({ length: count }, (_, i) => picture(i % 2 ? 400 : 300, i % 2 ? 300 : 500, ['#102030', '#405060']));
  const { draft } = buildDraft({
    taskId: TASK,
    creatorId: 'creator_1',
    videoId: 'video-7',
    narration: { key: `tasks/${TASK}/narration.wav`, contentType: 'audio/wav', durationMs: DURATION_MS },
    timings: { language: 'cmn', sentences: CUES.map((c) => ({ ...c, words: [] })) },
    subtitlesKey: `tasks/${TASK}/subtitles.srt`,
    options: { ...DEFAULT_VIDEO_OPTIONS, visual_fit: 'cover' },
    media: pictures.map((p, i) => ({
      name: `0${i + 1}.png`,
      kind: 'still',
      key: `tasks/${TASK}/media/0${i + 1}.png`,
      file_name: `0${i + 1}-still.png`,
      content_type: p.content_type,
      width: p.width,
      height: p.height,
    })),
  });
  const media: CapcutFolderMedia[] = [
    { materialId: 'narration', path: 'materials/narration.wav', bytes: encodeWav(new Int16Array(16_000), 16_000), contentType: 'audio/wav' },
    ...(count
      ? pictures.map((p, i) => ({
          materialId: `image-${i + 1}`,
          path: `materials/0${i + 1}-still.png`,
          bytes: p.bytes,
          contentType: p.content_type,
          width: p.width,
          height: p.height,
        }))
      : [backgroundMedia('background', backgroundColors('creator_1', 'video-7'))]),
  ];
  return { draft, media };
}

function folderFiles(draft: Draft, media: CapcutFolderMedia[], mediaRoot = DRAFT_PATH_PLACEHOLDER) {
  const files = Object.fromEntries(media.map((m) => [m.materialId, { path: m.path, width: m.width, height: m.height }]));
  const { content, meta } = buildCapcutDraft({ draft, folderName: FOLDER, files, createdAtMs: Date.UTC(2026, 0, 2), mediaRoot });
  const out = new Map<string, Uint8Array | string>([
    ['draft_content.json', JSON.stringify(content)],
    ['draft_meta_info.json', JSON.stringify(meta)],
  ]);
  for (const m of media) out.set(m.path, m.bytes ?? new Uint8Array());
  return { out, content: content as Record<string, any>, meta: meta as Record<string, any> };
}

describe('CapCut / JianYing draft folder', () => {
  it('lays pictures, narration and subtitles on tracks whose segments resolve and add up to the narration', () => {
    const { draft, media } = draftWithPictures(3);
    const { out, content, meta } = folderFiles(draft, media);

    const report = checkCapcutDraftFolder(out, { folderName: FOLDER });

    expect(report.problems).toEqual([]);
    expect(content).toMatchObject({
      version: CAPCUT_TARGET.version,
      new_version: '110.0.0',
      canvas_config: { width: 1080, height: 1920 },
      duration: 12_000_000,
      fps: 25,
    });
    expect(report.tracks).toEqual([
      { type: 'audio', segments: 1, covered_us: 12_000_000 },
      { type: 'video', segments: 3, covered_us: 12_000_000 },
      { type: 'text', segments: CUES.length, covered_us: CUES.reduce((sum, c) => sum + (c.end_ms - c.start_ms) * 1000, 0) },
    ]);
    expect(report.materials).toEqual({ videos: 3, audios: 1, texts: CUES.length });
    // Pictures change where a subtitle starts; every range is whole microseconds.
    const video = content.tracks.find((t: any) => t.type === 'video');
    expect(video.segments.slice(1).map((s: any) => s.target_timerange.start)).toEqual(
      expect.arrayContaining([expect.toSatisfy((us: number) => CUES.some((c) => c.start_ms * 1000 === us))]),
    );
    for (const track of content.tracks) for (const s of track.segments) expect(Number.isInteger(s.target_timerange.duration)).toBe(true);
    // Portrait and landscape stills are scaled to cover the 9:16 frame.
    // Scale = the covering scale × the still's first motion frame (its Ken Burns start).
    const starts = draft.tracks.flatMap((t) => (t.type === 'video' ? t.segments.map((s) => s.motion?.start.scale ?? 1) : []));
    expect(video.segments.map((s: any) => s.clip.scale.x)).toEqual([1.0667, 2.3704, 1.0667].map((cover, i) => Math.round(cover * starts[i] * 1e4) / 1e4));
    // Subtitles: the text, styled, above the bottom overlay.
    const text = JSON.parse(content.materials.texts[0].content);
    expect(text.text).toBe(CUES[0].text);
    expect(text.styles[0].range).toEqual([0, CUES[0].text.length]);
    // Media paths point into the folder through JianYing's placeholder; the meta lists them.
    expect(content.materials.audios[0].path).toBe(`${DRAFT_PATH_PLACEHOLDER}/materials/narration.wav`);
    expect(meta).toMatchObject({ draft_name: FOLDER, tm_duration: 12_000_000, draft_id: content.id, draft_fold_path: '' });
    expect(meta.draft_materials[0].value.map((m: any) => m.metetype)).toEqual(['music', 'photo', 'photo', 'photo']);
  });

  it('lays the generated background as a picture when the creator has no media', () => {
    const { draft, media } = draftWithPictures(0);
    const { out, content } = folderFiles(draft, media);
    expect(checkCapcutDraftFolder(out, { folderName: FOLDER }).problems).toEqual([]);
    expect(content.materials.videos).toHaveLength(1);
    expect(content.materials.videos[0]).toMatchObject({ type: 'photo', material_name: 'background.png', width: 270, height: 480 });
    expect(readImageInfo(out.get('materials/background.png') as Uint8Array)).toMatchObject({ width: 270, height: 480 });
  });

  it('writes the same ids for the same task, so a retried stage writes the same draft', () => {
    const a = draftWithPictures(2);
    const b = draftWithPictures(2);
    expect(folderFiles(a.draft, a.media).out.get('draft_content.json')).toBe(folderFiles(b.draft, b.media).out.get('draft_content.json'));
  });

  it('finds what is broken: a missing material, a gap on the picture track, a duration that does not add up, a file outside the folder', () => {
    const { draft, media } = draftWithPictures(2);
    const { out, content, meta } = folderFiles(draft, media);
    const broken = (mutate: (c: any, m: any, files: Map<string, Uint8Array | string>) => void) => {
      const c = structuredClone(content);
      const m = structuredClone(meta);
      const files = new Map(out);
      mutate(c, m, files);
      files.set('draft_content.json', JSON.stringify(c));
      files.set('draft_meta_info.json', JSON.stringify(m));
      return checkCapcutDraftFolder(files, { folderName: FOLDER }).problems.join('\n');
    };
    expect(broken((c) => c.materials.videos.pop())).toMatch(/refers to material .* that does not exist/);
    expect(broken((c) => (c.tracks.find((t: any) => t.type === 'video').segments[1].target_timerange.start += 1000))).toMatch(/does not cover the timeline/);
    expect(broken((c) => (c.tracks.find((t: any) => t.type === 'audio').segments[0].target_timerange.duration -= 1))).toMatch(/audio track .* lasts/);
    expect(broken((_c, m) => (m.tm_duration = 1))).toMatch(/tm_duration/);
    expect(broken((c) => (c.materials.audios[0].path = 'C:/elsewhere/narration.wav'))).toMatch(/not inside the draft folder/);
    expect(broken((_c, _m, files) => files.delete('materials/narration.wav'))).toMatch(/names no file/);
    expect(broken((c) => (c.materials.speeds = []))).toMatch(/extra material .* does not exist/);
    expect(broken((c) => (c.canvas_config.width = 1920))).toMatch(/not 9:16/);
  });
});

describe('pictures on the timeline', () => {
  it('reads the size of PNG, JPEG and WebP stills and refuses other bytes', () => {
    expect(readImageInfo(gradientPng(64, 48, '#000000', '#ffffff'))).toEqual({ content_type: 'image/png', extension: 'png', width: 64, height: 48 });
    // A baseline JPEG's first segments: SOI, APP0 (JFIF), then SOF0 with 480 x 640.
    const jpeg = Buffer.from([
      0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10, 0x4a, 0x46, 0x49, 0x46, 0x00, 0x01, 0x01, 0x00, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0xff, 0xc0, 0x00, 0x11, 0x08,
      0x02, 0x80, 0x01, 0xe0, 0x03, 0x01, 0x22, 0x00, 0x02, 0x11, 0x01, 0x03, 0x11, 0x01,
    ]);
    expect(readImageInfo(jpeg)).toEqual({ content_type: 'image/jpeg', extension: 'jpg', width: 480, height: 640 });
    const webp = Buffer.alloc(30);
    webp.write('RIFF', 0, 'ascii');
    webp.write('WEBPVP8X', 8, 'ascii');
    webp.writeUIntLE(1079, 24, 3);
    webp.writeUIntLE(1919, 27, 3);
    expect(readImageInfo(webp)).toMatchObject({ content_type: 'image/webp', width: 1080, height: 1920 });
    expect(readImageInfo(Buffer.from('not an image at all, just text'))).toBeUndefined();
  });

  it('renders a draft with pictures (the renderer lays image materials as they are)', async () => {
    const work = await mkdtemp(path.join(tmpdir(), 'capcut-render-'));
    try {
      const { draft, media } = draftWithPictures(2);
      const small: Draft = { ...draft, canvas: { width: 180, height: 320, fps: 10 }, duration_us: 3_000_000 };
      small.tracks = small.tracks.map((t) =>
        t.type === 'video'
          ? {
              ...t,
              segments: [
                { ...t.segments[0], target: { start_us: 0, duration_us: 1_500_000 } },
                { ...t.segments[1], target: { start_us: 1_500_000, duration_us: 1_500_000 } },
              ],
            }
          : t.type === 'text'
            ? { ...t, segments: t.segments.slice(0, 1) }
            : t,
      );
      const files: Record<string, string> = {};
      for (const m of media) {
        files[m.materialId] = path.join(work, path.basename(m.path));
        await writeFile(files[m.materialId], m.bytes ?? '');
      }
      files.subtitles = path.join(work, 'subtitles.srt');
      await writeFile(files.subtitles, '1\n00:00:00,100 --> 00:00:01,400\n第1句\n');
      const result = await renderDraft({ draft: small, media: files, outputPath: path.join(work, 'out.mp4'), workDir: path.join(work, 'render') });
      expect(Math.abs(result.duration_ms - 3000)).toBeLessThan(200);
    } finally {
      await rm(work, { recursive: true, force: true });
    }
  });
});

describe('local copies (DRAFT_LOCAL_DIR)', () => {
  let root: string;
  beforeAll(async () => {
    root = await mkdtemp(path.join(tmpdir(), 'drafts-local-'));
  });
  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('writes folders under a temporary name and renames them: concurrent writers never meet, a rewrite replaces whole', async () => {
    const { draft, media } = draftWithPictures(1);
    const names = Array.from({ length: 6 }, (_, i) => `creator_v${i}_${TASK}`);
    await Promise.all(names.map((name) => writeFolderAtomically(root, name, folderFiles(draft, media).out)));
    await writeFolderAtomically(
      root,
      names[0],
      new Map([
        ['draft_content.json', '{"rewritten":true}'],
        ['draft_meta_info.json', '{}'],
      ]),
    );

    const entries = (await readdir(root)).sort();
    expect(entries).toEqual([...names].sort());
    expect(JSON.parse(await readFile(path.join(root, names[0], 'draft_content.json'), 'utf8'))).toEqual({ rewritten: true });
    expect(await readdir(path.join(root, names[0]))).toEqual(['draft_content.json', 'draft_meta_info.json']);
    expect((await readdir(path.join(root, names[1], 'materials'))).sort()).toEqual(['01-still.png', 'narration.wav']);
  });

  it('checks a local copy with absolute media paths', () => {
    const { draft, media } = draftWithPictures(2);
    const absolute = `${root.replace(/\\/g, '/')}/${FOLDER}`;
    const { out, meta } = folderFiles(draft, media, absolute);
    expect(checkCapcutDraftFolder(out, { folderName: FOLDER, absoluteRoot: absolute }).problems).toEqual([]);
    expect(meta).toMatchObject({ draft_fold_path: absolute, draft_root_path: root.replace(/\\/g, '/') });
  });
});

describe('picture file names in the draft', () => {
  let s3rver: S3rver;
  let rt: Runtime;
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'draft-names-'));
    s3rver = new S3rver({ port: 0, address: '127.0.0.1', silent: true, directory: dir });
    const { port } = await s3rver.run();
    rt = createRuntime({
      ...s3rverEnv(`http://127.0.0.1:${port}`, 'draft-names'),
    });
    await rt.s3.send(new CreateBucketCommand({ Bucket: 'draft-names' }));
  });
  afterAll(async () => {
    await s3rver?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it("keeps the creator's names, Chinese and accents included: 01-山.png becomes 01-01-山.png, and the folder checks pass", async () => {
    const png = gradientPng(64, 64, '#000000', '#ffffff');
    // "Café" typed on a Mac arrives decomposed (e + combining acute).
    for (const name of ['01-山.png', '02-Cafe\u0301 au lait.png', '03-🎬.png']) await putObject(rt, `sources/c/v/media/${name}`, png, 'image/png');

    const { media: pictures } = await snapshotSourceMedia(rt, { taskId: TASK, creatorId: 'c', videoId: 'v' });

    expect(pictures.map((p) => p.file_name)).toEqual(['01-01-山.png', '02-02-Caf\u00e9_au_lait.png', '03-03.png']);
    expect(pictures.map((p) => p.key)).toEqual(pictures.map((p) => `tasks/${TASK}/media/${p.file_name}`));
    const { draft, media } = draftWithPictures(3);
    const named = media.map((m, i) => (i === 0 ? m : { ...m, path: `materials/${pictures[i - 1].file_name}` }));
    const { out } = folderFiles(draft, named);
    expect(checkCapcutDraftFolder(out, { folderName: FOLDER }).problems).toEqual([]);
  });

  it('keeps no separator, dot, control or format character, and cuts long names by character', () => {
    expect(pictureFileName(1, 'sources/c/v/media/..\\..\\windows\\evil.png', 'png')).toBe('01-windows_evil.png');
    expect(pictureFileName(2, 'sources/c/v/media/a\u0000b\u001fc\u202eg\u200bd.jpg', 'jpg')).toBe('02-a_b_c_g_d.jpg');
    expect(pictureFileName(3, 'sources/c/v/media/<CON>:"|?*.webp', 'webp')).toBe('03-CON.webp');
    expect(pictureFileName(4, 'sources/c/v/media/.png', 'png')).toBe('04-picture.png');
    expect(pictureFileName(5, 'sources/c/v/media/photo.final.v2.png', 'png')).toBe('05-photo_final_v2.png');
    const long = pictureFileName(6, `sources/c/v/media/${'𠀀'.repeat(50)}.png`, 'png');
    expect(long).toBe(`06-${'𠀀'.repeat(40)}.png`);
    expect(long).not.toMatch(/\p{Cs}/u); // no half of a surrogate pair
    expect(pictureFileName(7, 'sources/c/v/media/Ünïcödé-фото_صورة.jpg', 'jpg')).toBe('07-Ünïcödé-фото_صورة.jpg');
  });
});
