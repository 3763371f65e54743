import { createHmac, timingSafeEqual } from 'node:crypto';

/** The header every delivery carries: `sha256=<hex of HMAC-SHA256(secret, raw body)>`. */
export const SIGNATURE_HEADER = 'X-Reel-Signature';

/** How old a delivery's `sent_at` may be before {@link verifyWebhook} refuses it, by default. */
export const DEFAULT_TOLERANCE_SECONDS = 300;

/** The value of {@link SIGNATURE_HEADER} for this body. */
export function signWebhook(secret: string, rawBody: string | Uint8Array): string {
  return `sha256=${createHmac('sha256', secret).update(rawBody).digest('hex')}`;
}

export type WebhookVerification =
  { ok: true; event: Record<string, unknown> } | { ok: false; reason: 'missing_signature' | 'bad_signature' | 'malformed_body' | 'stale' };

/**
 * Checks a delivery as a receiver gets it: the header must be the HMAC of the exact bytes
 * received (compare before parsing: a re-serialized body no longer matches), and the body's
 * `sent_at` — covered by the signature — must be within `toleranceSeconds` of now, so a
 * recorded delivery cannot be replayed later.
 *
 * @example
 * const check = verifyWebhook(process.env.WEBHOOK_SECRET!, rawBody, req.headers['x-reel-signature']);
 * if (!check.ok) return res.writeHead(401).end(check.reason);
 * const { task_id, status, redrives } = check.event; // dedupe on these three
 */
export function verifyWebhook(
  secret: string,
  rawBody: string | Uint8Array,
  header: string | undefined | null,
  options: { toleranceSeconds?: number; now?: number } = {},
): WebhookVerification {
  if (!header) return { ok: false, reason: 'missing_signature' };
  const expected = Buffer.from(signWebhook(secret, rawBody));
  const given = Buffer.from(header.trim());
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return { ok: false, reason: 'bad_signature' };
  let event: unknown;
  try {
    event = JSON.parse(typeof rawBody === 'string' ? rawBody : Buffer.from(rawBody).toString('utf8'));
  } catch {
    return { ok: false, reason: 'malformed_body' };
  }
  if (!event || typeof event !== 'object' || Array.isArray(event)) return { ok: false, reason: 'malformed_body' };
  const sentAt = Date.parse(String((event as { sent_at?: unknown }).sent_at));
  if (!Number.isFinite(sentAt)) return { ok: false, reason: 'malformed_body' };
  const tolerance = (options.toleranceSeconds ?? DEFAULT_TOLERANCE_SECONDS) * 1000;
  if (Math.abs((options.now ?? Date.now()) - sentAt) > tolerance) return { ok: false, reason: 'stale' };
  return { ok: true, event: event as Record<string, unknown> };
}
