import type { Context, MiddlewareHandler } from 'hono';

/**
 * Two checks in front of every route, so that a page on another site cannot drive the API (and
 * through it the console) from a visitor's browser:
 *
 * - `Host` must be one of the allowed hosts (`API_ALLOWED_HOSTS`), on every route. A page at
 *   `http://evil.example` whose name is rebound to 127.0.0.1 (DNS rebinding) reaches the
 *   embedded stack with `Host: evil.example:51082`, and is refused before it can read or change
 *   anything. An empty list checks nothing (API Gateway routes only the API's own domains).
 * - A state-changing request (anything but GET, HEAD, OPTIONS) that a browser marks as coming
 *   from another site is refused: `Sec-Fetch-Site` other than `same-origin` or `none`, or an
 *   `Origin` whose host differs from `Host` (`null` included). Clients that send neither header
 *   (curl, the CLI, the SDKs) pass: a browser always sends `Origin` on a cross-origin POST.
 */
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/** One entry of the allow-list: a host name or address, with a port or any port. */
interface AllowedHost {
  host: string;
  port?: string;
}

/** `host:port`, `[v6]:port`, `host` or `[v6]` → host (lower case, without brackets) and port. */
export function splitHostPort(value: string): AllowedHost {
  const text = value.trim().toLowerCase();
  const v6 = /^\[([^\]]*)\](?::(\d*))?$/.exec(text);
  if (v6) return { host: v6[1], ...(v6[2] ? { port: v6[2] } : {}) };
  const colon = text.lastIndexOf(':');
  // A bare IPv6 address has several colons and no port.
  if (colon > 0 && text.indexOf(':') === colon) return { host: text.slice(0, colon), port: text.slice(colon + 1) };
  return { host: text };
}

/**
 * Reads `API_ALLOWED_HOSTS`: `undefined` when every host is allowed (empty, or `*` in it).
 *
 * @example
 * parseAllowedHosts('127.0.0.1:51082, localhost:51082, reel.lan'); // 3 entries; reel.lan on any port
 */
export function parseAllowedHosts(setting: string): AllowedHost[] | undefined {
  const entries = setting
    .split(',')
    .map((e) => e.trim())
    .filter(Boolean);
  if (entries.length === 0 || entries.includes('*')) return undefined;
  return entries.map(splitHostPort);
}

/** Whether a `Host` header names one of the allowed hosts. */
export function isAllowedHost(allowed: AllowedHost[] | undefined, hostHeader: string | undefined): boolean {
  if (!allowed) return true;
  if (!hostHeader) return false;
  const { host, port } = splitHostPort(hostHeader);
  return allowed.some((a) => a.host === host && (a.port === undefined || a.port === (port ?? '')));
}

/** Why a state-changing request is cross-site, or `undefined` when it is not. */
export function crossSiteReason(headers: { origin?: string; secFetchSite?: string; host?: string }): string | undefined {
  const site = headers.secFetchSite?.trim().toLowerCase();
  if (site && site !== 'same-origin' && site !== 'none') return `the browser marked it Sec-Fetch-Site: ${site}`;
  const origin = headers.origin?.trim();
  if (origin === undefined || origin === '') return undefined;
  let originHost: string;
  try {
    originHost = new URL(origin).host.toLowerCase();
  } catch {
    return `its Origin (${origin.slice(0, 100)}) is not a web origin`;
  }
  const host = (headers.host ?? '').trim().toLowerCase();
  if (originHost !== host) return `it came from ${origin.slice(0, 100)}, not from ${host || 'this host'}`;
  return undefined;
}

/** The middleware; answers 403 `host_not_allowed` or `cross_site_request` and never calls the route. */
export function crossSiteGuard(allowedHostsSetting: string): MiddlewareHandler {
  const allowed = parseAllowedHosts(allowedHostsSetting);
  const refuse = (c: Context, error: string, message: string) => {
    c.header('vary', 'Origin, Sec-Fetch-Site');
    return c.json({ error, message }, 403);
  };
  return async (c, next) => {
    const host = c.req.header('host');
    if (!isAllowedHost(allowed, host)) {
      return refuse(
        c,
        'host_not_allowed',
        `This server does not answer for the host "${(host ?? '').slice(0, 100)}"; use its own address, or add the name to API_ALLOWED_HOSTS.`,
      );
    }
    if (!SAFE_METHODS.has(c.req.method)) {
      const reason = crossSiteReason({ origin: c.req.header('origin'), secFetchSite: c.req.header('sec-fetch-site'), host });
      if (reason) {
        return refuse(
          c,
          'cross_site_request',
          `A page on another site cannot change anything here (${reason}); use the console on this host, or a client such as curl.`,
        );
      }
    }
    await next();
  };
}
