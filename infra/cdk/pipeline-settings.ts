import type { Node } from 'constructs';
import { DEFAULT_EXPORT_MAX_RECEIVE_COUNT } from '../../shared/resources/queues.js';

/**
 * Every setting of the AWS deployment, with its default. `app.ts` reads each one from CDK context
 * (`npx cdk deploy -c exportWorker=agent -c artifactRetentionDays=14`), and the stack takes the
 * same names as props. docs/deploy.md ("Settings") documents this list; keep them together.
 */
export interface PipelineSettings {
  /** `lambda`: a worker Lambda consumes the export queue; `agent`: an agent next to the exporter does (no event source) */
  exportWorker: 'lambda' | 'agent';
  /**
   * Lambda worker only. `builtin`: render in-process with the bundled ffmpeg; `http`: drive the
   * exporter at `exportVideoUrl`. The agent always drives the exporter it runs next to (`http`).
   */
  exporter: 'builtin' | 'http';
  /** the export service the `http` exporter drives (EXPORT_VIDEO_URL); required for `lambda` + `http` */
  exportVideoUrl: string;
  /**
   * `lambda` + `http`: an existing Secrets Manager secret holding the export service's bearer
   * token (EXPORT_AUTH_SECRET_ARN); empty: the stack generates one
   */
  exportAuthSecretArn: string;
  /** `passthrough`: the narration is the cleaned source; `gemini`: the story function asks Gemini (key from Secrets Manager) */
  storyProvider: 'passthrough' | 'gemini';
  /** GEMINI_MODEL */
  geminiModel: string;
  /** an existing Secrets Manager secret holding the Gemini key; empty: the stack creates one to fill in */
  geminiApiKeySecretArn: string;
  /** TTS_PROVIDER: `espeak` (offline, in the function), `polly`, or `http` (the team's service at `ttsUrl`) */
  ttsProvider: 'espeak' | 'polly' | 'http';
  /** TTS_URL: the team's TTS service, for `http` */
  ttsUrl: string;
  /** POLLY_ENGINE */
  pollyEngine: string;
  /** POLLY_VOICE_{EN,CMN}_{MALE,FEMALE}: a Polly voice per language and gender; empty: the provider's built-in table */
  pollyVoiceEnMale: string;
  pollyVoiceEnFemale: string;
  pollyVoiceCmnMale: string;
  pollyVoiceCmnFemale: string;
  /** STORY_RPM: Gemini requests per minute across all tasks (0: no limit) */
  storyRequestsPerMinute: number;
  /** TTS_RPM: TTS requests per minute across all tasks (0: no limit) */
  ttsRequestsPerMinute: number;
  /** TTS_MAX_CONCURRENCY: TTS requests in flight at once across all tasks (0: no limit) */
  ttsMaxConcurrency: number;
  /** API Gateway stage throttling: steady requests per second and burst */
  apiRateLimit: number;
  apiBurstLimit: number;
  /** days until objects under `tasks/`, `inbox-accepted/` and `inbox-rejected/` expire */
  artifactRetentionDays: number;
  /** retention of every log group (Lambda, state machine, API access log); a CloudWatch Logs retention value */
  logRetentionDays: number;
  /** memory of the export worker Lambda (also buys vCPUs for ffmpeg: 1,769 MB = 1 vCPU) */
  exportWorkerMemoryMb: number;
  /** receives of one export message before it moves to the dead-letter queue (at least 3) */
  exportMaxReceiveCount: number;
  /** WEBHOOK_ALLOWED_HOSTS: comma-separated hosts completion webhooks may go to (docs/webhooks.md); empty: no webhooks */
  webhookAllowedHosts: string;
  /** WEBHOOK_URL: the webhook of submissions that name none; empty: none */
  webhookUrl: string;
  /** alarm when at least this many executions fail or time out in 5 minutes */
  alarmFailedExecutions: number;
  /** alarm when the oldest export message is older than this */
  alarmExportQueueAgeSeconds: number;
  /** alarm when the API answers at least this many 5xx in 5 minutes */
  alarmApi5xxErrors: number;
  /** an SNS topic every alarm notifies; empty: alarms only show on the dashboard */
  alarmTopicArn: string;
  /** the artifact bucket's name; empty: `<stack name>-artifacts-<account>-<region>` */
  artifactBucketName: string;
  /** create the account-wide role API Gateway needs to write logs; false when the account already has one */
  apiGatewayCloudWatchRole: boolean;
}

export const DEFAULT_PIPELINE_SETTINGS: Readonly<PipelineSettings> = {
  exportWorker: 'lambda',
  exporter: 'builtin',
  exportVideoUrl: '',
  exportAuthSecretArn: '',
  storyProvider: 'passthrough',
  geminiModel: 'gemini-2.5-flash',
  geminiApiKeySecretArn: '',
  ttsProvider: 'espeak',
  ttsUrl: '',
  pollyEngine: 'neural',
  pollyVoiceEnMale: '',
  pollyVoiceEnFemale: '',
  pollyVoiceCmnMale: '',
  pollyVoiceCmnFemale: '',
  storyRequestsPerMinute: 10,
  ttsRequestsPerMinute: 300,
  ttsMaxConcurrency: 4,
  apiRateLimit: 10,
  apiBurstLimit: 20,
  artifactRetentionDays: 30,
  logRetentionDays: 30,
  exportWorkerMemoryMb: 4096,
  exportMaxReceiveCount: DEFAULT_EXPORT_MAX_RECEIVE_COUNT,
  webhookAllowedHosts: '',
  webhookUrl: '',
  alarmFailedExecutions: 1,
  alarmExportQueueAgeSeconds: 3600,
  alarmApi5xxErrors: 1,
  alarmTopicArn: '',
  artifactBucketName: '',
  apiGatewayCloudWatchRole: true,
};

const CHOICES: Partial<Record<keyof PipelineSettings, readonly string[]>> = {
  exportWorker: ['lambda', 'agent'],
  exporter: ['builtin', 'http'],
  storyProvider: ['passthrough', 'gemini'],
  ttsProvider: ['espeak', 'polly', 'http'],
};

/** CloudWatch Logs accepts only these retention periods (days). */
export const LOG_RETENTION_DAYS = [1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653] as const;

/** A setting has a value the stack cannot deploy; the message names the setting. */
export class PipelineSettingError extends Error {
  constructor(setting: string, problem: string) {
    super(`Setting ${setting}: ${problem}`);
    this.name = 'PipelineSettingError';
  }
}

function coerce(name: keyof PipelineSettings, raw: unknown): unknown {
  const fallback = DEFAULT_PIPELINE_SETTINGS[name];
  if (typeof fallback === 'number') {
    const value = typeof raw === 'number' ? raw : Number(String(raw).trim());
    if (String(raw).trim() === '' || !Number.isFinite(value)) throw new PipelineSettingError(name, `expected a number, got "${String(raw)}"`);
    return value;
  }
  if (typeof fallback === 'boolean') {
    if (typeof raw === 'boolean') return raw;
    const text = String(raw).trim().toLowerCase();
    if (text === 'true') return true;
    if (text === 'false') return false;
    throw new PipelineSettingError(name, `expected true or false, got "${String(raw)}"`);
  }
  return String(raw).trim();
}

/**
 * The settings with defaults filled in, checked together (combinations included). Throws
 * {@link PipelineSettingError} naming the first bad setting.
 */
export function resolvePipelineSettings(given: Partial<PipelineSettings> = {}): PipelineSettings {
  const s: PipelineSettings = { ...DEFAULT_PIPELINE_SETTINGS };
  for (const [name, value] of Object.entries(given) as Array<[keyof PipelineSettings, unknown]>) {
    if (value !== undefined) (s as unknown as Record<string, unknown>)[name] = coerce(name, value);
  }
  for (const [name, choices] of Object.entries(CHOICES) as Array<[keyof PipelineSettings, readonly string[]]>) {
    if (!choices.includes(String(s[name]))) throw new PipelineSettingError(name, `expected one of ${choices.join(', ')}, got "${String(s[name])}"`);
  }
  const wholeAtLeast = (name: keyof PipelineSettings, min: number) => {
    const value = s[name] as number;
    if (!Number.isInteger(value) || value < min) throw new PipelineSettingError(name, `expected a whole number of at least ${min}, got ${value}`);
  };
  for (const name of ['storyRequestsPerMinute', 'ttsRequestsPerMinute', 'ttsMaxConcurrency'] as const) wholeAtLeast(name, 0);
  wholeAtLeast('alarmFailedExecutions', 1);
  wholeAtLeast('alarmApi5xxErrors', 1);
  wholeAtLeast('artifactRetentionDays', 1);
  wholeAtLeast('alarmExportQueueAgeSeconds', 60);
  wholeAtLeast('exportMaxReceiveCount', 3);
  if (!(s.apiRateLimit > 0) || !(s.apiBurstLimit >= 1)) throw new PipelineSettingError('apiRateLimit', 'the API rate and burst limits must be positive');
  if (!(LOG_RETENTION_DAYS as readonly number[]).includes(s.logRetentionDays)) {
    throw new PipelineSettingError('logRetentionDays', `expected one of ${LOG_RETENTION_DAYS.join(', ')}, got ${s.logRetentionDays}`);
  }
  if (!Number.isInteger(s.exportWorkerMemoryMb) || s.exportWorkerMemoryMb < 128 || s.exportWorkerMemoryMb > 10_240) {
    throw new PipelineSettingError('exportWorkerMemoryMb', `expected 128-10240 (MB), got ${s.exportWorkerMemoryMb}`);
  }
  if (s.exportWorker === 'agent') {
    // The agent drives the exporter it runs next to; there is no in-process render to choose.
    if (given.exporter === 'builtin')
      throw new PipelineSettingError('exporter', 'the builtin exporter renders inside the Lambda worker; the agent always drives an export service (http)');
    s.exporter = 'http';
  }
  if (s.ttsProvider === 'http' && !/^https?:\/\/\S+$/.test(s.ttsUrl)) {
    throw new PipelineSettingError('ttsUrl', 'the http TTS provider needs the TTS service URL (http:// or https://)');
  }
  if (s.exportWorker === 'lambda' && s.exporter === 'http' && !/^https?:\/\/\S+$/.test(s.exportVideoUrl)) {
    throw new PipelineSettingError('exportVideoUrl', 'the lambda worker with the http exporter needs the export service URL (http:// or https://)');
  }
  if (s.exportAuthSecretArn && !/^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:.+$/.test(s.exportAuthSecretArn)) {
    throw new PipelineSettingError('exportAuthSecretArn', `expected a Secrets Manager secret ARN, got "${s.exportAuthSecretArn}"`);
  }
  if (s.geminiApiKeySecretArn && !/^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:.+$/.test(s.geminiApiKeySecretArn)) {
    throw new PipelineSettingError('geminiApiKeySecretArn', `expected a Secrets Manager secret ARN, got "${s.geminiApiKeySecretArn}"`);
  }
  if (s.webhookUrl && !/^https?:\/\/\S+$/.test(s.webhookUrl)) throw new PipelineSettingError('webhookUrl', `expected an http(s) URL, got "${s.webhookUrl}"`);
  if (s.alarmTopicArn && !/^arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:.+$/.test(s.alarmTopicArn)) {
    throw new PipelineSettingError('alarmTopicArn', `expected an SNS topic ARN, got "${s.alarmTopicArn}"`);
  }
  if (s.artifactBucketName && !/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(s.artifactBucketName)) {
    throw new PipelineSettingError('artifactBucketName', `"${s.artifactBucketName}" is not a valid S3 bucket name`);
  }
  return s;
}

/** Each setting given as CDK context (`-c name=value` or cdk.json "context"), by the same name. */
export function pipelineSettingsFromContext(node: Node): Partial<PipelineSettings> {
  const given: Partial<Record<keyof PipelineSettings, unknown>> = {};
  for (const name of Object.keys(DEFAULT_PIPELINE_SETTINGS) as Array<keyof PipelineSettings>) {
    const value: unknown = node.tryGetContext(name);
    if (value !== undefined) given[name] = value;
  }
  return given as Partial<PipelineSettings>;
}
