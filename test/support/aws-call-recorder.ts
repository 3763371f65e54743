/**
 * Records every AWS call the embedded stack's handlers make, as the IAM request AWS would
 * authorize: who (the function whose role signs it, from infra/embedded/aws-principal.ts), which
 * action, which resource ARN, which condition keys (`dynamodb:LeadingKeys`, `s3:prefix`).
 * test/support/iam-call-check.ts then asks the synthesized template whether each was allowed.
 *
 * One SDK middleware (initialize step, so one record per logical call, retries excluded) on
 * every client: added to the runtime's clients when a test stack starts, and to any other
 * client (Polly, Secrets Manager) at its first send. Presigned URLs pass through it too: the
 * presigner runs the client's own middleware stack (a clone) and stops before sending, so a
 * presigned GET is recorded as the s3:GetObject it grants, by the function that signed it.
 */
import { ACCOUNT, REGION } from '../../infra/embedded/embedded-names.js';
import { currentPrincipal, type EmbeddedPrincipal } from '../../infra/embedded/aws-principal.js';
import type { Settings } from '../../shared/settings.js';
import type { InitializeMiddleware, MetadataBearer, MiddlewareStack } from '@smithy/types';

/** What IAM evaluates for one call. */
export interface IamRequest {
  /** e.g. `s3:GetObject` */
  action: string;
  /** the resource ARN, in the embedded stack's names; `*` for actions without resource-level permissions */
  resource: string;
  /** request condition keys (lower-case names), e.g. `dynamodb:leadingkeys` → [`TASK#…`] */
  conditions: Record<string, string[]>;
}

export interface RecordedCall {
  principal: EmbeddedPrincipal;
  settings: Settings;
  /** `S3.GetObject`, `DynamoDB.UpdateItem`, … (with `presigned` for a presigned URL) */
  operation: string;
  presigned: boolean;
  /** the requests AWS authorizes for it; empty with `unmodeled` when this file does not know the operation */
  requests: IamRequest[];
  unmodeled?: string;
}

const SINK_KEY = Symbol.for('reel-pipeline.recorded-aws-calls');
const PATCHED_KEY = Symbol.for('reel-pipeline.aws-call-recorder-patched');

const MIDDLEWARE_NAME = 'reelPipelineAwsCallRecorder';
const globalHolder = globalThis as { [SINK_KEY]?: RecordedCall[] };

/** Every call recorded in this process since the last {@link takeRecordedCalls}. */
export function recordedCalls(): RecordedCall[] {
  return (globalHolder[SINK_KEY] ??= []);
}

/** The recorded calls, emptying the record. */
export function takeRecordedCalls(): RecordedCall[] {
  const calls = recordedCalls();
  globalHolder[SINK_KEY] = [];
  return calls;
}

const SERVICE_OF_CLIENT: Record<string, string> = {
  S3Client: 's3',
  DynamoDBClient: 'dynamodb',
  DynamoDBDocumentClient: 'dynamodb',
  SQSClient: 'sqs',
  SFNClient: 'states',
  PollyClient: 'polly',
  SecretsManagerClient: 'secretsmanager',
  SSMClient: 'ssm',
};

type Input = Record<string, unknown>;
const str = (v: unknown) => (typeof v === 'string' ? v : '');
/** A key attribute as the document client (plain) or the low-level client (`{S: …}`) spells it. */
const keyValue = (v: unknown): string => (typeof v === 'string' ? v : v && typeof v === 'object' && 'S' in v ? String(v.S) : '');

const tableArn = (table: string) => `arn:aws:dynamodb:${REGION}:${ACCOUNT}:table/${table}`;
const queueArnOf = (queueUrl: string) => `arn:aws:sqs:${REGION}:${ACCOUNT}:${queueUrl.slice(queueUrl.lastIndexOf('/') + 1)}`;
const objectArn = (bucket: string, key: string) => `arn:aws:s3:::${bucket}/${key}`;

/** The partition-key value a KeyConditionExpression binds (`#pk = :pk` → the value of `:pk`). */
function queriedPartitionKey(input: Input): string[] {
  const m = /(?:^|\s|\()([#\w]+)\s*=\s*(:\w+)/.exec(str(input.KeyConditionExpression));
  const values = (input.ExpressionAttributeValues ?? {}) as Record<string, unknown>;
  return m && values[m[2]] !== undefined ? [keyValue(values[m[2]])] : [];
}

function isNotFound(error: unknown): boolean {
  const e = error as { name?: string; $metadata?: { httpStatusCode?: number } };
  return e?.name === 'NoSuchKey' || e?.name === 'NotFound' || e?.$metadata?.httpStatusCode === 404;
}

/**
 * The IAM requests of one SDK operation (see the service authorization reference of each
 * service). `undefined`: not modeled here — reported as such, so a new kind of call is taught
 * to this table instead of passing unchecked.
 */
export function iamRequestsOf(service: string, operation: string, input: Input): IamRequest[] | undefined {
  const req = (action: string, resource: string, conditions: Record<string, string[]> = {}): IamRequest => ({
    action: `${service}:${action}`,
    resource,
    conditions,
  });
  switch (service) {
    case 'dynamodb': {
      const table = tableArn(str(input.TableName));
      const leading = (key: unknown) => ({ 'dynamodb:leadingkeys': [keyValue((key as Input | undefined)?.pk)] });
      switch (operation) {
        case 'GetItem':
        case 'UpdateItem':
        case 'DeleteItem':
          return [req(operation, table, leading(input.Key))];
        case 'PutItem':
          return [req(operation, table, leading(input.Item))];
        case 'Query': {
          const index = str(input.IndexName);
          return [req('Query', index ? `${table}/index/${index}` : table, { 'dynamodb:leadingkeys': queriedPartitionKey(input) })];
        }
        case 'Scan':
          return [req('Scan', str(input.IndexName) ? `${table}/index/${str(input.IndexName)}` : table)];
        default:
          return undefined;
      }
    }
    case 's3': {
      const bucket = str(input.Bucket);
      const key = str(input.Key);
      switch (operation) {
        case 'GetObject':
        case 'HeadObject':
          return [req('GetObject', objectArn(bucket, key))];
        case 'PutObject':
        case 'CreateMultipartUpload':
        case 'UploadPart':
        case 'CompleteMultipartUpload':
          return [req('PutObject', objectArn(bucket, key))];
        case 'AbortMultipartUpload':
          return [req('AbortMultipartUpload', objectArn(bucket, key))];
        case 'DeleteObject':
          return [req('DeleteObject', objectArn(bucket, key))];
        case 'CopyObject':
          return [req('GetObject', `arn:aws:s3:::${decodeURIComponent(str(input.CopySource).replace(/^\//, ''))}`), req('PutObject', objectArn(bucket, key))];
        case 'ListObjectsV2':
        case 'ListObjects':
          return [req('ListBucket', `arn:aws:s3:::${bucket}`, { 's3:prefix': [str(input.Prefix)] })];
        case 'HeadBucket':
          return [req('ListBucket', `arn:aws:s3:::${bucket}`)];
        default:
          return undefined;
      }
    }
    case 'sqs': {
      const queue = operation === 'GetQueueUrl' ? `arn:aws:sqs:${REGION}:${ACCOUNT}:${str(input.QueueName)}` : queueArnOf(str(input.QueueUrl));
      const action =
        { SendMessageBatch: 'SendMessage', DeleteMessageBatch: 'DeleteMessage', ChangeMessageVisibilityBatch: 'ChangeMessageVisibility' }[operation] ??
        operation;
      return ['SendMessage', 'ReceiveMessage', 'DeleteMessage', 'ChangeMessageVisibility', 'GetQueueAttributes', 'GetQueueUrl'].includes(action)
        ? [req(action, queue)]
        : undefined;
    }
    case 'states':
      switch (operation) {
        case 'StartExecution':
        case 'StartSyncExecution':
        case 'DescribeStateMachine':
        case 'ListExecutions':
          return [req(operation, str(input.stateMachineArn))];
        case 'StopExecution':
        case 'RedriveExecution':
        case 'DescribeExecution':
        case 'GetExecutionHistory':
          return [req(operation, str(input.executionArn))];
        // No resource-level permissions: the task token is the capability.
        case 'SendTaskSuccess':
        case 'SendTaskFailure':
        case 'SendTaskHeartbeat':
          return [req(operation, '*')];
        default:
          return undefined;
      }
    case 'polly':
      // Names a resource only for lexicons, which this pipeline does not use.
      return operation === 'SynthesizeSpeech' && !(input.LexiconNames as unknown[] | undefined)?.length ? [req(operation, '*')] : undefined;
    case 'secretsmanager':
      return operation === 'GetSecretValue' ? [req(operation, str(input.SecretId))] : undefined;
    default:
      return undefined;
  }
}

interface ClientLike {
  middlewareStack: Pick<MiddlewareStack<object, MetadataBearer>, 'add' | 'identify'>;
}

const recorderMiddleware: InitializeMiddleware<object, MetadataBearer> = (next, context) => async (args) => {
  const who = currentPrincipal();
  if (!who) return next(args);
  const service = SERVICE_OF_CLIENT[context.clientName ?? ''] ?? (context.clientName ?? 'unknown').replace(/Client$/, '').toLowerCase();
  const operation = (context.commandName ?? 'Unknown').replace(/Command$/, '');
  const input = args.input as Input;
  const requests = iamRequestsOf(service, operation, input);
  const call: RecordedCall = {
    principal: who.principal,
    settings: who.settings,
    operation: `${service}.${operation}`,
    presigned: false,
    requests: requests ?? [],
    ...(requests ? {} : { unmodeled: `${service}.${operation}` }),
  };
  try {
    const result = await next(args);
    call.presigned = Boolean(result.output && typeof result.output === 'object' && 'presigned' in result.output);
    return result;
  } catch (error: unknown) {
    // S3 answers "no such key" only to a caller that may list the bucket (403 to anyone else),
    // and the handlers read "missing" from that answer: a 404 is a ListBucket as well.
    if (service === 's3' && (operation === 'GetObject' || operation === 'HeadObject') && isNotFound(error)) {
      call.requests.push({ action: 's3:ListBucket', resource: `arn:aws:s3:::${str(input.Bucket)}`, conditions: {} });
    }
    throw error;
  } finally {
    recordedCalls().push(call);
  }
};

/** Adds the recorder to a client (once; clones made by the presigner inherit it). */
export function recordCallsOf(client: ClientLike): void {
  if (client.middlewareStack.identify().some((entry) => entry.startsWith(MIDDLEWARE_NAME))) return;
  client.middlewareStack.add(recorderMiddleware, { step: 'initialize', name: MIDDLEWARE_NAME, priority: 'high' });
  dropCachedMiddleware(client);
}

/**
 * The runtime's clients cache each command's middleware chain at its first send
 * (`cacheMiddleware`), so a chain built before the recorder was added would skip it: the smithy
 * client rebuilds them when its cache is gone.
 */
export function dropCachedMiddleware(client: object): void {
  (client as { handlers?: unknown }).handlers = undefined;
}

/**
 * Records the runtime's clients now, and every other SDK client of this process (the Polly
 * client of the TTS provider, Secrets Manager) from its first send: the smithy
 * `Client.prototype.send` that all SDK v3 clients inherit adds the middleware first.
 */
export function recordCallsOfRuntime(rt: { ddb: ClientLike; s3: ClientLike; sqs: ClientLike; sfn: ClientLike }): void {
  for (const client of [rt.ddb, rt.s3, rt.sqs, rt.sfn]) recordCallsOf(client);
  const clientPrototype = Object.getPrototypeOf(Object.getPrototypeOf(rt.s3)) as {
    send: (this: ClientLike, ...args: unknown[]) => unknown;
    [PATCHED_KEY]?: true;
  };
  if (clientPrototype[PATCHED_KEY]) return;
  const send = clientPrototype.send;
  clientPrototype.send = function recordingSend(this: ClientLike, ...args: unknown[]) {
    recordCallsOf(this);
    return send.apply(this, args);
  };
  clientPrototype[PATCHED_KEY] = true;
}
