import { PollyClient, type Engine } from '@aws-sdk/client-polly';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { ConfigError } from '../errors.js';
import type { Runtime } from '../runtime.js';
import { EspeakTtsProvider } from './espeak-tts.js';
import { HttpTtsProvider } from './http-tts.js';
import { PollyTtsProvider } from './polly-tts.js';
import type { TtsProvider } from './tts-provider.js';

/**
 * The TTS provider the settings choose (`TTS_PROVIDER`, see docs/providers.md): Amazon
 * Polly, the team's HTTP service at `TTS_URL`, or offline eSpeak NG compiled to WASM. A missing
 * `TTS_URL` for `http` fails here, at cold start, naming the setting. Called once per function
 * instance by `lambdas/tts/index.ts` and by the embedded stack.
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
