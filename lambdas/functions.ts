import type { Runtime } from '../shared/runtime.js';
import { createGeminiStoryProvider } from '../shared/story/gemini-story-provider.js';
import { PassthroughStoryProvider, type StoryProvider } from '../shared/story/story-provider.js';
import { PollyClient, type Engine } from '@aws-sdk/client-polly';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { ConfigError } from '../shared/errors.js';
import { EspeakTtsProvider } from '../shared/tts/espeak-tts.js';
import { HttpTtsProvider } from '../shared/tts/http-tts.js';
import { PollyTtsProvider } from '../shared/tts/polly-tts.js';
import type { TtsProvider } from '../shared/tts/tts-provider.js';
import { createDraftHandler } from './draft/handler.js';
import { createFailHandler } from './fail/handler.js';
import { createFinalizeHandler } from './finalize/handler.js';
import { createStartHandler } from './start/handler.js';
import { createStoryHandler } from './story/handler.js';
import { createTtsHandler } from './tts/handler.js';

/** The functions the state machine invokes, by the name its placeholders use. */
export const STATE_MACHINE_FUNCTIONS = {
  start: 'StartFunctionArn',
  story: 'StoryFunctionArn',
  tts: 'TtsFunctionArn',
  draft: 'DraftFunctionArn',
  finalize: 'FinalizeFunctionArn',
  fail: 'FailFunctionArn',
} as const;
export type StateMachineFunction = keyof typeof STATE_MACHINE_FUNCTIONS;

/**
 * The story provider the settings choose: Gemini when `GEMINI_API_KEY` or
 * `GEMINI_API_KEY_SECRET_ARN` is set (the secret's fetch starts here, at cold start), else the
 * offline passthrough.
 */
export function storyProviderFor(rt: Runtime): StoryProvider {
  const { geminiApiKey, geminiApiKeySecretArn } = rt.settings;
  if (geminiApiKey || geminiApiKeySecretArn) return createGeminiStoryProvider(rt.settings);
  return new PassthroughStoryProvider();
}

/**
 * The TTS provider the settings choose (`TTS_PROVIDER`, see docs/providers.md): Amazon
 * Polly, the team's HTTP service at `TTS_URL`, or offline eSpeak NG compiled to WASM. A missing
 * `TTS_URL` for `http` fails here, at cold start, naming the setting.
 */
export function ttsProviderFor(rt: Runtime): TtsProvider {
  const s = rt.settings;
  const maxChars = s.ttsMaxCharsPerRequest > 0 ? s.ttsMaxCharsPerRequest : undefined;
  switch (s.ttsProvider) {
    case 'polly':
      return new PollyTtsProvider({
        // The runtime's region. Real Polly: the SDK's own credential chain (the Lambda role; on a
        // laptop the AWS profile, not the emulators' dummy keys). A Polly endpoint override (a
        // local fake): the runtime's credentials, like the other emulated services. Plain
        // HTTP/1.1 (the SDK's default for Polly is HTTP/2, which a fake does not speak). One
        // attempt per send, so every attempt passes the TTS stage's request call site.
        client: new PollyClient({
          region: rt.s3.config.region,
          ...(s.pollyEndpoint ? { endpoint: s.pollyEndpoint, credentials: rt.s3.config.credentials } : {}),
          requestHandler: new NodeHttpHandler(),
          maxAttempts: 1,
        }),
        engine: s.pollyEngine as Engine,
        voices: {
          en: { male: s.pollyVoiceEnMale, female: s.pollyVoiceEnFemale },
          cmn: { male: s.pollyVoiceCmnMale, female: s.pollyVoiceCmnFemale },
        },
        maxChars,
      });
    case 'http':
      if (!s.ttsUrl) throw new ConfigError('TTS_URL', 'TTS_PROVIDER is http');
      return new HttpTtsProvider({ url: s.ttsUrl, maxChars, timeoutMs: s.ttsHttpTimeoutSeconds * 1000 });
    default:
      return new EspeakTtsProvider();
  }
}

export type AnyHandler = (event: never) => Promise<unknown>;

/** Every state-machine handler, wired exactly as each function's `index.ts` wires it. */
export function createStateMachineHandlers(rt: Runtime): Record<StateMachineFunction, AnyHandler> {
  return {
    start: createStartHandler(rt),
    story: createStoryHandler(rt, storyProviderFor(rt)),
    tts: createTtsHandler(rt, ttsProviderFor(rt)),
    draft: createDraftHandler(rt),
    finalize: createFinalizeHandler(rt),
    fail: createFailHandler(rt),
  };
}
