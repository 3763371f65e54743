/**
 * How a failed export is reported, the same for every exporter: the one decision whether the
 * same task may pass on a new attempt, and the sentence a failed job carries in its `error`.
 */
import { errorMessage } from '../errors.js';
import { MediaDownloadError } from '../render/media-download.js';
import { InvalidDraftError, RenderFailedError } from '../render/render-errors.js';

/**
 * Whether a failed export may pass if the same task is submitted again (fresh URLs, a passing
 * fault) — the one place that decides; anything it does not name is terminal.
 */
export function isRetryableExportError(error: unknown): boolean {
  if (error instanceof MediaDownloadError) {
    // no answer at all (network error, timeout): the next attempt may get through
    if (error.status === undefined) return true;
    // a server fault: it may pass
    if (error.status >= 500) return true;
    // an expired presigned URL: the next attempt brings fresh URLs
    if (error.status === 403) return true;
    // request timeout or throttling: time fixes it
    if (error.status === 408 || error.status === 429) return true;
    // any other answer (404, 400, …): the same URL answers the same way again
    return false;
  }
  // ffmpeg killed by the system (out of memory): the same input can pass on a calmer machine or a fresh instance
  if (error instanceof RenderFailedError) return error.exitSignal !== null;
  // an invalid draft, media ffmpeg rejects, a full disk: the same job fails the same way again
  return false;
}

/** A human sentence for a failed job's `error` field: no stack, no URL signature. */
export function exportFailureMessage(error: unknown): string {
  if (error instanceof RenderFailedError) return `The render failed: ${error.message}`;
  if (error instanceof MediaDownloadError || error instanceof InvalidDraftError) return error.message;
  return `The export failed: ${errorMessage(error)}`;
}
