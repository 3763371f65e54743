/**
 * The shared rate limiter: a request-rate bucket and a concurrency semaphore in the pipeline's
 * table, used by the story (Gemini) and TTS stages so N concurrent tasks stay within a provider's
 * limits, and a stage wrapper that hands long waits to the state machine.
 */
export { ProviderThrottledError, RateLimitHandBackError, type RateLimitReason } from './errors.js';
export {
  acquireConcurrencySlot,
  concurrencySlotKey,
  releaseConcurrencySlot,
  renewConcurrencySlot,
  type ConcurrencySlot,
  type ConcurrencySlotItem,
} from './lease-semaphore.js';
export { isRateLimitedStageOutput, runRateLimitedStage, type RateLimitedStageOutput } from './rate-limited-stage.js';
export { readRequestRate, requestIntervalMs, reserveRequestSlot, type RequestRate, type RequestRateItem, type RequestSlot } from './token-bucket.js';
export {
  CONCURRENCY_RETRY_AFTER_SECONDS,
  MAX_HAND_BACK_SECONDS,
  SLOT_WAIT_LOG_MESSAGE,
  withRateLimit,
  type RateLimitOptions,
  type RateLimitPolicy,
  type RateLimitedCall,
  type Sleep,
} from './with-rate-limit.js';
