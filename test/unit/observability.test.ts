import type { Context } from 'aws-lambda';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { REDACTED, addLogSink, createLogger, setStdoutLogging, taskLogFields, withLambdaContext, type LogLine } from '../../shared/logger.js';
import { METRIC_NAMESPACE, emitMetric } from '../../shared/metrics.js';

/**
 * What Powertools for AWS Lambda brings to our logs and metrics, seen from the outside: the
 * invocation's request id and cold start, the X-Ray trace id, an error's cause, and EMF lines
 * whose namespace and dimension sets are exactly the ones the dashboard and alarms read.
 */

// As on Lambda (on-demand, not provisioned concurrency), before the logger module loads:
// Powertools reports a cold start only for on-demand initialization.
vi.hoisted(() => {
  process.env.AWS_LAMBDA_INITIALIZATION_TYPE = 'on-demand';
});

const cleanups: Array<() => void> = [];
afterEach(() => {
  for (const cleanup of cleanups.splice(0)) cleanup();
});

function captureLines(): LogLine[] {
  setStdoutLogging(false);
  cleanups.push(() => setStdoutLogging(true));
  const lines: LogLine[] = [];
  cleanups.push(addLogSink((line) => lines.push(line)));
  return lines;
}

function captureStdout(): string[] {
  const written: string[] = [];
  const original = process.stdout.write.bind(process.stdout);
  process.stdout.write = (chunk: string | Uint8Array) => {
    written.push(String(chunk));
    return true;
  };
  cleanups.push(() => (process.stdout.write = original));
  return written;
}

const context = (awsRequestId: string) =>
  ({
    awsRequestId,
    functionName: 'reel-pipeline-draft',
    functionVersion: '$LATEST',
    invokedFunctionArn: 'arn:aws:lambda:us-east-1:000000000000:function:reel-pipeline-draft',
    memoryLimitInMB: '512',
    logGroupName: '/aws/lambda/reel-pipeline-draft',
    logStreamName: 's',
    callbackWaitsForEmptyEventLoop: true,
    getRemainingTimeInMillis: () => 60_000,
  }) as Context;

describe('log lines', () => {
  it('carry the request id and cold start of the invocation, and the task keys, on every line', async () => {
    const lines = captureLines();
    const handler = withLambdaContext(async (event: { task_id: string }) => {
      createLogger(taskLogFields({ task_id: event.task_id, creator_id: 'c1', video_id: 'v1' }, 'draft'))
        .child({ attempt: 1 })
        .info('drafted');
      return 'ok';
    });

    await handler({ task_id: 't1' }, context('req-1'));
    await handler({ task_id: 't2' }, context('req-2'));

    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatchObject({
      level: 'INFO',
      message: 'drafted',
      function_request_id: 'req-1',
      cold_start: true,
      task_id: 't1',
      creator_id: 'c1',
      video_id: 'v1',
      stage: 'draft',
      attempt: 1,
    });
    expect(lines[1]).toMatchObject({ function_request_id: 'req-2', cold_start: false, task_id: 't2', stage: 'draft' });
    expect(typeof lines[0].timestamp).toBe('string');
  });

  it("carry the X-Ray trace id and an error's cause", () => {
    const lines = captureLines();
    process.env._X_AMZN_TRACE_ID = 'Root=1-65f0e0a1-0123456789abcdef01234567;Parent=1;Sampled=1';
    cleanups.push(() => delete process.env._X_AMZN_TRACE_ID);

    createLogger({ task_id: 't1' }).error('export failed', { error: new Error('render failed', { cause: new Error('ffmpeg exited with 1') }) });

    expect(lines[0].xray_trace_id).toBe('1-65f0e0a1-0123456789abcdef01234567');
    expect(lines[0].error).toMatchObject({ name: 'Error', message: 'render failed', cause: { message: 'ffmpeg exited with 1' } });
  });

  it('redact a task token inside an error cause too (the redaction runs as the line is serialized)', () => {
    const lines = captureLines();
    const token = `AQ${'k9+/Zw'.repeat(20)}==`;

    createLogger({ task_id: 't1' }).warn('report failed', { error: new Error('send failed', { cause: new Error(`rejected taskToken=${token}`) }) });

    expect(JSON.stringify(lines)).not.toContain(token.slice(0, 24));
    expect(lines[0].error).toMatchObject({ cause: { message: `rejected taskToken=${REDACTED}` } });
  });

  it('go to stdout at every level, as one JSON object per line, with the service name', () => {
    const written = captureStdout();

    createLogger({ task_id: 't1' }).info('one');
    createLogger({ task_id: 't1' }).error('two');

    expect(written.map((w) => w.endsWith('\n'))).toEqual([true, true]);
    expect(written.map((w) => JSON.parse(w) as LogLine)).toMatchObject([
      { level: 'INFO', message: 'one', service: 'reel-pipeline', task_id: 't1' },
      { level: 'ERROR', message: 'two', service: 'reel-pipeline', task_id: 't1' },
    ]);
  });

  it('stay quiet on stdout when turned off, and below LOG_LEVEL', () => {
    const written = captureStdout();
    const lines = captureLines();

    createLogger({ task_id: 't1' }).info('quiet');
    createLogger({ task_id: 't1' }).debug('below the default level');

    expect(written).toEqual([]);
    expect(lines.map((l) => l.message)).toEqual(['quiet']);
  });
});

describe('metric lines (EMF)', () => {
  it('name the namespace, exactly the given dimension set and the fields, one line per metric', () => {
    const written = captureStdout();

    emitMetric('StageDurationMs', 1520, 'Milliseconds', { Stage: 'draft' }, { task_id: 't1' });
    emitMetric('DeadLettersUnresolved', 1, 'Count', {}, { task_id: 't2', creator_id: undefined });

    const [stage, deadLetters] = written.map((w) => JSON.parse(w) as Record<string, unknown> & { _aws: { CloudWatchMetrics: unknown[] } });
    expect(written).toHaveLength(2);
    expect(stage._aws.CloudWatchMetrics).toEqual([
      { Namespace: METRIC_NAMESPACE, Dimensions: [['Stage']], Metrics: [{ Name: 'StageDurationMs', Unit: 'Milliseconds' }] },
    ]);
    expect(stage).toMatchObject({ Stage: 'draft', task_id: 't1', StageDurationMs: 1520 });
    expect(deadLetters._aws.CloudWatchMetrics).toEqual([
      { Namespace: 'ReelPipeline', Dimensions: [[]], Metrics: [{ Name: 'DeadLettersUnresolved', Unit: 'Count' }] },
    ]);
    expect(deadLetters).toMatchObject({ task_id: 't2', DeadLettersUnresolved: 1 });
    expect(deadLetters).not.toHaveProperty('service');
  });

  it('are not written while stdout logging is off (quiet tests)', () => {
    const written = captureStdout();
    setStdoutLogging(false);
    cleanups.push(() => setStdoutLogging(true));

    emitMetric('TasksSubmitted', 1, 'Count');

    expect(written).toEqual([]);
  });
});
