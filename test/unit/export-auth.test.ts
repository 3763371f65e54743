import { spawnSync } from 'node:child_process';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exportAuthTokenSource, isAuthorizedExportRequest } from '../../shared/export/export-auth.js';
import { ExporterAuthError, ExporterUnavailableError } from '../../shared/export/exporter.js';
import { HttpExporter } from '../../shared/export/http-exporter.js';
import { readSettings } from '../../shared/settings.js';

/**
 * The export contract's shared secret on the worker's side: where the token comes from
 * (EXPORT_AUTH_TOKEN, or a Secrets Manager secret read once per cold start and again after a
 * 401), and the constant-time header check the export service uses.
 */
const ARN = 'arn:aws:secretsmanager:us-east-1:000000000000:secret:exporter-AbCdEf';

const listen = async (server: Server) => {
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', () => ok()));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
};
const bodyOf = (req: IncomingMessage) =>
  new Promise<string>((ok) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => ok(body));
  });

describe('the export service secret', () => {
  /** secret values the fake Secrets Manager hands out, one per read; `null` answers AccessDenied */
  let secretValues: Array<string | null> = [];
  const secretReads: string[] = [];
  /** Authorization headers the fake exporter saw */
  const seen: Array<string | undefined> = [];
  let accepted = '';
  let sm: Server;
  let exporterServer: Server;
  let secrets: SecretsManagerClient;
  let exporterUrl: string;

  beforeAll(async () => {
    sm = createServer((req, res) => void answerSecretsManager(req, res));
    async function answerSecretsManager(req: IncomingMessage, res: ServerResponse) {
      const { SecretId } = JSON.parse(await bodyOf(req)) as { SecretId: string };
      secretReads.push(SecretId);
      const value = secretValues.shift();
      res.writeHead(value === null ? 400 : 200, { 'content-type': 'application/x-amz-json-1.1' });
      res.end(JSON.stringify(value === null ? { __type: 'AccessDeniedException', message: 'not allowed' } : { ARN: SecretId, SecretString: value }));
    }
    secrets = new SecretsManagerClient({ region: 'us-east-1', endpoint: await listen(sm), credentials: { accessKeyId: 'x', secretAccessKey: 'x' } });
    exporterServer = createServer((req, res) => {
      seen.push(req.headers.authorization);
      const ok = isAuthorizedExportRequest(req.headers.authorization, accepted);
      res.writeHead(ok ? 200 : 401, { 'content-type': 'application/json' });
      res.end(JSON.stringify(ok ? { task_id: 't1', state: 'running' } : { error: 'unauthorized', message: 'no' }));
    });
    exporterUrl = await listen(exporterServer);
  });
  afterAll(async () => {
    await new Promise((ok) => sm?.close(ok));
    await new Promise((ok) => exporterServer?.close(ok));
  });

  it('reads the secret once per cold start, and again after the exporter answers 401 (the secret was rotated)', async () => {
    secretValues = ['first-token', JSON.stringify({ EXPORT_AUTH_TOKEN: 'second-token' })];
    secretReads.length = 0;
    seen.length = 0;
    accepted = 'second-token';
    const exporter = new HttpExporter(exporterUrl, exportAuthTokenSource(readSettings({ EXPORT_AUTH_SECRET_ARN: ARN }), { secrets }));

    const refused = await exporter.status('t1', 0).catch((error: unknown) => error);
    const answers = [await exporter.status('t1', 0), await exporter.status('t1', 0)];

    expect(refused).toBeInstanceOf(ExporterAuthError);
    expect(answers.map((a) => a.state)).toEqual(['running', 'running']);
    expect(secretReads).toEqual([ARN, ARN]);
    expect(seen).toEqual(['Bearer first-token', 'Bearer second-token', 'Bearer second-token']);
  });

  it('uses EXPORT_AUTH_TOKEN as given, without Secrets Manager', async () => {
    secretReads.length = 0;
    seen.length = 0;
    accepted = 'plain-token';
    const exporter = new HttpExporter(
      exporterUrl,
      exportAuthTokenSource(readSettings({ EXPORT_AUTH_TOKEN: 'plain-token', EXPORT_AUTH_SECRET_ARN: ARN }), { secrets }),
    );

    await exporter.status('t1', 0);

    expect(seen).toEqual(['Bearer plain-token']);
    expect(secretReads).toEqual([]);
  });

  it('waits out an unreadable secret like an outage (the task stays queued), and fails at start-up without either setting', async () => {
    secretValues = [null];
    seen.length = 0;
    const exporter = new HttpExporter(exporterUrl, exportAuthTokenSource(readSettings({ EXPORT_AUTH_SECRET_ARN: ARN }), { secrets }));

    const error = await exporter.status('t1', 0).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(ExporterUnavailableError);
    expect((error as Error).message).toMatch(/EXPORT_AUTH_SECRET_ARN.*AccessDeniedException/);
    expect(seen).toEqual([]);
    expect(() => exportAuthTokenSource(readSettings({}), { secrets })).toThrow(/Missing required setting EXPORT_AUTH_TOKEN/);
  });

  it('keeps the Lambda export worker with the http exporter from starting without the secret, naming the setting', () => {
    const env = {
      PATH: process.env.PATH,
      AWS_REGION: 'us-east-1',
      TABLE_NAME: 't',
      BUCKET_NAME: 'b',
      EXPORT_QUEUE_URL: 'http://q',
      EXPORTER: 'http',
      EXPORT_VIDEO_URL: 'https://exporter.example.com',
    };

    const started = spawnSync(process.execPath, ['--import', 'tsx', '-e', "await import('./lambdas/export/index.ts')"], { env, encoding: 'utf8' });

    expect(started.status).not.toBe(0);
    expect(started.stderr).toMatch(/Missing required setting EXPORT_AUTH_TOKEN: the export service needs its shared secret/);
  });

  it('accepts only the exact bearer token', () => {
    expect(isAuthorizedExportRequest('Bearer s3cret', 's3cret')).toBe(true);
    expect(isAuthorizedExportRequest('bearer s3cret', 's3cret')).toBe(true);
    for (const header of [undefined, null, '', 's3cret', 'Basic s3cret', 'Bearer s3cre', 'Bearer s3cret2', 'Bearer s3cret extra', 'Bearer ']) {
      expect(isAuthorizedExportRequest(header, 's3cret'), String(header)).toBe(false);
    }
    expect(isAuthorizedExportRequest('Bearer ', ''), 'an empty secret opens nothing').toBe(false);
  });
});
