import { ConfigError } from './errors.js';
import { DEFAULT_DEFINITION_OPTIONS } from './state-machine.js';

/**
 * Every setting the handlers read, from the environment, with its default. The README's
 * settings table is written from this list; keep them together.
 */
export interface Settings {
  tableName: string;
  bucketName: string;
  stateMachineArn: string;
  exportQueueUrl: string;
  exportVideoUrl: string;
  /** the export service's shared secret, sent as `Authorization: Bearer …` on every request */
  exportAuthToken: string;
  /** Secrets Manager secret holding that token, read once per cold start (used when EXPORT_AUTH_TOKEN is empty) */
  exportAuthSecretArn: string;
  /** lease of the creator+video lock between submission and the first state */
  submitLockLeaseSeconds: number;
  /** `inline` answers artifact bytes; `redirect` answers 302 to a presigned URL (API Gateway) */
  artifactDelivery: 'inline' | 'redirect';
  presignSeconds: number;
  s3ForcePathStyle: boolean;
  /** export worker: how long a received message stays invisible, renewed while the job runs */
  exportVisibilitySeconds: number;
  /** export worker: long-poll wait of the job status call */
  exportPollSeconds: number;
  /** API: the Export state's timeout (set by the stack from the definition): no export is accepted that could not finish within it */
  exportTimeoutSeconds: number;
  /** API: export time per video assumed until exports have been measured */
  exportAssumedSeconds: number;
  /** API: how long one export backlog estimate is used before the table is read again */
  exportBacklogRefreshSeconds: number;
  /** export worker: a job still running this long after the exporter accepted it is cancelled and the attempt retried (0: no limit) */
  exportMaxJobSeconds: number;

  // TTS providers and the CapCut/JianYing draft folder — see README "Settings" and docs/providers.md
  /** TTS engine: `espeak` (offline), `polly`, or `http` (the team's service at `ttsUrl`) */
  ttsProvider: TtsProviderName;
  /** the team's TTS service (provider `http`) */
  ttsUrl: string;
  /** provider `http`: time one request may take */
  ttsHttpTimeoutSeconds: number;
  /** characters per provider request; 0 = the provider's own limit (polly 3000, http 1000) */
  ttsMaxCharsPerRequest: number;
  /** provider `polly`: engine (`neural`) */
  pollyEngine: string;
  /** provider `polly`: voice overrides per language and gender; '' = the built-in table */
  pollyVoiceEnMale: string;
  pollyVoiceEnFemale: string;
  pollyVoiceCmnMale: string;
  pollyVoiceCmnFemale: string;
  /** provider `polly`: endpoint override (the SDK's own variable; a local fake in tests) */
  pollyEndpoint: string;
  /** draft: also copy each CapCut/JianYing draft folder here (atomically); '' = don't */
  draftLocalDir: string;

  // Story (Gemini) and the shared rate limiter — see README "Settings" and docs/providers.md
  /** Gemini API key; with it (or the secret below) the story stage uses Gemini */
  geminiApiKey: string;
  /** Secrets Manager secret holding the Gemini API key, read once per cold start */
  geminiApiKeySecretArn: string;
  geminiModel: string;
  /** another Gemini endpoint (a proxy, a test server); empty: Google's */
  geminiBaseUrl: string;
  /** one Gemini request's time limit; beyond it the stage fails transiently and is retried */
  geminiTimeoutSeconds: number;
  /** the narration's language (BCP 47, e.g. `zh-CN`), or `auto`: the source's language */
  storyLanguage: string;
  /** narration length aimed at, in characters (at most 1.5 times this is accepted) */
  storyTargetChars: number;
  /** Gemini requests per minute across all tasks (0: no limit) */
  storyRpm: number;
  /** TTS requests per minute across all tasks (0: no limit) */
  ttsRpm: number;
  /** TTS requests in flight at once across all tasks (0: no limit) */
  ttsMaxConcurrency: number;
  /** the longest a stage waits for the rate limiter inside one invocation; longer waits go to the state machine */
  rateLimitMaxWaitSeconds: number;
  /** lease of a concurrency slot, renewed while held; a crashed holder's slot returns after it */
  rateLimitLeaseSeconds: number;
}

type Env = Record<string, string | undefined>;

export const TTS_PROVIDERS = ['espeak', 'polly', 'http'] as const;
export type TtsProviderName = (typeof TTS_PROVIDERS)[number];

/** `TTS_PROVIDER`; unset: `http` when `TTS_URL` is set, else the offline `espeak`. */
function ttsProviderFrom(env: Env): TtsProviderName {
  const name = env.TTS_PROVIDER || (env.TTS_URL ? 'http' : 'espeak');
  if (!(TTS_PROVIDERS as readonly string[]).includes(name)) {
    throw new ConfigError('TTS_PROVIDER', `expected one of ${TTS_PROVIDERS.join(', ')}, got "${name}"`);
  }
  return name as TtsProviderName;
}

function int(env: Env, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value < 0) throw new ConfigError(name, `expected a non-negative number, got "${raw}"`);
  return value;
}

function positive(env: Env, name: string, fallback: number): number {
  const value = int(env, name, fallback);
  if (value === 0) throw new ConfigError(name, 'expected a positive number, got 0');
  return value;
}

/** Reads settings; required ones are checked by {@link requireSettings}, where a handler needs them. */
export function readSettings(env: Env = process.env): Settings {
  const delivery = env.ARTIFACT_DELIVERY ?? 'redirect';
  if (delivery !== 'inline' && delivery !== 'redirect') {
    throw new ConfigError('ARTIFACT_DELIVERY', `expected "inline" or "redirect", got "${delivery}"`);
  }
  return {
    tableName: env.TABLE_NAME ?? '',
    bucketName: env.BUCKET_NAME ?? '',
    stateMachineArn: env.STATE_MACHINE_ARN ?? '',
    exportQueueUrl: env.EXPORT_QUEUE_URL ?? '',
    exportVideoUrl: env.EXPORT_VIDEO_URL ?? '',
    exportAuthToken: env.EXPORT_AUTH_TOKEN ?? '',
    exportAuthSecretArn: env.EXPORT_AUTH_SECRET_ARN ?? '',
    submitLockLeaseSeconds: int(env, 'SUBMIT_LOCK_LEASE_SECONDS', 300),
    artifactDelivery: delivery,
    presignSeconds: int(env, 'PRESIGN_SECONDS', 900),
    s3ForcePathStyle: env.S3_FORCE_PATH_STYLE === 'true' || env.S3_FORCE_PATH_STYLE === '1',
    exportVisibilitySeconds: int(env, 'EXPORT_VISIBILITY_SECONDS', 60),
    exportPollSeconds: int(env, 'EXPORT_POLL_SECONDS', 20),
    exportMaxJobSeconds: int(env, 'EXPORT_MAX_JOB_SECONDS', 1800),
    exportTimeoutSeconds: int(env, 'EXPORT_TIMEOUT_SECONDS', DEFAULT_DEFINITION_OPTIONS.exportTimeoutSeconds),
    exportAssumedSeconds: positive(env, 'EXPORT_ASSUMED_SECONDS', 120),
    exportBacklogRefreshSeconds: int(env, 'EXPORT_BACKLOG_REFRESH_SECONDS', 5),
    ttsProvider: ttsProviderFrom(env),
    ttsUrl: env.TTS_URL ?? '',
    ttsHttpTimeoutSeconds: int(env, 'TTS_HTTP_TIMEOUT_SECONDS', 120),
    ttsMaxCharsPerRequest: int(env, 'TTS_MAX_CHARS_PER_REQUEST', 0),
    pollyEngine: env.POLLY_ENGINE || 'neural',
    pollyVoiceEnMale: env.POLLY_VOICE_EN_MALE ?? '',
    pollyVoiceEnFemale: env.POLLY_VOICE_EN_FEMALE ?? '',
    pollyVoiceCmnMale: env.POLLY_VOICE_CMN_MALE ?? '',
    pollyVoiceCmnFemale: env.POLLY_VOICE_CMN_FEMALE ?? '',
    pollyEndpoint: env.AWS_ENDPOINT_URL_POLLY ?? '',
    draftLocalDir: env.DRAFT_LOCAL_DIR ?? '',
    geminiApiKey: env.GEMINI_API_KEY ?? '',
    geminiApiKeySecretArn: env.GEMINI_API_KEY_SECRET_ARN ?? '',
    geminiModel: env.GEMINI_MODEL || 'gemini-2.5-flash',
    geminiBaseUrl: env.GEMINI_BASE_URL ?? '',
    geminiTimeoutSeconds: int(env, 'GEMINI_TIMEOUT_SECONDS', 90),
    storyLanguage: env.STORY_LANGUAGE || 'auto',
    storyTargetChars: int(env, 'STORY_TARGET_CHARS', 500),
    storyRpm: int(env, 'STORY_RPM', 10),
    ttsRpm: int(env, 'TTS_RPM', 300),
    ttsMaxConcurrency: int(env, 'TTS_MAX_CONCURRENCY', 4),
    rateLimitMaxWaitSeconds: int(env, 'RATE_LIMIT_MAX_WAIT_SECONDS', 20),
    rateLimitLeaseSeconds: int(env, 'RATE_LIMIT_LEASE_SECONDS', 60),
  };
}

const ENV_NAMES: Record<keyof Settings, string> = {
  tableName: 'TABLE_NAME',
  bucketName: 'BUCKET_NAME',
  stateMachineArn: 'STATE_MACHINE_ARN',
  exportQueueUrl: 'EXPORT_QUEUE_URL',
  exportVideoUrl: 'EXPORT_VIDEO_URL',
  exportAuthToken: 'EXPORT_AUTH_TOKEN',
  exportAuthSecretArn: 'EXPORT_AUTH_SECRET_ARN',
  submitLockLeaseSeconds: 'SUBMIT_LOCK_LEASE_SECONDS',
  artifactDelivery: 'ARTIFACT_DELIVERY',
  presignSeconds: 'PRESIGN_SECONDS',
  s3ForcePathStyle: 'S3_FORCE_PATH_STYLE',
  exportVisibilitySeconds: 'EXPORT_VISIBILITY_SECONDS',
  exportPollSeconds: 'EXPORT_POLL_SECONDS',
  exportMaxJobSeconds: 'EXPORT_MAX_JOB_SECONDS',
  exportTimeoutSeconds: 'EXPORT_TIMEOUT_SECONDS',
  exportAssumedSeconds: 'EXPORT_ASSUMED_SECONDS',
  exportBacklogRefreshSeconds: 'EXPORT_BACKLOG_REFRESH_SECONDS',
  ttsProvider: 'TTS_PROVIDER',
  ttsUrl: 'TTS_URL',
  ttsHttpTimeoutSeconds: 'TTS_HTTP_TIMEOUT_SECONDS',
  ttsMaxCharsPerRequest: 'TTS_MAX_CHARS_PER_REQUEST',
  pollyEngine: 'POLLY_ENGINE',
  pollyVoiceEnMale: 'POLLY_VOICE_EN_MALE',
  pollyVoiceEnFemale: 'POLLY_VOICE_EN_FEMALE',
  pollyVoiceCmnMale: 'POLLY_VOICE_CMN_MALE',
  pollyVoiceCmnFemale: 'POLLY_VOICE_CMN_FEMALE',
  pollyEndpoint: 'AWS_ENDPOINT_URL_POLLY',
  draftLocalDir: 'DRAFT_LOCAL_DIR',
  geminiApiKey: 'GEMINI_API_KEY',
  geminiApiKeySecretArn: 'GEMINI_API_KEY_SECRET_ARN',
  geminiModel: 'GEMINI_MODEL',
  geminiBaseUrl: 'GEMINI_BASE_URL',
  geminiTimeoutSeconds: 'GEMINI_TIMEOUT_SECONDS',
  storyLanguage: 'STORY_LANGUAGE',
  storyTargetChars: 'STORY_TARGET_CHARS',
  storyRpm: 'STORY_RPM',
  ttsRpm: 'TTS_RPM',
  ttsMaxConcurrency: 'TTS_MAX_CONCURRENCY',
  rateLimitMaxWaitSeconds: 'RATE_LIMIT_MAX_WAIT_SECONDS',
  rateLimitLeaseSeconds: 'RATE_LIMIT_LEASE_SECONDS',
};

/** Fails at start-up, naming the setting, when a handler's required setting is empty. */
export function requireSettings(settings: Settings, names: Array<keyof Settings>): void {
  for (const name of names) {
    if (settings[name] === '' || settings[name] === undefined) throw new ConfigError(ENV_NAMES[name]);
  }
}

/** The environment variable of every setting (the embedded stack passes these through from its own environment). */
export const SETTING_ENV_NAMES: readonly string[] = Object.values(ENV_NAMES);
