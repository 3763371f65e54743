/**
 * The renderer's failures, one class per case a caller must tell apart (the exporters decide
 * retryable vs terminal on these names: see `media-download.ts` `isRetryableExportError`).
 */

/** ffmpeg ran and failed (exit code ≠ 0 or killed by the system). Carries the end of its stderr. */
export class RenderFailedError extends Error {
  readonly exitCode: number | null;
  readonly exitSignal: string | null;
  /** last lines ffmpeg wrote to stderr */
  readonly stderrTail: string[];
  constructor(message: string, details: { exitCode: number | null; exitSignal: string | null; stderrTail: string[]; cause?: unknown }) {
    super(message, { cause: details.cause });
    this.name = 'RenderFailedError';
    this.exitCode = details.exitCode;
    this.exitSignal = details.exitSignal;
    this.stderrTail = details.stderrTail;
  }
}

/** The draft cannot be rendered as given (bad canvas, a material without a file, …): terminal, ffmpeg never started. */
export class InvalidDraftError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InvalidDraftError';
  }
}

/** ffprobe could not read the file as media. */
export class VideoProbeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'VideoProbeError';
  }
}
