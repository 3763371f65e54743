import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { ApiClient } from './api-client.js';
import { TERMINAL_STATUSES, type TaskView } from './progress.js';

/** A task as `GET /api/pipeline/tasks/{id}` shows it, with its artifacts. */
export type TaskWithArtifacts = TaskView & { artifacts?: Array<{ name: string; size: number; url: string }> };

/** The artifacts `get` and `batch --out` download, and the file each becomes in the output folder. */
const DOWNLOADS: Array<{ artifact: string; file: (taskId: string) => string }> = [
  { artifact: 'final_video.mp4', file: (id) => `${id}.mp4` },
  { artifact: 'draft.json', file: (id) => `${id}.draft.json` },
  { artifact: 'editor_draft.tar.gz', file: (id) => `${id}.editor_draft.tar.gz` },
];

export async function getTask(client: ApiClient, taskId: string): Promise<TaskWithArtifacts> {
  return (await client.call('GET', `api/pipeline/tasks/${encodeURIComponent(taskId)}`)).json as unknown as TaskWithArtifacts;
}

export const isTerminal = (task: TaskView) => TERMINAL_STATUSES.includes(task.status);

/**
 * Downloads the task's video and drafts into `dir` as `<task_id>.mp4`, `<task_id>.draft.json` and
 * `<task_id>.editor_draft.tar.gz` (those the task has). Returns the files written.
 */
export async function downloadTaskFiles(client: ApiClient, task: TaskWithArtifacts, dir: string): Promise<Array<{ file: string; bytes: number }>> {
  await mkdir(dir, { recursive: true });
  const names = new Set((task.artifacts ?? []).map((a) => a.name));
  const written: Array<{ file: string; bytes: number }> = [];
  for (const d of DOWNLOADS) {
    if (!names.has(d.artifact)) continue;
    const file = join(dir, d.file(task.task_id));
    const bytes = await client.download(`api/pipeline/tasks/${task.task_id}/artifacts/${d.artifact}`, file);
    written.push({ file, bytes });
  }
  return written;
}

/** Resolves after `ms`, or at once when the signal aborts. */
export const pause = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
