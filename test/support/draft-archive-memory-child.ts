/**
 * Stores one draft folder whose clip is a large object of the bucket, then lists the task's
 * artifacts with their sha256 as Finalize does, in a process of its own so that its memory is the
 * folder writer's and the manifest's alone (test/e2e/capcut-folder-media.test.ts). S3 is the
 * parent's s3rver. Prints one JSON line: the S3 commands sent, the manifest, the peak growth of
 * rss and of ArrayBuffer memory over the baseline taken after a warm-up.
 *
 * Argument: JSON `{ s3Endpoint, bucket, taskId, clipKey, clipBytes }`.
 */
import { buildManifest, objectExists } from '../../shared/artifacts.js';
import { storeCapcutDraftFolder } from '../../shared/draft/capcut-folder.js';
import type { Draft } from '../../shared/draft/draft.js';
import { setStdoutLogging } from '../../shared/logger.js';
import { createRuntime } from '../../shared/runtime.js';
import { encodeWav } from '../../shared/tts/wav.js';
import { s3rverEnv } from './s3rver-env.js';
import { sampleMemoryGrowth } from './memory-growth.js';

const args = JSON.parse(process.argv[2] ?? '{}') as { s3Endpoint: string; bucket: string; taskId: string; clipKey: string };
setStdoutLogging(false);

const rt = createRuntime({ ...s3rverEnv(args.s3Endpoint, args.bucket), TABLE_NAME: 'table' });
const sent: string[] = [];
const send = rt.s3.send.bind(rt.s3) as (command: unknown, options?: unknown) => Promise<unknown>;
(rt.s3 as unknown as { send: typeof send }).send = (command, options) => {
  sent.push((command as { constructor: { name: string } }).constructor.name);
  return send(command, options);
};

const S = 1_000_000;
const draft: Draft = {
  version: 1,
  task_id: args.taskId,
  canvas: { width: 1080, height: 1920, fps: 25 },
  duration_us: 4 * S,
  language: 'cmn',
  materials: [
    { id: 'narration', type: 'audio', key: `tasks/${args.taskId}/narration.wav`, content_type: 'audio/wav', duration_us: 4 * S },
    { id: 'clip-1', type: 'video', key: args.clipKey, content_type: 'video/mp4', width: 1920, height: 1080, duration_us: 60 * S },
  ],
  tracks: [
    { type: 'audio', name: 'narration', segments: [{ id: 'n1', material_id: 'narration', target: { start_us: 0, duration_us: 4 * S } }] },
    {
      type: 'video',
      name: 'visual',
      segments: [{ id: 'v1', material_id: 'clip-1', target: { start_us: 0, duration_us: 4 * S }, source: { start_us: 0, duration_us: 4 * S } }],
    },
  ],
};

// Warm-up: load the S3 client's machinery before the baseline.
await objectExists(rt, `${args.clipKey}.warm-up`);
globalThis.gc?.();
const memory = sampleMemoryGrowth();

const result = await storeCapcutDraftFolder(rt, {
  draft,
  creatorId: 'c',
  videoId: 'v',
  media: [
    { materialId: 'narration', path: 'materials/narration.wav', bytes: encodeWav(new Int16Array(16_000), 16_000), contentType: 'audio/wav' },
    { materialId: 'clip-1', path: 'materials/01-长镜头.mp4', key: args.clipKey, contentType: 'video/mp4', width: 1920, height: 1080 },
  ],
  createdAtMs: Date.UTC(2026, 0, 2),
});
const manifest = await buildManifest(rt, { task_id: args.taskId, final_video_key: undefined });
const growth = memory.stop();
process.stdout.write(`${JSON.stringify({ sent, archive_key: result.archive_key, manifest, ...growth })}\n`, () => process.exit(0));
