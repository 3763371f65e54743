import { afterAll, describe, expect, it } from 'vitest';
import { checkWebhookUrl, isPublicAddress, type HostResolver } from '../../shared/webhook/webhook-hosts.js';
import { isRetryablePost, retryDelaySeconds, webhookSecretSource } from '../../shared/webhook/webhook-delivery.js';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { readSettings } from '../../shared/settings.js';
import { signWebhook, verifyWebhook } from '../../shared/webhook/webhook-signature.js';
import { parseRunRequest } from '../../shared/request.js';

const SECRET = 'test-secret-0123456789';
const NOW = Date.parse('2026-12-01T10:00:00Z');
const resolvesTo =
  (...addresses: string[]): HostResolver =>
  () =>
    Promise.resolve(addresses.map((address) => ({ address, family: address.includes(':') ? (6 as const) : (4 as const) })));
const refusal = (promise: Promise<unknown>) =>
  promise.then(
    () => 'allowed',
    (error: unknown) => (error as { code?: string }).code,
  );

describe('verifyWebhook, the receiver side of X-Reel-Signature', () => {
  const body = JSON.stringify({ task_id: 't1', status: 'SUCCEEDED', redrives: 0, sent_at: new Date(NOW).toISOString() });

  it('accepts the signature of the exact body and answers the event', () => {
    // act
    const check = verifyWebhook(SECRET, body, signWebhook(SECRET, body), { now: NOW + 1000 });

    // assess
    expect(check).toEqual({ ok: true, event: JSON.parse(body) as unknown });
  });

  it('refuses a tampered body, another secret, a missing header and an old delivery', () => {
    const header = signWebhook(SECRET, body);
    expect(verifyWebhook(SECRET, body.replace('SUCCEEDED', 'FAILED'), header, { now: NOW })).toEqual({ ok: false, reason: 'bad_signature' });
    expect(verifyWebhook('another-secret', body, header, { now: NOW })).toEqual({ ok: false, reason: 'bad_signature' });
    expect(verifyWebhook(SECRET, body, undefined, { now: NOW })).toEqual({ ok: false, reason: 'missing_signature' });
    expect(verifyWebhook(SECRET, body, header, { now: NOW + 301_000 })).toEqual({ ok: false, reason: 'stale' });
    expect(verifyWebhook(SECRET, body, header, { now: NOW + 301_000, toleranceSeconds: 600 }).ok).toBe(true);
  });
});

describe('the webhook host policy', () => {
  it('refuses a host that is not listed, and every host when the list is empty', async () => {
    expect(await refusal(checkWebhookUrl('https://evil.example.com/h', 'hooks.example.com', resolvesTo('93.184.216.34')))).toBe('webhook_host_not_allowed');
    expect(await refusal(checkWebhookUrl('https://hooks.example.com/h', '', resolvesTo('93.184.216.34')))).toBe('webhook_host_not_allowed');
    expect(await refusal(checkWebhookUrl('https://hooks.example.com:8443/h', ' Hooks.Example.com ,x.test', resolvesTo('93.184.216.34')))).toBe('allowed');
  });

  it('refuses a listed name whose DNS answers a private, loopback, link-local or metadata address', async () => {
    for (const address of ['10.0.0.5', '127.0.0.1', '169.254.169.254', 'fd00:ec2::254', '::1', 'fe80::1', '::ffff:192.168.1.1', '100.64.0.1']) {
      expect(await refusal(checkWebhookUrl('https://hooks.example.com/h', 'hooks.example.com', resolvesTo('93.184.216.34', address)))).toBe(
        'webhook_address_not_allowed',
      );
    }
  });

  it('allows such an address only when the address itself is listed, and then over http too', async () => {
    const target = await checkWebhookUrl('http://hooks.internal:9000/h', 'hooks.internal,10.0.0.5', resolvesTo('10.0.0.5'));
    expect(target.address).toEqual({ address: '10.0.0.5', family: 4 });
    expect(target.hostname).toBe('hooks.internal');
    expect(await refusal(checkWebhookUrl('http://127.0.0.1:9000/h', '127.0.0.1', resolvesTo()))).toBe('allowed');
    expect(await refusal(checkWebhookUrl('http://169.254.169.254/latest', 'hooks.example.com', resolvesTo()))).toBe('webhook_host_not_allowed');
  });

  it('requires https for a receiver on the public internet, and refuses URLs with credentials or other schemes', async () => {
    expect(await refusal(checkWebhookUrl('http://hooks.example.com/h', 'hooks.example.com', resolvesTo('93.184.216.34')))).toBe('webhook_https_required');
    expect(await refusal(checkWebhookUrl('https://u:p@hooks.example.com/h', 'hooks.example.com', resolvesTo('93.184.216.34')))).toBe('webhook_url_invalid');
    expect(await refusal(checkWebhookUrl('ftp://hooks.example.com/h', 'hooks.example.com', resolvesTo('93.184.216.34')))).toBe('webhook_url_invalid');
    expect(await refusal(checkWebhookUrl('https://hooks.example.com/h', 'hooks.example.com', resolvesTo()))).toBe('webhook_host_unresolved');
  });

  it('tells public addresses from the rest', () => {
    expect(['93.184.216.34', '2606:4700::1111', '8.8.8.8'].map(isPublicAddress)).toEqual([true, true, true]);
    expect(['0.0.0.0', '172.31.255.255', '192.168.0.1', '224.0.0.1', 'fc00::1', 'not-an-ip'].map(isPublicAddress)).toEqual([
      false,
      false,
      false,
      false,
      false,
      false,
    ]);
  });
});

describe('webhook_url in the run request', () => {
  it('takes an absolute http(s) URL and refuses anything else with a sentence naming the field', () => {
    const base = { creator_id: 'c', video_id: 'v' };
    expect(parseRunRequest({ ...base, webhook_url: 'https://hooks.example.com/reel?x=1' }).webhook_url).toBe('https://hooks.example.com/reel?x=1');
    for (const bad of ['ftp://hooks.example.com/', '/relative', 'https://', 42, `https://h.example.com/${'a'.repeat(2048)}`]) {
      let details: unknown;
      try {
        parseRunRequest({ ...base, webhook_url: bad });
      } catch (error: unknown) {
        details = (error as { details?: unknown }).details;
      }
      expect(details, String(bad)).toEqual([expect.objectContaining({ field: 'webhook_url' })]);
    }
  });
});

describe('webhook retries', () => {
  it('retries connection errors, timeouts, 408, 429 and 5xx, never other 4xx or a redirect', () => {
    expect([{ error: 'ECONNREFUSED' }, { status: 408 }, { status: 429 }, { status: 500 }, { status: 503 }].map(isRetryablePost)).toEqual([
      true,
      true,
      true,
      true,
      true,
    ]);
    expect([{ status: 301 }, { status: 400 }, { status: 401 }, { status: 404 }].map(isRetryablePost)).toEqual([false, false, false, false]);
  });

  it('doubles the delay per attempt up to the 15 minutes SQS can delay a message', () => {
    expect([2, 3, 4, 5, 12].map((next) => retryDelaySeconds(30, next))).toEqual([30, 60, 120, 240, 900]);
    expect(retryDelaySeconds(0, 3)).toBe(0);
  });
});

describe('the signing secret', () => {
  const ARN = 'arn:aws:secretsmanager:us-east-1:000000000000:secret:webhook-AbCdEf';
  const reads: string[] = [];
  let server: Server | undefined;
  afterAll(() => new Promise<void>((ok) => (server ? server.close(() => ok()) : ok())));

  it('is WEBHOOK_SECRET as given, else WEBHOOK_SECRET_ARN read once from Secrets Manager, else a start-up error naming the setting', async () => {
    // prepare: a Secrets Manager stand-in answering GetSecretValue
    server = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        reads.push((JSON.parse(body) as { SecretId: string }).SecretId);
        res.writeHead(200, { 'content-type': 'application/x-amz-json-1.1' }).end(JSON.stringify({ ARN, SecretString: ' from-secrets-manager \n' }));
      });
    });
    await new Promise<void>((ok) => server!.listen(0, '127.0.0.1', () => ok()));
    const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const secrets = new SecretsManagerClient({ region: 'us-east-1', endpoint, credentials: { accessKeyId: 'x', secretAccessKey: 'x' } });

    // act
    const given = webhookSecretSource(readSettings({ WEBHOOK_SECRET: 'given', WEBHOOK_SECRET_ARN: ARN }), { secrets });
    const stored = webhookSecretSource(readSettings({ WEBHOOK_SECRET_ARN: ARN }), { secrets });
    const values = [await given.get(), await stored.get(), await stored.get()];

    // assess
    expect(values).toEqual(['given', 'from-secrets-manager', 'from-secrets-manager']);
    expect(reads).toEqual([ARN]);
    expect(() => webhookSecretSource(readSettings({}))).toThrow(/WEBHOOK_SECRET/);
  });
});
