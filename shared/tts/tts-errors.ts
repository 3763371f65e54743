import { TransientStageError } from '../errors.js';

/**
 * A speech service is busy or unreachable for now (HTTP 429/5xx, Polly throttling, a dropped
 * connection). Its `name` stays `TransientStageError`, so the state machine's Retry matches it;
 * `throttled` and `retryAfterSeconds` tell a rate limiter around the request call site that the
 * service itself asked to slow down, and for how long.
 */
export class SpeechServiceBusyError extends TransientStageError {
  /** the service answered "too many requests" (429, ThrottlingException) */
  readonly throttled: boolean;
  /** the service's own delay (`Retry-After`), when it sent one */
  readonly retryAfterSeconds?: number;
  constructor(message: string, options: { throttled?: boolean; retryAfterSeconds?: number; cause?: unknown } = {}) {
    super(message, { cause: options.cause });
    this.throttled = options.throttled ?? false;
    this.retryAfterSeconds = options.retryAfterSeconds;
  }
}

/** `Retry-After` as whole seconds (delta-seconds or an HTTP date), or undefined. */
export function retryAfterSeconds(header: string | null | undefined, now: number = Date.now()): number | undefined {
  if (!header) return undefined;
  const trimmed = header.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed);
  const at = Date.parse(trimmed);
  return Number.isFinite(at) ? Math.max(0, Math.ceil((at - now) / 1000)) : undefined;
}
