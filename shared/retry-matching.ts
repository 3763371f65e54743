import { PipelineError } from './errors.js';
import type { Logger } from './logger.js';
import type { RetryFilter } from './request.js';
import { retryTask } from './retry.js';
import type { Runtime } from './runtime.js';
import { listTaskPage, taskCursorAfter } from './task-record.js';

/**
 * The operators' form of retry: every ended task matching a filter (e.g. all FAILED with
 * `gemini_quota_exhausted` after the daily quota reset) is redriven by {@link retryTask}, one at
 * a time, newest first. Bounded per call — API Gateway ends a request at 29 s — by a number of
 * tasks and a time budget; the answer carries a `cursor` while more may match.
 *
 *   page of ≤ 25 matching tasks (the all-tasks or the creator index, newest first)
 *     → each: retryTask → `retried`, or `skipped` with the error code and sentence (409s: another
 *       task holds the lock, the execution cannot be redriven…)
 *     → time budget spent? stop; the cursor resumes after the last task looked at.
 */

/** The most tasks one call looks at. */
export const RETRY_BATCH_MAX_TASKS = 25;
/** Stop starting new redrives after this long (well inside API Gateway's 29 s). */
export const RETRY_BATCH_BUDGET_MS = 20_000;

/** What one call did. */
export interface RetryBatchResult {
  /** how many were redriven */
  count: number;
  retried: string[];
  skipped: Array<{ task_id: string; error: string; message: string }>;
  /** pass it back as `cursor` to continue; absent when nothing more matches */
  cursor?: string;
}

/**
 * Redrives the tasks matching `filter`, at most {@link RETRY_BATCH_MAX_TASKS} per call.
 *
 * @example
 * const r = await retryMatchingTasks(rt, { status: 'FAILED', error_code: 'gemini_quota_exhausted' }, log);
 * // r.count, r.retried, r.skipped; call again with { ...filter, cursor: r.cursor } while r.cursor
 */
export async function retryMatchingTasks(
  rt: Runtime,
  filter: RetryFilter,
  log: Logger,
  options: { maxTasks?: number; budgetMs?: number } = {},
): Promise<RetryBatchResult> {
  const deadline = rt.clock.now() + (options.budgetMs ?? RETRY_BATCH_BUDGET_MS);
  const page = await listTaskPage(rt, {
    status: filter.status,
    errorCode: filter.error_code,
    creatorId: filter.creator_id,
    since: filter.since,
    cursor: filter.cursor,
    limit: options.maxTasks ?? RETRY_BATCH_MAX_TASKS,
  });
  const result: RetryBatchResult = { count: 0, retried: [], skipped: [] };
  for (const [index, task] of page.tasks.entries()) {
    if (index > 0 && rt.clock.now() >= deadline) {
      // The rest of this page is left for the next call, from the last task looked at.
      result.cursor = taskCursorAfter(page.tasks[index - 1], { creatorId: filter.creator_id });
      log.info('retry batch stopped at its time budget', { retried: result.count, left_on_page: page.tasks.length - index });
      return result;
    }
    try {
      await retryTask(rt, task.task_id, log);
      result.retried.push(task.task_id);
      result.count += 1;
    } catch (error: unknown) {
      if (!(error instanceof PipelineError)) throw error;
      result.skipped.push({ task_id: task.task_id, error: error.code, message: error.message });
    }
  }
  if (page.cursor) result.cursor = page.cursor;
  log.info('retry batch done', { retried: result.count, skipped: result.skipped.length, more: page.cursor !== undefined });
  return result;
}
