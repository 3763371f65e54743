import type { Runtime } from '../runtime.js';
import { createGeminiStoryProvider } from './gemini-story-provider.js';
import { PassthroughStoryProvider, type StoryProvider } from './story-provider.js';

/**
 * The story provider the settings choose: Gemini when `GEMINI_API_KEY` or
 * `GEMINI_API_KEY_SECRET_ARN` is set (the secret's fetch starts here, at cold start), else the
 * offline passthrough. Called once per function instance by `lambdas/story/index.ts` and by the
 * embedded stack.
 */
export function storyProviderFor(rt: Runtime): StoryProvider {
  const { geminiApiKey, geminiApiKeySecretArn } = rt.settings;
  if (geminiApiKey || geminiApiKeySecretArn) return createGeminiStoryProvider(rt.settings);
  return new PassthroughStoryProvider();
}
