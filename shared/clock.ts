/** Wall clock, injectable so leases, rate limits and timestamps are testable. */
export interface Clock {
  /** milliseconds since the epoch */
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };

/** Epoch seconds, the unit DynamoDB TTL reads. */
export function epochSeconds(clock: Clock): number {
  return Math.floor(clock.now() / 1000);
}

export function isoNow(clock: Clock): string {
  return new Date(clock.now()).toISOString();
}
