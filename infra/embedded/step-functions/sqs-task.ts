/**
 * An `arn:aws:states:::sqs:sendMessage.waitForTaskToken` attempt: the token is registered, the
 * message sent with a real SQS call, and the attempt waits until SendTaskSuccess /
 * SendTaskFailure answers the token (or the state times out). SQS errors surface as
 * `SQS.<Exception>`, the way the Step Functions integration names them.
 */
import { SendMessageCommand, type MessageAttributeValue, type SendMessageCommandInput, type SQSClient } from '@aws-sdk/client-sqs';
import type { TaskPlan } from './definition.js';
import type { ExecutionRecord } from './execution-record.js';
import { cloneJson, isRecord, type JSONValue } from './json.js';
import type { BeforeTaskEvent } from './local-step-functions.js';
import { ExecutionEndedError, TaskFailure } from './task-failure.js';
import type { TaskTokens } from './task-tokens.js';

/** What {@link sendAndWaitForToken} needs for one attempt. */
export interface SqsAttempt {
  record: ExecutionRecord;
  /** aborted when this run of the execution ends (a redrive starts a new run) */
  ended: AbortSignal;
  stateName: string;
  plan: Extract<TaskPlan, { kind: 'sqs' }>;
  input: JSONValue;
  token: string;
  tokens: TaskTokens;
  sqs: SQSClient;
  runAsService?: <T>(send: () => Promise<T>) => Promise<T>;
  beforeTask?: (event: BeforeTaskEvent) => Promise<void>;
}

/** Sends the state's message and resolves with the output SendTaskSuccess gives for its token. */
export function sendAndWaitForToken(attempt: SqsAttempt): Promise<JSONValue> {
  const { record, ended, stateName, plan, input, token, tokens } = attempt;
  const { entry: waiting, answered } = tokens.register(token, record, plan.heartbeatMs);
  // The interpreter's own timer (same TimeoutSeconds, armed just after this one) rejects the
  // attempt with its States.Timeout; this one only makes the token answer TaskTimedOut. Rejecting
  // here instead would let `States.TaskFailed` catch a timeout, which AWS does not.
  const timeout = setTimeout(() => tokens.timeOut(waiting), plan.timeoutMs);
  waiting.timers.add(timeout);

  const send = async (): Promise<JSONValue> => {
    await attempt.beforeTask?.({ stateName, executionName: record.name, input: cloneJson(input) });
    if (ended.aborted) throw new ExecutionEndedError();
    if (waiting.status !== 'pending') return answered;
    try {
      const message = new SendMessageCommand(toSendMessageInput(input));
      await (attempt.runAsService ?? ((s) => s()))(() => attempt.sqs.send(message));
    } catch (error: unknown) {
      throw error instanceof TaskFailure ? error : sqsFailure(error);
    }
    // HeartbeatSeconds counts from the moment the message is sent, as on AWS.
    if (waiting.heartbeatMs !== undefined && tokens.isPending(token, waiting)) tokens.armHeartbeat(waiting);
    return answered;
  };
  return send().catch((error: unknown) => {
    // A failed gate or send ends the attempt; a heartbeat timeout keeps answering TaskTimedOut.
    if (tokens.isPending(token, waiting)) tokens.release(token, waiting);
    throw error;
  });
}

/**
 * SQS errors surface as `SQS.<Exception>`, the way the Step Functions integration names them: no
 * answer from the service → `SQS.SdkClientException`; a server-side fault (5xx) → the SDK's base
 * `SQS.AmazonSQSException`, its code in the cause; a modelled 4xx keeps its own name.
 */
function sqsFailure(error: unknown): TaskFailure {
  if (!(error instanceof Error)) return new TaskFailure('SQS.SdkClientException', String(error));
  const exception = error.name.endsWith('Exception') ? error.name : `${error.name}Exception`;
  const metadata: unknown = Reflect.get(error, '$metadata');
  const status = isRecord(metadata) ? metadata.httpStatusCode : undefined;
  const requestId = isRecord(metadata) ? metadata.requestId : undefined;
  if (status === undefined) return new TaskFailure('SQS.SdkClientException', error.message);
  const cause = `${error.message} (Service: Sqs, Status Code: ${typeof status === 'number' ? status : '?'}, Error Code: ${error.name}, Request ID: ${typeof requestId === 'string' ? requestId : '?'})`;
  return new TaskFailure(typeof status === 'number' && status >= 500 ? 'SQS.AmazonSQSException' : `SQS.${exception}`, cause);
}

function toSendMessageInput(input: JSONValue): SendMessageCommandInput {
  const runtimeError = (detail: string) => new TaskFailure('States.Runtime', detail, { terminal: true });
  if (!isRecord(input)) throw runtimeError('sqs:sendMessage parameters must be an object');
  const { QueueUrl, MessageBody, DelaySeconds, MessageGroupId, MessageDeduplicationId, MessageAttributes } = input;
  if (typeof QueueUrl !== 'string') throw runtimeError('sqs:sendMessage needs a string QueueUrl');
  if (MessageBody === undefined || MessageBody === null) throw runtimeError('sqs:sendMessage needs a MessageBody');
  const message: SendMessageCommandInput = {
    QueueUrl,
    // Step Functions serializes a JSON MessageBody; a string is sent as is.
    MessageBody: typeof MessageBody === 'string' ? MessageBody : JSON.stringify(MessageBody),
  };
  if (typeof DelaySeconds === 'number') message.DelaySeconds = DelaySeconds;
  if (typeof MessageGroupId === 'string') message.MessageGroupId = MessageGroupId;
  if (typeof MessageDeduplicationId === 'string') message.MessageDeduplicationId = MessageDeduplicationId;
  if (isRecord(MessageAttributes)) message.MessageAttributes = toMessageAttributes(MessageAttributes);
  if (isRecord(input.MessageSystemAttributes)) {
    message.MessageSystemAttributes = toMessageAttributes(input.MessageSystemAttributes);
  }
  return message;
}

/** `{Name: {DataType, StringValue | BinaryValue(base64)}}` as written in ASL, in the SDK's shape. */
function toMessageAttributes(attributes: Record<string, unknown>): Record<string, MessageAttributeValue> {
  const converted: Record<string, MessageAttributeValue> = {};
  for (const [name, attribute] of Object.entries(attributes)) {
    if (!isRecord(attribute) || typeof attribute.DataType !== 'string') {
      throw new TaskFailure('States.Runtime', `Message attribute ${name} needs a DataType`, { terminal: true });
    }
    converted[name] = {
      DataType: attribute.DataType,
      ...(typeof attribute.StringValue === 'string' ? { StringValue: attribute.StringValue } : {}),
      ...(typeof attribute.BinaryValue === 'string' ? { BinaryValue: Buffer.from(attribute.BinaryValue, 'base64') } : {}),
    };
  }
  return converted;
}
