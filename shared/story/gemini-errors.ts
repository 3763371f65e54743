import { PipelineError, TransientStageError } from '../errors.js';
import { ProviderThrottledError } from '../rate-limit/errors.js';

/**
 * A daily Gemini quota (a `quotaId` containing `PerDay`) is used up. Terminal: it does not
 * recover by retrying within the day, so the task fails at once instead of waiting all day.
 */
export class GeminiQuotaExhaustedError extends PipelineError {
  readonly quotaId: string;
  constructor(a: { quotaId: string; model: string; quotaValue?: string }) {
    super(
      'gemini_quota_exhausted',
      `Gemini's daily quota ${a.quotaId}${a.quotaValue ? ` (${a.quotaValue} requests)` : ''} is used up for model ${a.model}; ` +
        'retrying today will not help. Daily quotas reset at midnight Pacific time; raise the quota, or use a key of another project.',
    );
    this.name = 'GeminiQuotaExhaustedError';
    this.quotaId = a.quotaId;
  }
}

/** Gemini answered, but not with a usable narration (not JSON, blocked, cut off, markdown, too long…). Terminal. */
export class GeminiMalformedOutputError extends PipelineError {
  readonly reason: string;
  constructor(reason: string) {
    super('gemini_malformed_output', `Gemini's answer cannot be used as a narration: ${reason}.`);
    this.name = 'GeminiMalformedOutputError';
    this.reason = reason;
  }
}

/** Gemini refused the request itself (bad key, unknown model, invalid argument): terminal until the settings change. */
export class GeminiRequestRejectedError extends PipelineError {
  readonly status: number;
  constructor(status: number, message: string) {
    super('gemini_request_rejected', message);
    this.name = 'GeminiRequestRejectedError';
    this.status = status;
  }
}

/** Default delay when a 429 carries no `RetryInfo`. */
export const DEFAULT_GEMINI_RETRY_AFTER_SECONDS = 10;

interface GoogleErrorBody {
  error?: {
    code?: number;
    message?: string;
    status?: string;
    details?: Array<{
      '@type'?: string;
      retryDelay?: string;
      violations?: Array<{ quotaId?: string; quotaMetric?: string; quotaValue?: string }>;
    }>;
  };
}

/** `"54s"`, `"1.5s"` (a protobuf Duration in JSON) → seconds. */
export function parseRetryDelay(value: string | undefined): number | undefined {
  const match = /^(\d+(?:\.\d+)?)s$/.exec(value?.trim() ?? '');
  return match ? Number(match[1]) : undefined;
}

function parseBody(message: string): GoogleErrorBody {
  try {
    const parsed: unknown = JSON.parse(message);
    return typeof parsed === 'object' && parsed !== null ? parsed : {};
  } catch {
    return {};
  }
}

const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN', 'UND_ERR_SOCKET', 'UND_ERR_CONNECT_TIMEOUT']);

function networkCode(error: Error): string | undefined {
  const cause = (error as { cause?: unknown }).cause;
  const code = typeof cause === 'object' && cause !== null ? (cause as { code?: unknown }).code : undefined;
  if (typeof code === 'string' && NETWORK_CODES.has(code)) return code;
  return error.message === 'fetch failed' ? (typeof code === 'string' ? code : 'fetch failed') : undefined;
}

/**
 * The one place that decides what a failed Gemini call means — the error the stage throws:
 *
 * - 429 with a `PerDay` quota violation → {@link GeminiQuotaExhaustedError}: terminal, names the quota
 * - other 429 → {@link ProviderThrottledError} with `RetryInfo.retryDelay`: waited out, never sooner
 * - 408, 5xx, a timeout, a dropped connection → `TransientStageError`: the state machine retries with backoff + jitter
 * - other 4xx → {@link GeminiRequestRejectedError}: terminal, a retry sends the same request
 * - a 2xx body that is not JSON → {@link GeminiMalformedOutputError}: terminal
 * - anything else (a bug) → itself, unchanged
 */
export function classifyGeminiError(error: unknown, a: { model: string; timeoutSeconds: number }): unknown {
  if (!(error instanceof Error)) return error;
  const status = (error as { status?: unknown }).status;
  if (error.name === 'ApiError' && typeof status === 'number') {
    const body = parseBody(error.message).error ?? {};
    const googleMessage = body.message ?? error.message;
    if (status === 429) {
      const violations = (body.details ?? []).flatMap((d) => d.violations ?? []);
      const daily = violations.find((v) => v.quotaId?.includes('PerDay'));
      if (daily?.quotaId) return new GeminiQuotaExhaustedError({ quotaId: daily.quotaId, model: a.model, quotaValue: daily.quotaValue });
      const retryInfo = (body.details ?? []).find((d) => d['@type']?.endsWith('google.rpc.RetryInfo'));
      const delay = parseRetryDelay(retryInfo?.retryDelay) ?? DEFAULT_GEMINI_RETRY_AFTER_SECONDS;
      const quotas = violations
        .map((v) => v.quotaId)
        .filter(Boolean)
        .join(', ');
      return new ProviderThrottledError('gemini', delay, `Gemini is rate limiting${quotas ? ` (${quotas})` : ''}: retry in ${delay} s.`, { cause: error });
    }
    if (status === 408 || status >= 500) {
      return new TransientStageError(`Gemini answered HTTP ${status}${body.status ? ` ${body.status}` : ''}: ${googleMessage}`, { cause: error });
    }
    return new GeminiRequestRejectedError(
      status,
      `Gemini rejected the request (HTTP ${status}${body.status ? ` ${body.status}` : ''}, model ${a.model}): ${googleMessage}`,
    );
  }
  if (error.name === 'AbortError' || error.name === 'TimeoutError') {
    return new TransientStageError(`Gemini did not answer within ${a.timeoutSeconds} s.`, { cause: error });
  }
  const network = networkCode(error);
  if (network) return new TransientStageError(`Gemini could not be reached (${network}).`, { cause: error });
  if (error instanceof SyntaxError) return new GeminiMalformedOutputError(`the answer was not JSON (${error.message})`);
  return error;
}
