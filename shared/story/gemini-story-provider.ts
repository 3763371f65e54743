import { GoogleGenAI, type GenerateContentResponse } from '@google/genai';
import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { ConfigError } from '../errors.js';
import type { Settings } from '../settings.js';
import { geminiApiKeySource, type ApiKeySource } from './gemini-api-key.js';
import { GeminiMalformedOutputError, classifyGeminiError } from './gemini-errors.js';
import { checkNarration } from './narration-checks.js';
import { describeLanguage, loadNarrationPrompt, type NarrationPrompt } from './narration-prompt.js';
import type { StoryProvider, StoryResult } from './story-provider.js';

/** The narration may run this much over `STORY_TARGET_CHARS` before it is refused. */
export const MAX_CHARS_FACTOR = 1.5;

export interface GeminiStoryOptions {
  apiKey: ApiKeySource;
  model: string;
  /** empty: Google's endpoint */
  baseUrl?: string;
  timeoutSeconds: number;
  /** BCP 47 tag or `auto` */
  language: string;
  targetChars: number;
  /** the shared limit (0: none) */
  requestsPerMinute: number;
  prompt?: NarrationPrompt;
}

/**
 * Rewrites the source material into a narration script with Gemini (`@google/genai`), from the
 * versioned prompt template, and checks the answer before the stage stores it. One request per
 * `write`; no SDK retries: 429s are `ProviderThrottledError` (the stage's rate limiter waits them
 * out), the rest is classified by {@link classifyGeminiError}.
 */
export class GeminiStoryProvider implements StoryProvider {
  readonly name = 'gemini';
  readonly rateLimit: StoryProvider['rateLimit'];
  private readonly prompt: NarrationPrompt;
  private readonly languageText: string;
  private readonly maxChars: number;
  private client?: { key: string; ai: GoogleGenAI };

  constructor(private readonly options: GeminiStoryOptions) {
    if (!(options.targetChars >= 20)) throw new ConfigError('STORY_TARGET_CHARS', `expected at least 20, got ${options.targetChars}`);
    if (!(options.timeoutSeconds > 0)) throw new ConfigError('GEMINI_TIMEOUT_SECONDS', 'expected more than 0');
    if (options.requestsPerMinute > 0 && options.requestsPerMinute < 1) throw new ConfigError('STORY_RPM', 'expected 0 (no limit) or at least 1');
    this.prompt = options.prompt ?? loadNarrationPrompt();
    this.languageText = describeLanguage(options.language);
    this.maxChars = Math.ceil(options.targetChars * MAX_CHARS_FACTOR);
    this.rateLimit = options.requestsPerMinute > 0 ? { provider: 'gemini', requestsPerMinute: options.requestsPerMinute } : undefined;
  }

  private async ai(): Promise<GoogleGenAI> {
    const key = await this.options.apiKey();
    if (this.client?.key !== key) {
      this.client = {
        key,
        ai: new GoogleGenAI({
          apiKey: key,
          vertexai: false,
          httpOptions: {
            timeout: this.options.timeoutSeconds * 1000,
            ...(this.options.baseUrl ? { baseUrl: this.options.baseUrl } : {}),
          },
        }),
      };
    }
    return this.client.ai;
  }

  async write(source: string): Promise<StoryResult> {
    const { model, timeoutSeconds } = this.options;
    const ai = await this.ai();
    const contents = this.prompt.render({
      language: this.languageText,
      target_chars: String(this.options.targetChars),
      max_chars: String(this.maxChars),
      source: source.trim(),
    });
    let response: GenerateContentResponse;
    try {
      response = await ai.models.generateContent({ model, contents, config: { temperature: 0.7, responseMimeType: 'text/plain' } });
    } catch (error: unknown) {
      throw classifyGeminiError(error, { model, timeoutSeconds });
    }
    const answer = answerText(response);
    const checked = checkNarration(answer.text, { maxChars: this.maxChars });
    if (!checked.ok) throw new GeminiMalformedOutputError(checked.reason);
    return {
      sentences: checked.sentences,
      details: {
        provider: this.name,
        model,
        ...(response.modelVersion ? { model_version: response.modelVersion } : {}),
        prompt_version: this.prompt.version,
        prompt_sha256: this.prompt.sha256,
        language: this.options.language,
        target_chars: this.options.targetChars,
        sentences: checked.sentences.length,
        finish_reason: answer.finishReason,
        ...(response.usageMetadata
          ? { usage: { prompt_tokens: response.usageMetadata.promptTokenCount, output_tokens: response.usageMetadata.candidatesTokenCount } }
          : {}),
      },
    };
  }
}

/** The answer's text, or why there is none (blocked, cut off, no candidate). */
function answerText(response: GenerateContentResponse): { text: string; finishReason: string } {
  const blocked = response.promptFeedback?.blockReason;
  if (blocked) throw new GeminiMalformedOutputError(`the prompt was blocked (${blocked})`);
  const candidate = response.candidates?.[0];
  if (!candidate) throw new GeminiMalformedOutputError('the answer has no candidate');
  const finishReason = String(candidate.finishReason ?? 'STOP');
  if (finishReason !== 'STOP') throw new GeminiMalformedOutputError(`the answer stopped early (finishReason ${finishReason})`);
  const text = (candidate.content?.parts ?? [])
    .filter((part) => typeof part.text === 'string' && !part.thought)
    .map((part) => part.text)
    .join('');
  return { text, finishReason };
}

/** The Gemini provider the settings describe (the API key from the environment or Secrets Manager). */
export function createGeminiStoryProvider(settings: Settings, options: { secrets?: SecretsManagerClient } = {}): GeminiStoryProvider {
  return new GeminiStoryProvider({
    apiKey: geminiApiKeySource(settings, options),
    model: settings.geminiModel,
    baseUrl: settings.geminiBaseUrl,
    timeoutSeconds: settings.geminiTimeoutSeconds,
    language: settings.storyLanguage,
    targetChars: settings.storyTargetChars,
    requestsPerMinute: settings.storyRpm,
  });
}
