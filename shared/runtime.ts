import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { S3Client } from '@aws-sdk/client-s3';
import { SQSClient } from '@aws-sdk/client-sqs';
import { SFNClient } from '@aws-sdk/client-sfn';
import { systemClock, type Clock } from './clock.js';
import { readSettings, type Settings } from './settings.js';
import type { HostResolver } from './webhook/webhook-hosts.js';

/**
 * The dependency object every handler works through: AWS clients, settings and the clock.
 * Endpoints come from the SDK's own `AWS_ENDPOINT_URL_*` variables, so the same code talks to
 * AWS or to the embedded emulators without knowing which.
 */
export interface Runtime {
  settings: Settings;
  clock: Clock;
  ddb: DynamoDBDocumentClient;
  s3: S3Client;
  sqs: SQSClient;
  sfn: SFNClient;
  /** DNS for webhook hosts; unset: the system resolver (tests inject one) */
  resolveHost?: HostResolver;
}

type Env = Record<string, string | undefined>;

/**
 * Client options from an explicit environment. With the process environment the SDK reads the
 * same variables itself (and Lambda's rotating credentials), so nothing is passed.
 */
function clientConfig(env: Env, endpointVariable: string) {
  if (env === process.env) return {};
  return {
    ...(env.AWS_REGION ? { region: env.AWS_REGION } : {}),
    ...(env[endpointVariable] ? { endpoint: env[endpointVariable] } : {}),
    ...(env.AWS_ACCESS_KEY_ID && env.AWS_SECRET_ACCESS_KEY
      ? { credentials: { accessKeyId: env.AWS_ACCESS_KEY_ID, secretAccessKey: env.AWS_SECRET_ACCESS_KEY } }
      : {}),
  };
}

/**
 * Each command's middleware chain is built once per client, not at every send (a quarter of the
 * SDK's CPU per call, measured on S3 PutObject). Middleware added to such a client later is
 * skipped until its cache is dropped. The DynamoDB document client refuses this option.
 */
const CACHED_MIDDLEWARE = { cacheMiddleware: true };

export function createRuntime(env: Env = process.env, clock: Clock = systemClock): Runtime {
  const settings = readSettings(env);
  const ddb = DynamoDBDocumentClient.from(new DynamoDBClient(clientConfig(env, 'AWS_ENDPOINT_URL_DYNAMODB')), {
    marshallOptions: { removeUndefinedValues: true },
  });
  return {
    settings,
    clock,
    ddb,
    s3: new S3Client({ ...clientConfig(env, 'AWS_ENDPOINT_URL_S3'), ...CACHED_MIDDLEWARE, forcePathStyle: settings.s3ForcePathStyle }),
    // With an endpoint configured (an emulator), requests go there, not to the queue URL's host.
    sqs: new SQSClient({
      ...clientConfig(env, 'AWS_ENDPOINT_URL_SQS'),
      ...CACHED_MIDDLEWARE,
      ...(env.AWS_ENDPOINT_URL_SQS ? { useQueueUrlAsEndpoint: false } : {}),
    }),
    sfn: new SFNClient({ ...clientConfig(env, 'AWS_ENDPOINT_URL_SFN'), ...CACHED_MIDDLEWARE }),
  };
}

let shared: Runtime | undefined;

/** The process-wide runtime, built once at module scope of a handler (as Lambda reuses it). */
export function sharedRuntime(): Runtime {
  shared ??= createRuntime();
  return shared;
}
