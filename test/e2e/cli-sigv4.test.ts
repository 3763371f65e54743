import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { runReel } from '../support/reel-cli.js';

/**
 * `reel` against an API that requires AWS Signature Version 4 (API Gateway with IAM auth), played
 * by a local stub that verifies each signature by recomputing it — written here from AWS's
 * documented algorithm, not with the signing library the CLI uses — with the same secret.
 */
const ACCESS_KEY = 'AKIDREELTEST';
const SECRET = 'reel-test-secret/+abc';
const REGION = 'eu-west-1';
const creds = { AWS_ACCESS_KEY_ID: ACCESS_KEY, AWS_SECRET_ACCESS_KEY: SECRET, AWS_PROFILE: '', AWS_REGION: '' };

interface Seen {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: Buffer;
  /** 'valid', or why not */
  verdict: string;
}
let server: Server;
let api: string;
let dir: string;
const seen: Seen[] = [];

const sha256 = (data: Buffer | string) => createHash('sha256').update(data).digest('hex');
const hmac = (key: Buffer | string, data: string) => createHmac('sha256', key).update(data).digest();
/** RFC 3986 encoding, as SigV4 wants it */
const enc = (s: string) => encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);

/** 'valid', or why the request's signature does not hold. */
function verify(method: string, rawUrl: string, headers: IncomingHttpHeaders, body: Buffer): string {
  const auth = /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request, ?SignedHeaders=([^,]+), ?Signature=([0-9a-f]{64})$/.exec(
    String(headers.authorization ?? ''),
  );
  if (!auth) return 'no SigV4 authorization header';
  const [, key, day, region, service, signedHeaders, signature] = auth;
  if (key !== ACCESS_KEY) return `unknown access key ${key}`;
  if (region !== REGION || service !== 'execute-api') return `wrong scope ${region}/${service}`;
  const amzDate = String(headers['x-amz-date'] ?? '');
  const names = signedHeaders.split(';');
  if (!names.includes('host') || !names.includes('x-amz-date') || !amzDate.startsWith(day)) return 'host and x-amz-date must be signed';
  const url = new URL(rawUrl, 'http://stub');
  // Not S3: every path segment is encoded once more.
  const canonicalUri = url.pathname
    .split('/')
    .map((segment) => enc(segment))
    .join('/');
  const canonicalQuery = [...url.searchParams]
    .map(([k, v]) => [enc(k), enc(v)])
    .sort(([a, x], [b, y]) => (a === b ? (x < y ? -1 : 1) : a < b ? -1 : 1))
    .map(([k, v]) => `${k}=${v}`)
    .join('&');
  const canonicalHeaders = names
    .map(
      (n) =>
        `${n}:${String(headers[n] ?? '')
          .trim()
          .replace(/\s+/g, ' ')}\n`,
    )
    .join('');
  const canonicalRequest = [method, canonicalUri, canonicalQuery, canonicalHeaders, signedHeaders, sha256(body)].join('\n');
  const scope = `${day}/${region}/${service}/aws4_request`;
  const stringToSign = ['AWS4-HMAC-SHA256', amzDate, scope, sha256(canonicalRequest)].join('\n');
  const signingKey = hmac(hmac(hmac(hmac(`AWS4${SECRET}`, day), region), service), 'aws4_request');
  const expected = createHmac('sha256', signingKey).update(stringToSign).digest();
  return timingSafeEqual(expected, Buffer.from(signature, 'hex')) ? 'valid' : 'signature mismatch';
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'reel-sigv4-'));
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const verdict = verify(req.method!, req.url!, req.headers, body);
      seen.push({ method: req.method!, url: req.url!, headers: req.headers, body, verdict });
      const send = (status: number, json: unknown) => res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(json));
      if (verdict !== 'valid') return send(403, { message: `The request signature we calculated does not match the signature you provided (${verdict}).` });
      if (req.method === 'GET' && req.url!.startsWith('/prod/api/pipeline/tasks')) return send(200, { tasks: [] });
      if (req.method === 'POST' && req.url === '/prod/api/pipeline/run') return send(202, { task_id: 'stub-task', status: 'RUNNING' });
      if (req.method === 'PUT' && req.url!.includes('/media/')) {
        if (!body.length) return send(400, { error: 'empty_file', message: 'The file is empty.' });
        return send(201, { key: 'sources/c/v/media/x', file_name: decodeURIComponent(req.url!.split('/').pop()!), size: body.length });
      }
      send(404, { error: 'not_found', message: 'no route' });
    });
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', () => ok()));
  const address = server.address();
  api = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}/prod`;
});
afterAll(async () => {
  await new Promise<void>((ok) => server?.close(() => ok()));
  rmSync(dir, { recursive: true, force: true });
});
beforeEach(() => {
  seen.length = 0;
});

describe('reel with --region / --sigv4 (execute-api)', () => {
  it('signs a GET with a query string from the standard credential chain', async () => {
    const run = await runReel(['list', '--api', api, '--region', REGION, '--status', 'FAILED', '--limit', '5', '--json'], { env: creds });

    expect(run.code, run.stderr).toBe(0);
    expect(JSON.parse(run.stdout)).toEqual({ tasks: [] });
    expect(seen.map((s) => [s.method, s.url, s.verdict])).toEqual([['GET', '/prod/api/pipeline/tasks?status=FAILED&limit=5', 'valid']]);
  });

  it('signs a submission body and a streamed upload (its sha256 in the signature) after the empty PUT that asks for a form', async () => {
    const file = join(dir, '01 山顶.png');
    writeFileSync(file, Buffer.from('89504e470d0a1a0a0000000d49484452', 'hex'));

    const run = await runReel(
      ['submit', '--api', api, '--sigv4', '--region', REGION, '--creator-id', 'c', '--video-id', 'v', '--upload-media', file, '--json'],
      {
        env: creds,
      },
    );

    expect(run.code, run.stderr).toBe(0);
    expect(JSON.parse(run.stdout)).toMatchObject({ task_id: 'stub-task', uploads: [{ file_name: '01 山顶.png', via: 'api' }] });
    expect(seen.map((s) => [s.method, s.body.length, s.verdict])).toEqual([
      ['PUT', 0, 'valid'],
      ['PUT', 16, 'valid'],
      ['POST', expect.any(Number), 'valid'],
    ]);
    expect(JSON.parse(seen[2].body.toString('utf8'))).toEqual({ creator_id: 'c', video_id: 'v' });
  });

  it('is refused when signed with another secret: the 403 sentence and exit 1', async () => {
    const run = await runReel(['list', '--api', api, '--region', REGION], { env: { ...creds, AWS_SECRET_ACCESS_KEY: 'another-secret' } });

    expect(run.code).toBe(1);
    expect(run.stderr).toContain('The request signature we calculated does not match');
    expect(seen.map((s) => s.verdict)).toEqual(['signature mismatch']);
  });

  it('a signed request replayed with a tampered body, path or query is rejected; replayed as signed it verifies', async () => {
    const run = await runReel(['submit', '--api', api, '--region', REGION, '--creator-id', 'c', '--video-id', 'v'], { env: creds });
    expect(run.code, run.stderr).toBe(0);
    const signed = seen[0];
    const headers = Object.fromEntries(Object.entries(signed.headers).filter(([k]) => k !== 'content-length' && k !== 'connection')) as Record<string, string>;
    const origin = api.replace(/\/prod$/, '');
    const replay = (url: string, body: string) => fetch(`${origin}${url}`, { method: 'POST', headers, body });

    const asSigned = await replay(signed.url, signed.body.toString('utf8'));
    const body = await replay(signed.url, signed.body.toString('utf8').replace('"v"', '"w"'));
    const path = await replay(signed.url.replace('/run', '/run2'), signed.body.toString('utf8'));
    const query = await replay(`${signed.url}?x=1`, signed.body.toString('utf8'));

    expect(asSigned.status).toBe(202);
    expect([body.status, path.status, query.status]).toEqual([403, 403, 403]);
    expect(seen.slice(1).map((s) => s.verdict)).toEqual(['valid', 'signature mismatch', 'signature mismatch', 'signature mismatch']);
  });
});
