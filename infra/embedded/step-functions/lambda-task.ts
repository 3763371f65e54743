/**
 * A Lambda Task attempt, run in-process as Lambda would run it: a Lambda `context` whose
 * remaining time follows the state's TimeoutSeconds, the input as a JSON copy, the result held
 * to the payload quota, and a thrown error turned into the Node.js runtime's error envelope
 * `{errorType, errorMessage, trace}`, which Step Functions passes on as the Cause.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import type { TaskPlan } from './definition.js';
import type { ExecutionRecord } from './execution-record.js';
import { MAX_PAYLOAD_BYTES, cloneJson, parseJson, type JSONValue } from './json.js';
import type { BeforeTaskEvent, LambdaContextLike } from './local-step-functions.js';
import { ExecutionEndedError, TaskFailure } from './task-failure.js';

/** What {@link invokeLambdaTask} needs for one attempt. */
export interface LambdaAttempt {
  record: ExecutionRecord;
  /** aborted when this run of the execution ends (a redrive starts a new run) */
  ended: AbortSignal;
  stateName: string;
  plan: Extract<TaskPlan, { kind: 'lambda' }>;
  input: JSONValue;
  beforeTask?: (event: BeforeTaskEvent) => Promise<void>;
}

/** Runs one attempt of a Lambda Task state; rejects with the {@link TaskFailure} AWS would report. */
export function invokeLambdaTask({ record, ended, stateName, plan, input, beforeTask }: LambdaAttempt): Promise<JSONValue> {
  const deadline = Date.now() + plan.timeoutMs;
  const functionName = lambdaFunctionName(plan.functionArn);
  const context: LambdaContextLike = {
    functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: plan.functionArn,
    memoryLimitInMB: '1024',
    awsRequestId: randomUUID(),
    logGroupName: `/aws/lambda/${functionName}`,
    logStreamName: `${new Date().toISOString().slice(0, 10).replaceAll('-', '/')}/[$LATEST]${randomBytes(16).toString('hex')}`,
    callbackWaitsForEmptyEventLoop: true,
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
  };
  const invoke = async (): Promise<unknown> => {
    await beforeTask?.({ stateName, executionName: record.name, input: cloneJson(input) });
    if (ended.aborted) throw new ExecutionEndedError();
    return plan.handler(cloneJson(input), context);
  };
  return invoke().then(toTaskResult, (error: unknown) => {
    throw error instanceof ExecutionEndedError ? error : lambdaFailure(error);
  });
}

function lambdaFunctionName(resource: string): string {
  const match = /^arn:aws[a-z-]*:lambda:[^:]+:\d{12}:function:([^:]+)/.exec(resource);
  return match ? match[1] : resource;
}

function toTaskResult(result: unknown): JSONValue {
  const text = JSON.stringify(result) ?? 'null';
  if (Buffer.byteLength(text, 'utf8') > MAX_PAYLOAD_BYTES) {
    throw new TaskFailure('States.DataLimitExceeded', 'The state/task returned a result with a size exceeding the maximum number of bytes service limit.', {
      terminal: true,
    });
  }
  return parseJson(text);
}

/** The Node.js Lambda runtime's error payload, which Step Functions passes on as the Cause. */
function lambdaFailure(error: unknown): TaskFailure {
  const payload =
    error instanceof Error
      ? { errorType: error.name, errorMessage: error.message, trace: error.stack?.split('\n') ?? [] }
      : { errorType: typeof error, errorMessage: String(error), trace: [] };
  return new TaskFailure(payload.errorType, JSON.stringify(payload));
}
