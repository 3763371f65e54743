import { createServer } from 'node:http';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { storyProviderFor } from '../../shared/story/story-provider-for.js';
import { ProviderThrottledError, RateLimitHandBackError, withRateLimit } from '../../shared/rate-limit/index.js';
import { createRuntime } from '../../shared/runtime.js';
import { readSettings } from '../../shared/settings.js';
import { createGeminiStoryProvider, GeminiStoryProvider } from '../../shared/story/gemini-story-provider.js';
import { checkNarration } from '../../shared/story/narration-checks.js';
import { NARRATION_PROMPT_VERSION, loadNarrationPrompt, narrationPromptFrom } from '../../shared/story/narration-prompt.js';
import { gemini429, gemini500, geminiPerDay, geminiText, PER_DAY_QUOTA, startFakeGemini } from '../support/fake-gemini.js';
import { VirtualClock } from '../support/virtual-clock.js';

/**
 * The Gemini story provider against a local fake of the Gemini API (never the network):
 * success, 429 with RetryInfo, per-day quota, 500 then success, garbage output, and the key
 * from Secrets Manager.
 */
let gemini: Awaited<ReturnType<typeof startFakeGemini>>;
beforeAll(async () => {
  gemini = await startFakeGemini(() => geminiText('Hello.'));
});
afterAll(async () => {
  await gemini?.close();
});
afterEach(() => {
  gemini.requests.length = 0;
});

const SOURCE = '从前有一座山，山里有一座庙。庙里有个老和尚在给小和尚讲故事。';
const NARRATION = '很久以前，山里有一座安静的庙。\n庙里的老和尚，每天给小和尚讲故事。\n故事一个接一个，从来没有讲完。';

function provider(overrides: Partial<ConstructorParameters<typeof GeminiStoryProvider>[0]> = {}) {
  return new GeminiStoryProvider({
    apiKey: () => Promise.resolve('test-key'),
    model: 'gemini-2.5-flash',
    baseUrl: gemini.url,
    timeoutSeconds: 5,
    language: 'zh-CN',
    targetChars: 100,
    requestsPerMinute: 10,
    ...overrides,
  });
}

describe('a Gemini narration', () => {
  it('sends the source inside the versioned prompt and records the prompt version and model', async () => {
    gemini.setResponder(() => geminiText(NARRATION));
    const result = await provider().write(SOURCE);

    expect(result.sentences).toEqual(['很久以前，山里有一座安静的庙。', '庙里的老和尚，每天给小和尚讲故事。', '故事一个接一个，从来没有讲完。']);
    expect(result.details).toMatchObject({
      provider: 'gemini',
      model: 'gemini-2.5-flash',
      prompt_version: NARRATION_PROMPT_VERSION,
      prompt_sha256: loadNarrationPrompt().sha256,
      language: 'zh-CN',
      target_chars: 100,
      sentences: 3,
      finish_reason: 'STOP',
      usage: { prompt_tokens: 120, output_tokens: 40 },
    });
    const [request] = gemini.requests;
    expect(request).toMatchObject({ model: 'gemini-2.5-flash', apiKey: 'test-key' });
    expect(request.prompt).toContain(SOURCE);
    expect(request.prompt).toContain('Chinese (China) [zh-CN]');
    expect(request.prompt).toContain('about 100 characters');
    expect(request.prompt).toContain('never more than 150');
  });

  it('turns a 429 into a wait of exactly its RetryInfo delay, then succeeds (virtual clock)', async () => {
    gemini.setResponder((_r, i) => (i === 0 ? gemini429('3s') : geminiText(NARRATION)));
    const clock = new VirtualClock();
    const rt = createRuntime({ AWS_REGION: 'us-east-1', TABLE_NAME: 'unused' }, clock);
    const story = provider();
    const call = await withRateLimit(rt, { provider: 'gemini', requestsPerMinute: 0, maxWaitSeconds: 10, holder: 't' }, () => story.write(SOURCE), {
      sleep: clock.sleep,
    });
    expect(call).toMatchObject({ throttled: 1, waited_ms: 3_000 });
    expect(call.value.sentences).toHaveLength(3);
    expect(gemini.requests).toHaveLength(2);
  });

  it('reports a 429 as ProviderThrottledError with the delay, and hands a delay beyond the stage budget to the state machine', async () => {
    gemini.setResponder(() => gemini429('54s'));
    const error = await provider()
      .write(SOURCE)
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ProviderThrottledError);
    expect(error).toMatchObject({ retryAfterSeconds: 54, message: expect.stringContaining('GenerateRequestsPerMinutePerProjectPerModel') });

    const clock = new VirtualClock();
    const rt = createRuntime({ AWS_REGION: 'us-east-1', TABLE_NAME: 'unused' }, clock);
    const story = provider();
    const handed = await withRateLimit(rt, { provider: 'gemini', requestsPerMinute: 0, maxWaitSeconds: 20, holder: 't' }, () => story.write(SOURCE), {
      sleep: clock.sleep,
    }).catch((e: unknown) => e);
    expect(handed).toBeInstanceOf(RateLimitHandBackError);
    expect(handed).toMatchObject({ retryAfterSeconds: 54, reason: 'provider_throttled' });
  });

  it('fails at once on the per-day quota, naming it, without retrying', async () => {
    gemini.setResponder(() => geminiPerDay());
    const clock = new VirtualClock();
    const rt = createRuntime({ AWS_REGION: 'us-east-1', TABLE_NAME: 'unused' }, clock);
    const story = provider();
    const error = await withRateLimit(rt, { provider: 'gemini', requestsPerMinute: 0, maxWaitSeconds: 600, holder: 't' }, () => story.write(SOURCE), {
      sleep: clock.sleep,
    }).catch((e: unknown) => e);
    expect(error).toMatchObject({ name: 'GeminiQuotaExhaustedError', code: 'gemini_quota_exhausted', quotaId: PER_DAY_QUOTA });
    expect((error as Error).message).toContain(PER_DAY_QUOTA);
    expect(gemini.requests).toHaveLength(1);
  });

  it('treats a 500 as transient (the state machine retries) and succeeds on the next attempt', async () => {
    gemini.setResponder((_r, i) => (i === 0 ? gemini500() : geminiText(NARRATION)));
    const story = provider();
    await expect(story.write(SOURCE)).rejects.toMatchObject({ name: 'TransientStageError', message: expect.stringContaining('HTTP 500 INTERNAL') });
    await expect(story.write(SOURCE)).resolves.toMatchObject({ details: { provider: 'gemini' } });
  });

  it('treats a timeout and an unreachable endpoint as transient', async () => {
    gemini.setResponder(() => ({ ...geminiText(NARRATION), delayMs: 1_000 }));
    await expect(provider({ timeoutSeconds: 0.2 }).write(SOURCE)).rejects.toMatchObject({
      name: 'TransientStageError',
      message: 'Gemini did not answer within 0.2 s.',
    });
    await expect(provider({ baseUrl: 'http://127.0.0.1:9' }).write(SOURCE)).rejects.toMatchObject({
      name: 'TransientStageError',
      message: expect.stringContaining('could not be reached'),
    });
  });

  it("refuses a bad request or key for good, with Google's reason", async () => {
    gemini.setResponder(() => ({
      status: 400,
      body: { error: { code: 400, message: 'API key not valid. Please pass a valid API key.', status: 'INVALID_ARGUMENT' } },
    }));
    await expect(provider().write(SOURCE)).rejects.toMatchObject({
      name: 'GeminiRequestRejectedError',
      message: expect.stringContaining('API key not valid'),
    });
  });

  it.each([
    ['a body that is not JSON', { status: 200, raw: '<html>upstream error</html>' }, 'not JSON'],
    ['markdown', geminiText('# 山里的庙\n\n**很久以前**，山里有一座庙。'), 'markdown heading'],
    ['a bullet list', geminiText('- 山里有一座庙。\n- 庙里有个老和尚。'), 'list item'],
    ['an empty answer', geminiText('   '), 'empty'],
    ['an answer far over length', geminiText('很长的故事。'.repeat(40)), 'more than the 150 allowed'],
    ['a cut-off answer', geminiText('很久以前', 'MAX_TOKENS'), 'finishReason MAX_TOKENS'],
    ['a blocked prompt', { status: 200, body: { promptFeedback: { blockReason: 'SAFETY' } } }, 'blocked (SAFETY)'],
    ['punctuation only', geminiText('……\n！！'), 'no speakable sentence'],
  ])('fails with the reason on %s', async (_what, reply, reason) => {
    gemini.setResponder(() => reply);
    const error = await provider()
      .write(SOURCE)
      .catch((e: unknown) => e);
    expect(error).toMatchObject({ name: 'GeminiMalformedOutputError', code: 'gemini_malformed_output' });
    expect((error as Error).message).toContain(reason);
  });
});

describe('the Gemini API key and the provider choice', () => {
  it('reads the key from Secrets Manager once per cold start (a JSON secret)', async () => {
    const calls: string[] = [];
    const sm = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        calls.push(`${String(req.headers['x-amz-target'])} ${body}`);
        const { SecretId } = JSON.parse(body) as { SecretId: string };
        res.writeHead(SecretId.endsWith('missing') ? 400 : 200, { 'content-type': 'application/x-amz-json-1.1' });
        res.end(
          JSON.stringify(
            SecretId.endsWith('missing')
              ? { __type: 'ResourceNotFoundException', message: "Secrets Manager can't find the specified secret." }
              : { ARN: SecretId, Name: 'gemini', SecretString: JSON.stringify({ GEMINI_API_KEY: 'from-secret' }), VersionId: 'v1' },
          ),
        );
      });
    });
    await new Promise<void>((ok) => sm.listen(0, '127.0.0.1', () => ok()));
    const address = sm.address();
    const secrets = new SecretsManagerClient({
      region: 'us-east-1',
      endpoint: `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`,
      credentials: { accessKeyId: 'x', secretAccessKey: 'x' },
    });
    try {
      gemini.setResponder(() => geminiText(NARRATION));
      const arn = 'arn:aws:secretsmanager:us-east-1:000000000000:secret:gemini-AbCdEf';
      const settings = readSettings({ GEMINI_API_KEY_SECRET_ARN: arn, GEMINI_BASE_URL: gemini.url, STORY_TARGET_CHARS: '100' });
      const story = createGeminiStoryProvider(settings, { secrets });
      await story.write(SOURCE);
      await story.write(SOURCE);
      await story.write(SOURCE);
      expect(calls).toEqual([`secretsmanager.GetSecretValue {"SecretId":"${arn}"}`]);
      expect(gemini.requests.map((r) => r.apiKey)).toEqual(['from-secret', 'from-secret', 'from-secret']);

      const missing = createGeminiStoryProvider(readSettings({ GEMINI_API_KEY_SECRET_ARN: `${arn}-missing`, GEMINI_BASE_URL: gemini.url }), { secrets });
      await expect(missing.write(SOURCE)).rejects.toMatchObject({
        name: 'ConfigError',
        message: expect.stringContaining('GEMINI_API_KEY_SECRET_ARN'),
      });
    } finally {
      await new Promise<void>((ok) => sm.close(() => ok()));
    }
  });

  it('chooses Gemini when GEMINI_API_KEY is set, with STORY_RPM as its shared limit, else the passthrough', () => {
    const withKey = storyProviderFor(createRuntime({ AWS_REGION: 'us-east-1', GEMINI_API_KEY: 'k', STORY_RPM: '30' }));
    expect(withKey.name).toBe('gemini');
    expect(withKey.rateLimit).toEqual({ provider: 'gemini', requestsPerMinute: 30 });
    expect(storyProviderFor(createRuntime({ AWS_REGION: 'us-east-1' })).name).toBe('passthrough');
    expect(() => storyProviderFor(createRuntime({ AWS_REGION: 'us-east-1', GEMINI_API_KEY: 'k', STORY_LANGUAGE: 'not a tag!' }))).toThrow(
      expect.objectContaining({ name: 'ConfigError', message: expect.stringContaining('STORY_LANGUAGE') }),
    );
  });
});

describe('the prompt template and the output checks', () => {
  it('fills the template in one pass, so placeholders inside the source stay text', () => {
    const prompt = narrationPromptFrom('t-1', 'Lang {{language}}; <{{source}}>');
    expect(prompt.render({ language: 'en', target_chars: '1', max_chars: '2', source: 'say {{language}} $& $1' })).toBe('Lang en; <say {{language}} $& $1>');
    expect(() => narrationPromptFrom('t-2', '{{source}} {{tone}}')).toThrow('unknown placeholders: tone');
    expect(() => narrationPromptFrom('t-3', 'no source')).toThrow('no {{source}}');
  });

  it('accepts plain narration in Chinese and English, counting characters without spaces', () => {
    expect(checkNarration(NARRATION, { maxChars: 60 })).toMatchObject({ ok: true, characters: 15 + 17 + 15 });
    expect(checkNarration('The river was calm.', { maxChars: 16 })).toMatchObject({ ok: true, characters: 16 });
    expect(checkNarration('The river was calm. We walked along it until sunset.', { maxChars: 60 })).toMatchObject({
      ok: true,
      sentences: ['The river was calm.', 'We walked along it until sunset.'],
    });
    expect(checkNarration('It cost 5 * 3 dollars, not 2.', { maxChars: 60 })).toMatchObject({ ok: true });
  });
});
