/**
 * Task tokens of `.waitForTaskToken` states: minted per attempt, live while the attempt waits,
 * and answered once. SendTaskSuccess / SendTaskFailure / SendTaskHeartbeat with a token that is
 * unknown, already answered, or whose execution ended get `InvalidToken`; after the state's
 * TimeoutSeconds (or a missed heartbeat) they get `TaskTimedOut` — the errors AWS gives, which
 * the export worker relies on to tell a stale message from a live one.
 */
import { randomBytes } from 'node:crypto';
import { ApiError, optionalString, parseJsonPayload, requiredString } from './http-protocol.js';
import type { JSONValue } from './json.js';
import { TaskFailure } from './task-failure.js';

/** What a token needs from the execution it belongs to. */
export interface TokenHolder {
  /** the token `$$.Task.Token` shows until the next Task attempt claims it */
  unclaimedToken?: string;
  /** the execution's live tokens */
  tokens: Set<string>;
}

/** One waiting attempt. */
export interface TokenEntry {
  holder: TokenHolder;
  status: 'pending' | 'timed-out';
  resolve(output: JSONValue): void;
  reject(error: Error): void;
  timers: Set<NodeJS.Timeout>;
  heartbeatMs?: number;
  heartbeatTimer?: NodeJS.Timeout;
}

/** Opaque and about as long as an AWS task token, so length limits bite here too. */
function mintToken(): string {
  return `AQ${randomBytes(480).toString('base64')}`;
}

/**
 * `$$.Task.Token` for the attempt being evaluated: several reads in one Parameters block (the
 * message body and the dedup-id hash) must agree, and the next attempt must get a new one.
 */
export function peekToken(holder: TokenHolder): string {
  holder.unclaimedToken ??= mintToken();
  return holder.unclaimedToken;
}

/** The token the attempt now starting owns; the next read of `$$.Task.Token` mints a new one. */
export function claimUnclaimedToken(holder: TokenHolder): string {
  const token = holder.unclaimedToken ?? mintToken();
  holder.unclaimedToken = undefined;
  return token;
}

function clearTimers(entry: TokenEntry): void {
  for (const timer of entry.timers) clearTimeout(timer);
  entry.timers.clear();
  entry.heartbeatTimer = undefined;
}

/** The live tokens of one embedded Step Functions server and the SendTask* operations on them. */
export class TaskTokens {
  private readonly entries = new Map<string, TokenEntry>();

  /** Registers a waiting attempt; `answered` settles when the token is answered. */
  register(token: string, holder: TokenHolder, heartbeatMs?: number): { entry: TokenEntry; answered: Promise<JSONValue> } {
    let entry: TokenEntry | undefined;
    const answered = new Promise<JSONValue>((resolve, reject) => {
      entry = { holder, status: 'pending', resolve, reject, timers: new Set(), heartbeatMs };
    });
    if (!entry) throw new Error('unreachable: Promise executors run synchronously');
    this.entries.set(token, entry);
    holder.tokens.add(token);
    return { entry, answered };
  }

  /** Whether `entry` is still the live, pending entry of `token`. */
  isPending(token: string, entry: TokenEntry): boolean {
    return entry.status === 'pending' && this.entries.get(token) === entry;
  }

  /** Marks the token timed out: SendTask* then answer TaskTimedOut; the interpreter times the attempt out itself. */
  timeOut(entry: TokenEntry): void {
    if (entry.status !== 'pending') return;
    entry.status = 'timed-out';
    clearTimers(entry);
  }

  /** The token's attempt is over: later SendTask* calls with it get InvalidToken. */
  release(token: string, entry: TokenEntry): void {
    clearTimers(entry);
    this.entries.delete(token);
    entry.holder.tokens.delete(token);
  }

  /** Every token of an execution that has ended becomes invalid. */
  releaseAll(holder: TokenHolder): void {
    for (const token of holder.tokens) {
      const entry = this.entries.get(token);
      if (entry) clearTimers(entry);
      this.entries.delete(token);
    }
    holder.tokens.clear();
  }

  /** (Re)starts the heartbeat clock: HeartbeatSeconds counts from the send and from each heartbeat. */
  armHeartbeat(entry: TokenEntry): void {
    if (entry.heartbeatTimer !== undefined) {
      clearTimeout(entry.heartbeatTimer);
      entry.timers.delete(entry.heartbeatTimer);
    }
    const timer = setTimeout(() => {
      if (entry.status !== 'pending') return;
      entry.status = 'timed-out';
      clearTimers(entry);
      entry.reject(new TaskFailure('States.HeartbeatTimeout', ''));
    }, entry.heartbeatMs);
    entry.heartbeatTimer = timer;
    entry.timers.add(timer);
  }

  sendTaskSuccess(body: Record<string, unknown>): Record<string, unknown> {
    const token = requiredString(body, 'taskToken');
    const output = parseJsonPayload(requiredString(body, 'output'), 'InvalidOutput', 'output');
    const entry = this.claim(token);
    entry.resolve(output);
    return {};
  }

  sendTaskFailure(body: Record<string, unknown>): Record<string, unknown> {
    const token = requiredString(body, 'taskToken');
    const entry = this.claim(token);
    entry.reject(new TaskFailure(optionalString(body, 'error') ?? '', optionalString(body, 'cause') ?? ''));
    return {};
  }

  sendTaskHeartbeat(body: Record<string, unknown>): Record<string, unknown> {
    const entry = this.live(requiredString(body, 'taskToken'));
    if (entry.heartbeatMs !== undefined && entry.heartbeatTimer !== undefined) this.armHeartbeat(entry);
    return {};
  }

  private live(token: string): TokenEntry {
    const entry = this.entries.get(token);
    if (!entry) throw new ApiError('InvalidToken', 'Invalid Token: the task token is unknown or its task has ended');
    if (entry.status === 'timed-out') throw new ApiError('TaskTimedOut', 'Task Timed Out: the task has timed out');
    return entry;
  }

  private claim(token: string): TokenEntry {
    const entry = this.live(token);
    this.release(token, entry);
    return entry;
  }
}
