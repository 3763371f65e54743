import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { StartExecutionCommand, type SFNClient } from '@aws-sdk/client-sfn';
import { ScanCommand } from '@aws-sdk/lib-dynamodb';
import S3rver from 's3rver';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createFailHandler } from '../../lambdas/fail/handler.js';
import { createFinalizeHandler } from '../../lambdas/finalize/handler.js';
import { createStartHandler } from '../../lambdas/start/handler.js';
import { createStoryHandler, type StoryOutput } from '../../lambdas/story/handler.js';
import { getObjectText } from '../../shared/artifacts.js';
import type { CaughtError } from '../../shared/failure.js';
import { ARTIFACT, taskArtifactKey } from '../../shared/keys.js';
import { createLogger, setStdoutLogging } from '../../shared/logger.js';
import { isRateLimitedStageOutput, type RateLimitedStageOutput } from '../../shared/rate-limit/index.js';
import type { Runtime } from '../../shared/runtime.js';
import type { StageEvent } from '../../shared/stage.js';
import { DEFAULT_DEFINITION_OPTIONS, pipelineDefinition } from '../../shared/state-machine.js';
import { GeminiStoryProvider } from '../../shared/story/gemini-story-provider.js';
import { submitTask } from '../../shared/submit.js';
import { getTask, type TaskRecord } from '../../shared/task-record.js';
import { startTestTable } from '../support/dynamo-table.js';
import { gemini429, geminiText, startFakeGemini } from '../support/fake-gemini.js';
import { recordReliability } from '../support/reliability.js';
import { VirtualClock } from '../support/virtual-clock.js';
import { busiestWindow } from '../support/request-windows.js';
import { s3rverClient } from '../support/s3rver-env.js';

/**
 * Case 4 of the fault suite: a 429 storm. Gemini (a local fake) refuses every request for the
 * first 2 minutes, then recovers, while 20 tasks run their story stage at once under STORY_RPM 12.
 * Its 429s say "retry when the quota resets", so the limiter goes quiet and every task returns at
 * the moment of recovery: a burst there is exactly what a broken bucket would let through.
 *
 * Nothing here depends on timing. The real story handler, the real limiter (dynalite) and S3
 * (s3rver) run on one VirtualClock: minutes pass only when every task sleeps, and the fake Gemini
 * stamps each request with that same clock. The state machine's part is played by this file
 * from the shared definition (Start → Story ⇄ rate-limit Wait, bounded → Finalize | failed at the stage → fail handler);
 * a real interpreter would sleep real seconds in its Wait states.
 */
const TASKS = 20;
const STORY_RPM = 12;
const MINUTE = 60_000;
const STORM_MS = 120_000;
const BUCKET = 'reel-storm';
const MODEL = 'gemini-2.5-flash';

let table: Awaited<ReturnType<typeof startTestTable>>;
let s3rver: S3rver;
let s3: S3Client;
let s3Dir: string;
let gemini: Awaited<ReturnType<typeof startFakeGemini>>;
/** every object write S3 saw, by key (s3rver's own event stream) */
const writes = new Map<string, number>();

beforeAll(async () => {
  setStdoutLogging(process.env.TEST_LOGS === '1');
  table = await startTestTable();
  s3Dir = mkdtempSync(join(tmpdir(), 'reel-storm-s3-'));
  s3rver = new S3rver({ port: 0, address: '127.0.0.1', silent: true, directory: s3Dir });
  const { port } = await s3rver.run();
  s3rver.on('event', (event: { Records?: Array<{ eventName: string; s3: { object: { key: string } } }> }) => {
    for (const r of event.Records ?? []) {
      if (r.eventName.startsWith('ObjectCreated')) writes.set(r.s3.object.key, (writes.get(r.s3.object.key) ?? 0) + 1);
    }
  });
  s3 = s3rverClient(`http://127.0.0.1:${port}`);
  await s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
  gemini = await startFakeGemini(() => ({ status: 500 }));
});
afterAll(async () => {
  await gemini?.close();
  s3?.destroy();
  await s3rver?.close();
  await table?.close();
  if (s3Dir) rmSync(s3Dir, { recursive: true, force: true });
});

interface Retrier {
  ErrorEquals: string[];
  IntervalSeconds: number;
  MaxAttempts: number;
  BackoffRate: number;
  MaxDelaySeconds?: number;
}
interface StateView {
  ResultPath?: string;
  Parameters?: Record<string, unknown>;
  Retry?: Retrier[];
  Choices?: Array<{ NumericGreaterThanEquals?: number; Next?: string }>;
  SecondsPath?: string;
  Next?: string;
  Default?: string;
  Resource?: string;
  Result?: unknown;
}

/** What the emulation below takes from the definition, so it cannot drift from it unnoticed. */
function storyLoopOf(definition: Record<string, unknown>) {
  const states = definition.States as Record<string, StateView>;
  const bound = states.StoryRateLimitRetry.Choices?.find((c) => c.Next === 'StoryLastAttempt')?.NumericGreaterThanEquals;
  return {
    startLeaseSeconds: states.Start.Parameters?.lease_seconds as number,
    storyResultPath: states.Story.ResultPath,
    storyRetry: states.Story.Retry?.[0] as Retrier,
    maxWaits: bound as number,
    waitSecondsPath: states.StoryRateLimitWait.SecondsPath,
    waitNext: states.StoryRateLimitWait.Next,
    retryNext: states.StoryRateLimitRetry.Default,
    /** the sentence the last attempt fails with (a Task, so a redrive re-runs it) */
    giveUp: states.StoryLastAttempt.Parameters?.rate_limit_give_up as string,
    lastAttemptResource: states.StoryLastAttempt.Resource,
  };
}

const markerOf = (prompt: string) => /Marker (storm-\d+)/.exec(prompt)?.[1] ?? 'none';
const storyOf = (marker: string) => `This is the story of ${marker}.\nThe river was calm that day.`;

describe('a 429 storm on the story stage', () => {
  it('gets 20 concurrent tasks through 2 minutes of Gemini 429s: each ends with a story or a named reason, never more than STORY_RPM a minute after recovery, no lock left', async () => {
    // prepare
    const wallStarted = performance.now();
    const clock = new VirtualClock();
    const base = table.runtimeWith(clock);
    const executions: string[] = [];
    // submitTask is the API's own path (lock, snapshot, record); this stub only accepts its
    // StartExecution, because this test plays the state machine itself and is about the stage and
    // the limiter, not the interpreter.
    const sfn = {
      send: async (command: unknown) => {
        if (!(command instanceof StartExecutionCommand)) throw new Error('only StartExecution is expected');
        executions.push(String(command.input.name));
        return { executionArn: `arn:aws:states:us-east-1:000000000000:execution:reel-storm:${command.input.name}` };
      },
    } as unknown as SFNClient;
    const rt: Runtime = {
      ...base,
      settings: {
        ...base.settings,
        bucketName: BUCKET,
        stateMachineArn: 'arn:aws:states:us-east-1:000000000000:stateMachine:reel-storm',
        storyRpm: STORY_RPM,
        rateLimitMaxWaitSeconds: 20,
      },
      s3,
      sfn,
    };
    const provider = new GeminiStoryProvider({
      apiKey: async () => 'test-key',
      model: MODEL,
      baseUrl: gemini.url,
      // a real-time limit on one HTTP call; generous so a blocked event loop cannot trip it
      timeoutSeconds: 300,
      language: 'en',
      targetChars: 200,
      requestsPerMinute: STORY_RPM,
    });
    const story = createStoryHandler(rt, provider, { sleep: clock.sleep });
    const start = createStartHandler(rt);
    const finalize = createFinalizeHandler(rt);
    const fail = createFailHandler(rt);
    const loop = storyLoopOf(pipelineDefinition(DEFAULT_DEFINITION_OPTIONS));
    // the emulation below follows these; if the definition changes shape, this says so first
    expect(loop).toMatchObject({
      storyResultPath: '$.story',
      waitSecondsPath: '$.story.retry_after_seconds',
      waitNext: 'StoryRateLimitRetry',
      retryNext: 'Story',
    });
    expect(loop.lastAttemptResource).toBe('${StoryFunctionArn}');
    expect(loop.maxWaits).toBe(DEFAULT_DEFINITION_OPTIONS.rateLimitMaxWaits);
    expect(loop.giveUp).toContain('STORY_RPM');

    const t0 = clock.now();
    const recoveredAt = t0 + STORM_MS;
    /** every request Gemini received, stamped with the limiter's own (virtual) clock */
    const seen: Array<{ at: number; marker: string; status: number; retryAfterMs?: number }> = [];
    gemini.setResponder((request) => {
      const at = clock.now();
      const marker = markerOf(request.prompt);
      if (at < recoveredAt) {
        // RetryInfo names the moment the quota resets (as Gemini's per-minute 429s do), so every
        // task comes back at that same moment: the herd the limiter must spread out
        const delaySeconds = Math.max(1, Math.ceil((recoveredAt - at) / 1000));
        seen.push({ at, marker, status: 429, retryAfterMs: delaySeconds * 1000 });
        return gemini429(`${delaySeconds}s`);
      }
      seen.push({ at, marker, status: 200 });
      return geminiText(storyOf(marker));
    });

    const log = createLogger({ stage: 'submit' });
    const tasks = await Promise.all(
      Array.from({ length: TASKS }, async (_, i) => {
        const marker = `storm-${i}`;
        const submitted = await submitTask(
          rt,
          { creator_id: 'storm', video_id: `v${i}`, gender: 0, export_video: false, source_text: `Marker ${marker}. The river was calm. We walked along it.` },
          log,
        );
        return { marker, event: { task_id: submitted.task_id, creator_id: 'storm', video_id: `v${i}` } satisfies StageEvent };
      }),
    );
    const lockKeys = async () => {
      const out = await rt.ddb.send(new ScanCommand({ TableName: rt.settings.tableName, ProjectionExpression: 'pk' }));
      return (out.Items ?? []).map((item) => String(item.pk)).filter((pk) => pk.startsWith('LOCK#'));
    };
    expect(executions).toHaveLength(TASKS);
    expect(await lockKeys()).toHaveLength(TASKS); // so "no lock left" below means released, not never taken

    /** The Story Task state: its Retry (full backoff, no jitter), then the error it fails the execution with. */
    const storyState = async (event: StageEvent): Promise<{ output: StoryOutput | RateLimitedStageOutput } | { caught: CaughtError }> => {
      const retry = loop.storyRetry;
      for (let retried = 0; ; retried++) {
        try {
          return { output: await story(event) };
        } catch (error: unknown) {
          const name = error instanceof Error ? error.name : 'Error';
          if (retry.ErrorEquals.includes(name) && retried < retry.MaxAttempts) {
            await clock.sleep(Math.min(retry.IntervalSeconds * retry.BackoffRate ** retried, retry.MaxDelaySeconds ?? Infinity) * 1000);
            continue;
          }
          const message = error instanceof Error ? error.message : String(error);
          return { caught: { Error: name, Cause: JSON.stringify({ errorType: name, errorMessage: message }) } };
        }
      }
    };

    /**
     * One execution: Start → Story ⇄ StoryRateLimitWait (bounded; after the last wait
     * StoryLastAttempt) → Finalize, or failed at the stage → the execution-ended event → fail.
     */
    const execute = async (event: StageEvent) => {
      await start({ ...event, lease_seconds: loop.startLeaseSeconds });
      let waits = 0; // $.story_rate_limit.waits
      for (;;) {
        const answer = await storyState(waits >= loop.maxWaits ? { ...event, rate_limit_give_up: loop.giveUp } : event);
        if ('caught' in answer) {
          await fail({
            source: 'aws.states',
            'detail-type': 'Step Functions Execution Status Change',
            detail: {
              executionArn: `arn:aws:states:us-east-1:000000000000:execution:reel-storm:${event.task_id}`,
              name: event.task_id,
              status: 'FAILED',
              error: answer.caught.Error,
              cause: answer.caught.Cause,
              redriveCount: 0,
            },
          });
          return { waits };
        }
        if (!isRateLimitedStageOutput(answer.output)) break;
        waits += 1;
        await clock.sleep(answer.output.retry_after_seconds * 1000); // Wait, SecondsPath $.story.retry_after_seconds
      }
      // Tts and Draft are left out: they neither call Gemini nor touch the lock. Finalize is the
      // state that marks the task SUCCEEDED and releases its lock.
      await finalize(event);
      return { waits };
    };

    // act
    const runs = await clock.run(tasks.map((task) => () => execute(task.event)));

    // assess
    const records = await Promise.all(tasks.map(async (task) => (await getTask(rt, task.event.task_id)) as TaskRecord));
    const succeeded = records.filter((r) => r.status === 'SUCCEEDED');
    const failed = records.filter((r) => r.status === 'FAILED');
    const stateMachineWaits = runs.reduce((n, r) => n + r.waits, 0);
    const throttled = seen.filter((s) => s.status === 429);
    const answered = seen.filter((s) => s.status === 200);
    const afterRecovery = seen.filter((s) => s.at >= recoveredAt).map((s) => s.at);
    const busiestAfter = busiestWindow(afterRecovery, MINUTE);
    const busiestOverall = busiestWindow(
      seen.map((s) => s.at),
      MINUTE,
    );
    const storyKey = (id: string) => taskArtifactKey(id, ARTIFACT.story);
    const stories = await Promise.all(tasks.map((task) => getObjectText(rt, storyKey(task.event.task_id))));
    // lost: a SUCCEEDED task without the story Gemini wrote for it (missing, or another task's)
    const lost = tasks.filter((task, i) => records[i].status === 'SUCCEEDED' && stories[i] !== `${storyOf(task.marker)}\n`).length;
    const duplicated = tasks.filter((task) => (writes.get(storyKey(task.event.task_id)) ?? 0) > 1).length;
    const leaked = await lockKeys();
    const virtualSeconds = (clock.now() - t0) / 1000;
    const wallSeconds = (performance.now() - wallStarted) / 1000;
    const outcome =
      `${succeeded.length} SUCCEEDED, ${failed.length} FAILED` +
      (failed.length ? ` (${[...new Set(failed.map((r) => r.error?.code))].join(', ')})` : '') +
      `; Gemini answered ${throttled.length} × 429 then ${answered.length} × 200; ` +
      `busiest minute after recovery ${busiestAfter}/${STORY_RPM} (whole run ${busiestOverall}/${STORY_RPM}); ` +
      `${stateMachineWaits} state-machine waits (at most ${Math.max(...runs.map((r) => r.waits))} for one task, bound ${loop.maxWaits}); ` +
      `${virtualSeconds.toFixed(0)} virtual s`;
    console.info(`[429 storm] ${outcome}; ${wallSeconds.toFixed(1)} s wall`);
    recordReliability({
      fault: `429 storm: Gemini refuses every request for ${STORM_MS / 1000} s, then recovers (${TASKS} concurrent tasks, STORY_RPM ${STORY_RPM})`,
      runs: TASKS,
      outcome,
      data_lost: lost,
      duplicates: duplicated,
      locks_leaked: leaked.length,
    });

    // every task ended: with its story, or with a named reason the fail path recorded
    expect(succeeded.length + failed.length).toBe(TASKS);
    for (const record of failed) {
      // the fake only throttles, so the only acceptable failure is the bounded wait running out
      expect(record.error).toMatchObject({ stage: 'story', code: 'rate_limit_waits_exhausted', message: expect.stringContaining('STORY_RPM') });
    }
    expect(lost).toBe(0);
    expect(duplicated).toBe(0);
    expect(answered).toHaveLength(succeeded.length); // one successful Gemini call per stored story
    // the storm was real and reached the state machine's Wait, not only the stage's own sleeps
    expect(throttled.length).toBeGreaterThanOrEqual(STORY_RPM);
    expect(stateMachineWaits).toBeGreaterThan(0);
    expect(afterRecovery.length).toBeGreaterThan(STORY_RPM); // more than one minute's worth to spread out
    // the provider saw no burst above the limit after recovery (nor during the storm)
    expect(busiestAfter).toBeLessThanOrEqual(STORY_RPM);
    expect(busiestOverall).toBeLessThanOrEqual(STORY_RPM);
    // no task came back sooner than the RetryInfo delay Gemini gave it
    for (const task of tasks) {
      const calls = seen.filter((s) => s.marker === task.marker);
      for (let k = 1; k < calls.length; k++) {
        const delay = calls[k - 1].retryAfterMs;
        if (delay !== undefined) expect(calls[k].at - calls[k - 1].at).toBeGreaterThanOrEqual(delay);
      }
    }
    expect(leaked).toEqual([]);
  });
});
