import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { GetCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { isoNow } from '../clock.js';
import { rateKey } from '../keys.js';
import type { Runtime } from '../runtime.js';

/** How many requests a provider accepts, across every task and every Lambda. */
export interface RequestRate {
  /** names the table item `RATE#<provider>` (a constant such as `gemini`, never user input) */
  provider: string;
  /** requests allowed in any window of `windowSeconds` */
  limit: number;
  /** default 60: `limit` is then requests per minute */
  windowSeconds?: number;
  /**
   * Requests that may go out back to back after a quiet spell (default 1: evenly spaced). The
   * steady rate is lowered to make room for it, so no window ever holds more than `limit`.
   */
  burst?: number;
}

/** A reserved moment for one request, or how long until one could be reserved without waiting. */
export type RequestSlot = { granted: true; /** epoch ms the request may go out */ at: number; waitMs: number } | { granted: false; retryAfterMs: number };

/** The table item of a provider's bucket. */
export interface RequestRateItem {
  pk: string;
  kind: 'rate-limit';
  provider: string;
  /** epoch ms: the "theoretical arrival time" — when the schedule is next free (see below) */
  tat: number;
  interval_ms: number;
  burst: number;
  limit: number;
  window_seconds: number;
  /** requests granted so far (a number a dashboard can plot) */
  grants: number;
  updated_at: string;
}

/** Spacing of the schedule: `limit - burst + 1` slots per window, so burst + slots − 1 ≤ limit. */
export function requestIntervalMs(rate: RequestRate): number {
  const windowMs = (rate.windowSeconds ?? 60) * 1000;
  const burst = rate.burst ?? 1;
  if (!(rate.limit >= 1)) throw new RangeError(`rate limit of ${rate.provider} must be at least 1 request per window`);
  if (!(burst >= 1 && burst <= rate.limit)) throw new RangeError(`burst of ${rate.provider} must be between 1 and the limit`);
  return Math.ceil(windowMs / (rate.limit - burst + 1));
}

const isConditionFailure = (error: unknown) => error instanceof ConditionalCheckFailedException;
/** each failed round means another caller took a slot, so the system as a whole progresses */
const MAX_ROUNDS = 20;

/**
 * Reserves the moment one request may go out, if that moment is at most `maxWaitMs` away.
 *
 * A token bucket kept as one number (GCRA, the "generic cell rate algorithm"): `tat` is when the
 * schedule is next free. A bucket of `burst` tokens refilled every `interval` is the same as
 * "a request is allowed at `tat − (burst − 1)·interval`", and taking a token is `tat += interval`.
 * That makes a reservation one atomic ADD — no read-modify-write, no transaction (dynalite has
 * none) — and reservations are handed out in order, so waiting callers never stampede:
 *
 *   now ─────┬──────────── tat ───────── now + (burst−1)·interval + maxWait
 *            │  busy: SET tat = tat + interval  (condition: tat BETWEEN now AND reach)
 *   tat < now: idle: SET tat = now + interval   (condition: attribute_not_exists OR tat < now)
 *   tat > reach: not granted; retry after tat − (burst−1)·interval − now
 *
 * The caller must not send before `at`. A reservation that goes unused only makes the provider
 * see fewer requests than allowed.
 */
export async function reserveRequestSlot(rt: Runtime, rate: RequestRate, maxWaitMs: number): Promise<RequestSlot> {
  const interval = requestIntervalMs(rate);
  const burst = rate.burst ?? 1;
  const tolerance = (burst - 1) * interval;
  const key = { pk: rateKey(rate.provider) };
  const config = {
    ':interval': interval,
    ':burst': burst,
    ':limit': rate.limit,
    ':window': rate.windowSeconds ?? 60,
    ':kind': 'rate-limit',
    ':provider': rate.provider,
    ':zero': 0,
    ':one': 1,
  };
  const setConfig =
    'interval_ms = :interval, burst = :burst, #limit = :limit, window_seconds = :window, kind = :kind, provider = :provider, ' +
    'grants = if_not_exists(grants, :zero) + :one, updated_at = :iso';
  for (let round = 0; round < MAX_ROUNDS; round++) {
    const now = rt.clock.now();
    const iso = isoNow(rt.clock);
    // busy: the schedule runs ahead of now; take its next slot if it is within reach
    try {
      const out = await rt.ddb.send(
        new UpdateCommand({
          TableName: rt.settings.tableName,
          Key: key,
          UpdateExpression: `SET tat = tat + :interval, ${setConfig}`,
          ConditionExpression: 'tat BETWEEN :now AND :reach',
          ExpressionAttributeNames: { '#limit': 'limit' },
          ExpressionAttributeValues: { ...config, ':now': now, ':reach': now + tolerance + Math.max(0, maxWaitMs), ':iso': iso },
          ReturnValues: 'UPDATED_NEW',
        }),
      );
      const previous = Number(out.Attributes?.tat) - interval;
      const at = Math.max(previous - tolerance, now);
      return { granted: true, at, waitMs: at - now };
    } catch (error: unknown) {
      if (!isConditionFailure(error)) throw error;
    }
    // idle (or a new item): the schedule is behind now; restart it at now
    try {
      await rt.ddb.send(
        new UpdateCommand({
          TableName: rt.settings.tableName,
          Key: key,
          UpdateExpression: `SET tat = :next, ${setConfig}`,
          ConditionExpression: 'attribute_not_exists(pk) OR tat < :now',
          ExpressionAttributeNames: { '#limit': 'limit' },
          ExpressionAttributeValues: { ...config, ':now': now, ':next': now + interval, ':iso': iso },
        }),
      );
      return { granted: true, at: now, waitMs: 0 };
    } catch (error: unknown) {
      if (!isConditionFailure(error)) throw error;
    }
    // neither: the next slot is out of reach, or another caller moved `tat` between the two
    const item = await readRequestRate(rt, rate.provider);
    if (item && item.tat > now + tolerance + Math.max(0, maxWaitMs)) {
      return { granted: false, retryAfterMs: item.tat - tolerance - now };
    }
  }
  // Only under extreme contention: let the caller come back a little later.
  return { granted: false, retryAfterMs: interval };
}

/** The bucket item of a provider, as stored (for tests and dashboards). */
export async function readRequestRate(rt: Runtime, provider: string): Promise<RequestRateItem | undefined> {
  const out = await rt.ddb.send(new GetCommand({ TableName: rt.settings.tableName, Key: { pk: rateKey(provider) }, ConsistentRead: true }));
  return out.Item as RequestRateItem | undefined;
}
