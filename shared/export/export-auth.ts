/**
 * The shared secret of the export contract. Every worker → exporter request carries it as
 * `Authorization: Bearer <token>`; the exporter compares it in constant time and answers 401
 * without it.
 *
 * Why a bearer token and not an HMAC signature: the contract's requests include a long-poll GET
 * and a streamed video download, and the team's exporter (the JianYing box, behind any web
 * server) can check one header with a string compare in any language. An HMAC would add replay
 * protection only with timestamps and clock agreement, which HTTPS — required for an exporter
 * reachable from AWS — already gives against an eavesdropper.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { GetSecretValueCommand, type SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { ConfigError, errorMessage, errorName } from '../errors.js';
import { rememberUntilFailure, secretsManagerFor } from '../secret-source.js';
import type { Settings } from '../settings.js';
import { ExporterAuthError } from './exporter.js';

/** Gives the exporter's token; `forget()` drops a cached secret so the next call reads it again (after a 401: it was rotated). */
export interface ExportAuthTokenSource {
  token(): Promise<string>;
  forget(): void;
}

/** The `Authorization` header value for `token`. */
export function exportAuthHeader(token: string): string {
  return `Bearer ${token}`;
}

/**
 * Whether an `Authorization` header carries `token` as a bearer token. Both sides are hashed
 * first, so the constant-time compare also hides the expected token's length.
 */
export function isAuthorizedExportRequest(header: string | undefined | null, token: string): boolean {
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header ?? '');
  if (!match || !token) return false;
  const given = createHash('sha256').update(match[1]).digest();
  const expected = createHash('sha256').update(token).digest();
  return timingSafeEqual(given, expected);
}

/** The token inside a secret: the whole SecretString, or its `EXPORT_AUTH_TOKEN` / `token` field when it is JSON. */
export function exportTokenFromSecretString(secret: string): string {
  const text = secret.trim();
  if (!text.startsWith('{')) return text;
  try {
    const fields = JSON.parse(text) as Record<string, unknown>;
    for (const name of ['EXPORT_AUTH_TOKEN', 'token']) if (typeof fields[name] === 'string') return fields[name].trim();
  } catch {
    // not JSON after all: the whole string is the token
  }
  return text;
}

/**
 * `EXPORT_AUTH_TOKEN` as is; else the secret `EXPORT_AUTH_SECRET_ARN`, read once per cold start
 * (the read starts here, at module scope of the Lambda) and again after {@link
 * ExportAuthTokenSource.forget}. Neither set is a {@link ConfigError} naming the setting, at
 * start-up. A failed read rejects with {@link ExporterAuthError}: the worker waits it out like an
 * outage (the task stays queued) instead of failing tasks over a credential problem.
 */
export function exportAuthTokenSource(
  settings: Pick<Settings, 'exportAuthToken' | 'exportAuthSecretArn'>,
  options: { secrets?: SecretsManagerClient } = {},
): ExportAuthTokenSource {
  if (settings.exportAuthToken) {
    const token = settings.exportAuthToken;
    return { token: () => Promise.resolve(token), forget: () => undefined };
  }
  const arn = settings.exportAuthSecretArn;
  if (!arn) throw new ConfigError('EXPORT_AUTH_TOKEN', 'the export service needs its shared secret: set EXPORT_AUTH_TOKEN or EXPORT_AUTH_SECRET_ARN');
  const client = options.secrets ?? secretsManagerFor(arn);
  const read = async (): Promise<string> => {
    let secret: string | undefined;
    try {
      secret = (await client.send(new GetSecretValueCommand({ SecretId: arn }))).SecretString;
    } catch (error: unknown) {
      throw new ExporterAuthError(`The export service's secret (EXPORT_AUTH_SECRET_ARN) cannot be read: ${errorName(error)}: ${errorMessage(error)}`, {
        cause: error,
      });
    }
    const token = exportTokenFromSecretString(secret ?? '');
    if (!token) throw new ExporterAuthError('The secret named by EXPORT_AUTH_SECRET_ARN holds no token (a plain string, or JSON with "EXPORT_AUTH_TOKEN").');
    return token;
  };
  // A failed read is not remembered: the next request reads again. The caller still sees the error.
  const secret = rememberUntilFailure(read);
  return { token: secret.get, forget: secret.forget };
}
