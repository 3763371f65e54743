import { performance } from 'node:perf_hooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getObjectText } from '../../shared/artifacts.js';
import { addLogSink, type LogLine } from '../../shared/logger.js';
import { SLOT_WAIT_LOG_MESSAGE } from '../../shared/rate-limit/with-rate-limit.js';
import { startFakeHttpTts, type FakeHttpTts } from '../support/fake-tts-services.js';
import { startTestStack, type TestStack } from '../support/stack.js';

/**
 * The TTS stage's shared limits end to end on the embedded stack (HTTP API, local Step Functions,
 * dynalite, s3rver), the team's TTS service played by a local fake that counts the requests it
 * has in flight. The per-minute window on a virtual clock is in test/e2e/tts-rate-limit.test.ts.
 */
const markerOf = (text: string) => /Marker ([a-z]+-\d+)/.exec(text)?.[1] ?? 'none';
const source = (marker: string) => `Marker ${marker}. The river was calm. We walked along it.`;

describe('TTS_MAX_CONCURRENCY, end to end', () => {
  const LIMIT = 2;
  const TASKS = 6;
  let stack: TestStack;
  let tts: FakeHttpTts;
  let removeSink: () => void = () => undefined;
  /** marker of each task, once its submission answered */
  const markerOfTask = new Map<string, string>();
  /** tasks whose TTS request found every slot held (the limiter's own log line) */
  const blockedTasks = new Set<string>();
  const arrived = new Set<string>();
  const answered = new Set<string>();
  let held: Array<() => void> = [];

  /**
   * The fake holds every request until it is clear how many the pipeline lets in at once: it
   * answers when more than LIMIT are in flight (the limit is broken: let them go, the count says
   * so), or when every unfinished task is either in flight or known to be blocked by the limiter.
   * No sleeps: with the limit on, the third task can only wait for a slot, and it says so. In the
   * first round every slot holder arrives unannounced, so that round answers with both in flight;
   * a limit stricter than LIMIT is released too (and fails the count) instead of hanging.
   */
  const releaseWhenSettled = () => {
    const notDone = TASKS - answered.size;
    const inFlight = tts.inFlight();
    const blocked = [...blockedTasks].filter((id) => {
      const marker = markerOfTask.get(id);
      return marker !== undefined && !arrived.has(marker);
    }).length;
    const everyoneAccounted = inFlight > 0 && inFlight + blocked === notDone;
    if (inFlight > LIMIT || everyoneAccounted) {
      const go = held;
      held = [];
      for (const release of go) release();
    }
  };

  beforeAll(async () => {
    tts = await startFakeHttpTts({
      hold: (request) =>
        new Promise<void>((release) => {
          arrived.add(markerOf(request.text));
          held.push(release);
          releaseWhenSettled();
        }),
      onAnswered: (request) => {
        answered.add(markerOf(request.text));
        releaseWhenSettled();
      },
    });
    removeSink = addLogSink((line: LogLine) => {
      if (line.stage === 'tts' && line.message === SLOT_WAIT_LOG_MESSAGE && typeof line.task_id === 'string') {
        blockedTasks.add(line.task_id);
        releaseWhenSettled();
      }
    });
    stack = await startTestStack({ extraEnv: { TTS_URL: tts.url, TTS_MAX_CONCURRENCY: String(LIMIT), TTS_RPM: '0' } });
  });
  afterAll(async () => {
    removeSink();
    for (const release of held) release();
    await stack?.close();
    await tts?.close();
  });

  it('lets 6 concurrent tasks send at most 2 TTS requests at once, sees 2 at once, and every task succeeds with no slot left', async () => {
    // act
    const started = performance.now();
    const posts = await Promise.all(
      Array.from({ length: TASKS }, (_, i) => stack.post({ creator_id: 'cc', video_id: `v${i}`, export_video: false, source_text: source(`cc-${i}`) })),
    );
    expect(posts.map((p) => p.status)).toEqual(Array(TASKS).fill(202));
    posts.forEach((p, i) => markerOfTask.set(p.body.task_id as string, `cc-${i}`));
    releaseWhenSettled();
    const tasks = await Promise.all(posts.map((p) => stack.finished(p.body.task_id as string)));
    const seconds = (performance.now() - started) / 1000;

    // assess
    expect(tasks.map((t) => t.status)).toEqual(Array(TASKS).fill('SUCCEEDED'));
    expect(tts.served.map((s) => s.status)).toEqual(Array(TASKS).fill(200)); // one request a task, none lost or repeated
    expect(tts.maxInFlight()).toBeLessThanOrEqual(LIMIT);
    expect(tts.maxInFlight()).toBe(LIMIT); // a limit, not one request after another
    expect(blockedTasks.size).toBeGreaterThanOrEqual(TASKS - LIMIT);
    const waitedMs = tasks.map((t) => Number(t.stages.tts.details?.rate_limit_wait_ms ?? 0));
    expect(waitedMs.filter((ms) => ms > 0).length).toBeGreaterThanOrEqual(TASKS - LIMIT);
    expect((await stack.itemKeys()).filter((k) => k.startsWith('RATE#http#SLOT#'))).toEqual([]);
    console.info(
      `[tts e2e] ${TASKS} tasks, TTS_MAX_CONCURRENCY ${LIMIT}: at most ${tts.maxInFlight()} requests in flight, ` +
        `${blockedTasks.size} tasks waited for a slot (in-stage waits ${waitedMs.map((ms) => ms.toFixed(0)).join(', ')} ms), ${seconds.toFixed(1)} s`,
    );
  });
});

describe('long TTS waits go to the state machine (TtsRateLimited)', () => {
  const RPM = 30; // one request every 2 s
  let stack: TestStack;
  let tts: FakeHttpTts;
  /** markers whose first request the fake answers 429 with this Retry-After */
  const throttleOnce = new Map<string, string>();

  beforeAll(async () => {
    tts = await startFakeHttpTts({
      hold: (request) => {
        const marker = markerOf(request.text);
        const retryAfter = throttleOnce.get(marker);
        if (retryAfter === undefined) return undefined;
        throttleOnce.delete(marker);
        return { status: 429, retryAfter };
      },
    });
    stack = await startTestStack({
      extraEnv: {
        TTS_URL: tts.url,
        TTS_RPM: String(RPM),
        // half a second: any limiter wait or 429 delay here is longer, so it goes to the state machine
        RATE_LIMIT_MAX_WAIT_SECONDS: '0.5',
      },
    });
  });
  afterAll(async () => {
    await stack?.close();
    await tts?.close();
  });

  const requestsOf = (marker: string) => tts.served.filter((s) => markerOf(s.text) === marker).sort((a, b) => a.at - b.at);
  const logOf = async (taskId: string) => (await getObjectText(stack.runtime, `tasks/${taskId}/log.jsonl`)) ?? '';

  it('hands a TTS_RPM wait longer than the in-stage budget to the Wait state and back: both tasks succeed, 2 s apart', async () => {
    // prepare: both tasks reach Tts together
    stack.controls.closeGate('Tts');
    const before = stack.controls.arrivalsAt('Tts');
    const posts = await Promise.all(
      [0, 1].map((i) => stack.post({ creator_id: 'rpm', video_id: `v${i}`, export_video: false, source_text: source(`rpm-${i}`) })),
    );
    await stack.controls.waitForArrivals('Tts', before + 2);

    // act
    stack.controls.openGate('Tts');
    const tasks = await Promise.all(posts.map((p) => stack.finished(p.body.task_id as string)));

    // assess
    expect(tasks.map((t) => t.status)).toEqual(['SUCCEEDED', 'SUCCEEDED']);
    const [first, second] = [requestsOf('rpm-0')[0], requestsOf('rpm-1')[0]].sort((a, b) => a.at - b.at);
    const gapMs = second.at - first.at;
    expect(gapMs).toBeGreaterThanOrEqual(1_500); // 60 s / TTS_RPM = 2 s, less the first request's own latency
    const waited = tasks.filter((t) => t.stages.tts.attempts >= 2);
    expect(waited.length).toBeGreaterThanOrEqual(1);
    const log = await logOf(waited[0].task_id);
    expect(log).toContain('"message":"stage rate limited: the state machine waits before the next attempt"');
    expect(log).toContain('"reason":"requests_per_minute"');
    console.info(`[tts e2e] TTS_RPM ${RPM}: requests ${gapMs.toFixed(0)} ms apart, tts attempts ${tasks.map((t) => t.stages.tts.attempts).join(', ')}`);
  });

  it('waits out a 429 whose Retry-After exceeds the in-stage budget in the Wait state, not sooner, and the task succeeds', async () => {
    throttleOnce.set('thr-0', '2');
    const post = await stack.post({ creator_id: 'thr', video_id: 'v0', export_video: false, source_text: source('thr-0') });
    const task = await stack.finished(post.body.task_id as string);

    expect(task.status).toBe('SUCCEEDED');
    const calls = requestsOf('thr-0');
    expect(calls.map((c) => c.status)).toEqual([429, 200]); // the provider did not retry the 429 on its own
    expect(calls[1].at - calls[0].at).toBeGreaterThanOrEqual(2_000);
    expect(task.stages.tts.attempts).toBeGreaterThanOrEqual(2);
    const log = await logOf(task.task_id);
    expect(log).toContain('"reason":"provider_throttled","retry_after_seconds":2');
    expect(await stack.itemKeys()).not.toContain('LOCK#thr#v0');
    console.info(`[tts e2e] 429 Retry-After 2: next request ${(calls[1].at - calls[0].at).toFixed(0)} ms later, tts attempts ${task.stages.tts.attempts}`);
  });
});
