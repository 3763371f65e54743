import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import {
  DescribeExecutionCommand,
  ExecutionAlreadyExists,
  ExecutionDoesNotExist,
  ExecutionNotRedrivable,
  InvalidName,
  InvalidToken,
  ListExecutionsCommand,
  RedriveExecutionCommand,
  SendTaskFailureCommand,
  SendTaskHeartbeatCommand,
  SendTaskSuccessCommand,
  SFNClient,
  StartExecutionCommand,
  StateMachineDoesNotExist,
  StopExecutionCommand,
  TaskTimedOut,
} from '@aws-sdk/client-sfn';
import { DeleteMessageCommand, ReceiveMessageCommand, SendMessageCommand, SQSClient, type Message } from '@aws-sdk/client-sqs';
import { createLocalhostHandler, startFauxqs, type FauxqsServer } from 'fauxqs';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  startLocalStepFunctions,
  type ExecutionEnded,
  type LambdaContextLike,
  type LambdaLike,
  type LocalStepFunctions,
  type LocalStepFunctionsOptions,
} from '../../infra/embedded/step-functions/local-step-functions.js';
import { DEFINITION_PLACEHOLDERS, pipelineDefinition, substituteDefinition } from '../../shared/state-machine.js';

const REGION = 'us-east-1';
const ACCOUNT = '000000000000';
const STATE_MACHINE_ARN = `arn:aws:states:${REGION}:${ACCOUNT}:stateMachine:reel-pipeline`;
const STORY_ARN = `arn:aws:lambda:${REGION}:${ACCOUNT}:function:reel-story`;
const NARRATE_ARN = `arn:aws:lambda:${REGION}:${ACCOUNT}:function:reel-narrate`;
const credentials = { accessKeyId: 'test', secretAccessKey: 'test' };

class BoomError extends Error {
  name = 'BoomError';
}

interface Deferred<T> {
  promise: Promise<T>;
  resolve(value: T): void;
}

function deferred<T>(): Deferred<T> {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((done) => {
    resolve = done;
  });
  return { promise, resolve };
}

/** Settles at once into the rejection reason, so an expected failure is never an unhandled one. */
function failureOf(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    (value) => {
      throw new Error(`expected a failure, got ${JSON.stringify(value)}`);
    },
    (error: unknown) => error,
  );
}

let fauxqs: FauxqsServer;
let sqs: SQSClient;
let queueSequence = 0;
const started: LocalStepFunctions[] = [];

beforeAll(async () => {
  fauxqs = await startFauxqs({ port: 0, logger: false });
  sqs = new SQSClient({
    region: REGION,
    credentials,
    endpoint: `http://sqs.${REGION}.localhost:${fauxqs.port}`,
    requestHandler: createLocalhostHandler(),
  });
});

afterEach(async () => {
  await Promise.all(started.splice(0).map((instance) => instance.close()));
});

afterAll(async () => {
  sqs.destroy();
  await fauxqs.stop();
});

async function start(options: Partial<LocalStepFunctionsOptions> & Pick<LocalStepFunctionsOptions, 'definition'>) {
  const instance = await startLocalStepFunctions({ stateMachineArn: STATE_MACHINE_ARN, lambdas: {}, sqs, ...options });
  started.push(instance);
  const sfn = new SFNClient({ region: REGION, endpoint: instance.endpoint, credentials, maxAttempts: 1 });
  return { instance, sfn };
}

function exportQueue(): string {
  queueSequence += 1;
  return fauxqs.createQueue(`export-${queueSequence}.fifo`, {
    attributes: { FifoQueue: 'true', VisibilityTimeout: '30' },
  }).queueUrl;
}

/** The consumer side: one message, deleted as a worker would after reading it. */
async function receiveOne(queueUrl: string): Promise<Message & { Body: string }> {
  for (let poll = 0; poll < 10; poll += 1) {
    const { Messages } = await sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: queueUrl,
        WaitTimeSeconds: 1,
        MaxNumberOfMessages: 1,
        MessageSystemAttributeNames: ['All'],
      }),
    );
    const message = Messages?.[0];
    if (message?.Body !== undefined) {
      await sqs.send(new DeleteMessageCommand({ QueueUrl: queueUrl, ReceiptHandle: message.ReceiptHandle }));
      return { ...message, Body: message.Body };
    }
  }
  throw new Error(`no message on ${queueUrl}`);
}

function exportState(queueUrl: string, extra: Record<string, unknown> = {}) {
  return {
    Type: 'Task',
    Resource: 'arn:aws:states:::sqs:sendMessage.waitForTaskToken',
    Parameters: {
      QueueUrl: queueUrl,
      MessageBody: { 'taskId.$': '$.taskId', 'taskToken.$': '$$.Task.Token', 'attempt.$': '$$.State.RetryCount' },
      'MessageGroupId.$': '$.taskId',
      'MessageDeduplicationId.$': "States.Hash($$.Task.Token, 'SHA-256')",
    },
    TimeoutSeconds: 30,
    ResultPath: '$.export',
    ...extra,
  };
}

describe('embedded Step Functions: Lambda tasks', () => {
  it('runs two Lambda tasks in order and DescribeExecution shows the output', async () => {
    // prepare
    const contexts: LambdaContextLike[] = [];
    const story: LambdaLike = async (event, context) => {
      contexts.push(context);
      return { storyKey: `tasks/${String((event as { taskId: string }).taskId)}/story.json`, seen: event };
    };
    const narrate: LambdaLike = async (event, context) => {
      contexts.push(context);
      return { audioKey: (event as { storyKey: string }).storyKey.replace('story.json', 'audio.wav') };
    };
    const ended: ExecutionEnded[] = [];
    const { instance, sfn } = await start({
      definition: {
        StartAt: 'WriteStory',
        States: {
          WriteStory: {
            Type: 'Task',
            Resource: STORY_ARN,
            TimeoutSeconds: 30,
            Parameters: {
              'taskId.$': '$.taskId',
              'execution.$': '$$.Execution.Name',
              'executionId.$': '$$.Execution.Id',
              'machine.$': '$$.StateMachine.Name',
              'state.$': '$$.State.Name',
              'enteredTime.$': '$$.State.EnteredTime',
              'startTime.$': '$$.Execution.StartTime',
            },
            ResultPath: '$.story',
            Next: 'Narrate',
          },
          Narrate: {
            Type: 'Task',
            Resource: NARRATE_ARN,
            InputPath: '$.story',
            ResultPath: '$.narration',
            End: true,
          },
        },
      },
      lambdas: { [STORY_ARN]: story, [NARRATE_ARN]: narrate },
      onExecutionEnded: async (event) => {
        ended.push(event);
      },
    });

    // act
    const { executionArn, startDate } = await sfn.send(
      new StartExecutionCommand({ stateMachineArn: STATE_MACHINE_ARN, name: 'task-001', input: '{"taskId":"t-001"}' }),
    );
    await instance.idle();
    const described = await sfn.send(new DescribeExecutionCommand({ executionArn }));

    // assess
    expect(executionArn).toBe(`arn:aws:states:${REGION}:${ACCOUNT}:execution:reel-pipeline:task-001`);
    expect(startDate).toBeInstanceOf(Date);
    expect(described.status).toBe('SUCCEEDED');
    expect(described.input).toBe('{"taskId":"t-001"}');
    expect(described.stopDate?.getTime()).toBeGreaterThanOrEqual(described.startDate?.getTime() ?? Infinity);
    const output = JSON.parse(described.output ?? 'null');
    expect(output.narration).toEqual({ audioKey: 'tasks/t-001/audio.wav' });
    expect(output.story.seen).toMatchObject({
      taskId: 't-001',
      execution: 'task-001',
      executionId: executionArn,
      machine: 'reel-pipeline',
      state: 'WriteStory',
    });
    expect(Date.parse(output.story.seen.enteredTime)).toBeGreaterThanOrEqual(Date.parse(output.story.seen.startTime));
    expect(contexts.map((context) => context.functionName)).toEqual(['reel-story', 'reel-narrate']);
    expect(contexts[0].invokedFunctionArn).toBe(STORY_ARN);
    expect(contexts[0].awsRequestId).not.toBe(contexts[1].awsRequestId);
    expect(contexts[0].getRemainingTimeInMillis()).toBeLessThanOrEqual(30_000);
    expect(ended).toHaveLength(1);
    expect(ended[0]).toMatchObject({ status: 'SUCCEEDED', name: 'task-001', output: described.output });
  });

  it('retries a BoomError per Retry, then Catch gets the Lambda error envelope AWS produces', async () => {
    // prepare
    const attempts: unknown[] = [];
    const render: LambdaLike = async (event) => {
      attempts.push(event);
      throw new BoomError('renderer exploded');
    };
    const { instance, sfn } = await start({
      definition: {
        StartAt: 'Render',
        States: {
          Render: {
            Type: 'Task',
            Resource: STORY_ARN,
            Parameters: { 'attempt.$': '$$.State.RetryCount' },
            Retry: [{ ErrorEquals: ['BoomError'], IntervalSeconds: 3, MaxAttempts: 2, BackoffRate: 1 }],
            Catch: [{ ErrorEquals: ['BoomError'], ResultPath: '$.error', Next: 'Recovered' }],
            Next: 'Recovered',
          },
          Recovered: { Type: 'Pass', End: true },
        },
      },
      lambdas: { [STORY_ARN]: render },
      retryIntervalOverrides: { Render: 0 },
    });

    // act
    const { executionArn } = await sfn.send(new StartExecutionCommand({ stateMachineArn: STATE_MACHINE_ARN, input: '{"taskId":"t-002"}' }));
    await instance.idle();
    const described = await sfn.send(new DescribeExecutionCommand({ executionArn }));

    // assess
    expect(attempts).toEqual([{ attempt: 0 }, { attempt: 1 }, { attempt: 2 }]);
    expect(described.status).toBe('SUCCEEDED');
    const output = JSON.parse(described.output ?? 'null');
    expect(output.taskId).toBe('t-002');
    expect(Object.keys(output.error)).toEqual(['Error', 'Cause']);
    expect(output.error.Error).toBe('BoomError');
    const cause = JSON.parse(output.error.Cause);
    expect(Object.keys(cause)).toEqual(['errorType', 'errorMessage', 'trace']);
    expect(cause.errorType).toBe('BoomError');
    expect(cause.errorMessage).toBe('renderer exploded');
    expect(cause.trace[0]).toBe('BoomError: renderer exploded');
    expect(cause.trace.length).toBeGreaterThan(1);
  });

  it('fails the execution with the error name and envelope when nothing catches the error', async () => {
    // prepare
    const { instance, sfn } = await start({
      definition: { StartAt: 'Render', States: { Render: { Type: 'Task', Resource: STORY_ARN, End: true } } },
      lambdas: {
        [STORY_ARN]: async () => {
          throw new BoomError('no frames');
        },
      },
    });

    // act
    const { executionArn } = await sfn.send(new StartExecutionCommand({ stateMachineArn: STATE_MACHINE_ARN }));
    await instance.idle();
    const described = await sfn.send(new DescribeExecutionCommand({ executionArn }));

    // assess
    expect(described.status).toBe('FAILED');
    expect(described.error).toBe('BoomError');
    expect(JSON.parse(described.cause ?? '{}')).toMatchObject({ errorType: 'BoomError', errorMessage: 'no frames' });
  });
});

describe('embedded Step Functions: sqs:sendMessage.waitForTaskToken', () => {
  it('sends the message and continues with the output of SendTaskSuccess', async () => {
    // prepare
    const queueUrl = exportQueue();
    const { instance, sfn } = await start({
      definition: { StartAt: 'Export', States: { Export: { ...exportState(queueUrl), End: true } } },
    });
    const { executionArn } = await sfn.send(new StartExecutionCommand({ stateMachineArn: STATE_MACHINE_ARN, input: '{"taskId":"t-003"}' }));

    // act
    const message = await receiveOne(queueUrl);
    const body = JSON.parse(message.Body);
    await sfn.send(new SendTaskHeartbeatCommand({ taskToken: body.taskToken }));
    await sfn.send(new SendTaskSuccessCommand({ taskToken: body.taskToken, output: '{"videoKey":"tasks/t-003/final.mp4"}' }));
    await instance.idle();
    const described = await sfn.send(new DescribeExecutionCommand({ executionArn }));
    const replay = failureOf(sfn.send(new SendTaskSuccessCommand({ taskToken: body.taskToken, output: '{}' })));

    // assess
    expect(body).toMatchObject({ taskId: 't-003', attempt: 0 });
    expect(body.taskToken.length).toBeGreaterThan(128);
    expect(message.Attributes?.MessageGroupId).toBe('t-003');
    expect(message.Attributes?.MessageDeduplicationId).toBe(createHash('sha256').update(body.taskToken).digest('hex'));
    expect(described.status).toBe('SUCCEEDED');
    expect(JSON.parse(described.output ?? 'null')).toEqual({
      taskId: 't-003',
      export: { videoKey: 'tasks/t-003/final.mp4' },
    });
    expect(await replay).toBeInstanceOf(InvalidToken);
  });

  it('retries a SendTaskFailure with a new message, token and dedup id; the old token is invalid', async () => {
    // prepare
    const queueUrl = exportQueue();
    const { instance, sfn } = await start({
      definition: {
        StartAt: 'Export',
        States: {
          Export: {
            ...exportState(queueUrl),
            Retry: [{ ErrorEquals: ['ExportBusy'], IntervalSeconds: 1, MaxAttempts: 1 }],
            End: true,
          },
        },
      },
      retryIntervalOverrides: { Export: 0 },
    });
    const { executionArn } = await sfn.send(new StartExecutionCommand({ stateMachineArn: STATE_MACHINE_ARN, input: '{"taskId":"t-004"}' }));

    // act
    const first = await receiveOne(queueUrl);
    const firstToken: string = JSON.parse(first.Body).taskToken;
    await sfn.send(new SendTaskFailureCommand({ taskToken: firstToken, error: 'ExportBusy', cause: 'exporter busy' }));
    const second = await receiveOne(queueUrl);
    const secondBody = JSON.parse(second.Body);
    const staleSuccess = failureOf(sfn.send(new SendTaskSuccessCommand({ taskToken: firstToken, output: '{"stale":true}' })));
    expect(await staleSuccess).toBeInstanceOf(InvalidToken);
    await sfn.send(new SendTaskSuccessCommand({ taskToken: secondBody.taskToken, output: '{"fresh":true}' }));
    await instance.idle();
    const described = await sfn.send(new DescribeExecutionCommand({ executionArn }));

    // assess
    expect(secondBody.taskToken).not.toBe(firstToken);
    expect(secondBody.attempt).toBe(1);
    expect(second.Attributes?.MessageDeduplicationId).not.toBe(first.Attributes?.MessageDeduplicationId);
    expect(described.status).toBe('SUCCEEDED');
    expect(JSON.parse(described.output ?? 'null').export).toEqual({ fresh: true });
  });

  it("retries the pipeline's Export send after an SQS 5xx and an unreachable SQS, then waits for the token", async () => {
    // prepare: the pipeline's own Export state (its Retry, no Catch), and an SQS client whose
    // first two SendMessage calls fail as a throttled/5xx service and a dropped connection do.
    const queueUrl = exportQueue();
    const values = Object.fromEntries(DEFINITION_PLACEHOLDERS.map((p) => [p, `unused-${p}`])) as Record<(typeof DEFINITION_PLACEHOLDERS)[number], string>;
    const pipeline = substituteDefinition(pipelineDefinition(), { ...values, ExportQueueUrl: queueUrl }) as { States: Record<string, Record<string, unknown>> };
    const { Catch: _catch, Next: _next, ...exportTask } = pipeline.States.Export;
    const serviceFault = Object.assign(new Error('We encountered an internal error. Please try again.'), {
      name: 'InternalFailure',
      $metadata: { httpStatusCode: 500, requestId: 'req-1' },
    });
    const connectionFault = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:9'), { name: 'Error', code: 'ECONNREFUSED' });
    const faults: Error[] = [serviceFault, connectionFault];
    const sends: string[] = [];
    const flakySqs = {
      send: (command: unknown, ...rest: unknown[]) => {
        if (command instanceof SendMessageCommand) {
          const fault = faults.shift();
          sends.push(fault ? `failed: ${fault.name}` : 'sent');
          if (fault) return Promise.reject(fault);
        }
        return (sqs.send as (...args: unknown[]) => Promise<unknown>)(command, ...rest);
      },
    } as unknown as SQSClient;
    const { instance, sfn } = await start({
      definition: { StartAt: 'Export', States: { Export: { ...exportTask, End: true } } },
      sqs: flakySqs,
      retryIntervalOverrides: { Export: 0 },
    });
    const input = { task_id: 't-sqs', creator_id: 'c', video_id: 'v', draft: { draft_key: 'tasks/t-sqs/draft.json' } };
    const { executionArn } = await sfn.send(new StartExecutionCommand({ stateMachineArn: STATE_MACHINE_ARN, input: JSON.stringify(input) }));

    // act
    const message = await receiveOne(queueUrl);
    await sfn.send(new SendTaskSuccessCommand({ taskToken: JSON.parse(message.Body).task_token, output: '{"video_key":"v.mp4"}' }));
    await instance.idle();
    const described = await sfn.send(new DescribeExecutionCommand({ executionArn }));

    // assess
    expect(sends).toEqual(['failed: InternalFailure', 'failed: Error', 'sent']);
    expect(described.error).toBeUndefined();
    expect(described.status).toBe('SUCCEEDED');
  });

  it('times the task out as States.Timeout, which States.TaskFailed does not catch; its token then answers TaskTimedOut', async () => {
    // prepare
    const queueUrl = exportQueue();
    const holding = deferred<unknown>();
    const release = deferred<void>();
    const { instance, sfn } = await start({
      definition: {
        StartAt: 'Export',
        States: {
          Export: {
            ...exportState(queueUrl, { TimeoutSeconds: 1 }),
            Catch: [
              { ErrorEquals: ['States.TaskFailed'], ResultPath: '$.wrong', Next: 'Hold' },
              { ErrorEquals: ['States.Timeout'], ResultPath: '$.timeout', Next: 'Hold' },
            ],
            Next: 'Hold',
          },
          Hold: { Type: 'Task', Resource: STORY_ARN, End: true },
        },
      },
      lambdas: {
        [STORY_ARN]: async (event) => {
          holding.resolve(event);
          await release.promise;
          return event;
        },
      },
    });
    const { executionArn } = await sfn.send(new StartExecutionCommand({ stateMachineArn: STATE_MACHINE_ARN, input: '{"taskId":"t-005"}' }));
    const message = await receiveOne(queueUrl);
    const taskToken: string = JSON.parse(message.Body).taskToken;

    // act
    const holdInput = await holding.promise;
    const lateWhileRunning = failureOf(sfn.send(new SendTaskSuccessCommand({ taskToken, output: '{"late":true}' })));
    expect(await lateWhileRunning).toBeInstanceOf(TaskTimedOut);
    release.resolve();
    await instance.idle();
    const lateAfterEnd = failureOf(sfn.send(new SendTaskSuccessCommand({ taskToken, output: '{"late":true}' })));
    const described = await sfn.send(new DescribeExecutionCommand({ executionArn }));

    // assess
    expect(holdInput).toMatchObject({ taskId: 't-005', timeout: { Error: 'States.Timeout' } });
    expect(holdInput).not.toHaveProperty('wrong');
    expect(holdInput).not.toHaveProperty('export');
    expect(described.status).toBe('SUCCEEDED');
    expect(await lateAfterEnd).toBeInstanceOf(InvalidToken);
  });
});

describe('embedded Step Functions: execution lifecycle', () => {
  it('StopExecution aborts the execution, reports ABORTED once and drops the running Lambda result', async () => {
    // prepare
    const release = deferred<void>();
    const entered = deferred<void>();
    const calls: string[] = [];
    const ended: ExecutionEnded[] = [];
    const { instance, sfn } = await start({
      definition: {
        StartAt: 'WriteStory',
        States: {
          WriteStory: { Type: 'Task', Resource: STORY_ARN, Next: 'Narrate' },
          Narrate: { Type: 'Task', Resource: NARRATE_ARN, End: true },
        },
      },
      lambdas: {
        [STORY_ARN]: async () => {
          calls.push('story');
          entered.resolve();
          await release.promise;
          return { storyKey: 'late' };
        },
        [NARRATE_ARN]: async () => {
          calls.push('narrate');
          return {};
        },
      },
      onExecutionEnded: async (event) => {
        ended.push(event);
      },
    });
    const { executionArn } = await sfn.send(new StartExecutionCommand({ stateMachineArn: STATE_MACHINE_ARN, name: 'task-stop' }));
    await entered.promise;

    // act
    await sfn.send(new StopExecutionCommand({ executionArn, error: 'UserCancelled', cause: 'creator cancelled' }));
    await instance.idle();
    release.resolve();
    await new Promise((resolve) => setImmediate(resolve));
    const described = await sfn.send(new DescribeExecutionCommand({ executionArn }));
    const aborted = await sfn.send(new ListExecutionsCommand({ stateMachineArn: STATE_MACHINE_ARN, statusFilter: 'ABORTED' }));
    const running = await sfn.send(new ListExecutionsCommand({ stateMachineArn: STATE_MACHINE_ARN, statusFilter: 'RUNNING' }));

    // assess
    expect(described).toMatchObject({ status: 'ABORTED', error: 'UserCancelled', cause: 'creator cancelled' });
    expect(described.output).toBeUndefined();
    expect(calls).toEqual(['story']);
    expect(ended).toHaveLength(1);
    expect(ended[0]).toMatchObject({ status: 'ABORTED', name: 'task-stop', error: 'UserCancelled' });
    expect(aborted.executions?.map((execution) => execution.name)).toEqual(['task-stop']);
    expect(aborted.executions?.[0].stopDate).toBeInstanceOf(Date);
    expect(running.executions).toEqual([]);
  });

  it('invalidates the pending task token of a stopped execution', async () => {
    // prepare
    const queueUrl = exportQueue();
    const { instance, sfn } = await start({
      definition: { StartAt: 'Export', States: { Export: { ...exportState(queueUrl), End: true } } },
    });
    const { executionArn } = await sfn.send(new StartExecutionCommand({ stateMachineArn: STATE_MACHINE_ARN, input: '{"taskId":"t-006"}' }));
    const message = await receiveOne(queueUrl);

    // act
    await sfn.send(new StopExecutionCommand({ executionArn }));
    await instance.idle();
    const late = failureOf(sfn.send(new SendTaskSuccessCommand({ taskToken: JSON.parse(message.Body).taskToken, output: '{}' })));

    // assess
    expect(await late).toBeInstanceOf(InvalidToken);
    expect((await sfn.send(new DescribeExecutionCommand({ executionArn }))).status).toBe('ABORTED');
  });

  it('ends an execution past its TimeoutSeconds as TIMED_OUT with States.Timeout', async () => {
    // prepare
    const release = deferred<void>();
    const ended: ExecutionEnded[] = [];
    const { instance, sfn } = await start({
      definition: {
        TimeoutSeconds: 1,
        StartAt: 'WriteStory',
        States: { WriteStory: { Type: 'Task', Resource: STORY_ARN, End: true } },
      },
      lambdas: {
        [STORY_ARN]: async () => {
          await release.promise;
          return {};
        },
      },
      onExecutionEnded: async (event) => {
        ended.push(event);
      },
    });

    // act
    const { executionArn } = await sfn.send(new StartExecutionCommand({ stateMachineArn: STATE_MACHINE_ARN }));
    await instance.idle();
    release.resolve();
    const described = await sfn.send(new DescribeExecutionCommand({ executionArn }));

    // assess
    expect(described).toMatchObject({ status: 'TIMED_OUT', error: 'States.Timeout' });
    expect(ended.map((event) => event.status)).toEqual(['TIMED_OUT']);
  });

  it('close() aborts running executions without calling onExecutionEnded', async () => {
    // prepare
    const ended: ExecutionEnded[] = [];
    const entered = deferred<void>();
    const { instance, sfn } = await start({
      definition: { StartAt: 'WriteStory', States: { WriteStory: { Type: 'Task', Resource: STORY_ARN, End: true } } },
      lambdas: {
        [STORY_ARN]: async () => {
          entered.resolve();
          return new Promise(() => undefined);
        },
      },
      onExecutionEnded: async (event) => {
        ended.push(event);
      },
    });
    await sfn.send(new StartExecutionCommand({ stateMachineArn: STATE_MACHINE_ARN, name: 'task-close' }));
    await entered.promise;

    // act
    await instance.close();

    // assess
    expect(instance.executions().map((execution) => execution.status)).toEqual(['ABORTED']);
    expect(ended).toEqual([]);
    await instance.idle();
  });

  it('awaits beforeTask before each attempt, so a stage gate holds the Lambda', async () => {
    // prepare
    const gate = deferred<void>();
    const calls: string[] = [];
    const { instance, sfn } = await start({
      definition: { StartAt: 'WriteStory', States: { WriteStory: { Type: 'Task', Resource: STORY_ARN, End: true } } },
      lambdas: {
        [STORY_ARN]: async () => {
          calls.push('story');
          return { ok: true };
        },
      },
      beforeTask: async ({ stateName, executionName }) => {
        calls.push(`gate:${stateName}:${executionName}`);
        await gate.promise;
      },
    });

    // act
    await sfn.send(new StartExecutionCommand({ stateMachineArn: STATE_MACHINE_ARN, name: 'gated' }));
    await new Promise((resolve) => setTimeout(resolve, 20));
    const whileGated = [...calls];
    gate.resolve();
    await instance.idle();

    // assess
    expect(whileGated).toEqual(['gate:WriteStory:gated']);
    expect(calls).toEqual(['gate:WriteStory:gated', 'story']);
    expect(instance.executions()[0].status).toBe('SUCCEEDED');
  });
});

describe('embedded Step Functions: API errors', () => {
  const definition = { StartAt: 'Done', States: { Done: { Type: 'Pass', End: true } } };

  it('rejects execution names AWS rejects with InvalidName', async () => {
    // prepare
    const { sfn } = await start({ definition });

    // act
    const attempts = ['creator#video', 'has space', 'a/b', 'x'.repeat(81), 'tab\there'].map((name) =>
      sfn.send(new StartExecutionCommand({ stateMachineArn: STATE_MACHINE_ARN, name })).then(
        () => 'accepted',
        (error: unknown) => (error instanceof InvalidName ? 'InvalidName' : String(error)),
      ),
    );

    // assess
    expect(await Promise.all(attempts)).toEqual(Array(5).fill('InvalidName'));
    await expect(sfn.send(new StartExecutionCommand({ stateMachineArn: STATE_MACHINE_ARN, name: 'task_01-ok.v2' }))).resolves.toHaveProperty('executionArn');
  });

  it('rejects a second execution with the same name with ExecutionAlreadyExists', async () => {
    // prepare
    const { sfn } = await start({ definition });
    await sfn.send(new StartExecutionCommand({ stateMachineArn: STATE_MACHINE_ARN, name: 'task-dup', input: '{}' }));

    // act
    const second = failureOf(sfn.send(new StartExecutionCommand({ stateMachineArn: STATE_MACHINE_ARN, name: 'task-dup', input: '{}' })));

    // assess
    expect(await second).toBeInstanceOf(ExecutionAlreadyExists);
  });

  it('answers unknown executions, machines and tokens with the SDK exception classes', async () => {
    // prepare
    const { sfn } = await start({ definition });
    const other = await start({ definition, stateMachineArn: STATE_MACHINE_ARN });

    // act
    const missingExecution = failureOf(
      sfn.send(new DescribeExecutionCommand({ executionArn: `arn:aws:states:${REGION}:${ACCOUNT}:execution:reel-pipeline:nope` })),
    );
    const missingMachine = failureOf(sfn.send(new StartExecutionCommand({ stateMachineArn: `arn:aws:states:${REGION}:${ACCOUNT}:stateMachine:other` })));
    const neverIssued = failureOf(other.sfn.send(new SendTaskSuccessCommand({ taskToken: 'AQnot-a-token', output: '{}' })));
    const heartbeat = failureOf(sfn.send(new SendTaskHeartbeatCommand({ taskToken: 'AQnot-a-token' })));

    // assess
    expect(await missingExecution).toBeInstanceOf(ExecutionDoesNotExist);
    expect(await missingMachine).toBeInstanceOf(StateMachineDoesNotExist);
    expect(await neverIssued).toBeInstanceOf(InvalidToken);
    expect(await heartbeat).toBeInstanceOf(InvalidToken);
  });

  it('refuses at start-up a Task whose Resource is neither a known Lambda nor an SQS wait', async () => {
    await expect(
      startLocalStepFunctions({
        definition: {
          StartAt: 'Mystery',
          States: { Mystery: { Type: 'Task', Resource: `arn:aws:lambda:${REGION}:${ACCOUNT}:function:unknown`, End: true } },
        },
        stateMachineArn: STATE_MACHINE_ARN,
        lambdas: {},
        sqs,
      }),
    ).rejects.toThrow(/neither a function in "lambdas"/);
  });
});

describe('embedded Step Functions: executions survive a restart', () => {
  const dirs: string[] = [];
  afterAll(() => {
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });
  const persistDir = () => {
    const dir = mkdtempSync(join(tmpdir(), 'sfn-persist-'));
    dirs.push(dir);
    return dir;
  };
  const twoStages = {
    StartAt: 'WriteStory',
    TimeoutSeconds: 600,
    States: {
      WriteStory: { Type: 'Task', Resource: STORY_ARN, ResultPath: '$.story', Next: 'Narrate' },
      Narrate: { Type: 'Task', Resource: NARRATE_ARN, Parameters: { 'storyKey.$': '$.story.storyKey' }, ResultPath: '$.audio', End: true },
    },
  };

  it('continues an execution at the state it was in, with its input; the finished state is not run again', async () => {
    // prepare: the first server stops while Narrate runs
    const dir = persistDir();
    const calls: string[] = [];
    const entered = deferred<void>();
    const first = await start({
      definition: twoStages,
      persistDir: dir,
      lambdas: {
        [STORY_ARN]: async () => {
          calls.push('story');
          return { storyKey: 'tasks/t1/story.json' };
        },
        [NARRATE_ARN]: async () => {
          calls.push('narrate');
          entered.resolve();
          return new Promise(() => undefined);
        },
      },
    });
    await first.sfn.send(new StartExecutionCommand({ stateMachineArn: STATE_MACHINE_ARN, name: 'task-resume', input: JSON.stringify({ taskId: 't1' }) }));
    await entered.promise;
    await first.instance.close();

    // act: a new server on the same directory
    const ended: ExecutionEnded[] = [];
    const second = await start({
      definition: twoStages,
      persistDir: dir,
      lambdas: {
        [STORY_ARN]: async () => {
          calls.push('story');
          return { storyKey: 'tasks/t1/other.json' };
        },
        [NARRATE_ARN]: async (event) => {
          calls.push('narrate');
          return { audioKey: String((event as { storyKey: string }).storyKey).replace('story.json', 'audio.wav') };
        },
      },
      onExecutionEnded: async (event) => {
        ended.push(event);
      },
    });
    await second.instance.idle();

    // assess
    expect(calls).toEqual(['story', 'narrate', 'narrate']);
    const executionArn = `${STATE_MACHINE_ARN.replace(':stateMachine:', ':execution:')}:task-resume`;
    const described = await second.sfn.send(new DescribeExecutionCommand({ executionArn }));
    expect(described.status).toBe('SUCCEEDED');
    expect(JSON.parse(described.output ?? '{}')).toEqual({
      taskId: 't1',
      story: { storyKey: 'tasks/t1/story.json' },
      audio: { audioKey: 'tasks/t1/audio.wav' },
    });
    expect(ended.map((event) => [event.name, event.status])).toEqual([['task-resume', 'SUCCEEDED']]);
  });

  it('keeps ended executions across a restart and delivers an end the stopped process had not delivered', async () => {
    // prepare: an execution ended FAILED whose onExecutionEnded did not complete
    const dir = persistDir();
    const first = await start({
      definition: { StartAt: 'WriteStory', States: { WriteStory: { Type: 'Task', Resource: STORY_ARN, End: true } } },
      persistDir: dir,
      lambdas: {
        [STORY_ARN]: async () => {
          throw new BoomError('no story');
        },
      },
      onExecutionEnded: async () => {
        throw new Error('the process stopped before the fail handler was done');
      },
    });
    await first.sfn.send(new StartExecutionCommand({ stateMachineArn: STATE_MACHINE_ARN, name: 'task-ended' }));
    await waitForStatus(first.sfn, 'task-ended', 'FAILED');
    await first.instance.close();

    // act
    const ended: ExecutionEnded[] = [];
    const second = await start({
      definition: { StartAt: 'WriteStory', States: { WriteStory: { Type: 'Task', Resource: STORY_ARN, End: true } } },
      persistDir: dir,
      lambdas: { [STORY_ARN]: async () => ({}) },
      onExecutionEnded: async (event) => {
        ended.push(event);
      },
    });
    await second.instance.idle();
    const third = await start({
      definition: { StartAt: 'WriteStory', States: { WriteStory: { Type: 'Task', Resource: STORY_ARN, End: true } } },
      persistDir: dir,
      lambdas: { [STORY_ARN]: async () => ({}) },
      onExecutionEnded: async (event) => {
        ended.push(event);
      },
    });
    await third.instance.idle();

    // assess: delivered once in all, status and error kept
    expect(ended.map((event) => [event.name, event.status, event.error])).toEqual([['task-ended', 'FAILED', 'BoomError']]);
    expect(third.instance.executions().map((execution) => execution.status)).toEqual(['FAILED']);
  });

  it('fails an execution whose record is unreadable or from another version, with the reason, and still starts', async () => {
    // prepare
    const dir = persistDir();
    writeFileSync(join(dir, 'task-corrupt.json'), '{"version":1,"executionArn":');
    writeFileSync(join(dir, 'task-old.json'), JSON.stringify({ version: 0, name: 'task-old' }));
    const ended: ExecutionEnded[] = [];

    // act
    const { instance } = await start({
      definition: { StartAt: 'WriteStory', States: { WriteStory: { Type: 'Task', Resource: STORY_ARN, End: true } } },
      persistDir: dir,
      lambdas: { [STORY_ARN]: async () => ({}) },
      onExecutionEnded: async (event) => {
        ended.push(event);
      },
    });
    await instance.idle();

    // assess
    const byName = Object.fromEntries(ended.map((event) => [event.name, event]));
    expect(Object.keys(byName).sort()).toEqual(['task-corrupt', 'task-old']);
    expect(byName['task-corrupt']).toMatchObject({ status: 'FAILED', error: 'ExecutionRecordUnreadable' });
    expect(byName['task-corrupt'].cause).toContain('not JSON');
    expect(byName['task-old'].cause).toContain('written by another version');
    expect(readdirSync(dir).sort()).toEqual(['task-corrupt.json', 'task-corrupt.json.unreadable', 'task-old.json', 'task-old.json.unreadable']);
  });

  it('refuses to redrive a stored execution that ended in a state this definition no longer has', async () => {
    // prepare: FAILED in `Failed`, a state of an earlier definition
    const dir = persistDir();
    const executionArn = `${STATE_MACHINE_ARN.replace(':stateMachine:', ':execution:')}:task-earlier`;
    writeFileSync(
      join(dir, 'task-earlier.json'),
      JSON.stringify({
        version: 1,
        executionArn,
        stateMachineArn: STATE_MACHINE_ARN,
        name: 'task-earlier',
        status: 'FAILED',
        input: '{}',
        startDate: new Date(Date.now() - 120_000).toISOString(),
        stopDate: new Date(Date.now() - 60_000).toISOString(),
        notified: true,
        current: { state: 'Failed', input: {} },
      }),
    );
    const { sfn, instance } = await start({
      definition: { StartAt: 'WriteStory', States: { WriteStory: { Type: 'Task', Resource: STORY_ARN, End: true } } },
      persistDir: dir,
      lambdas: { [STORY_ARN]: async () => ({}) },
    });

    // act
    const error = await sfn.send(new RedriveExecutionCommand({ executionArn })).catch((e: unknown) => e);

    // assess
    expect(error).toMatchObject({ name: 'ExecutionNotRedrivable' });
    expect(String((error as Error).message)).toContain('is not in this definition');
    expect(instance.executions().find((execution) => execution.name === 'task-earlier')?.status).toBe('FAILED');
  });

  it('prunes ended executions 14 days after they stopped, and keeps younger ones', async () => {
    // prepare
    const dir = persistDir();
    const stored = (name: string, daysAgo: number) => ({
      version: 1,
      executionArn: `${STATE_MACHINE_ARN.replace(':stateMachine:', ':execution:')}:${name}`,
      stateMachineArn: STATE_MACHINE_ARN,
      name,
      status: 'FAILED',
      input: '{}',
      startDate: new Date(Date.now() - daysAgo * 86_400_000 - 60_000).toISOString(),
      stopDate: new Date(Date.now() - daysAgo * 86_400_000).toISOString(),
      notified: true,
    });
    writeFileSync(join(dir, 'task-old.json'), JSON.stringify(stored('task-old', 14.01)));
    writeFileSync(join(dir, 'task-young.json'), JSON.stringify(stored('task-young', 13.9)));

    // act
    const { instance } = await start({
      definition: { StartAt: 'WriteStory', States: { WriteStory: { Type: 'Task', Resource: STORY_ARN, End: true } } },
      persistDir: dir,
      lambdas: { [STORY_ARN]: async () => ({}) },
    });

    // assess
    expect(instance.executions().map((execution) => execution.name)).toEqual(['task-young']);
    expect(readdirSync(dir)).toEqual(['task-young.json']);
  });
});

async function waitForStatus(sfn: SFNClient, name: string, status: string): Promise<void> {
  const executionArn = `${STATE_MACHINE_ARN.replace(':stateMachine:', ':execution:')}:${name}`;
  for (let poll = 0; poll < 100; poll += 1) {
    if ((await sfn.send(new DescribeExecutionCommand({ executionArn }))).status === status) return;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  throw new Error(`${name} never reached ${status}`);
}

describe('embedded Step Functions: RedriveExecution', () => {
  const executionArnOf = (name: string) => `${STATE_MACHINE_ARN.replace(':stateMachine:', ':execution:')}:${name}`;
  const threeStages = {
    StartAt: 'WriteStory',
    TimeoutSeconds: 600,
    States: {
      WriteStory: { Type: 'Task', Resource: STORY_ARN, ResultPath: '$.story', Next: 'Narrate' },
      Narrate: {
        Type: 'Task',
        Resource: NARRATE_ARN,
        Parameters: { 'storyKey.$': '$.story.storyKey', 'redrives.$': '$$.Execution.RedriveCount' },
        ResultPath: '$.audio',
        End: true,
      },
    },
  };

  it('runs the failed state again with its input, keeps the finished one, and counts the redrive', async () => {
    // prepare: Narrate fails once, for good
    const calls: string[] = [];
    const ended: ExecutionEnded[] = [];
    let narrateFails = true;
    const { sfn } = await start({
      definition: threeStages,
      lambdas: {
        [STORY_ARN]: async () => {
          calls.push('story');
          return { storyKey: 'tasks/t1/story.json' };
        },
        [NARRATE_ARN]: async (event) => {
          calls.push('narrate');
          if (narrateFails) throw new BoomError('tts down');
          return { heard: event };
        },
      },
      onExecutionEnded: async (event) => {
        ended.push(event);
      },
    });
    await sfn.send(new StartExecutionCommand({ stateMachineArn: STATE_MACHINE_ARN, name: 'task-redrive', input: JSON.stringify({ taskId: 't1' }) }));
    await waitForStatus(sfn, 'task-redrive', 'FAILED');
    narrateFails = false;

    // act
    const redriven = await sfn.send(new RedriveExecutionCommand({ executionArn: executionArnOf('task-redrive') }));
    await waitForStatus(sfn, 'task-redrive', 'SUCCEEDED');

    // assess
    expect(redriven.redriveDate).toBeInstanceOf(Date);
    expect(calls).toEqual(['story', 'narrate', 'narrate']);
    const described = await sfn.send(new DescribeExecutionCommand({ executionArn: executionArnOf('task-redrive') }));
    expect(described.redriveCount).toBe(1);
    expect(described.redriveStatus).toBe('NOT_REDRIVABLE');
    expect(described.error).toBeUndefined();
    expect(JSON.parse(described.input ?? '{}')).toEqual({ taskId: 't1' });
    expect(JSON.parse(described.output ?? '{}').audio).toEqual({ heard: { storyKey: 'tasks/t1/story.json', redrives: 1 } });
    expect(ended.map((event) => [event.status, event.redriveCount])).toEqual([
      ['FAILED', 0],
      ['SUCCEEDED', 1],
    ]);
  });

  it('redrives a stopped (ABORTED) execution and refuses RUNNING and SUCCEEDED ones with ExecutionNotRedrivable', async () => {
    // prepare
    const gate = deferred<void>();
    let holds = true;
    const { sfn } = await start({
      definition: threeStages,
      lambdas: {
        [STORY_ARN]: async () => ({ storyKey: 'k' }),
        [NARRATE_ARN]: async () => {
          if (holds) await gate.promise;
          return {};
        },
      },
    });
    await sfn.send(new StartExecutionCommand({ stateMachineArn: STATE_MACHINE_ARN, name: 'task-abort', input: '{}' }));
    await new Promise((resolve) => setTimeout(resolve, 50));

    // act + assess: RUNNING is refused
    const running = await failureOf(sfn.send(new RedriveExecutionCommand({ executionArn: executionArnOf('task-abort') })));
    expect(running).toBeInstanceOf(ExecutionNotRedrivable);
    expect((running as Error).message).toContain('Execution is RUNNING and cannot be redriven');

    await sfn.send(new StopExecutionCommand({ executionArn: executionArnOf('task-abort'), cause: 'cancelled' }));
    holds = false;
    gate.resolve();
    await sfn.send(new RedriveExecutionCommand({ executionArn: executionArnOf('task-abort') }));
    await waitForStatus(sfn, 'task-abort', 'SUCCEEDED');

    const succeeded = await failureOf(sfn.send(new RedriveExecutionCommand({ executionArn: executionArnOf('task-abort') })));
    expect(succeeded).toBeInstanceOf(ExecutionNotRedrivable);
    expect((succeeded as Error).message).toContain('Execution is SUCCEEDED and cannot be redriven');
  });

  it('restarts the execution timeout; 14 days after its stop an execution is no longer kept, so no longer redriven', async () => {
    // prepare: stored executions: one that timed out just now, one that failed 13.99 days ago, one 14.01 days ago
    const dir = mkdtempSync(join(tmpdir(), 'sfn-redrive-'));
    const stored = (name: string, status: string, stoppedDaysAgo: number) => ({
      version: 1,
      executionArn: executionArnOf(name),
      stateMachineArn: STATE_MACHINE_ARN,
      name,
      status,
      input: '{"taskId":"t9"}',
      startDate: new Date(Date.now() - stoppedDaysAgo * 86_400_000 - 700_000).toISOString(),
      stopDate: new Date(Date.now() - stoppedDaysAgo * 86_400_000).toISOString(),
      current: { state: 'Narrate', input: { taskId: 't9', story: { storyKey: 'tasks/t9/story.json' } } },
      notified: true,
    });
    writeFileSync(join(dir, 'task-timed-out.json'), JSON.stringify(stored('task-timed-out', 'TIMED_OUT', 0.01)));
    writeFileSync(join(dir, 'task-young.json'), JSON.stringify(stored('task-young', 'FAILED', 13.99)));
    writeFileSync(join(dir, 'task-too-old.json'), JSON.stringify(stored('task-too-old', 'FAILED', 14.01)));
    const calls: string[] = [];
    try {
      const { sfn } = await start({
        definition: threeStages,
        persistDir: dir,
        lambdas: {
          [STORY_ARN]: async () => {
            calls.push('story');
            return {};
          },
          [NARRATE_ARN]: async (event) => {
            calls.push(`narrate ${JSON.stringify(event)}`);
            return {};
          },
        },
      });

      // act: started 700 s before its stop, with a 600 s limit — a redrive gets a fresh 600 s
      await sfn.send(new RedriveExecutionCommand({ executionArn: executionArnOf('task-timed-out') }));
      await waitForStatus(sfn, 'task-timed-out', 'SUCCEEDED');

      // assess
      expect(calls).toEqual(['narrate {"storyKey":"tasks/t9/story.json","redrives":1}']);
      const young = await sfn.send(new DescribeExecutionCommand({ executionArn: executionArnOf('task-young') }));
      expect(young.redriveStatus).toBe('REDRIVABLE');
      const tooOld = await failureOf(sfn.send(new RedriveExecutionCommand({ executionArn: executionArnOf('task-too-old') })));
      expect(tooOld).toBeInstanceOf(ExecutionDoesNotExist);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
