import { ALL_TASKS_PARTITION, CREATOR_PARTITION_PREFIX, ITEM_KIND } from './resources/table.js';
import { PREFIX } from './resources/storage.js';

/**
 * Every key the system writes, in one place (the kinds and prefixes are the resource model's,
 * shared/resources/). Table keys are typed by a prefix so that no user
 * input can name another kind of item; object keys put every artifact of a task under its own
 * prefix `tasks/<task_id>/`, so two tasks can never write the same object.
 *
 * Ids reaching these functions have been validated (`[A-Za-z0-9_-]{1,64}`, task ids are UUIDs):
 * none can contain `/`, `#` or `..`.
 */
export const lockKey = (creatorId: string, videoId: string) => `${ITEM_KIND.lock}#${creatorId}#${videoId}`;
export const taskKey = (taskId: string) => `${ITEM_KIND.task}#${taskId}`;
export const idempotencyKey = (key: string) => `${ITEM_KIND.idempotency}#${key}`;
export const rateKey = (provider: string) => `${ITEM_KIND.rate}#${provider}`;

/** GSI1 lists a creator's tasks newest first; GSI2 lists all tasks newest first. */
export const creatorIndexKey = (creatorId: string) => `${CREATOR_PARTITION_PREFIX}#${creatorId}`;
export const ALL_TASKS_INDEX_KEY = ALL_TASKS_PARTITION;

export const taskPrefix = (taskId: string) => `${PREFIX.tasks}${taskId}/`;

/** Names of the artifacts a task writes, relative to its prefix. */
export const ARTIFACT = {
  source: 'source.txt',
  story: 'story.txt',
  narration: 'narration.wav',
  narrationTimings: 'narration.timings.json',
  subtitles: 'subtitles.srt',
  draft: 'draft.json',
  /** the Story stage's plan of which clip range each sentence shows (only when it watched the footage) */
  visualPlan: 'visual-plan.json',
  finalVideo: 'final_video.mp4',
  manifest: 'manifest.json',
  log: 'log.jsonl',
} as const;

export const taskArtifactKey = (taskId: string, name: string) => `${taskPrefix(taskId)}${name}`;

/**
 * Where a lock holder stages a result before committing it: `tasks/<id>/attempts/<fence>/<name>`.
 * The fencing token in the key keeps a stale holder's upload apart from the committed one; the
 * task record names the committed key (`final_video_key`), and no reader lists attempts/ itself.
 */
export const ATTEMPTS_DIR = 'attempts/';
export const attemptArtifactKey = (taskId: string, fence: number | undefined, name: string) => `${taskPrefix(taskId)}${ATTEMPTS_DIR}${fence ?? 0}/${name}`;

/** Where a creator's source material waits before a submission snapshots it. */
export const sourceKey = (creatorId: string, videoId: string) => `${PREFIX.sources}${creatorId}/${videoId}/source.txt`;
