import { createHash } from 'node:crypto';
import { Hono, type Context } from 'hono';
import { CONSOLE_CSS, CONSOLE_HTML } from './console-page.js';
import { CONSOLE_SCRIPT } from './console-script.js';

/**
 * The operators' console (docs/console.md): `GET /` (the page), `/console/console.js`,
 * `/console/console.css`. Everything it shows it reads from the HTTP API of the same app; the
 * policy below lets the page load and call nothing but this origin, run no inline script, and be
 * framed by no other page.
 */
export const CONSOLE_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self'",
  "media-src 'self'",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

const ASSETS = {
  '/': { body: CONSOLE_HTML, type: 'text/html; charset=utf-8' },
  '/console/console.js': { body: CONSOLE_SCRIPT, type: 'text/javascript; charset=utf-8' },
  '/console/console.css': { body: CONSOLE_CSS, type: 'text/css; charset=utf-8' },
} as const;

export function consoleRoutes() {
  const app = new Hono();
  for (const [path, asset] of Object.entries(ASSETS)) {
    const etag = `"${createHash('sha256').update(asset.body).digest('base64url').slice(0, 27)}"`;
    app.get(path, (c: Context) => {
      c.header('content-security-policy', CONSOLE_CSP);
      c.header('x-content-type-options', 'nosniff');
      c.header('referrer-policy', 'no-referrer');
      c.header('x-frame-options', 'DENY');
      c.header('cache-control', 'no-cache');
      c.header('etag', etag);
      if (c.req.header('if-none-match') === etag) return c.body(null, 304);
      return c.body(asset.body, 200, { 'content-type': asset.type });
    });
  }
  // Browsers ask for it unprompted; no icon, and no 404 in the page's console.
  app.get('/favicon.ico', (c) => c.body(null, 204));
  return app;
}
