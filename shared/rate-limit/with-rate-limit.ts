import { randomUUID } from 'node:crypto';
import type { Logger } from '../logger.js';
import type { Runtime } from '../runtime.js';
import { sleep as realSleep } from '../wait.js';
import { ProviderThrottledError, RateLimitHandBackError, type RateLimitReason } from './errors.js';
import { acquireConcurrencySlot, releaseConcurrencySlot, renewConcurrencySlot, type ConcurrencySlot } from './lease-semaphore.js';
import { reserveRequestSlot } from './token-bucket.js';

/** Waits `ms` milliseconds; injectable so tests move a virtual clock instead of sleeping. */
export type Sleep = (ms: number) => Promise<void>;

/** What one call to a provider is allowed, across every task. */
export interface RateLimitPolicy {
  /** names the table items `RATE#<provider>…` (a constant, e.g. `gemini`, `polly`) */
  provider: string;
  /** requests per minute; 0: no rate limit */
  requestsPerMinute: number;
  /** requests back to back after a quiet spell (default 1); see {@link reserveRequestSlot} */
  burst?: number;
  /** calls in flight at once; 0 or absent: no concurrency limit */
  maxConcurrency?: number;
  /** lease of a concurrency slot (default 60 s), renewed every third of it while the call runs */
  leaseSeconds?: number;
  /** the longest this call may wait inside the stage, all waits together (tokens, slots, 429 delays) */
  maxWaitSeconds: number;
  /** who waits: the task id (recorded on a held slot) */
  holder: string;
}

export interface RateLimitOptions {
  sleep?: Sleep;
  log?: Logger;
  /** provider 429s waited out inside one call before it is handed back (default 3) */
  maxThrottledRetries?: number;
  random?: () => number;
}

export interface RateLimitedCall<T> {
  value: T;
  /** time spent waiting inside the stage: for a reserved moment, a free slot, a provider's delay */
  waited_ms: number;
  /** provider 429s waited out inside the stage */
  throttled: number;
}

/** A hand-back never asks the state machine to wait longer than this (a Wait state is cheap, but hours mean something else is wrong). */
export const MAX_HAND_BACK_SECONDS = 900;
/** when every concurrency slot is held: how long until the state machine tries again */
export const CONCURRENCY_RETRY_AFTER_SECONDS = 5;
/** logged once per call that finds every concurrency slot held and starts waiting for one */
export const SLOT_WAIT_LOG_MESSAGE = 'every concurrency slot is held: waiting for one';

function handBack(provider: string, reason: RateLimitReason, waitMs: number): RateLimitHandBackError {
  const seconds = Math.min(MAX_HAND_BACK_SECONDS, Math.max(1, Math.ceil(waitMs / 1000)));
  return new RateLimitHandBackError({ provider, reason, retryAfterSeconds: seconds });
}

/**
 * Runs one provider request under the shared limits: a concurrency slot (if configured), then a
 * request-rate reservation, then `fn`. Waits inside the stage as long as the policy's
 * `maxWaitSeconds` allows; a longer wait throws {@link RateLimitHandBackError}, which
 * {@link runRateLimitedStage} returns to the state machine as `{rate_limited: true,
 * retry_after_seconds}` (a Wait state sleeps, not a Lambda).
 *
 * `fn` reports the provider's own 429 by throwing {@link ProviderThrottledError} with its delay
 * (e.g. Gemini's `RetryInfo.retryDelay`): the call is retried no sooner than that delay — inside
 * the stage when it fits the budget, else by handing it back with that delay. Any other error
 * passes through untouched (transient ones are the state machine's Retry, terminal ones its Catch).
 *
 * @example
 * const { value } = await withRateLimit(rt, {
 *   provider: 'polly', requestsPerMinute: rt.settings.ttsRpm, maxConcurrency: rt.settings.ttsMaxConcurrency,
 *   maxWaitSeconds: rt.settings.rateLimitMaxWaitSeconds, leaseSeconds: rt.settings.rateLimitLeaseSeconds, holder: event.task_id,
 * }, () => synthesizeOne(text), { log });
 */
export async function withRateLimit<T>(
  rt: Runtime,
  policy: RateLimitPolicy,
  fn: () => Promise<T>,
  options: RateLimitOptions = {},
): Promise<RateLimitedCall<T>> {
  let waited = 0;
  const sleep: Sleep = async (ms) => {
    await (options.sleep ?? realSleep)(ms);
    waited += ms;
  };
  const random = options.random ?? Math.random;
  const maxThrottled = options.maxThrottledRetries ?? 3;
  const started = rt.clock.now();
  const deadline = started + policy.maxWaitSeconds * 1000;
  const leaseSeconds = policy.leaseSeconds ?? 60;
  let throttled = 0;

  for (;;) {
    let slot: ConcurrencySlot | undefined;
    if (policy.maxConcurrency && policy.maxConcurrency > 0) {
      slot = await waitForSlot(rt, policy, leaseSeconds, deadline, sleep, random, options.log);
      if (!slot) throw handBack(policy.provider, 'concurrency', CONCURRENCY_RETRY_AFTER_SECONDS * 1000);
    }
    const keeper = slot ? keepSlot(rt, slot, leaseSeconds, options.log) : undefined;
    let delayMs: number;
    try {
      if (policy.requestsPerMinute > 0) {
        const reserved = await reserveRequestSlot(
          rt,
          { provider: policy.provider, limit: policy.requestsPerMinute, windowSeconds: 60, burst: policy.burst },
          Math.max(0, deadline - rt.clock.now()),
        );
        if (!reserved.granted) {
          // Callers handed back together would all come back together: spread them a little.
          const spread = Math.min(reserved.retryAfterMs * 0.2, 5000) * random();
          throw handBack(policy.provider, 'requests_per_minute', reserved.retryAfterMs + spread);
        }
        const wait = reserved.at - rt.clock.now();
        if (wait > 0) await sleep(wait);
      }
      const value = await fn();
      return { value, waited_ms: waited, throttled };
    } catch (error: unknown) {
      if (!(error instanceof ProviderThrottledError)) throw error;
      throttled += 1;
      delayMs = error.retryAfterSeconds * 1000;
      options.log?.info('provider throttled the request', {
        provider: policy.provider,
        retry_after_seconds: error.retryAfterSeconds,
        throttled,
      });
      if (throttled > maxThrottled || rt.clock.now() + delayMs > deadline) throw handBack(policy.provider, 'provider_throttled', delayMs);
    } finally {
      // released before the provider's delay is waited out: a throttled caller holds no slot
      keeper?.stop();
      if (slot) await releaseConcurrencySlot(rt, slot).catch(() => false);
    }
    await sleep(delayMs);
  }
}

async function waitForSlot(
  rt: Runtime,
  policy: RateLimitPolicy,
  leaseSeconds: number,
  deadline: number,
  sleep: Sleep,
  random: () => number,
  log?: Logger,
): Promise<ConcurrencySlot | undefined> {
  const holder = `${policy.holder}#${randomUUID().slice(0, 8)}`;
  let pause = 200;
  for (let round = 0; ; round++) {
    const slot = await acquireConcurrencySlot(rt, {
      provider: policy.provider,
      maxConcurrency: policy.maxConcurrency ?? 0,
      holder,
      leaseSeconds,
      random,
    });
    if (slot) return slot;
    if (round === 0) log?.info(SLOT_WAIT_LOG_MESSAGE, { provider: policy.provider, max_concurrency: policy.maxConcurrency });
    const left = deadline - rt.clock.now();
    if (left <= 0) return undefined;
    await sleep(Math.min(left, pause * (0.5 + random() / 2)));
    pause = Math.min(pause * 2, 2000);
  }
}

/** Renews the slot's lease every third of it while the call runs (real timers: a lease is wall time). */
function keepSlot(rt: Runtime, slot: ConcurrencySlot, leaseSeconds: number, log?: Logger): { stop(): void } {
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  const renew = async () => {
    if (stopped) return;
    const renewed = await renewConcurrencySlot(rt, slot, leaseSeconds).catch((error: unknown) => {
      log?.warn('could not renew a concurrency slot', { provider: slot.provider, error });
      return slot;
    });
    if (!renewed) log?.warn('concurrency slot lost: its lease ended before renewal', { provider: slot.provider, slot: slot.slot });
    else if (!stopped) schedule();
  };
  const schedule = () => {
    timer = setTimeout(() => void renew(), (leaseSeconds * 1000) / 3);
    timer.unref();
  };
  schedule();
  return {
    stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
    },
  };
}
