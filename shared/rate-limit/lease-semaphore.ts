import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { DeleteCommand, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { isoNow } from '../clock.js';
import { rateKey } from '../keys.js';
import type { Runtime } from '../runtime.js';

/**
 * A counting semaphore with leases: `maxConcurrency` slots, each its own table item
 * `RATE#<provider>#SLOT#<n>`, taken like the video lock (a conditional put that succeeds when
 * the slot is free or its lease has ended). A bucket limits the rate of requests, not how many
 * are in flight at once; this limits the second.
 *
 *   acquire ──(lease)──┬─ renew ──(lease)──┬─ renew … ─ release   (a holder renews every lease/3)
 *                      └ holder crashed: nobody renews, the slot is free again when the lease ends
 *
 * Every write is conditional on one item only; an expired lease is judged in the condition
 * itself (`lease_until < now`), since DynamoDB's TTL deletes late and dynalite has none.
 */
export interface ConcurrencySlot {
  provider: string;
  key: string;
  slot: number;
  /** unique per acquisition: the task id plus a random suffix */
  holder: string;
  /** epoch ms */
  leaseUntil: number;
}

/** The table item of a taken slot. */
export interface ConcurrencySlotItem {
  pk: string;
  kind: 'concurrency-slot';
  provider: string;
  slot: number;
  holder: string;
  acquired_at: string;
  /** epoch ms: the lease ends after this */
  lease_until: number;
  /** epoch s: the same moment, for DynamoDB TTL clean-up */
  expiresAt: number;
}

export const concurrencySlotKey = (provider: string, slot: number) => `${rateKey(provider)}#SLOT#${slot}`;

const isConditionFailure = (error: unknown) => error instanceof ConditionalCheckFailedException;

/**
 * Takes a free slot (or one whose lease has ended) for `holder`, or answers `undefined` when all
 * `maxConcurrency` are held. Slots are tried from a random one on, so concurrent callers rarely
 * collide on the same item.
 */
export async function acquireConcurrencySlot(
  rt: Runtime,
  a: { provider: string; maxConcurrency: number; holder: string; leaseSeconds: number; random?: () => number },
): Promise<ConcurrencySlot | undefined> {
  const first = Math.floor((a.random ?? Math.random)() * a.maxConcurrency);
  for (let i = 0; i < a.maxConcurrency; i++) {
    const slot = (first + i) % a.maxConcurrency;
    const now = rt.clock.now();
    const leaseUntil = now + a.leaseSeconds * 1000;
    const key = concurrencySlotKey(a.provider, slot);
    try {
      await rt.ddb.send(
        new PutCommand({
          TableName: rt.settings.tableName,
          Item: {
            pk: key,
            kind: 'concurrency-slot',
            provider: a.provider,
            slot,
            holder: a.holder,
            acquired_at: isoNow(rt.clock),
            lease_until: leaseUntil,
            expiresAt: Math.ceil(leaseUntil / 1000),
          } satisfies ConcurrencySlotItem,
          ConditionExpression: 'attribute_not_exists(pk) OR lease_until < :now',
          ExpressionAttributeValues: { ':now': now },
        }),
      );
      return { provider: a.provider, key, slot, holder: a.holder, leaseUntil };
    } catch (error: unknown) {
      if (!isConditionFailure(error)) throw error;
    }
  }
  return undefined;
}

/**
 * Extends the lease, only while `slot.holder` still holds it. Answers the renewed slot, or
 * `undefined` if the lease had ended and another holder took the slot.
 */
export async function renewConcurrencySlot(rt: Runtime, slot: ConcurrencySlot, leaseSeconds: number): Promise<ConcurrencySlot | undefined> {
  const leaseUntil = rt.clock.now() + leaseSeconds * 1000;
  try {
    await rt.ddb.send(
      new UpdateCommand({
        TableName: rt.settings.tableName,
        Key: { pk: slot.key },
        UpdateExpression: 'SET lease_until = :until, expiresAt = :exp',
        ConditionExpression: 'holder = :me',
        ExpressionAttributeValues: { ':until': leaseUntil, ':exp': Math.ceil(leaseUntil / 1000), ':me': slot.holder },
      }),
    );
    return { ...slot, leaseUntil };
  } catch (error: unknown) {
    if (isConditionFailure(error)) return undefined;
    throw error;
  }
}

/** Frees the slot if `slot.holder` still holds it; a stale holder frees nothing. */
export async function releaseConcurrencySlot(rt: Runtime, slot: ConcurrencySlot): Promise<boolean> {
  try {
    await rt.ddb.send(
      new DeleteCommand({
        TableName: rt.settings.tableName,
        Key: { pk: slot.key },
        ConditionExpression: 'holder = :me',
        ExpressionAttributeValues: { ':me': slot.holder },
      }),
    );
    return true;
  } catch (error: unknown) {
    if (isConditionFailure(error)) return false;
    throw error;
  }
}
