import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import S3rver from 's3rver';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ttsProviderFor } from '../../shared/tts/tts-provider-for.js';
import { createTtsHandler, type TtsEvent, type TtsOutput } from '../../lambdas/tts/handler.js';
import { putObject } from '../../shared/artifacts.js';
import { ARTIFACT, taskArtifactKey } from '../../shared/keys.js';
import { setStdoutLogging } from '../../shared/logger.js';
import { concurrencySlotKey, isRateLimitedStageOutput, type RateLimitedStageOutput } from '../../shared/rate-limit/index.js';
import type { Runtime } from '../../shared/runtime.js';
import { readSettings } from '../../shared/settings.js';
import { DEFAULT_DEFINITION_OPTIONS, pipelineDefinition } from '../../shared/state-machine.js';
import { getTask, newTaskRecord, putNewTask } from '../../shared/task-record.js';
import { startTestTable } from '../support/dynamo-table.js';
import { startFakeHttpTts, startFakePolly, type FakeHttpTts, type FakePolly } from '../support/fake-tts-services.js';
import { VirtualClock } from '../support/virtual-clock.js';
import { busiestWindow } from '../support/request-windows.js';
import { s3rverClient } from '../support/s3rver-env.js';

/**
 * The TTS stage under the shared limiter on a virtual clock: the real handler and providers, the
 * limiter on dynalite, s3rver for the story and the narration, the TTS services as local fakes
 * that stamp each request with the same virtual clock. Minutes of limiting take a second or two,
 * and nothing depends on timing. The state machine's Tts ⇄ TtsRateLimitWait loop is played here
 * from the shared definition, as test/e2e/rate-limit-storm.test.ts does for Story.
 */
const BUCKET = 'reel-tts-limits';
const MINUTE = 60_000;

let table: Awaited<ReturnType<typeof startTestTable>>;
let s3rver: S3rver;
let s3: S3Client;
let s3Dir: string;
let http: FakeHttpTts;
let polly: FakePolly;
/** the clock of the running test; the fakes stamp requests with it */
let clock = new VirtualClock();
/** what the fake HTTP service does with a request before answering it (per test) */
let onHttpRequest: (text: string) => Promise<{ status: number; retryAfter?: string } | void> | { status: number; retryAfter?: string } | void = () => undefined;

beforeAll(async () => {
  setStdoutLogging(process.env.TEST_LOGS === '1');
  table = await startTestTable();
  s3Dir = mkdtempSync(join(tmpdir(), 'reel-tts-limits-s3-'));
  s3rver = new S3rver({ port: 0, address: '127.0.0.1', silent: true, directory: s3Dir });
  const { port } = await s3rver.run();
  s3 = s3rverClient(`http://127.0.0.1:${port}`);
  await s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
  http = await startFakeHttpTts({ now: () => clock.now(), hold: (request) => onHttpRequest(request.text) });
  polly = await startFakePolly();
});
afterAll(async () => {
  await http?.close();
  await polly?.close();
  s3?.destroy();
  await s3rver?.close();
  await table?.close();
  if (s3Dir) rmSync(s3Dir, { recursive: true, force: true });
});

/** A runtime on `clock` whose settings come from these environment variables, as a Lambda's would. */
function runtimeFor(env: Record<string, string>): Runtime {
  const base = table.runtimeWith(clock);
  return { ...base, settings: readSettings({ TABLE_NAME: base.settings.tableName, BUCKET_NAME: BUCKET, ...env }), s3 };
}

let taskCounter = 0;
/** A RUNNING task whose story (one sentence a line) is stored where the Story stage puts it. */
async function taskWithStory(rt: Runtime, sentences: string[]): Promise<TtsEvent> {
  taskCounter += 1;
  const taskId = `01900000-0000-7000-8000-${String(taskCounter).padStart(12, '0')}`;
  await putNewTask(
    rt,
    newTaskRecord({ taskId, creatorId: 'tts', videoId: `v${taskCounter}`, gender: 0, exportVideo: false, now: new Date(clock.now()).toISOString() }),
  );
  const storyKey = taskArtifactKey(taskId, ARTIFACT.story);
  await putObject(rt, storyKey, `${sentences.join('\n')}\n`, 'text/plain; charset=utf-8');
  return { task_id: taskId, creator_id: 'tts', video_id: `v${taskCounter}`, gender: 0, story_key: storyKey };
}

interface StateView {
  ResultPath?: string;
  SecondsPath?: string;
  Next?: string;
  Default?: string;
  Choices?: Array<{ NumericGreaterThanEquals?: number; Next?: string }>;
}

/** What the emulation of the Tts state takes from the definition, so it cannot drift from it unnoticed. */
function ttsLoopOf() {
  const states = pipelineDefinition(DEFAULT_DEFINITION_OPTIONS).States as Record<string, StateView>;
  return {
    ttsNext: states.Tts.Next,
    ttsResultPath: states.Tts.ResultPath,
    waitSecondsPath: states.TtsRateLimitWait.SecondsPath,
    waitNext: states.TtsRateLimitWait.Next,
    // after a wait: Tts again, or its last attempt once the bound is reached (a Task, so a redrive re-runs it)
    retryNext: states.TtsRateLimitRetry.Default,
    maxWaits: states.TtsRateLimitRetry.Choices?.find((c) => c.Next === 'TtsLastAttempt')?.NumericGreaterThanEquals as number,
  };
}

/** The Tts state and its rate-limit loop: a hand-back is waited out (virtual seconds) and Tts runs again, bounded. */
async function runTtsState(handler: (event: TtsEvent) => Promise<TtsOutput | RateLimitedStageOutput>, event: TtsEvent, maxWaits: number) {
  let waits = 0;
  for (;;) {
    const output = await handler(event);
    if (!isRateLimitedStageOutput(output)) return { output, waits };
    if (waits >= maxWaits) throw new Error(`task ${event.task_id}: the rate-limit wait bound was hit`);
    waits += 1;
    await clock.sleep(output.retry_after_seconds * 1000);
  }
}

const sentence = (task: number, n: number) => `Task ${task} sentence ${n} was calm.`;

describe('TTS_RPM across concurrent tasks (virtual clock)', () => {
  it('never lets more than TTS_RPM requests a minute reach the TTS service: 10 concurrent tasks × 3 requests, TTS_RPM 12, every task succeeds', async () => {
    // prepare
    clock = new VirtualClock();
    const RPM = 12;
    const TASKS = 10;
    const rt = runtimeFor({
      TTS_URL: http.url,
      TTS_RPM: String(RPM),
      TTS_MAX_CONCURRENCY: '0',
      TTS_MAX_CHARS_PER_REQUEST: '40',
      RATE_LIMIT_MAX_WAIT_SECONDS: '20',
    });
    const handler = createTtsHandler(rt, ttsProviderFor(rt), { sleep: clock.sleep });
    const loop = ttsLoopOf();
    expect(loop).toMatchObject({
      ttsNext: 'TtsRateLimited',
      ttsResultPath: '$.tts',
      waitSecondsPath: '$.tts.retry_after_seconds',
      waitNext: 'TtsRateLimitRetry',
      retryNext: 'Tts',
    });
    const events = await Promise.all(Array.from({ length: TASKS }, (_, t) => taskWithStory(rt, [sentence(t, 1), sentence(t, 2), sentence(t, 3)])));
    const servedBefore = http.served.length;
    onHttpRequest = () => undefined;
    const t0 = clock.now();

    // act
    const runs = await clock.run(events.map((event) => () => runTtsState(handler, event, loop.maxWaits)));

    // assess
    const served = http.served.slice(servedBefore);
    const times = served.map((s) => s.at);
    const busiest = busiestWindow(times, MINUTE);
    const waits = runs.reduce((n, r) => n + r.waits, 0);
    const records = await Promise.all(events.map((e) => getTask(rt, e.task_id)));
    console.info(
      `[tts rpm] ${served.length} requests, busiest minute ${busiest}/${RPM}, ${waits} state-machine waits, ` +
        `${((clock.now() - t0) / 1000).toFixed(0)} virtual s`,
    );
    // 3 requests a task (40-character requests), every one answered 200. A hand-back restarts its
    // narration, so the parts it had already made are asked for again: which tasks that happens to
    // depends on how the concurrent reservations interleave, so the count is bounded, not fixed.
    expect(served.every((s) => s.status === 200)).toBe(true);
    expect(new Set(served.map((s) => s.text)).size).toBe(TASKS * 3);
    expect(served.length - TASKS * 3).toBeLessThanOrEqual(2 * waits);
    expect(busiest).toBeLessThanOrEqual(RPM);
    expect(waits).toBeGreaterThan(0); // 30 requests at 12 a minute cannot fit a 20 s in-stage budget: the loop was used
    for (const record of records) expect(record?.stages.tts).toMatchObject({ status: 'succeeded', details: { provider: 'http', requests: 3 } });
  });
});

describe('provider throttling through the limiter (virtual clock)', () => {
  it('waits out a Polly ThrottlingException inside the stage before the next request, holding no slot', async () => {
    clock = new VirtualClock();
    const rt = runtimeFor({ TTS_PROVIDER: 'polly', AWS_ENDPOINT_URL_POLLY: polly.endpoint, TTS_RPM: '0', TTS_MAX_CONCURRENCY: '1' });
    const handler = createTtsHandler(rt, ttsProviderFor(rt), { sleep: clock.sleep });
    const event = await taskWithStory(rt, ['It was late.']);
    const callsBefore = polly.calls.length;
    polly.failNext(['ThrottlingException']);

    const [{ output, waits }] = await clock.run([() => runTtsState(handler, event, 0)]);

    expect(output.audio_key).toBe(taskArtifactKey(event.task_id, ARTIFACT.narration));
    expect(waits).toBe(0);
    expect(polly.calls.slice(callsBefore).map((c) => `${c.OutputFormat}:${c.status}`)).toEqual(['pcm:400', 'pcm:200', 'json:200']);
    const record = await getTask(rt, event.task_id);
    // Polly names no delay: the limiter waits its default second, on the virtual clock
    expect(record?.stages.tts.details).toMatchObject({ provider: 'polly', throttled: 1, rate_limit_wait_ms: 1000 });
    expect((await rt.ddb.send(new GetCommand({ TableName: rt.settings.tableName, Key: { pk: concurrencySlotKey('polly', 0) } }))).Item).toBeUndefined();
  });

  it("honours the TTS service's Retry-After inside the stage when it fits the budget", async () => {
    clock = new VirtualClock();
    const rt = runtimeFor({ TTS_URL: http.url, TTS_RPM: '0', TTS_MAX_CONCURRENCY: '0', RATE_LIMIT_MAX_WAIT_SECONDS: '20' });
    const handler = createTtsHandler(rt, ttsProviderFor(rt), { sleep: clock.sleep });
    const event = await taskWithStory(rt, ['The river was calm.']);
    const servedBefore = http.served.length;
    let refused = false;
    onHttpRequest = () => (refused ? undefined : ((refused = true), { status: 429, retryAfter: '7' }));

    const [{ waits }] = await clock.run([() => runTtsState(handler, event, 0)]);

    const served = http.served.slice(servedBefore);
    expect(served.map((s) => s.status)).toEqual([429, 200]);
    expect(served[1].at - served[0].at).toBe(7_000);
    expect(waits).toBe(0);
    expect((await getTask(rt, event.task_id))?.stages.tts.details).toMatchObject({ throttled: 1, rate_limit_wait_ms: 7_000 });
  });
});

describe('concurrency slots of the TTS stage', () => {
  it('holds a slot leased for RATE_LIMIT_LEASE_SECONDS while the request is in flight, and frees it after', async () => {
    clock = new VirtualClock();
    const rt = runtimeFor({ TTS_URL: http.url, TTS_RPM: '0', TTS_MAX_CONCURRENCY: '1', RATE_LIMIT_LEASE_SECONDS: '7' });
    const handler = createTtsHandler(rt, ttsProviderFor(rt), { sleep: clock.sleep });
    const event = await taskWithStory(rt, ['The river was calm.']);
    const slotKey = concurrencySlotKey('http', 0);
    const readSlot = async () => (await rt.ddb.send(new GetCommand({ TableName: rt.settings.tableName, Key: { pk: slotKey }, ConsistentRead: true }))).Item;
    let during: Record<string, unknown> | undefined;
    onHttpRequest = async () => {
      during = await readSlot();
    };

    await clock.run([() => runTtsState(handler, event, 0)]);

    expect(during).toMatchObject({ kind: 'concurrency-slot', provider: 'http', lease_until: clock.now() + 7_000 });
    expect(String(during?.holder)).toContain(event.task_id);
    expect(await readSlot()).toBeUndefined();
  });
});
