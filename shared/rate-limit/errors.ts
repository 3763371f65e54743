import { PipelineError } from '../errors.js';

/**
 * A provider answered "too many requests" (HTTP 429 or its SDK's throttling error) and said how
 * long to wait. Provider adapters throw it; {@link withRateLimit} waits it out inside the stage
 * when the delay fits the stage's budget, and otherwise hands the wait to the state machine.
 */
export class ProviderThrottledError extends PipelineError {
  /** the provider's own delay (e.g. Gemini's `RetryInfo.retryDelay`), in seconds */
  readonly retryAfterSeconds: number;
  readonly provider: string;
  constructor(provider: string, retryAfterSeconds: number, message: string, options?: { cause?: unknown }) {
    super('provider_throttled', message, options);
    this.name = 'ProviderThrottledError';
    this.provider = provider;
    this.retryAfterSeconds = retryAfterSeconds;
  }
}

/** why a stage hands a wait back; `files_processing`: files uploaded to the provider are not ready yet */
export type RateLimitReason = 'requests_per_minute' | 'concurrency' | 'provider_throttled' | 'files_processing';

/**
 * The next request may not go out before a wait longer than the stage may sleep. Thrown by
 * {@link withRateLimit}; {@link runRateLimitedStage} turns it into the stage output
 * `{rate_limited: true, retry_after_seconds}`, which the state machine waits out in a Wait state.
 * It is not a failure: if it ever escapes a stage (a handler that uses plain `runStage`), the
 * execution fails at that stage and the fail handler records it as one, by this name.
 */
export class RateLimitHandBackError extends PipelineError {
  /** whole seconds, at least 1 */
  readonly retryAfterSeconds: number;
  readonly reason: RateLimitReason;
  readonly provider: string;
  constructor(a: { provider: string; reason: RateLimitReason; retryAfterSeconds: number }) {
    super('rate_limited', `${a.provider}: rate limited (${a.reason.replace(/_/g, ' ')}); the next request may go out in ${a.retryAfterSeconds} s.`);
    this.name = 'RateLimitHandBackError';
    this.provider = a.provider;
    this.reason = a.reason;
    this.retryAfterSeconds = a.retryAfterSeconds;
  }
}

/**
 * The stage was still rate limited on its last allowed attempt (the definition's
 * `<State>LastAttempt`, which passes the sentence as `rate_limit_give_up`): the execution fails at
 * the stage with this name and sentence, and a redrive asks the provider again.
 */
export class RateLimitWaitsExhaustedError extends PipelineError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('rate_limit_waits_exhausted', message, options);
    this.name = 'RateLimitWaitsExhaustedError';
  }
}
