import { DEFAULT_VIDEO_OPTIONS } from '../../shared/video-options.js';
import '../../infra/embedded/promise-with-resolvers.js';
import { StateMachine } from 'aws-local-stepfunctions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TransientStageError } from '../../shared/errors.js';
import {
  ProviderThrottledError,
  RateLimitHandBackError,
  acquireConcurrencySlot,
  readRequestRate,
  releaseConcurrencySlot,
  renewConcurrencySlot,
  reserveRequestSlot,
  runRateLimitedStage,
  withRateLimit,
  type RateLimitPolicy,
} from '../../shared/rate-limit/index.js';
import type { Runtime } from '../../shared/runtime.js';
import { RATE_LIMIT_WAITS_EXHAUSTED_ERROR, pipelineDefinition, substituteDefinition, DEFINITION_PLACEHOLDERS } from '../../shared/state-machine.js';
import { getTask, newTaskRecord, putNewTask } from '../../shared/task-record.js';
import { startTestTable } from '../support/dynamo-table.js';
import { VirtualClock } from '../support/virtual-clock.js';
import { busiestWindow } from '../support/request-windows.js';

/**
 * The shared rate limiter on a real table (dynalite) and a virtual clock: minutes of limiting in
 * a fraction of a second, with nothing timing-dependent. Every test uses its own provider name.
 */
let table: Awaited<ReturnType<typeof startTestTable>>;
beforeAll(async () => {
  table = await startTestTable();
});
afterAll(async () => {
  await table?.close();
});

const MINUTE = 60_000;

/** One task's stage: calls until done; a hand-back is waited out as the state machine's Wait state would. */
async function callLikeAStage<T>(rt: Runtime, clock: VirtualClock, policy: RateLimitPolicy, fn: () => Promise<T>) {
  let handBacks = 0;
  for (;;) {
    try {
      return { ...(await withRateLimit(rt, policy, fn, { sleep: clock.sleep })), handBacks };
    } catch (error: unknown) {
      if (!(error instanceof RateLimitHandBackError)) throw error;
      handBacks += 1;
      await clock.sleep(error.retryAfterSeconds * 1000);
    }
  }
}

describe('request-rate bucket (virtual clock)', () => {
  it.each([
    { burst: 1, each: 4, provider: 'fake-even' },
    { burst: 4, each: 3, provider: 'fake-burst' },
  ])(
    'never lets more than the limit per minute reach the provider: 10 concurrent tasks × $each requests, limit 12/min, burst $burst',
    async ({ burst, each, provider }) => {
      // prepare
      const clock = new VirtualClock();
      const rt = table.runtimeWith(clock);
      const seen: number[] = [];
      const fakeProvider = async () => {
        seen.push(clock.now()); // the fake provider counts on the limiter's own clock
      };
      const policy: RateLimitPolicy = { provider, requestsPerMinute: 12, burst, maxWaitSeconds: 20, holder: 'task' };
      // act
      const results = await clock.run(
        Array.from({ length: 10 }, () => async () => {
          const out = [];
          for (let i = 0; i < each; i++) out.push(await callLikeAStage(rt, clock, policy, fakeProvider));
          return out;
        }),
      );
      // assess
      expect(seen).toHaveLength(10 * each);
      const busiest = busiestWindow(seen, MINUTE);
      expect(busiest).toBeLessThanOrEqual(12);
      expect(busiest).toBe(12); // and the limiter does not throttle below the limit either
      const handBacks = results.flat().reduce((n, r) => n + r.handBacks, 0);
      expect(handBacks).toBeGreaterThan(0); // waits beyond 20 s went to the "state machine"
      const span = Math.max(...seen) - Math.min(...seen);
      console.info(
        `[rate-limit] burst ${burst}: ${seen.length} requests in ${(span / 1000).toFixed(1)} virtual s, busiest minute ${busiest}/12, hand-backs ${handBacks}`,
      );
      expect((await readRequestRate(rt, provider))?.grants).toBe(10 * each);
    },
  );

  it('gives 50 simultaneous reservations 50 distinct moments, one interval apart', async () => {
    const clock = new VirtualClock();
    const rt = table.runtimeWith(clock);
    const t0 = clock.now();
    const slots = await Promise.all(Array.from({ length: 50 }, () => reserveRequestSlot(rt, { provider: 'fake-contention', limit: 60 }, 60_000)));
    const at = slots.map((s) => (s.granted ? s.at : -1)).sort((a, b) => a - b);
    expect(at).toEqual(Array.from({ length: 50 }, (_, k) => t0 + k * 1000));
    const item = await readRequestRate(rt, 'fake-contention');
    expect(item).toMatchObject({ pk: 'RATE#fake-contention', kind: 'rate-limit', tat: t0 + 50_000, interval_ms: 1000, limit: 60, grants: 50 });
  });

  it('answers how long to wait when the next free moment is further away than the caller may wait', async () => {
    const clock = new VirtualClock();
    const rt = table.runtimeWith(clock);
    const rate = { provider: 'fake-far', limit: 6 }; // one every 10 s
    expect(await reserveRequestSlot(rt, rate, 15_000)).toEqual({ granted: true, at: clock.now(), waitMs: 0 });
    expect(await reserveRequestSlot(rt, rate, 15_000)).toMatchObject({ granted: true, waitMs: 10_000 });
    expect(await reserveRequestSlot(rt, rate, 15_000)).toEqual({ granted: false, retryAfterMs: 20_000 });
    clock.advance(20_000);
    expect(await reserveRequestSlot(rt, rate, 0)).toEqual({ granted: true, at: clock.now(), waitMs: 0 });
  });
});

describe('concurrency semaphore with leases', () => {
  it('never has more than TTS_MAX_CONCURRENCY calls in flight across 10 concurrent tasks', async () => {
    const clock = new VirtualClock();
    const rt = table.runtimeWith(clock);
    let inFlight = 0;
    let most = 0;
    const synthesize = async () => {
      inFlight += 1;
      most = Math.max(most, inFlight);
      await clock.sleep(2_000);
      inFlight -= 1;
    };
    const policy: RateLimitPolicy = { provider: 'fake-tts', requestsPerMinute: 0, maxConcurrency: 3, maxWaitSeconds: 3, holder: 'task' };
    const results = await clock.run(Array.from({ length: 10 }, () => () => callLikeAStage(rt, clock, policy, synthesize)));
    expect(results).toHaveLength(10);
    expect(most).toBe(3);
  });

  it("gives a crashed holder's slot back when its lease ends, and never to the stale holder", async () => {
    const clock = new VirtualClock();
    const rt = table.runtimeWith(clock);
    const take = (holder: string) => acquireConcurrencySlot(rt, { provider: 'fake-crash', maxConcurrency: 2, holder, leaseSeconds: 30 });
    const crashed = await take('task-a');
    const alive = await take('task-b');
    expect(crashed && alive && crashed.slot !== alive.slot).toBe(true);
    // task-a crashes here: it never renews or releases; task-b keeps renewing
    expect(await take('task-c')).toBeUndefined();
    clock.advance(20_000);
    expect(await renewConcurrencySlot(rt, alive!, 30)).toBeTruthy();
    clock.advance(10_000);
    expect(await take('task-c')).toBeUndefined(); // the lease covers its last millisecond
    clock.advance(1);
    const c = await take('task-c');
    expect(c?.slot).toBe(crashed!.slot);
    // the stale holder can neither renew nor free what is now task-c's
    expect(await renewConcurrencySlot(rt, crashed!, 30)).toBeUndefined();
    expect(await releaseConcurrencySlot(rt, crashed!)).toBe(false);
    expect(await take('task-d')).toBeUndefined();
    expect(await releaseConcurrencySlot(rt, c!)).toBe(true);
    expect(await take('task-d')).toMatchObject({ slot: crashed!.slot, holder: 'task-d' });
  });

  it('keeps a renewed slot past its first lease', async () => {
    const clock = new VirtualClock();
    const rt = table.runtimeWith(clock);
    const take = (holder: string) => acquireConcurrencySlot(rt, { provider: 'fake-renew', maxConcurrency: 1, holder, leaseSeconds: 30 });
    const held = await take('task-a');
    clock.advance(20_000);
    expect(await renewConcurrencySlot(rt, held!, 30)).toMatchObject({ leaseUntil: clock.now() + 30_000 });
    clock.advance(20_000);
    expect(await take('task-b')).toBeUndefined();
    clock.advance(10_001);
    expect(await take('task-b')).toBeDefined();
  });
});

describe('provider 429s through withRateLimit', () => {
  const policy = (provider: string, maxWaitSeconds: number): RateLimitPolicy => ({
    provider,
    requestsPerMinute: 60,
    maxConcurrency: 2,
    maxWaitSeconds,
    holder: 'task',
  });

  it('waits out a 429 inside the stage when the delay fits, and not a millisecond sooner', async () => {
    const clock = new VirtualClock();
    const rt = table.runtimeWith(clock);
    const calls: number[] = [];
    const out = await withRateLimit(
      rt,
      policy('fake-429-short', 10),
      async () => {
        calls.push(clock.now());
        if (calls.length === 1) throw new ProviderThrottledError('fake', 2.5, 'slow down');
        return 'ok';
      },
      { sleep: clock.sleep },
    );
    expect(out).toMatchObject({ value: 'ok', throttled: 1, waited_ms: 2_500 });
    expect(calls[1] - calls[0]).toBe(2_500);
  });

  it('hands a 429 delay longer than the budget back to the state machine, rounded up, holding no slot', async () => {
    const clock = new VirtualClock();
    const rt = table.runtimeWith(clock);
    let calls = 0;
    const error = await withRateLimit(
      rt,
      policy('fake-429-long', 1),
      async () => {
        calls += 1;
        throw new ProviderThrottledError('fake', 2.2, 'slow down');
      },
      { sleep: clock.sleep },
    ).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RateLimitHandBackError);
    expect(error).toMatchObject({ name: 'RateLimitHandBackError', retryAfterSeconds: 3, reason: 'provider_throttled' });
    expect(calls).toBe(1);
    const slots = await Promise.all(
      [0, 1].map((n) => acquireConcurrencySlot(rt, { provider: 'fake-429-long', maxConcurrency: 2, holder: `probe-${n}`, leaseSeconds: 5 })),
    );
    expect(slots.every(Boolean)).toBe(true);
  });

  it('passes other errors through unchanged and frees the slot', async () => {
    const clock = new VirtualClock();
    const rt = table.runtimeWith(clock);
    const error = await withRateLimit(
      rt,
      { ...policy('fake-5xx', 10), maxConcurrency: 1 },
      async () => {
        throw new TransientStageError('HTTP 503');
      },
      { sleep: clock.sleep },
    ).catch((e: unknown) => e);
    expect(error).toMatchObject({ name: 'TransientStageError', message: 'HTTP 503' });
    expect(await acquireConcurrencySlot(rt, { provider: 'fake-5xx', maxConcurrency: 1, holder: 'probe', leaseSeconds: 5 })).toBeDefined();
  });
});

describe('a rate-limited stage', () => {
  it('returns {rate_limited, retry_after_seconds} as data and leaves the stage running, then succeeds on the next attempt', async () => {
    const clock = new VirtualClock();
    const rt = table.runtimeWith(clock);
    const taskId = '01900000-0000-7000-8000-000000000001';
    await putNewTask(rt, newTaskRecord({ taskId, creatorId: 'c', videoId: 'v', gender: 0, exportVideo: false, now: new Date(clock.now()).toISOString() }));
    const event = { task_id: taskId, creator_id: 'c', video_id: 'v' };

    const first = await runRateLimitedStage(rt, event, 'story', async () => {
      throw new RateLimitHandBackError({ provider: 'gemini', reason: 'provider_throttled', retryAfterSeconds: 7 });
    });
    expect(first).toEqual({ rate_limited: true, retry_after_seconds: 7 });
    expect((await getTask(rt, taskId))?.stages.story).toMatchObject({ status: 'running', attempts: 1 });

    const second = await runRateLimitedStage(rt, event, 'story', async () => ({ output: { story_key: 'k' }, details: { provider: 'gemini' } }));
    expect(second).toEqual({ story_key: 'k' });
    expect((await getTask(rt, taskId))?.stages.story).toMatchObject({ status: 'succeeded', attempts: 2, details: { provider: 'gemini' } });
  });

  it('fails with RateLimitWaitsExhaustedError and the given sentence when still limited on its last attempt', async () => {
    // prepare
    const clock = new VirtualClock();
    const rt = table.runtimeWith(clock);
    const taskId = '01900000-0000-7000-8000-000000000002';
    await putNewTask(rt, newTaskRecord({ taskId, creatorId: 'c', videoId: 'v2', gender: 0, exportVideo: false, now: new Date(clock.now()).toISOString() }));
    const event = { task_id: taskId, creator_id: 'c', video_id: 'v2', rate_limit_give_up: 'Still limited; raise STORY_RPM.' };

    // act
    const error = await runRateLimitedStage(rt, event, 'story', async () => {
      throw new RateLimitHandBackError({ provider: 'gemini', reason: 'provider_throttled', retryAfterSeconds: 7 });
    }).catch((e: unknown) => e);

    // assess
    expect(error).toMatchObject({ name: RATE_LIMIT_WAITS_EXHAUSTED_ERROR, message: 'Still limited; raise STORY_RPM.' });
    expect((await getTask(rt, taskId))?.stages.story).toMatchObject({ status: 'running', attempts: 1 });
  });
});

describe('the state machine rate-limit loop', () => {
  const placeholders = Object.fromEntries(
    DEFINITION_PLACEHOLDERS.map((p) => [
      p,
      p === 'ExportQueueUrl' ? 'https://sqs.us-east-1.amazonaws.com/000000000000/q.fifo' : `arn:aws:lambda:us-east-1:000000000000:function:${p}`,
    ]),
  ) as Record<(typeof DEFINITION_PLACEHOLDERS)[number], string>;
  const input = {
    task_id: 't1',
    creator_id: 'c',
    video_id: 'v',
    gender: 0,
    export_video: false,
    video_options: { ...DEFAULT_VIDEO_OPTIONS } as Record<string, string | number>,
  };

  function run(maxWaits: number, storyAnswers: unknown[], ttsAnswers: unknown[]) {
    const definition = substituteDefinition(
      pipelineDefinition({ executionTimeoutSeconds: 600, exportTimeoutSeconds: 300, lockLeaseMarginSeconds: 60, rateLimitMaxWaits: maxWaits }),
      placeholders,
    );
    const calls: Record<string, unknown[]> = { Story: [], Tts: [] };
    const answer = (list: unknown[], fallback: unknown) => (list.length ? list.shift() : fallback);
    // What runRateLimitedStage does with `rate_limit_give_up` (tested above): a hand-back becomes the error.
    const lastAttempt = (list: unknown[], fallback: unknown) => async (event: { rate_limit_give_up?: string }) => {
      const value = answer(list, fallback) as { rate_limited?: boolean };
      if (value.rate_limited && event.rate_limit_give_up) throw Object.assign(new Error(event.rate_limit_give_up), { name: RATE_LIMIT_WAITS_EXHAUSTED_ERROR });
      return value;
    };
    const machine = new StateMachine(definition as never);
    const execution = machine.run(input, {
      overrides: {
        taskResourceLocalHandlers: {
          Start: async () => ({}),
          Story: async (event) => (calls.Story.push(event), answer(storyAnswers, { story_key: 'tasks/t1/story.txt', sentences: 2 })) as never,
          StoryLastAttempt: async (event) => (
            calls.Story.push(event),
            lastAttempt(storyAnswers, { story_key: 'tasks/t1/story.txt', sentences: 2 })(event as never)
          ),
          Tts: async (event) => (calls.Tts.push(event), answer(ttsAnswers, { audio_key: 'a', timings_key: 't', duration_ms: 1 })) as never,
          TtsLastAttempt: async (event) => (
            calls.Tts.push(event),
            lastAttempt(ttsAnswers, { audio_key: 'a', timings_key: 't', duration_ms: 1 })(event as never)
          ),
          Draft: async () => ({ draft_key: 'd' }),
          Finalize: async () => ({}),
        },
        // the Wait states' SecondsPath is read and honoured; only the real sleeping is skipped
        waitTimeOverrides: { StoryRateLimitWait: 0, TtsRateLimitWait: 0 },
      },
    });
    return { result: execution.result, calls };
  }

  const limited = { rate_limited: true, retry_after_seconds: 30 };

  it('sends a rate-limited Story and Tts to a Wait and back, counting the waits in the state data', async () => {
    const { result, calls } = run(3, [limited, limited], [limited]);
    const output = (await result) as Record<string, unknown>;
    expect(calls.Story).toHaveLength(3);
    expect(calls.Tts).toHaveLength(2);
    expect(calls.Tts[0]).toMatchObject({ story_key: 'tasks/t1/story.txt' }); // only ids and keys move on
    expect(output).toMatchObject({ story_rate_limit: { waits: 2 }, tts_rate_limit: { waits: 1 }, story: { story_key: 'tasks/t1/story.txt' } });
  });

  // The bound no longer goes through a Catch to RecordFailure; the execution
  // fails at the stage's last attempt (a Task, so a redrive asks the provider again), and the
  // execution-ended path records it (test/e2e/pipeline-embedded.test.ts, test/e2e/story-rate-limit-e2e.test.ts).
  it('fails the execution at the stage with a named error when the bound is hit', async () => {
    const { result, calls } = run(3, [limited, limited, limited, limited, limited], []);
    const error = await result.catch((e: unknown) => e);
    expect(error).toMatchObject({ name: 'ExecutionError' });
    expect((error as { cause?: unknown }).cause).toMatchObject({ name: RATE_LIMIT_WAITS_EXHAUSTED_ERROR, message: expect.stringContaining('STORY_RPM') });
    expect(calls.Story).toHaveLength(4); // 1 + 3 waits
    expect(calls.Story.map((event) => (event as { rate_limit_give_up?: string }).rate_limit_give_up !== undefined)).toEqual([false, false, false, true]);
    expect(calls.Tts).toHaveLength(0);
  });
});
