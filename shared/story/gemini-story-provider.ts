import { GoogleGenAI, type GenerateContentResponse } from '@google/genai';
import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { ConfigError } from '../errors.js';
import type { Settings } from '../settings.js';
import { geminiApiKeySource, type ApiKeySource } from './gemini-api-key.js';
import { GeminiMalformedOutputError, classifyGeminiError } from './gemini-errors.js';
import { describeClips, footagePlanSchema, type FootageClip } from './footage-plan.js';
import type { FootageWatcher } from './footage-story.js';
import { GeminiFilesClient } from './gemini-files.js';
import { checkNarration } from './narration-checks.js';
import { describeLanguage, loadNarrationPrompt, promptTemplateFrom, readPromptFile, type NarrationPrompt, type PromptTemplate } from './narration-prompt.js';
import type { StoryProvider, StoryResult } from './story-provider.js';

/** The prompt of a story that watches the footage (`prompts/footage-v1.txt`). */
export const FOOTAGE_PROMPT_VERSION = 'footage-v1';
const FOOTAGE_PLACEHOLDERS = ['language', 'target_chars', 'max_chars', 'clips', 'source'] as const;
export type FootagePrompt = PromptTemplate<(typeof FOOTAGE_PLACEHOLDERS)[number]>;

export function loadFootagePrompt(version: string = FOOTAGE_PROMPT_VERSION): FootagePrompt {
  return promptTemplateFrom(version, readPromptFile(version), FOOTAGE_PLACEHOLDERS, ['clips', 'source']);
}

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
  /** GEMINI_FILE_WAIT_SECONDS (default 60) */
  fileWaitSeconds?: number;
  /** GEMINI_FILE_POLL_SECONDS (default 5) */
  filePollSeconds?: number;
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
  private readonly footagePrompt: FootagePrompt;
  readonly footage: FootageWatcher;

  constructor(private readonly options: GeminiStoryOptions) {
    if (!(options.targetChars >= 20)) throw new ConfigError('STORY_TARGET_CHARS', `expected at least 20, got ${options.targetChars}`);
    if (!(options.timeoutSeconds > 0)) throw new ConfigError('GEMINI_TIMEOUT_SECONDS', 'expected more than 0');
    if (options.requestsPerMinute > 0 && options.requestsPerMinute < 1) throw new ConfigError('STORY_RPM', 'expected 0 (no limit) or at least 1');
    this.prompt = options.prompt ?? loadNarrationPrompt();
    this.languageText = describeLanguage(options.language);
    this.maxChars = Math.ceil(options.targetChars * MAX_CHARS_FACTOR);
    this.rateLimit = options.requestsPerMinute > 0 ? { provider: 'gemini', requestsPerMinute: options.requestsPerMinute } : undefined;
    this.footagePrompt = loadFootagePrompt();
    const filePollSeconds = options.filePollSeconds ?? 5;
    if (!(filePollSeconds > 0)) throw new ConfigError('GEMINI_FILE_POLL_SECONDS', 'expected more than 0');
    this.footage = {
      files: new GeminiFilesClient({ apiKey: options.apiKey, baseUrl: options.baseUrl, timeoutSeconds: options.timeoutSeconds, model: options.model }),
      plan: (a) => this.planFootage(a),
      maxChars: this.maxChars,
      waitSeconds: options.fileWaitSeconds ?? 60,
      pollSeconds: filePollSeconds,
    };
  }

  /**
   * One generateContent request over the uploaded clips (`fileData` parts, by URI) and the
   * footage prompt, answered as JSON of {@link footagePlanSchema}. The answer is checked by the
   * caller against the clips (footage-plan.ts); here only that there is one.
   */
  private async planFootage(a: { clips: FootageClip[]; source: string }): Promise<{ answer: string; details: Record<string, unknown> }> {
    const { model, timeoutSeconds } = this.options;
    const ai = await this.ai();
    const prompt = this.footagePrompt.render({
      language: this.languageText,
      target_chars: String(this.options.targetChars),
      max_chars: String(this.maxChars),
      clips: describeClips(a.clips),
      source: a.source.trim(),
    });
    let response: GenerateContentResponse;
    try {
      response = await ai.models.generateContent({
        model,
        contents: [{ role: 'user', parts: [...a.clips.map((c) => ({ fileData: { fileUri: c.uri, mimeType: c.mime_type } })), { text: prompt }] }],
        config: { temperature: 0.7, responseMimeType: 'application/json', responseSchema: footagePlanSchema(a.clips.map((c) => c.file_name)) },
      });
    } catch (error: unknown) {
      throw classifyGeminiError(error, { model, timeoutSeconds });
    }
    const answer = answerText(response);
    return {
      answer: answer.text,
      details: {
        provider: this.name,
        model,
        ...(response.modelVersion ? { model_version: response.modelVersion } : {}),
        prompt_version: this.footagePrompt.version,
        prompt_sha256: this.footagePrompt.sha256,
        language: this.options.language,
        target_chars: this.options.targetChars,
        finish_reason: answer.finishReason,
        ...(response.usageMetadata
          ? { usage: { prompt_tokens: response.usageMetadata.promptTokenCount, output_tokens: response.usageMetadata.candidatesTokenCount } }
          : {}),
      },
    };
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
    fileWaitSeconds: settings.geminiFileWaitSeconds,
    filePollSeconds: settings.geminiFilePollSeconds,
  });
}
