import { dirname } from 'node:path';
import { InvalidRequestError } from '../shared/errors.js';
import { ApiError, type ApiClient } from './api-client.js';
import { readBatchFile } from './batch-file.js';
import { ProgressDisplay, batchRows, type ProgressOutput } from './progress.js';
import { prepareSubmission, sendSubmission, type Submission, type SubmitOutcome } from './submission.js';
import { downloadTaskFiles, getTask, isTerminal, pause, type TaskWithArtifacts } from './task-files.js';

export type LineOutcome = 'invalid' | 'refused' | 'duplicate' | 'accepted' | 'succeeded' | 'failed' | 'cancelled';

/** What became of one line: the summary's row (and `--json`'s element). */
export interface LineResult {
  line: number;
  creator_id?: string;
  video_id?: string;
  outcome: LineOutcome;
  task_id?: string;
  /** a duplicate's holder: the task already running for this creator+video, or the same request's task */
  duplicate_of?: string;
  /** the stable code of a refusal or failure (`invalid_request`, `source_missing`, `tts_failed`, …) */
  code?: string;
  /** a human sentence: why it is invalid, refused, a duplicate, or failed */
  reason?: string;
  /** true when an earlier run with the same idempotency key created the task */
  replayed?: boolean;
  files?: string[];
}

export interface BatchOptions {
  file: string;
  concurrency: number;
  /** follow every accepted task to its end */
  wait: boolean;
  /** download `<task_id>.mp4` and the drafts of each succeeded task here (implies wait) */
  out?: string;
  idempotent: boolean;
  intervalMs: number;
  signed: boolean;
  progress: ProgressOutput;
  progressTty: boolean;
  /** the terminal's height, when progress goes to one */
  progressRows?: number;
}

async function mapPool<T>(items: T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await fn(items[next++]);
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
}

/**
 * `reel batch FILE`: every line is validated with the API's schema and submitted (uploads first),
 * `concurrency` at a time; a bad line is reported and the rest go on. Lines that end with the
 * same task — the API's 409 naming the running holder, or one idempotency key replayed for two
 * identical lines — keep it on the first such line; the others are duplicates and download
 * nothing. With `wait` (or `out`) every accepted task is followed in one progress display and
 * the succeeded ones downloaded. The batch is ok only when every line succeeded (was accepted,
 * without `wait`).
 */
export async function runBatch(client: ApiClient, o: BatchOptions): Promise<{ lines: LineResult[]; ok: boolean }> {
  const lines = await readBatchFile(o.file);
  const results: LineResult[] = [];
  const pending: Array<{ result: LineResult; submission: Submission }> = [];
  for (const l of lines) {
    const result: LineResult = { line: l.line, outcome: 'invalid' };
    results.push(result);
    if (l.value) {
      if (typeof l.value.creator_id === 'string') result.creator_id = l.value.creator_id;
      if (typeof l.value.video_id === 'string') result.video_id = l.value.video_id;
    }
    if (!l.value) {
      Object.assign(result, { code: 'invalid_line', reason: l.error });
      continue;
    }
    try {
      pending.push({ result, submission: prepareSubmission(l.value, { baseDir: dirname(o.file), idempotent: o.idempotent }) });
    } catch (error: unknown) {
      if (error instanceof InvalidRequestError) Object.assign(result, { code: error.code, reason: error.message });
      else if (error instanceof TypeError) Object.assign(result, { code: 'invalid_line', reason: error.message });
      else throw error;
    }
  }

  const outcomes = new Map<LineResult, SubmitOutcome>();
  await mapPool(pending, o.concurrency, async ({ result, submission }) => {
    outcomes.set(result, await sendSubmission(client, submission, { signed: o.signed }));
  });

  const ownerOf = new Map<string, LineResult>();
  for (const { result } of pending) {
    const outcome = outcomes.get(result)!;
    if (outcome.kind === 'accepted' && !ownerOf.has(outcome.task_id)) ownerOf.set(outcome.task_id, result);
  }
  for (const { result } of pending) {
    const outcome = outcomes.get(result)!;
    if (outcome.kind === 'refused') Object.assign(result, { outcome: 'refused', code: outcome.code, reason: outcome.message });
    else if (outcome.kind === 'duplicate') {
      const owner = ownerOf.get(outcome.task_id);
      Object.assign(result, {
        outcome: 'duplicate',
        duplicate_of: outcome.task_id,
        code: 'duplicate_task',
        reason: `duplicate of ${outcome.task_id}${owner ? ` (line ${owner.line})` : ''}: ${outcome.message}`,
      });
    } else if (ownerOf.get(outcome.task_id) !== result) {
      const owner = ownerOf.get(outcome.task_id)!;
      Object.assign(result, {
        outcome: 'duplicate',
        duplicate_of: outcome.task_id,
        code: 'duplicate_request',
        reason: `duplicate of ${outcome.task_id} (line ${owner.line}): the same request, under the same idempotency key`,
      });
    } else Object.assign(result, { outcome: 'accepted', task_id: outcome.task_id, ...(outcome.replayed ? { replayed: true } : {}) });
  }

  const accepted = results.filter((r) => r.outcome === 'accepted');
  if (o.wait || o.out) await followAndDownload(client, accepted, o);
  const done = o.wait || o.out ? 'succeeded' : 'accepted';
  return { lines: results, ok: results.length > 0 && results.every((r) => r.outcome === done) };
}

async function followAndDownload(client: ApiClient, accepted: LineResult[], o: BatchOptions): Promise<void> {
  const display = new ProgressDisplay(o.progress, o.progressTty);
  const tasks = new Map<LineResult, TaskWithArtifacts>();
  for (;;) {
    for (const r of accepted) {
      const known = tasks.get(r);
      if (known && isTerminal(known)) continue;
      try {
        tasks.set(r, await getTask(client, r.task_id!));
      } catch (error: unknown) {
        // One unreadable answer is not the task's end: the next round asks again.
        if (!(error instanceof ApiError) || error.status === 404) throw error;
      }
    }
    const known = accepted.filter((r) => tasks.has(r)).map((r) => ({ line: r.line, task: tasks.get(r)! }));
    // Piped, every row is a line of history: nothing to fit.
    display.update(batchRows(known, o.progressTty ? Math.max(3, (o.progressRows ?? 24) - 2) : Infinity));
    if (accepted.every((r) => tasks.has(r) && isTerminal(tasks.get(r)!))) break;
    await pause(o.intervalMs);
  }
  for (const r of accepted) {
    const task = tasks.get(r)!;
    if (task.status === 'FAILED') {
      Object.assign(r, { outcome: 'failed', code: task.error?.code, reason: task.error ? `failed at ${task.error.stage}: ${task.error.message}` : 'failed' });
      continue;
    }
    if (task.status === 'CANCELLED') {
      Object.assign(r, { outcome: 'cancelled', code: 'cancelled', reason: 'the task was cancelled' });
      continue;
    }
    if (!o.out) {
      r.outcome = 'succeeded';
      continue;
    }
    try {
      const files = await downloadTaskFiles(client, task, o.out);
      Object.assign(r, { outcome: 'succeeded', files: files.map((f) => f.file) });
    } catch (error: unknown) {
      if (!(error instanceof ApiError)) throw error;
      Object.assign(r, { outcome: 'failed', code: error.code, reason: `the task succeeded but its download failed: ${error.message}` });
    }
  }
}

/** The summary table: a row per line, then the counts. */
export function batchSummary(lines: LineResult[]): string {
  const rows = lines.map((r) => [String(r.line), r.outcome, r.task_id ?? r.duplicate_of ?? '-', summaryDetail(r)]);
  const header = ['LINE', 'OUTCOME', 'TASK', 'DETAIL'];
  const widths = [0, 1, 2].map((i) => Math.max(header[i].length, ...rows.map((row) => row[i].length)));
  const fmt = (row: string[]) =>
    row
      .map((cell, i) => (i < 3 ? cell.padEnd(widths[i]) : cell))
      .join('  ')
      .trimEnd();
  const counts = new Map<string, number>();
  for (const r of lines) counts.set(r.outcome, (counts.get(r.outcome) ?? 0) + 1);
  const total = [...counts].map(([k, n]) => `${n} ${k}`).join(', ');
  return [fmt(header), ...rows.map(fmt), '', `${total} — ${lines.length} line${lines.length === 1 ? '' : 's'}`].join('\n');
}

function summaryDetail(r: LineResult): string {
  const who = r.creator_id && r.video_id ? `${r.creator_id}/${r.video_id}` : '';
  const files = r.files?.length ? `${r.files[0]}${r.files.length > 1 ? ` (+ ${r.files.length - 1} draft file${r.files.length > 2 ? 's' : ''})` : ''}` : '';
  const what = r.reason ?? (files || (r.replayed ? 'the task of an earlier run with the same request' : ''));
  return [who, what].filter(Boolean).join(' — ');
}
