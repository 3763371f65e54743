import { describe, expect, it } from 'vitest';
import { parseRunRequest } from '../../shared/request.js';
import { splitSentences } from '../../shared/story/sentences.js';
import { cuesFromSentences, toSrt } from '../../shared/draft/subtitles.js';
import { newTaskId, isTaskId } from '../../shared/ids.js';
import { lockKey, taskArtifactKey, taskKey } from '../../shared/keys.js';
import { pipelineDefinition, substituteDefinition, DEFINITION_PLACEHOLDERS } from '../../shared/state-machine.js';
import { causeMessage, errorCode, failingStage, taskErrorFromCatch, taskErrorFromExecutionEnd } from '../../shared/failure.js';
import { newTaskRecord, type StageName, type StageStatus, type TaskRecord } from '../../shared/task-record.js';

describe('request validation', () => {
  it('fills defaults for gender and export_video', () => {
    expect(parseRunRequest({ creator_id: 'c1', video_id: 'v1' })).toEqual({ creator_id: 'c1', video_id: 'v1', gender: 0, export_video: true });
  });

  it('accepts a Chinese account name but never lets it near a key', () => {
    const r = parseRunRequest({ creator_id: 'c1', video_id: 'v1', account_name: '美食小王_01' });
    expect(r.account_name).toBe('美食小王_01');
  });

  it.each([
    [{ creator_id: '../etc', video_id: 'v' }, 'creator_id'],
    [{ creator_id: 'c', video_id: 'a/b' }, 'video_id'],
    [{ creator_id: 'c', video_id: 'v', account_name: 'a b' }, 'account_name'],
    [{ creator_id: 'c', video_id: 'v', gender: 3 }, 'gender'],
    [{ creator_id: 'c', video_id: 'v', export_video: 'false' }, 'export_video'],
    [{ creator_id: 'c', video_id: 'v', extra: 1 }, 'unknown field'],
    [{ video_id: 'v' }, 'creator_id is required'],
    [{ creator_id: 'c', video_id: 'v', source_text: 'x'.repeat(50_001) }, 'source_text'],
  ])('rejects %j naming %s', (body, needle) => {
    expect(() => parseRunRequest(body)).toThrow(expect.objectContaining({ name: 'InvalidRequestError', message: expect.stringContaining(needle) }));
  });
});

describe('keys and ids', () => {
  it('generates time-ordered task ids legal as execution names', () => {
    const a = newTaskId(1_700_000_000_000);
    const b = newTaskId(1_700_000_000_001);
    expect(isTaskId(a)).toBe(true);
    expect(a < b).toBe(true);
    expect(a).not.toMatch(/[#/\s]/);
  });

  it('types table keys so that ids cannot collide across kinds', () => {
    expect(lockKey('c', 'v')).toBe('LOCK#c#v');
    expect(taskKey('t')).toBe('TASK#t');
    expect(taskArtifactKey('t', 'story.txt')).toBe('tasks/t/story.txt');
  });
});

describe('sentences and subtitles', () => {
  it('splits Chinese and English text into sentences', () => {
    expect(splitSentences('今天天气很好。我们去公园吧！Hello there. How are you?\n\n最后一句')).toEqual([
      '今天天气很好。',
      '我们去公园吧！',
      'Hello there.',
      'How are you?',
      '最后一句',
    ]);
  });

  it('drops control characters and punctuation-only lines', () => {
    expect(splitSentences('a\u0000b.\n...\n!!')).toEqual(['ab.']);
  });

  it('splits a wide sentence into cues timed by its words and never overlaps cues', () => {
    const words = 'one two three four five six seven eight nine ten eleven twelve'
      .split(' ')
      .map((w, i) => ({ text: w, start_ms: i * 300, end_ms: i * 300 + 250 }));
    const cues = cuesFromSentences([{ text: words.map((w) => w.text).join(' '), start_ms: 0, end_ms: 3600, words }], 20);
    expect(cues.length).toBeGreaterThan(1);
    for (let i = 1; i < cues.length; i++) expect(cues[i].start_ms).toBeGreaterThanOrEqual(cues[i - 1].end_ms);
    expect(cues.map((c) => c.text).join(' ')).toBe(words.map((w) => w.text).join(' '));
    expect(cues[cues.length - 1].end_ms).toBe(3600);
  });

  it('writes SRT with comma milliseconds', () => {
    expect(
      toSrt([
        { text: '你好', start_ms: 0, end_ms: 1234 },
        { text: 'hi', start_ms: 3_600_000, end_ms: 3_600_500 },
      ]),
    ).toBe('1\n00:00:00,000 --> 00:00:01,234\n你好\n\n2\n01:00:00,000 --> 01:00:00,500\nhi\n');
  });
});

describe('state machine definition', () => {
  const values = Object.fromEntries(DEFINITION_PLACEHOLDERS.map((p) => [p, `value-of-${p}`])) as Record<(typeof DEFINITION_PLACEHOLDERS)[number], string>;
  const def = substituteDefinition(pipelineDefinition(), values) as { States: Record<string, Record<string, unknown>>; TimeoutSeconds: number };

  // No stage has a Catch, so a failed execution stays failed at the stage
  // and RedriveExecution (which re-runs the last unsuccessful state) re-runs that stage.
  it('gives every Task its own timeout, and no stage a Catch (a redrive re-runs the failed stage)', () => {
    for (const [name, state] of Object.entries(def.States)) {
      if (state.Type === 'Fail') throw new Error(`${name}: a Fail state would be what a redrive re-runs`);
      if (state.Type !== 'Task') continue;
      expect(state.TimeoutSeconds, name).toBeGreaterThan(0);
      expect(state.Catch, name).toBeUndefined();
    }
    expect(def.TimeoutSeconds).toBeGreaterThan(def.States.Export.TimeoutSeconds as number);
  });

  it('queues the export with a per-attempt dedup id and no heartbeat', () => {
    const exp = def.States.Export;
    expect(exp.Resource).toBe('arn:aws:states:::sqs:sendMessage.waitForTaskToken');
    expect(exp.HeartbeatSeconds).toBeUndefined();
    const params = exp.Parameters as Record<string, unknown>;
    expect(params['MessageDeduplicationId.$']).toContain('$$.Task.Token');
    expect(params.QueueUrl).toBe('value-of-ExportQueueUrl');
  });

  it('retries a failed Export send on the transient SQS errors, apart from the ExportRetryableError retry', () => {
    const retry = def.States.Export.Retry as Array<{ ErrorEquals: string[]; MaxAttempts: number }>;
    const sqsRetry = retry.find((r) => r.ErrorEquals.includes('SQS.SdkClientException'));
    expect(sqsRetry?.ErrorEquals).toEqual(expect.arrayContaining(['SQS.SdkClientException', 'SQS.AmazonSQSException']));
    expect(sqsRetry?.ErrorEquals).not.toContain('ExportRetryableError');
    expect(sqsRetry?.MaxAttempts).toBeGreaterThanOrEqual(2);
    expect(retry.find((r) => r.ErrorEquals.includes('ExportRetryableError'))?.ErrorEquals).toEqual(['ExportRetryableError']);
  });

  it("retries every Lambda stage on the Lambda service exceptions AWS's best practice lists", () => {
    for (const name of ['Start', 'Story', 'StoryLastAttempt', 'Tts', 'TtsLastAttempt', 'Draft', 'Finalize']) {
      const errors = (def.States[name].Retry as Array<{ ErrorEquals: string[] }>).flatMap((r) => r.ErrorEquals);
      expect(errors, name).toEqual(
        expect.arrayContaining(['Lambda.ClientExecutionTimeoutException', 'Lambda.ServiceException', 'Lambda.AWSLambdaException', 'Lambda.SdkClientException']),
      );
    }
  });

  it('leaves no placeholder unsubstituted', () => {
    expect(JSON.stringify(def)).not.toMatch(/\$\{/);
  });
});

describe('failure reasons', () => {
  it('reads the Lambda error envelope of a Catch cause', () => {
    const cause = JSON.stringify({ errorType: 'TtsFailedError', errorMessage: 'voice not found', trace: [] });
    expect(causeMessage(cause)).toBe('voice not found');
    expect(taskErrorFromCatch('tts', { Error: 'TtsFailedError', Cause: cause })).toEqual({ stage: 'tts', code: 'tts_failed', message: 'voice not found' });
    expect(errorCode('States.Timeout')).toBe('states_timeout');
  });

  // The execution-status event does not name the failed state: the stage comes from the record.
  const recordWith = (stage: TaskRecord['stage'], statuses: Partial<Record<StageName, [StageStatus, number]>>, exportVideo = true): TaskRecord => {
    const record = newTaskRecord({
      taskId: '01900000-0000-7000-8000-0000000000aa',
      creatorId: 'c',
      videoId: 'v',
      gender: 0,
      exportVideo,
      now: '2026-12-01T00:00:00.000Z',
    });
    for (const [name, [status, attempts]] of Object.entries(statuses)) record.stages[name as StageName] = { status, attempts };
    return { ...record, stage };
  };

  it('names the stage of a failed execution from the task record', () => {
    expect(failingStage(recordWith('tts', { story: ['succeeded', 1], tts: ['running', 2] }))).toBe('tts');
    expect(failingStage(recordWith('export', { story: ['succeeded', 1], tts: ['succeeded', 1], draft: ['succeeded', 1], export: ['queued', 1] }))).toBe(
      'export',
    );
    // the stage never marked itself running (its Lambda did not start): the first one not finished
    expect(failingStage(recordWith('story', { story: ['succeeded', 1] }))).toBe('tts');
    // Start's own errors before Story ran; any other error there is Story's
    expect(failingStage(recordWith('submitted', {}), 'LockLostError')).toBe('start');
    expect(failingStage(recordWith('submitted', {}), 'TtsFailedError')).toBe('story');
    // every stage finished: Finalize failed
    expect(failingStage(recordWith('draft', { story: ['succeeded', 1], tts: ['succeeded', 1], draft: ['succeeded', 1] }, false))).toBe('finalize');
  });

  it('records a failed execution with the stage error and its sentence, a stage timeout as stage_timed_out', () => {
    const record = recordWith('tts', { story: ['succeeded', 1], tts: ['running', 1] });
    const cause = JSON.stringify({ errorType: 'RateLimitWaitsExhaustedError', errorMessage: 'still limited; raise TTS_RPM', trace: [] });
    expect(taskErrorFromExecutionEnd(record, 'FAILED', 'RateLimitWaitsExhaustedError', cause)).toEqual({
      stage: 'tts',
      code: 'rate_limit_waits_exhausted',
      message: 'still limited; raise TTS_RPM',
    });
    expect(taskErrorFromExecutionEnd(record, 'FAILED', 'States.Timeout')).toMatchObject({ stage: 'tts', code: 'stage_timed_out' });
    // a stop names the stage that ran last, as before
    expect(taskErrorFromExecutionEnd(recordWith('tts', { story: ['succeeded', 1], tts: ['succeeded', 1] }), 'ABORTED')).toMatchObject({
      stage: 'tts',
      code: 'execution_aborted',
    });
  });
});
