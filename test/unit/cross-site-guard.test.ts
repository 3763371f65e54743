import { Hono } from 'hono';
import { describe, expect, it } from 'vitest';
import { crossSiteGuard, isAllowedHost, parseAllowedHosts } from '../../lambdas/api/cross-site-guard.js';

/** A tiny app behind the guard that counts what reached the route. */
function guarded(setting: string) {
  const reached: string[] = [];
  const app = new Hono();
  app.use('*', crossSiteGuard(setting));
  app.get('/api/x', (c) => (reached.push('GET'), c.json({ ok: true })));
  app.post('/api/x', (c) => (reached.push('POST'), c.json({ ok: true })));
  app.put('/api/x', (c) => (reached.push('PUT'), c.json({ ok: true })));
  app.delete('/api/x', (c) => (reached.push('DELETE'), c.json({ ok: true })));
  const call = async (method: string, headers: Record<string, string>) => {
    const res = await app.request('http://ignored/api/x', { method, headers });
    return { status: res.status, body: (await res.json()) as { error?: string; message?: string } };
  };
  return { call, reached };
}

const HOSTS = '127.0.0.1:51082,localhost:51082,reel.lan';

describe('the Host allow-list', () => {
  it('reads host:port entries, bare hosts (any port), IPv6 in brackets, and * as no check', () => {
    const allowed = parseAllowedHosts(`${HOSTS}, [::1]:51082`);
    expect(isAllowedHost(allowed, '127.0.0.1:51082')).toBe(true);
    expect(isAllowedHost(allowed, 'LOCALHOST:51082')).toBe(true);
    expect(isAllowedHost(allowed, 'reel.lan:8080')).toBe(true);
    expect(isAllowedHost(allowed, '[::1]:51082')).toBe(true);
    expect(isAllowedHost(allowed, '127.0.0.1:51083')).toBe(false);
    expect(isAllowedHost(allowed, 'evil.example:51082')).toBe(false);
    expect(isAllowedHost(allowed, undefined)).toBe(false);
    expect(parseAllowedHosts('')).toBeUndefined();
    expect(parseAllowedHosts('a.example, *')).toBeUndefined();
  });

  it('refuses a rebound name on every route, reads included, with 403 host_not_allowed', async () => {
    const { call, reached } = guarded(HOSTS);
    const read = await call('GET', { host: 'evil.example:51082' });
    expect(read.status).toBe(403);
    expect(read.body.error).toBe('host_not_allowed');
    expect(read.body.message).toMatch(/does not answer for the host "evil\.example:51082"/);
    expect((await call('POST', { host: 'evil.example:51082' })).status).toBe(403);
    expect(reached).toEqual([]);
    expect((await call('GET', { host: '127.0.0.1:51082' })).status).toBe(200);
  });
});

describe('state-changing requests from another site', () => {
  it.each([
    ['Sec-Fetch-Site: cross-site', { 'sec-fetch-site': 'cross-site' }],
    ['Sec-Fetch-Site: same-site (another port of localhost)', { 'sec-fetch-site': 'same-site' }],
    ['an Origin of another host', { origin: 'http://evil.example' }],
    ['an Origin of another port', { origin: 'http://localhost:3000' }],
    ['Origin: null (a sandboxed frame)', { origin: 'null' }],
  ])('refuses %s with 403 cross_site_request and runs nothing', async (_what, headers) => {
    const { call, reached } = guarded(HOSTS);
    for (const method of ['POST', 'PUT', 'DELETE']) {
      const out = await call(method, { host: 'localhost:51082', ...headers });
      expect(out.status).toBe(403);
      expect(out.body.error).toBe('cross_site_request');
      expect(out.body.message).toMatch(/^A page on another site cannot change anything here/);
    }
    expect(reached).toEqual([]);
  });

  it('lets the page itself, curl-like clients and cross-site reads through', async () => {
    const { call, reached } = guarded(HOSTS);
    expect((await call('POST', { host: 'localhost:51082', origin: 'http://localhost:51082', 'sec-fetch-site': 'same-origin' })).status).toBe(200);
    expect((await call('PUT', { host: '127.0.0.1:51082' })).status).toBe(200);
    expect((await call('DELETE', { host: '127.0.0.1:51082', 'sec-fetch-site': 'none' })).status).toBe(200);
    // A cross-site GET cannot read the answer (no CORS headers) and changes nothing.
    expect((await call('GET', { host: '127.0.0.1:51082', 'sec-fetch-site': 'cross-site' })).status).toBe(200);
    expect(reached).toEqual(['POST', 'PUT', 'DELETE', 'GET']);
  });

  it('checks Origin against Host where no Host list is set (API Gateway)', async () => {
    const { call } = guarded('');
    expect((await call('POST', { host: 'abc.execute-api.eu-west-1.amazonaws.com' })).status).toBe(200);
    const out = await call('POST', { host: 'abc.execute-api.eu-west-1.amazonaws.com', origin: 'https://evil.example' });
    expect(out.status).toBe(403);
    expect(out.body.error).toBe('cross_site_request');
  });
});
