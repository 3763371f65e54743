import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';

/** A value read once and remembered; read again after a failure or after `forget()`. */
export interface RememberedValue<T> {
  get: () => Promise<T>;
  /** drop the remembered value (a rotated secret): the next `get()` reads again */
  forget: () => void;
}

/**
 * Starts `read` now (at cold start, when called at module scope) and answers every `get()` with
 * that same read. A failed read is not remembered: the next `get()` reads again, while the caller
 * of the failed one still sees its error. The Gemini API key and the export service's token
 * are read from Secrets Manager this way.
 */
export function rememberUntilFailure<T>(read: () => Promise<T>): RememberedValue<T> {
  let pending: Promise<T> | undefined;
  const start = () => {
    const attempt = read();
    pending = attempt;
    attempt.catch(() => {
      if (pending === attempt) pending = undefined;
    });
    return attempt;
  };
  void start();
  return {
    get: () => pending ?? start(),
    forget: () => {
      pending = undefined;
    },
  };
}

/** A Secrets Manager client in the secret's own region (`arn:aws:secretsmanager:<region>:…`). */
export function secretsManagerFor(arn: string): SecretsManagerClient {
  const parts = arn.split(':');
  const region = parts[0] === 'arn' && parts[2] === 'secretsmanager' && parts[3] ? parts[3] : undefined;
  return new SecretsManagerClient({ region });
}
