import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { LookupFunction } from 'node:net';
import { GetSecretValueCommand, type SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { isoNow } from '../clock.js';
import { ConfigError, errorMessage } from '../errors.js';
import { createLogger, taskLogFields } from '../logger.js';
import type { Runtime } from '../runtime.js';
import type { Settings } from '../settings.js';
import { rememberUntilFailure, secretsManagerFor, type RememberedValue } from '../secret-source.js';
import { recordWebhookAttempt, type WebhookDeliveryAttempt } from '../task-record.js';
import { checkWebhookUrl, systemResolver, WebhookNotAllowedError, type HostResolver, type WebhookTarget } from './webhook-hosts.js';
import { MAX_DELAY_SECONDS, sendWebhookMessage, type WebhookMessage } from './webhook-queue.js';
import { SIGNATURE_HEADER, signWebhook } from './webhook-signature.js';
import type { WebhookEvent } from './webhook-event.js';

/** What one POST gave: an HTTP status, or the reason no status came back. */
export type PostResult = { status: number } | { error: string };

/** Sends one signed body to the checked address (tests may replace it; production uses {@link postToTarget}). */
export type WebhookPoster = (target: WebhookTarget, body: string, headers: Record<string, string>, timeoutMs: number) => Promise<PostResult>;

/**
 * POSTs `body` to the address the policy checked, never resolving the name again: the socket's
 * lookup answers that address, while `Host` and TLS SNI/certificate checks use the URL's name.
 * Redirects are not followed (node's client never does); the answer's body is read and dropped.
 */
export const postToTarget: WebhookPoster = (target, body, headers, timeoutMs) =>
  new Promise((resolve) => {
    const pinned: LookupFunction = (_host, options, callback) => {
      const { address, family } = target.address;
      if ((options as { all?: boolean }).all) (callback as (e: null, a: Array<{ address: string; family: number }>) => void)(null, [{ address, family }]);
      else callback(null, address, family);
    };
    const send = target.url.protocol === 'https:' ? httpsRequest : httpRequest;
    let settled = false;
    // The whole exchange, not only an idle socket: a receiver that drips its answer is cut off too.
    const timer = setTimeout(() => req.destroy(new Error(`no complete answer within ${timeoutMs} ms`)), timeoutMs);
    const done = (result: PostResult) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(result);
    };
    const req = send(
      target.url,
      { method: 'POST', headers: { ...headers, 'content-length': String(Buffer.byteLength(body)) }, lookup: pinned, agent: false },
      (res: IncomingMessage) => {
        res.resume();
        res.on('end', () => done({ status: res.statusCode ?? 0 }));
        res.on('error', () => done({ status: res.statusCode ?? 0 }));
      },
    );
    req.on('error', (error) => done({ error: errorMessage(error) }));
    req.end(body);
  });

/** Whether a failed POST is worth another attempt: the receiver may be back later. */
export function isRetryablePost(result: PostResult): boolean {
  if ('error' in result) return true; // connection refused or reset, timeout: transient
  if (result.status === 408 || result.status === 429) return true; // the receiver asks to be tried again
  return result.status >= 500; // the receiver failed; 3xx (not followed) and other 4xx will not change
}

/**
 * The signing secret: WEBHOOK_SECRET as is, else the Secrets Manager secret WEBHOOK_SECRET_ARN
 * (its whole SecretString), read once per cold start — the read starts here, at module scope of
 * the Lambda — and again after a failed read. Neither set is a {@link ConfigError} at start-up.
 */
export function webhookSecretSource(
  settings: Pick<Settings, 'webhookSecret' | 'webhookSecretArn'>,
  options: { secrets?: SecretsManagerClient } = {},
): RememberedValue<string> {
  const { webhookSecret, webhookSecretArn } = settings;
  if (webhookSecret) return { get: () => Promise.resolve(webhookSecret), forget: () => undefined };
  if (!webhookSecretArn) throw new ConfigError('WEBHOOK_SECRET', 'set WEBHOOK_SECRET or WEBHOOK_SECRET_ARN: webhooks are signed');
  const client = options.secrets ?? secretsManagerFor(webhookSecretArn);
  return rememberUntilFailure(async () => {
    const out = await client.send(new GetSecretValueCommand({ SecretId: webhookSecretArn }));
    const text = (out.SecretString ?? '').trim();
    if (!text) throw new Error('the secret named by WEBHOOK_SECRET_ARN is empty');
    return text;
  });
}

/** The delay before attempt `next` (2, 3, …): WEBHOOK_RETRY_BASE_SECONDS doubled per attempt, at most 15 minutes (SQS's longest delay). */
export function retryDelaySeconds(baseSeconds: number, next: number): number {
  return Math.min(MAX_DELAY_SECONDS, baseSeconds * 2 ** (next - 2));
}

export interface WebhookDeliveryDeps {
  secret: RememberedValue<string>;
  resolve?: HostResolver;
  post?: WebhookPoster;
}

export type DeliveryOutcome = WebhookDeliveryAttempt['outcome'] | 'malformed';

/**
 * Delivers one message of the webhook queue: checks the URL again (listed host, every address
 * allowed now), signs the body with its `sent_at`, POSTs it once to the checked address and
 * records the attempt on the task. A retryable failure queues the next attempt with a delay (the
 * backoff lives in the queue, not in a sleep here) until WEBHOOK_MAX_ATTEMPTS. Throws only when
 * the attempt could not be recorded or the next one not queued: the message then comes back
 * after its visibility timeout (at least once).
 */
export async function deliverWebhookMessage(rt: Runtime, rawMessage: string, deps: WebhookDeliveryDeps): Promise<DeliveryOutcome> {
  let message: WebhookMessage;
  try {
    message = JSON.parse(rawMessage) as WebhookMessage;
    if (!message?.event?.task_id || typeof message.url !== 'string') throw new Error('incomplete');
  } catch {
    createLogger({ stage: 'webhook' }).error('malformed webhook message dropped', { body_bytes: rawMessage.length });
    return 'malformed';
  }
  const { event, attempt } = message;
  const log = createLogger(taskLogFields({ task_id: event.task_id, creator_id: event.creator_id, video_id: event.video_id }, 'webhook'));
  const record = (a: Omit<WebhookDeliveryAttempt, 'status' | 'redrives' | 'attempt' | 'at'>) =>
    recordWebhookAttempt(rt, event.task_id, { status: event.status, redrives: event.redrives, attempt, at: isoNow(rt.clock), ...a });

  let target: WebhookTarget;
  try {
    target = await checkWebhookUrl(message.url, rt.settings.webhookAllowedHosts, deps.resolve ?? systemResolver);
  } catch (error: unknown) {
    if (!(error instanceof WebhookNotAllowedError)) throw error;
    await record({ outcome: 'refused', error: `${error.code}: ${error.message}` });
    log.warn('webhook refused at delivery', { delivery_id: event.delivery_id, code: error.code, attempt });
    return 'refused';
  }
  const body = JSON.stringify({ ...event, attempt, sent_at: isoNow(rt.clock) } satisfies WebhookEvent);
  const headers = {
    'content-type': 'application/json',
    'user-agent': 'reel-pipeline-webhook',
    [SIGNATURE_HEADER]: signWebhook(await deps.secret.get(), body),
    'x-reel-delivery': event.delivery_id,
  };
  const result = await (deps.post ?? postToTarget)(target, body, headers, rt.settings.webhookTimeoutSeconds * 1000);
  const seen = 'status' in result ? { http_status: result.status } : { error: result.error };
  if ('status' in result && result.status >= 200 && result.status < 300) {
    await record({ outcome: 'delivered', ...seen });
    log.info('webhook delivered', { delivery_id: event.delivery_id, attempt, http_status: result.status });
    return 'delivered';
  }
  if (!isRetryablePost(result)) {
    await record({ outcome: 'rejected', ...seen, ...('status' in result && result.status < 400 ? { error: 'redirect not followed' } : {}) });
    log.warn('webhook rejected by the receiver', { delivery_id: event.delivery_id, attempt, ...seen });
    return 'rejected';
  }
  if (attempt >= rt.settings.webhookMaxAttempts) {
    await record({ outcome: 'gave_up', ...seen });
    log.error('webhook not delivered: attempts used up', { delivery_id: event.delivery_id, attempt, ...seen });
    return 'gave_up';
  }
  await record({ outcome: 'retrying', ...seen });
  const delay = retryDelaySeconds(rt.settings.webhookRetryBaseSeconds, attempt + 1);
  await sendWebhookMessage(rt, { ...message, attempt: attempt + 1 }, delay);
  log.warn('webhook attempt failed; the next is queued', { delivery_id: event.delivery_id, attempt, delay_seconds: delay, ...seen });
  return 'retrying';
}
