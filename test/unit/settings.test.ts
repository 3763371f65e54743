import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../shared/errors.js';
import {
  SETTING_ENV,
  SETTING_ENV_NAMES,
  readSetting,
  readSettings,
  requireSettings,
  settingMetaOf,
  settingsSchema,
  type Settings,
} from '../../shared/settings.js';

/** The promises of docs/settings.md, each held by the one schema in shared/settings.ts. */
const FIELDS = Object.keys(settingsSchema.shape) as Array<keyof Settings>;
const configError = (env: Record<string, string>) => {
  try {
    readSettings(env);
  } catch (error: unknown) {
    if (error instanceof ConfigError) return error.message;
    throw error;
  }
  throw new Error(`no ConfigError for ${JSON.stringify(env)}`);
};

describe('settings', () => {
  it('gives every field a variable of its own, a description and readers', () => {
    const metas = FIELDS.map(settingMetaOf);

    expect(new Set(SETTING_ENV_NAMES).size).toBe(FIELDS.length);
    for (const meta of metas) {
      expect(meta.env).toMatch(/^[A-Z][A-Z0-9_]+$/);
      expect(meta.description.length).toBeGreaterThan(5);
      expect(meta.readBy === 'all' || meta.readBy.length > 0).toBe(true);
    }
  });

  it('reads an empty variable as an unset one: the default', () => {
    const empty = Object.fromEntries(SETTING_ENV_NAMES.map((name) => [name, '']));

    expect(readSettings(empty)).toEqual(readSettings({}));
    expect(readSettings({ ARTIFACT_DELIVERY: '', EXPORTER: '', GEMINI_MODEL: '' })).toMatchObject({
      artifactDelivery: 'redirect',
      exporter: 'builtin',
      geminiModel: 'gemini-2.5-flash',
    });
  });

  it('keeps no default of its own for endpoints the SDKs resolve themselves', () => {
    const settings = readSettings({});

    expect(settings.geminiBaseUrl).toBe('');
    expect(settings.pollyEndpoint).toBe('');
  });

  it('fails at start-up naming the variable when a value is bad', () => {
    expect(configError({ STORY_RPM: 'fast' })).toBe('Missing required setting STORY_RPM: expected a non-negative number, got "fast".');
    expect(configError({ PRESIGN_SECONDS: '-1' })).toBe('Missing required setting PRESIGN_SECONDS: expected a non-negative number, got "-1".');
    expect(configError({ EXPORT_ASSUMED_SECONDS: '0' })).toBe('Missing required setting EXPORT_ASSUMED_SECONDS: expected a positive number, got 0.');
    expect(configError({ ARTIFACT_DELIVERY: 'email' })).toBe('Missing required setting ARTIFACT_DELIVERY: expected "inline" or "redirect", got "email".');
    expect(configError({ TTS_PROVIDER: 'say' })).toBe('Missing required setting TTS_PROVIDER: expected one of espeak, polly, http, got "say".');
    expect(configError({ EXPORTER: 'jianying' })).toBe('Missing required setting EXPORTER: expected "builtin" or "http", got "jianying".');
  });

  it('chooses the TTS provider from TTS_URL when TTS_PROVIDER is unset', () => {
    expect(readSettings({}).ttsProvider).toBe('espeak');
    expect(readSettings({ TTS_URL: 'http://tts.local' }).ttsProvider).toBe('http');
    expect(readSettings({ TTS_URL: 'http://tts.local', TTS_PROVIDER: 'polly' }).ttsProvider).toBe('polly');
  });

  it('reads LOG_LEVEL, an unknown level as info (a log level never stops a function)', () => {
    expect(readSettings({ LOG_LEVEL: 'debug' }).logLevel).toBe('debug');
    expect(readSettings({ LOG_LEVEL: 'verbose' }).logLevel).toBe('info');
    expect(readSettings({}).logLevel).toBe('info');
  });

  it('reads one setting alone through the same entry (the logger reads LOG_LEVEL so)', () => {
    expect(readSetting('logLevel', { LOG_LEVEL: 'warn' })).toBe('warn');
    expect(readSetting('logLevel', { LOG_LEVEL: 'loud' })).toBe('info');
    expect(readSetting('storyRpm', {})).toBe(10);
    expect(() => readSetting('storyRpm', { STORY_RPM: 'many' })).toThrow('Missing required setting STORY_RPM: expected a non-negative number, got "many".');
  });

  it('parses flags and numbers as the document says', () => {
    expect(readSettings({ S3_FORCE_PATH_STYLE: '1' }).s3ForcePathStyle).toBe(true);
    expect(readSettings({ S3_FORCE_PATH_STYLE: 'true' }).s3ForcePathStyle).toBe(true);
    expect(readSettings({ S3_FORCE_PATH_STYLE: 'yes' }).s3ForcePathStyle).toBe(false);
    expect(readSettings({ STORY_RPM: '1.5', TTS_RPM: '0' })).toMatchObject({ storyRpm: 1.5, ttsRpm: 0 });
  });

  it('names the variable of a required setting left empty', () => {
    const settings = readSettings({ TABLE_NAME: 'reel-pipeline' });

    expect(() => requireSettings(settings, ['tableName'])).not.toThrow();
    expect(() => requireSettings(settings, ['tableName', 'exportQueueUrl'])).toThrow(new ConfigError(SETTING_ENV.exportQueueUrl));
    expect(SETTING_ENV.exportQueueUrl).toBe('EXPORT_QUEUE_URL');
  });
});
