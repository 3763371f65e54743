import { z } from 'zod';
import { ConfigError } from './errors.js';
import { DEFAULT_DEFINITION_OPTIONS } from './state-machine.js';

/**
 * Every setting the handlers read from the environment, as ONE zod schema: each entry carries
 * its parser (type, default, the ConfigError a bad value gives) and, in {@link settingMeta}, its
 * environment variable, a one-line description and the functions that read it. The reader
 * ({@link readSettings}), the variable names ({@link SETTING_ENV}), the defaults and
 * docs/settings.md (`npm run docs:settings`, checked by test/unit/settings-doc.test.ts) all come
 * from it — add a setting here and nowhere else.
 *
 * Rules every entry follows: an empty variable is the same as an unset one (the default), and a
 * variable for an endpoint the SDK resolves itself has no default of ours (empty = the SDK's own).
 */

/** Who reads settings: the functions, by their folder under `lambdas/`, and the export agent. */
export const SETTING_READERS = [
  'api',
  'inbox',
  'start',
  'story',
  'tts',
  'draft',
  'finalize',
  'fail',
  'export',
  'export-dlq',
  'webhook',
  'export-agent',
] as const;
export type SettingReader = (typeof SETTING_READERS)[number];

/** What docs/settings.md says about one setting, registered on its parser. */
export interface SettingMeta {
  /** the environment variable */
  env: string;
  /** the value's type, as the document shows it */
  type: string;
  /** one line: what it changes */
  description: string;
  /** the functions that read it; `all`: every function and the export agent */
  readBy: readonly SettingReader[] | 'all';
  /** the default in words, where it is not a constant (it depends on another setting) */
  defaultText?: string;
}

/** The metadata of every entry of {@link settingsSchema}, keyed by the entry's parser. */
export const settingMeta = z.registry<SettingMeta>();

type Doc = Omit<SettingMeta, 'type'>;
type Raw = string | undefined;
const isUnset = (raw: Raw): raw is undefined | '' => raw === undefined || raw === '';
const fail = (ctx: z.RefinementCtx, message: string) => {
  ctx.addIssue({ code: 'custom', message });
  return z.NEVER;
};

/** A string; unset: `fallback` (the empty string unless told). */
function text(doc: Doc, fallback = '') {
  return z
    .string()
    .optional()
    .transform((raw) => (isUnset(raw) ? fallback : raw))
    .register(settingMeta, { ...doc, type: 'string' });
}

/** A number from the environment, at least 0 — or, with `positive`, above 0. */
function number(doc: Doc, fallback: number, positive: boolean) {
  return z
    .string()
    .optional()
    .transform((raw, ctx) => {
      if (isUnset(raw)) return fallback;
      const value = Number(raw);
      if (!Number.isFinite(value) || value < 0) return fail(ctx, `expected a non-negative number, got "${raw}"`);
      if (positive && value === 0) return fail(ctx, 'expected a positive number, got 0');
      return value;
    })
    .register(settingMeta, { ...doc, type: positive ? 'number > 0' : 'number ≥ 0' });
}

/** A number ≥ 0 (seconds, counts, limits where 0 means "none"). */
const count = (doc: Doc, fallback: number) => number(doc, fallback, false);

/** A number > 0. */
const positive = (doc: Doc, fallback: number) => number(doc, fallback, true);

/** One of `values`; anything else fails at start-up naming the setting. */
function oneOf<const T extends readonly [string, ...string[]]>(doc: Doc, values: T, fallback: T[number]) {
  const expected = values.length === 2 ? `"${values[0]}" or "${values[1]}"` : `one of ${values.join(', ')}`;
  return z
    .string()
    .optional()
    .transform((raw, ctx): T[number] => {
      if (isUnset(raw)) return fallback;
      if (!(values as readonly string[]).includes(raw)) return fail(ctx, `expected ${expected}, got "${raw}"`);
      return raw;
    })
    .register(settingMeta, { ...doc, type: values.map((v) => `\`${v}\``).join(' \\| ') });
}

/** `true` or `1` is on; anything else, off. */
function flag(doc: Doc) {
  return z
    .string()
    .optional()
    .transform((raw) => raw === 'true' || raw === '1')
    .register(settingMeta, { ...doc, type: '`true` \\| `1` (else off)' });
}

export const TTS_PROVIDERS = ['espeak', 'polly', 'http'] as const;
export type TtsProviderName = (typeof TTS_PROVIDERS)[number];
export const LOG_LEVELS = ['debug', 'info', 'warn', 'error'] as const;
export type SettingLogLevel = (typeof LOG_LEVELS)[number];

/** A log level; an unknown one is `info`, as the logger has always read it (a log level never stops a function). */
function logLevel(doc: Doc) {
  return z
    .string()
    .optional()
    .transform((raw): SettingLogLevel => ((LOG_LEVELS as readonly string[]).includes(raw ?? '') ? (raw as SettingLogLevel) : 'info'))
    .register(settingMeta, { ...doc, type: `${LOG_LEVELS.map((v) => `\`${v}\``).join(' \\| ')} (else \`info\`)` });
}

const SUBMIT: SettingReader[] = ['api', 'inbox'];
const EXPORT_WORKERS: SettingReader[] = ['export', 'export-agent'];

/** The schema: `Settings` field → parser of its environment variable. Order = the document's order. */
const shape = {
  // Where things are
  tableName: text({
    env: 'TABLE_NAME',
    readBy: ['api', 'inbox', 'start', 'story', 'tts', 'draft', 'finalize', 'fail', 'export', 'webhook', 'export-agent'],
    description: 'the DynamoDB table (locks, tasks, idempotency keys, rate limits); required where read',
  }),
  bucketName: text({
    env: 'BUCKET_NAME',
    readBy: ['api', 'inbox', 'story', 'tts', 'draft', 'finalize', 'export', 'export-agent'],
    description: 'the artifact bucket; required where read',
  }),
  stateMachineArn: text({
    env: 'STATE_MACHINE_ARN',
    readBy: SUBMIT,
    description: "the pipeline's state machine, which submissions start and cancel stops; required where read",
  }),
  s3ForcePathStyle: flag({ env: 'S3_FORCE_PATH_STYLE', readBy: 'all', description: 'path-style S3 URLs (emulators, MinIO)' }),
  logLevel: logLevel({ env: 'LOG_LEVEL', readBy: 'all', description: 'the lowest level of log line written' }),

  // Submission and the HTTP API
  submitLockLeaseSeconds: count(
    {
      env: 'SUBMIT_LOCK_LEASE_SECONDS',
      readBy: SUBMIT,
      description: 'lease of the creator+video lock between submission and the first state (Start extends it)',
    },
    300,
  ),
  artifactDelivery: oneOf(
    {
      env: 'ARTIFACT_DELIVERY',
      readBy: ['api'],
      description: '`inline` answers artifact bytes; `redirect` answers 302 to a presigned URL (API Gateway cannot carry a video)',
    },
    ['inline', 'redirect'],
    'redirect',
  ),
  presignSeconds: count(
    {
      env: 'PRESIGN_SECONDS',
      readBy: ['api', 'draft', ...EXPORT_WORKERS],
      description: "lifetime of presigned URLs: artifact redirects, the exporter's media and the media checks' reads",
    },
    900,
  ),
  exportTimeoutSeconds: count(
    {
      env: 'EXPORT_TIMEOUT_SECONDS',
      readBy: ['api'],
      description:
        "the Export state's timeout (7 h), not a knob of its own: the embedded stack sets it from its definition, on AWS the default is the deployed definition's; no export is accepted that could not finish within it; `0`: no admission control",
    },
    DEFAULT_DEFINITION_OPTIONS.exportTimeoutSeconds,
  ),
  exportAssumedSeconds: positive(
    {
      env: 'EXPORT_ASSUMED_SECONDS',
      readBy: ['api'],
      description: 'export time per video assumed until exports have been measured (then: the mean of the last 20 export stages, accepted → stored)',
    },
    120,
  ),
  exportBacklogRefreshSeconds: count(
    {
      env: 'EXPORT_BACKLOG_REFRESH_SECONDS',
      readBy: ['api'],
      description:
        'how long one export backlog estimate (one index query of the tasks of the last 8 h) is used before the table is read again; `0`: every submission reads',
    },
    5,
  ),

  apiAllowedHosts: text({
    env: 'API_ALLOWED_HOSTS',
    readBy: ['api'],
    description:
      'the `Host` names the API answers (comma-separated `host` — any port — or `host:port`; `*`: any), a guard against DNS rebinding; the embedded stack sets its own address and `localhost`/`127.0.0.1` on its port and adds these; empty: no check (API Gateway routes only its own domains, docs/console.md)',
  }),

  // The creator's media (docs/media.md)
  mediaUpload: oneOf(
    {
      env: 'MEDIA_UPLOAD',
      readBy: ['api'],
      description:
        '`stream`: `PUT …/media/{file}` and `…/music/{file}` carry the bytes, checked before anything is stored; `presigned`: they answer a presigned S3 POST (size-bounded by `content-length-range`) and Draft checks what arrived (API Gateway → Lambda carries at most ~4.5 MB of binary)',
    },
    ['stream', 'presigned'],
    'stream',
  ),
  mediaMaxBytes: positive(
    {
      env: 'MEDIA_MAX_BYTES',
      readBy: ['api', 'draft'],
      description: 'largest still or clip under `media/`, in bytes; a larger upload is refused with 413, a larger file left out at Draft',
    },
    512 * 1024 * 1024,
  ),
  musicMaxBytes: positive(
    {
      env: 'MUSIC_MAX_BYTES',
      readBy: ['api', 'draft'],
      description: 'largest music file under `music/`, in bytes; a larger upload is refused with 413, a larger file left out at Draft',
    },
    64 * 1024 * 1024,
  ),
  mediaMaxPixels: positive(
    {
      env: 'MEDIA_MAX_PIXELS',
      readBy: ['api', 'draft'],
      description:
        "most pixels (width × height, read from the file's header before any decoder sees it) of a still or a clip's frame: a decompression bomb is refused",
    },
    50_000_000,
  ),

  // The export worker (a Lambda or the export agent) and its exporter
  exporter: oneOf(
    {
      env: 'EXPORTER',
      readBy: ['export'],
      description: 'the export Lambda: `builtin` renders in-process with the bundled ffmpeg, `http` drives `EXPORT_VIDEO_URL`',
    },
    ['builtin', 'http'],
    'builtin',
  ),
  exportQueueUrl: text({ env: 'EXPORT_QUEUE_URL', readBy: EXPORT_WORKERS, description: 'the FIFO export queue; required where read' }),
  exportVideoUrl: text({
    env: 'EXPORT_VIDEO_URL',
    readBy: EXPORT_WORKERS,
    description: 'the export service (the job contract in docs/architecture.md); required with `EXPORTER=http` and for the agent',
  }),
  exportAuthToken: text({
    env: 'EXPORT_AUTH_TOKEN',
    readBy: EXPORT_WORKERS,
    description: "the export service's shared secret, sent as `Authorization: Bearer …`; this or `EXPORT_AUTH_SECRET_ARN` is required to talk to it",
  }),
  exportAuthSecretArn: text({
    env: 'EXPORT_AUTH_SECRET_ARN',
    readBy: EXPORT_WORKERS,
    description:
      'Secrets Manager secret holding that token (plain, or JSON with `EXPORT_AUTH_TOKEN`), read once per cold start and again after a 401; used when `EXPORT_AUTH_TOKEN` is empty',
  }),
  exportVisibilitySeconds: count(
    {
      env: 'EXPORT_VISIBILITY_SECONDS',
      readBy: EXPORT_WORKERS,
      description:
        "the worker's lease on a message: visibility cut to this on receipt, renewed every third while a job runs; the job is cancelled when a third is left without a renewal",
    },
    60,
  ),
  exportPollSeconds: count({ env: 'EXPORT_POLL_SECONDS', readBy: EXPORT_WORKERS, description: 'long-poll wait of each job status call' }, 20),
  exportMaxJobSeconds: count(
    {
      env: 'EXPORT_MAX_JOB_SECONDS',
      readBy: EXPORT_WORKERS,
      description:
        "a job still running this long in one attempt (from the first accepted PUT, or the exporter's `started_at` if earlier — keep its clock synced; a resubmission after a 404 does not restart it) is cancelled there and retried as a new attempt (`ExportRetryableError`); 4 × 30 min fit the 7 h Export timeout; `0`: no limit",
    },
    1800,
  ),

  // Story (Gemini)
  geminiApiKey: text({
    env: 'GEMINI_API_KEY',
    readBy: ['story', 'api', 'inbox'],
    description:
      'Gemini API key; with it (or the secret below) the story stage rewrites the source with Gemini, or watches the clips under `media/` and writes a narration that matches them (then a submission needs no source text), else the source is the narration',
  }),
  geminiApiKeySecretArn: text({
    env: 'GEMINI_API_KEY_SECRET_ARN',
    readBy: ['story', 'api', 'inbox'],
    description:
      'Secrets Manager secret holding the key (plain, or JSON with `GEMINI_API_KEY`), read once per cold start in its own region (needs `secretsmanager:GetSecretValue` on it); used when `GEMINI_API_KEY` is empty',
  }),
  geminiModel: text(
    { env: 'GEMINI_MODEL', readBy: ['story'], description: 'model id, recorded in the task record (`stages.story.details.model`)' },
    'gemini-2.5-flash',
  ),
  geminiBaseUrl: text({
    env: 'GEMINI_BASE_URL',
    readBy: ['story'],
    description: "another Gemini endpoint (a proxy, a local fake in tests); empty: the SDK's own",
  }),
  geminiTimeoutSeconds: count(
    { env: 'GEMINI_TIMEOUT_SECONDS', readBy: ['story'], description: "one request's time limit; a timeout is transient (retried by the state machine)" },
    90,
  ),
  geminiFileWaitSeconds: count(
    {
      env: 'GEMINI_FILE_WAIT_SECONDS',
      readBy: ['story'],
      description:
        'the longest the story stage uploads clips to the Gemini Files API and waits for them to be ACTIVE in one run; past it the wait goes back to the state machine (a Wait state) and the stage resumes from its ledger `gemini-files.json`, uploading nothing twice',
    },
    60,
  ),
  geminiFilePollSeconds: positive(
    {
      env: 'GEMINI_FILE_POLL_SECONDS',
      readBy: ['story'],
      description: "between two looks at a clip Gemini is still processing, and the state machine's Wait when the stage hands the wait back",
    },
    5,
  ),
  storyLanguage: text(
    { env: 'STORY_LANGUAGE', readBy: ['story'], description: "the narration's language as a BCP 47 tag (`zh-CN`, `en`, `ja`…); `auto`: the source's language" },
    'auto',
  ),
  storyTargetChars: count(
    {
      env: 'STORY_TARGET_CHARS',
      readBy: ['story'],
      description: 'narration length aimed at, in characters without spaces (≥ 20); an answer over 1.5 times this is refused',
    },
    500,
  ),
  storyRpm: count(
    {
      env: 'STORY_RPM',
      readBy: ['story'],
      description:
        "Gemini requests per minute across all tasks (item `RATE#gemini`); set it to your project's quota for the model (free tier of 2.5 Flash: 10); `0`: no limit",
    },
    10,
  ),

  // TTS
  ttsProvider: oneOf(
    {
      env: 'TTS_PROVIDER',
      readBy: ['tts'],
      description: "`espeak` (offline), `polly` (Amazon Polly) or `http` (the team's TTS service at `TTS_URL`)",
      defaultText: '`http` when `TTS_URL` is set, else `espeak`',
    },
    TTS_PROVIDERS,
    'espeak',
  ),
  ttsUrl: text({ env: 'TTS_URL', readBy: ['tts'], description: "the team's TTS service (contract in docs/providers.md); required for `http`" }),
  ttsHttpTimeoutSeconds: count({ env: 'TTS_HTTP_TIMEOUT_SECONDS', readBy: ['tts'], description: '`http`: time one request may take, answer read' }, 120),
  ttsMaxCharsPerRequest: count(
    {
      env: 'TTS_MAX_CHARS_PER_REQUEST',
      readBy: ['tts'],
      description: "characters (code points) per provider request; `0`: the provider's own limit (Polly 3000, never exceeded; `http` 1000)",
    },
    0,
  ),
  ttsRpm: count(
    {
      env: 'TTS_RPM',
      readBy: ['tts'],
      description: 'Polly / `http` requests per minute across all tasks (item `RATE#<provider>`); eSpeak is never limited; `0`: no limit',
    },
    300,
  ),
  ttsMaxConcurrency: count(
    {
      env: 'TTS_MAX_CONCURRENCY',
      readBy: ['tts'],
      description: 'Polly / `http` requests in flight at once across all tasks (leased slots `RATE#<provider>#SLOT#<n>`); `0`: no limit',
    },
    4,
  ),
  pollyEngine: text({ env: 'POLLY_ENGINE', readBy: ['tts'], description: 'Polly engine' }, 'neural'),
  pollyVoiceEnMale: text({
    env: 'POLLY_VOICE_EN_MALE',
    readBy: ['tts'],
    description: 'Polly voice override, English male; empty: the built-in table (Matthew)',
  }),
  pollyVoiceEnFemale: text({
    env: 'POLLY_VOICE_EN_FEMALE',
    readBy: ['tts'],
    description: 'Polly voice override, English female and gender 0; empty: the built-in table (Joanna)',
  }),
  pollyVoiceCmnMale: text({
    env: 'POLLY_VOICE_CMN_MALE',
    readBy: ['tts'],
    description: 'Polly voice override, Mandarin male; empty: Zhiyu stands in (Polly has no male Mandarin voice), recorded',
  }),
  pollyVoiceCmnFemale: text({
    env: 'POLLY_VOICE_CMN_FEMALE',
    readBy: ['tts'],
    description: 'Polly voice override, Mandarin female and gender 0; empty: the built-in table (Zhiyu)',
  }),
  pollyEndpoint: text({
    env: 'AWS_ENDPOINT_URL_POLLY',
    readBy: ['tts'],
    description:
      "the SDK's own endpoint variable; set (a local fake), Polly uses the runtime's credentials like the emulated services; empty: the SDK's own endpoint and credential chain",
  }),

  // Shared rate limiter (story and TTS)
  rateLimitMaxWaitSeconds: count(
    {
      env: 'RATE_LIMIT_MAX_WAIT_SECONDS',
      readBy: ['story', 'tts'],
      description:
        "the longest one request waits inside an invocation for the limiter (rate, a free slot) or a provider's `retryDelay` / `Retry-After`; longer waits go to the state machine (a Wait state); keep it well under the stage's `TimeoutSeconds` (story 300 s, tts 900 s) minus the request's own limit",
    },
    20,
  ),
  rateLimitLeaseSeconds: count(
    {
      env: 'RATE_LIMIT_LEASE_SECONDS',
      readBy: ['tts'],
      description: "lease of a concurrency slot, renewed every third while held; a crashed holder's slot comes back within it",
    },
    60,
  ),

  // Completion webhooks (docs/webhooks.md)
  webhookUrl: text({
    env: 'WEBHOOK_URL',
    readBy: SUBMIT,
    description: "where a task's completion webhook goes when its request names no `webhook_url`; empty: no webhook",
  }),
  webhookAllowedHosts: text({
    env: 'WEBHOOK_ALLOWED_HOSTS',
    readBy: [...SUBMIT, 'webhook'],
    description:
      'comma-separated host names or addresses (any port) webhooks may go to, checked at submission (400 otherwise) and at each delivery; a loopback, private, link-local or metadata address is refused unless it is listed itself; empty: no webhooks',
  }),
  webhookQueueUrl: text({
    env: 'WEBHOOK_QUEUE_URL',
    readBy: ['api', 'finalize', 'fail', 'webhook'],
    description: 'the webhook delivery queue: where a task that ends (finalize, fail, cancel) queues its webhook, and the webhook function its retries',
  }),
  webhookSecret: text({
    env: 'WEBHOOK_SECRET',
    readBy: ['webhook'],
    description:
      'the key of the `X-Reel-Signature` HMAC-SHA256; this or `WEBHOOK_SECRET_ARN` is required to deliver (the embedded stack makes one per start unless set)',
  }),
  webhookSecretArn: text({
    env: 'WEBHOOK_SECRET_ARN',
    readBy: ['webhook'],
    description: 'Secrets Manager secret holding that key (its whole SecretString), read once per cold start; used when `WEBHOOK_SECRET` is empty',
  }),
  webhookMaxAttempts: positive(
    { env: 'WEBHOOK_MAX_ATTEMPTS', readBy: ['webhook'], description: 'POSTs of one delivery before it is given up (recorded `gave_up`)' },
    8,
  ),
  webhookRetryBaseSeconds: count(
    {
      env: 'WEBHOOK_RETRY_BASE_SECONDS',
      readBy: ['webhook'],
      description: 'delay before the second attempt, doubled for each next one (at most 900 s, the queue delay limit); `0`: retry at once',
    },
    30,
  ),
  webhookTimeoutSeconds: positive(
    { env: 'WEBHOOK_TIMEOUT_SECONDS', readBy: ['webhook'], description: "one POST's time limit (connect to answer); a timeout is retried" },
    10,
  ),

  // Draft
  draftLocalDir: text({
    env: 'DRAFT_LOCAL_DIR',
    readBy: ['draft'],
    description:
      "also copy each task's CapCut/JianYing draft folder into this directory (e.g. JianYing's drafts folder, `…/JianyingPro Drafts`), atomically; empty: don't",
  }),
};

/**
 * The one schema of every setting, keyed by `Settings` field. Its input is the environment seen
 * through each entry's variable ({@link readSettings} does that mapping); a derived default
 * (`TTS_PROVIDER` follows `TTS_URL`) is filled in before the entries parse.
 */
export const settingsSchema = z.object(shape);

export type Settings = z.output<typeof settingsSchema>;
type Env = Record<string, string | undefined>;

/** The metadata of a `Settings` field (every entry of the schema has some). */
export function settingMetaOf(field: keyof Settings): SettingMeta {
  const meta = settingMeta.get(shape[field]);
  if (!meta) throw new Error(`setting ${field} has no metadata`);
  return meta;
}

const FIELDS = Object.keys(shape) as Array<keyof Settings>;

/** The environment variable of every `Settings` field (for deployments that set them). */
export const SETTING_ENV = Object.fromEntries(FIELDS.map((field) => [field, settingMetaOf(field).env])) as Readonly<Record<keyof Settings, string>>;

/** The environment variable of every setting (the embedded stack passes these through from its own environment). */
export const SETTING_ENV_NAMES: readonly string[] = Object.values(SETTING_ENV);

/**
 * Reads settings from the environment; a bad value fails here with a {@link ConfigError} naming
 * the variable. Required ones are checked by {@link requireSettings}, where a function needs them.
 *
 * @example
 * const settings = readSettings({ TABLE_NAME: 'reel-pipeline', STORY_RPM: '60' });
 * settings.storyRpm; // 60
 */
export function readSettings(env: Env = process.env): Settings {
  const input: Record<string, string | undefined> = Object.fromEntries(FIELDS.map((field) => [field, env[SETTING_ENV[field]]]));
  // Unset TTS_PROVIDER: the team's service when its URL is given, else the offline default.
  if (isUnset(input.ttsProvider) && !isUnset(input.ttsUrl)) input.ttsProvider = 'http';
  const parsed = settingsSchema.safeParse(input);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  throw new ConfigError(SETTING_ENV[issue.path[0] as keyof Settings], issue.message);
}

/**
 * Reads one setting, through the same entry of the schema (for a module that needs one setting
 * before, or without, a runtime — the logger's `LOG_LEVEL`). A derived default is not applied.
 *
 * @example
 * const level = readSetting('logLevel'); // 'info' unless LOG_LEVEL says otherwise
 */
export function readSetting<K extends keyof Settings>(field: K, env: Env = process.env): Settings[K] {
  const parsed = shape[field].safeParse(env[SETTING_ENV[field]]);
  if (!parsed.success) throw new ConfigError(SETTING_ENV[field], parsed.error.issues[0].message);
  return parsed.data as Settings[K];
}

/** Fails at start-up, naming the setting, when a handler's required setting is empty. */
export function requireSettings(settings: Settings, names: Array<keyof Settings>): void {
  for (const name of names) {
    if (settings[name] === '' || settings[name] === undefined) throw new ConfigError(SETTING_ENV[name]);
  }
}
