import { GetSecretValueCommand, type SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { ConfigError, TransientStageError, errorMessage, errorName } from '../errors.js';
import { rememberUntilFailure, secretsManagerFor } from '../secret-source.js';
import type { Settings } from '../settings.js';

/** Gives the Gemini API key; asked before every request, answers from memory after the first time. */
export type ApiKeySource = () => Promise<string>;

/** Secrets Manager errors that a retry cannot fix: the setting or the permissions are wrong. */
const CONFIG_ERRORS = new Set([
  'ResourceNotFoundException',
  'AccessDeniedException',
  'DecryptionFailure',
  'InvalidParameterException',
  'InvalidRequestException',
]);

/** The key inside a secret: the whole SecretString, or one of these fields of a JSON secret. */
const KEY_FIELDS = ['GEMINI_API_KEY', 'apiKey', 'api_key', 'key'];

export function apiKeyFromSecretString(secret: string): string {
  const text = secret.trim();
  if (!text.startsWith('{')) return text;
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return text;
  }
  const fields = (typeof parsed === 'object' && parsed !== null ? parsed : {}) as Record<string, unknown>;
  for (const name of KEY_FIELDS) if (typeof fields[name] === 'string') return fields[name].trim();
  const strings = Object.values(fields).filter((v): v is string => typeof v === 'string');
  return strings.length === 1 ? strings[0].trim() : '';
}

/**
 * `GEMINI_API_KEY` as is; else the secret `GEMINI_API_KEY_SECRET_ARN`, fetched once per cold
 * start: the fetch starts when the provider is built (module scope of the Lambda) and every call
 * awaits the same answer. A failed fetch is not remembered, so the next invocation tries again;
 * a missing secret or a denied read is a {@link ConfigError} naming the setting.
 */
export function geminiApiKeySource(
  settings: Pick<Settings, 'geminiApiKey' | 'geminiApiKeySecretArn'>,
  options: { secrets?: SecretsManagerClient } = {},
): ApiKeySource {
  if (settings.geminiApiKey) {
    const key = settings.geminiApiKey;
    return () => Promise.resolve(key);
  }
  const arn = settings.geminiApiKeySecretArn;
  if (!arn) throw new ConfigError('GEMINI_API_KEY', 'set GEMINI_API_KEY or GEMINI_API_KEY_SECRET_ARN to use Gemini');
  const client = options.secrets ?? secretsManagerFor(arn);
  const fetchKey = async (): Promise<string> => {
    let secret: string | undefined;
    try {
      secret = (await client.send(new GetSecretValueCommand({ SecretId: arn }))).SecretString;
    } catch (error: unknown) {
      if (CONFIG_ERRORS.has(errorName(error))) {
        throw new ConfigError('GEMINI_API_KEY_SECRET_ARN', `the secret cannot be read (${errorName(error)}: ${errorMessage(error)})`);
      }
      throw new TransientStageError(`Reading the Gemini API key from Secrets Manager failed: ${errorMessage(error)}`, { cause: error });
    }
    const key = apiKeyFromSecretString(secret ?? '');
    if (!key) throw new ConfigError('GEMINI_API_KEY_SECRET_ARN', 'the secret holds no API key (a plain string, or JSON with "GEMINI_API_KEY")');
    return key;
  };
  // A failure is forgotten so the next invocation fetches again; the caller still sees the error.
  const key = rememberUntilFailure(fetchKey);
  return key.get;
}
