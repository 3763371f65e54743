import type { TaskError, TaskRecord, TaskStatus } from '../task-record.js';

/** The statuses that end a task, each reported once per run (a redrive starts another). */
export type TerminalStatus = Exclude<TaskStatus, 'RUNNING'>;

/** Where the HTTP API serves tasks: the links in a delivery are paths under it, like the API's own `links`. */
export const TASK_API_BASE = '/api/pipeline';

/**
 * The body of one delivery (docs/webhooks.md). `sent_at` is set at each attempt, so the
 * signature covers the time; everything else is fixed when the task ends. Receivers dedupe on
 * `delivery_id` = `<task_id>:<status>:<redrives>`: delivery is at least once, and after a redrive
 * a task can end again (with a higher `redrives`).
 */
export interface WebhookEvent {
  type: 'task.ended';
  delivery_id: string;
  task_id: string;
  creator_id: string;
  video_id: string;
  status: TerminalStatus;
  /** FAILED (timeouts included, with their code) and CANCELLED: the stage and the reason; SUCCEEDED: null */
  error: TaskError | null;
  redrives: number;
  ended_at: string;
  /** SUCCEEDED: every artifact with its API path (the video, the draft, the captions…) */
  artifacts: Array<{ name: string; size: number; url: string }>;
  links: { self: string };
  attempt: number;
  sent_at: string;
}

/** The part of the event fixed when the task ends. */
export type EndedTaskEvent = Omit<WebhookEvent, 'attempt' | 'sent_at'>;

/** The identity receivers dedupe on. */
export const deliveryId = (taskId: string, status: TerminalStatus, redrives: number) => `${taskId}:${status}:${redrives}`;

/** The event of a task that just ended with `status`. */
export function endedTaskEvent(a: { task: TaskRecord; status: TerminalStatus; error?: TaskError; endedAt: string }): EndedTaskEvent {
  const { task, status } = a;
  const redrives = task.redrives ?? 0;
  const self = `${TASK_API_BASE}/tasks/${task.task_id}`;
  const error =
    status === 'SUCCEEDED' ? null : (a.error ?? task.error ?? { stage: 'execution' as const, code: 'cancelled', message: 'The task was cancelled.' });
  return {
    type: 'task.ended',
    delivery_id: deliveryId(task.task_id, status, redrives),
    task_id: task.task_id,
    creator_id: task.creator_id,
    video_id: task.video_id,
    status,
    error,
    redrives,
    ended_at: a.endedAt,
    artifacts: status === 'SUCCEEDED' ? (task.artifacts ?? []).map((x) => ({ name: x.name, size: x.size, url: `${self}/artifacts/${x.name}` })) : [],
    links: { self },
  };
}
