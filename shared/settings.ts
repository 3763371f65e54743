import { ConfigError } from './errors.js';

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
  /** lease of the creator+video lock between submission and the first state */
  submitLockLeaseSeconds: number;
  /** the state machine's own time limit; the first state extends the lock to this plus a margin */
  executionTimeoutSeconds: number;
  lockLeaseMarginSeconds: number;
  /** `inline` answers artifact bytes; `redirect` answers 302 to a presigned URL (API Gateway) */
  artifactDelivery: 'inline' | 'redirect';
  presignSeconds: number;
  s3ForcePathStyle: boolean;
  /** export worker: how long a received message stays invisible, renewed while the job runs */
  exportVisibilitySeconds: number;
  /** export worker: long-poll wait of the job status call */
  exportPollSeconds: number;
}

type Env = Record<string, string | undefined>;

function int(env: Env, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value < 0) throw new ConfigError(name, `expected a non-negative number, got "${raw}"`);
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
    submitLockLeaseSeconds: int(env, 'SUBMIT_LOCK_LEASE_SECONDS', 300),
    executionTimeoutSeconds: int(env, 'EXECUTION_TIMEOUT_SECONDS', 8 * 3600),
    lockLeaseMarginSeconds: int(env, 'LOCK_LEASE_MARGIN_SECONDS', 900),
    artifactDelivery: delivery,
    presignSeconds: int(env, 'PRESIGN_SECONDS', 900),
    s3ForcePathStyle: env.S3_FORCE_PATH_STYLE === 'true' || env.S3_FORCE_PATH_STYLE === '1',
    exportVisibilitySeconds: int(env, 'EXPORT_VISIBILITY_SECONDS', 60),
    exportPollSeconds: int(env, 'EXPORT_POLL_SECONDS', 20),
  };
}

const ENV_NAMES: Record<keyof Settings, string> = {
  tableName: 'TABLE_NAME',
  bucketName: 'BUCKET_NAME',
  stateMachineArn: 'STATE_MACHINE_ARN',
  exportQueueUrl: 'EXPORT_QUEUE_URL',
  exportVideoUrl: 'EXPORT_VIDEO_URL',
  submitLockLeaseSeconds: 'SUBMIT_LOCK_LEASE_SECONDS',
  executionTimeoutSeconds: 'EXECUTION_TIMEOUT_SECONDS',
  lockLeaseMarginSeconds: 'LOCK_LEASE_MARGIN_SECONDS',
  artifactDelivery: 'ARTIFACT_DELIVERY',
  presignSeconds: 'PRESIGN_SECONDS',
  s3ForcePathStyle: 'S3_FORCE_PATH_STYLE',
  exportVisibilitySeconds: 'EXPORT_VISIBILITY_SECONDS',
  exportPollSeconds: 'EXPORT_POLL_SECONDS',
};

/** Fails at start-up, naming the setting, when a handler's required setting is empty. */
export function requireSettings(settings: Settings, names: Array<keyof Settings>): void {
  for (const name of names) {
    if (settings[name] === '' || settings[name] === undefined) throw new ConfigError(ENV_NAMES[name]);
  }
}
