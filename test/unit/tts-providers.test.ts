import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PollyClient } from '@aws-sdk/client-polly';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { ttsProviderFor } from '../../shared/tts/tts-provider-for.js';
import { cuesFromSentences } from '../../shared/draft/subtitles.js';
import { createRuntime } from '../../shared/runtime.js';
import { EspeakTtsProvider } from '../../shared/tts/espeak-tts.js';
import { HttpTtsProvider } from '../../shared/tts/http-tts.js';
import { POLLY_MAX_CHARS, PollyTtsProvider, pollyVoiceFor } from '../../shared/tts/polly-tts.js';
import { planSpeechChunks } from '../../shared/tts/speech-chunks.js';
import { SpeechServiceBusyError } from '../../shared/tts/tts-errors.js';
import type { SpeechRequestInfo, SynthesisContext, SynthesisResult } from '../../shared/tts/tts-provider.js';
import { parseWav } from '../../shared/tts/wav.js';
import { cueAlignment, type TruthWord } from '../support/cue-alignment.js';
import { startFakeHttpTts, startFakePolly, type FakeHttpTts, type FakePolly, type ServedSpeech } from '../support/fake-tts-services.js';

/** No real waiting between retries. */
const noWait = { sleep: async () => undefined, random: () => 0 };

/** A story of many sentences, most with a clause or two, none repeated word for word. */
function englishStory(sentences: number): string[] {
  const subjects = [
    'The old ferryman',
    'My grandmother',
    'A tired courier',
    'The baker next door',
    'Our teacher',
    'A girl from the valley',
    'The harbour master',
    'Two brothers',
  ];
  const verbs = [
    'walked along the river',
    'waited by the stone bridge',
    'counted the boats at dawn',
    'wrote a letter to the mayor',
    'carried bread up the hill',
    'listened to the rain',
    'painted the church door',
    'repaired the broken fence',
  ];
  const tails = [
    'until the bells rang',
    'and nobody noticed',
    'while the market opened',
    'because the road was closed',
    'before the storm arrived',
    'as the fog lifted slowly',
    'when the lamps came on',
    'and then went home',
  ];
  return Array.from({ length: sentences }, (_, i) => {
    const s = `${subjects[i % 8]} ${verbs[(i * 3) % 8]}, ${tails[(i * 5) % 8]}`;
    return i % 3 === 0 ? `${s}, in the year ${1950 + i}.` : i % 3 === 1 ? `${s}.` : `${s}; it was a quiet day.`;
  });
}

const CHINESE_STORY = [
  '今天我们去公园散步。',
  '天气很好，阳光照在湖面上，闪闪发光。',
  '一位老人坐在长椅上，静静地看着远处的山。',
  '孩子们在草地上追逐，笑声传得很远。',
  '我们走到桥边，停下来看水里的鱼。',
  '它们游得很慢，好像一点也不着急。',
  '后来下起了小雨，大家都跑到亭子里躲雨。',
  '雨停以后，空气变得特别清新。',
];

/** The true word timeline of the narration: each served part's words, shifted by the parts before it. */
function truthOf(served: ServedSpeech[]): TruthWord[] {
  const ok = served.filter((s) => s.status === 200);
  let offset = 0;
  return ok.flatMap((part) => {
    const words = part.words.map((w) => ({ text: w.text, start_ms: w.start_ms + offset, end_ms: w.end_ms + offset }));
    offset += part.duration_ms;
    return words;
  });
}

/** Records every request that passes the stage's call site. */
function recordingContext(): { context: SynthesisContext; requests: SpeechRequestInfo[] } {
  const requests: SpeechRequestInfo[] = [];
  return { requests, context: { requestSpeech: (request, send) => (requests.push(request), send()) } };
}

describe('planning provider requests', () => {
  it('packs whole sentences, in order, into requests under the character limit', () => {
    const sentences = englishStory(30);
    const chunks = planSpeechChunks(sentences, 400);
    expect(chunks.length).toBeGreaterThan(3);
    for (const chunk of chunks) {
      expect(Array.from(chunk.text).length).toBeLessThanOrEqual(400);
      expect(chunk.text).toBe(chunk.pieces.map((p) => p.text).join(' '));
      chunk.pieces.forEach((p, i) => expect(chunk.text.slice(chunk.offsets[i].from, chunk.offsets[i].to)).toBe(p.text));
    }
    expect(chunks.flatMap((c) => c.pieces.map((p) => p.text))).toEqual(sentences);
    expect(planSpeechChunks(CHINESE_STORY, 60)[0].text).toBe(CHINESE_STORY.slice(0, 3).join(''));
  });

  it('cuts a sentence longer than one request at clause punctuation and keeps its pieces with it', () => {
    const long = Array.from({ length: 12 }, (_, i) => `clause number ${i} goes on for a while`).join(', ') + '.';
    const chunks = planSpeechChunks(['Short one.', long, 'Last.'], 120);
    const pieces = chunks.flatMap((c) => c.pieces);
    expect(pieces.filter((p) => p.sentence === 1).length).toBeGreaterThan(2);
    for (const c of chunks) expect(Array.from(c.text).length).toBeLessThanOrEqual(120);
    expect(
      pieces
        .filter((p) => p.sentence === 1)
        .map((p) => p.text)
        .join(' '),
    ).toBe(long);
  });
});

describe('http provider (the team TTS service)', () => {
  let service: FakeHttpTts;
  beforeAll(async () => {
    service = await startFakeHttpTts({ maxChars: 600, voice: 'team-voice-7' });
  });
  afterAll(async () => {
    await service.close();
  });

  it('narrates a 3-minute story in several requests: duration is the sum of the parts, cues in sync to the end', async () => {
    const sentences = englishStory(42);
    const provider = new HttpTtsProvider({ url: service.url, maxChars: 600, retry: noWait });
    const { context, requests } = recordingContext();
    service.served.length = 0;

    const result = await provider.synthesize({ sentences, gender: 1 }, context);

    // Several requests, each under the limit, each made of whole sentences, every one through the call site.
    const served = service.served.filter((s) => s.status === 200);
    expect(served.length).toBeGreaterThanOrEqual(5);
    expect(requests).toHaveLength(served.length);
    expect(requests.map((r) => r.chunk)).toEqual(served.map((_, i) => i));
    for (const s of served) {
      expect(Array.from(s.text).length).toBeLessThanOrEqual(600);
      expect(s.text.endsWith('.')).toBe(true);
      expect(s).toMatchObject({ gender: 1, language: 'en' });
    }
    // Continuous audio: exactly the parts end to end.
    const wav = parseWav(result.audio);
    const partsMs = served.reduce((sum, s) => sum + s.duration_ms, 0);
    const durationError = Math.abs(wav.durationMs - partsMs);
    expect(wav.durationMs).toBeGreaterThan(180_000);
    expect(durationError).toBeLessThan(100);
    expect(result.duration_ms).toBeCloseTo(wav.durationMs, 3);
    // No click at a join: both sides of every join are silent and no step crosses it.
    let boundary = 0;
    for (const part of served.slice(0, -1)) {
      boundary += Math.round((part.duration_ms * wav.sampleRate) / 1000);
      const window = wav.samples.subarray(boundary - 220, boundary + 220);
      let step = 0;
      for (let i = 1; i < window.length; i++) step = Math.max(step, Math.abs(window[i] - window[i - 1]));
      expect(step).toBeLessThan(200);
    }
    // Subtitles in sync to the end.
    const cues = cuesFromSentences(result.sentences);
    const alignment = cueAlignment(cues, truthOf(served));
    console.info(
      `[measured] http 3-min: ${served.length} requests, ${(wav.durationMs / 1000).toFixed(1)} s, |duration - sum of parts| ${durationError.toFixed(2)} ms, ` +
        `${alignment.compared}/${cues.length * 2} cue boundaries compared: p95 ${alignment.p95_ms.toFixed(0)} ms, at pauses max ${alignment.max_at_pauses_ms.toFixed(0)} ms, ` +
        `overall max ${alignment.max_ms.toFixed(0)} ms, last cue end ${alignment.last_end_error_ms.toFixed(0)} ms`,
    );
    expect(alignment.compared).toBe(cues.length * 2);
    // The service answers audio only: edges at pauses are found exactly; a cue cut inside a
    // clause is placed by expected word length and energy dips, which the fake's ±25 % word
    // jitter defeats now and then.
    expect(alignment.max_at_pauses_ms).toBeLessThanOrEqual(150);
    expect(alignment.p95_ms).toBeLessThanOrEqual(150);
    expect(alignment.max_ms).toBeLessThanOrEqual(200);
    expect(alignment.last_end_error_ms).toBeLessThanOrEqual(150);
    expect(result).toMatchObject({ voice: 'team-voice-7', language: 'en', details: { requests: served.length, chunks: served.length } });
  });

  it('narrates Chinese in several requests with cues on the words', async () => {
    const provider = new HttpTtsProvider({ url: service.url, maxChars: 60, retry: noWait });
    service.served.length = 0;
    const result = await provider.synthesize({ sentences: CHINESE_STORY, gender: 2 });
    expect(service.served.length).toBeGreaterThanOrEqual(3);
    expect(service.served.every((s) => s.language === 'cmn' && s.gender === 2)).toBe(true);
    const alignment = cueAlignment(cuesFromSentences(result.sentences), truthOf(service.served));
    expect(alignment.max_ms).toBeLessThanOrEqual(150);
  });

  it('retries a 503 and a 429 and then succeeds, every attempt through the call site', async () => {
    const provider = new HttpTtsProvider({ url: service.url, retry: noWait });
    const { context, requests } = recordingContext();
    service.failNext([503, 429]);
    const result = await provider.synthesize({ sentences: ['The river was calm.'], gender: 0 }, context);
    expect(requests.map((r) => r.attempt)).toEqual([1, 2, 3]);
    expect(result.details).toMatchObject({ requests: 3, chunks: 1 });
  });

  it("fails the task with the service's reason when it refuses the text", async () => {
    const provider = new HttpTtsProvider({ url: service.url, maxChars: 2000, retry: noWait });
    const tooLong = englishStory(12).join(' ');
    await expect(provider.synthesize({ sentences: [tooLong], gender: 1 })).rejects.toMatchObject({
      name: 'TtsFailedError',
      message: expect.stringContaining('text_too_long'),
    });
  });

  it('reports a service that stays busy or cannot be reached as transient (the state machine retries)', async () => {
    service.failNext([503, 503, 503]);
    const busy = new HttpTtsProvider({ url: service.url, retry: noWait });
    const error = await busy.synthesize({ sentences: ['Hello there.'], gender: 0 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SpeechServiceBusyError);
    expect(error).toMatchObject({ name: 'TransientStageError', throttled: false });
    const gone = new HttpTtsProvider({ url: 'http://127.0.0.1:9/tts', retry: { ...noWait, attempts: 2 } });
    await expect(gone.synthesize({ sentences: ['Hello there.'], gender: 0 })).rejects.toMatchObject({ name: 'TransientStageError' });
  });

  it('decodes MP3 answers and joins them without losing or adding time', async () => {
    const mp3 = await startFakeHttpTts({ format: 'mp3' });
    try {
      const provider = new HttpTtsProvider({ url: mp3.url, maxChars: 300, retry: noWait });
      const result = await provider.synthesize({ sentences: englishStory(8), gender: 2 });
      const served = mp3.served.filter((s) => s.status === 200);
      expect(served.length).toBeGreaterThanOrEqual(2);
      const partsMs = served.reduce((sum, s) => sum + s.duration_ms, 0);
      // LAME's gapless tag lets the decoder drop the encoder's delay and padding: within a few ms per part.
      const error = Math.abs(result.duration_ms - partsMs);
      const alignment = cueAlignment(cuesFromSentences(result.sentences), truthOf(served));
      console.info(
        `[measured] http mp3: ${served.length} parts, |duration - sum of the sent parts| ${error.toFixed(1)} ms, cue max error ${alignment.max_ms.toFixed(0)} ms`,
      );
      expect(error).toBeLessThan(10 * served.length);
      expect(alignment.max_ms).toBeLessThanOrEqual(150);
    } finally {
      await mp3.close();
    }
  });

  it('lines cues up with real speech (eSpeak behind the fake service)', async () => {
    const espeak = new EspeakTtsProvider();
    const real = await startFakeHttpTts({
      synthesize: async (text, request) => {
        const said: SynthesisResult = await espeak.synthesize({
          sentences: text.split(/(?<=[.!?。！？])\s*/u).filter(Boolean),
          gender: request.gender as 0 | 1 | 2,
        });
        const wav = parseWav(said.audio);
        return { samples: wav.samples, sampleRate: wav.sampleRate, words: said.sentences.flatMap((s) => s.words) };
      },
    });
    try {
      const report: string[] = [];
      for (const [language, sentences, maxChars] of [
        ['en', englishStory(12), 400],
        ['cmn', CHINESE_STORY, 80],
      ] as const) {
        real.served.length = 0;
        const provider = new HttpTtsProvider({ url: real.url, maxChars, retry: noWait });
        const result = await provider.synthesize({ sentences: [...sentences], gender: 1 });
        const cues = cuesFromSentences(result.sentences);
        const alignment = cueAlignment(cues, truthOf(real.served));
        const sorted = [...alignment.errors].sort((a, b) => a - b);
        report.push(
          `${language}: ${real.served.length} requests, ${cues.length} cues, ${alignment.compared} boundaries compared, median ${sorted[sorted.length >> 1]} ms, max ${alignment.max_ms} ms`,
        );
        // Audio-only timing on real speech: boundaries at pauses are exact; inside a clause the
        // words are placed by expected length, which real speech follows only roughly.
        expect(sorted[sorted.length >> 1]).toBeLessThanOrEqual(60);
        expect(alignment.max_ms).toBeLessThanOrEqual(250);
      }
      console.info(`[measured] http + eSpeak speech: ${report.join(' | ')}`);
    } finally {
      await real.close();
    }
  });
});

describe('polly provider', () => {
  let polly: FakePolly;
  let client: PollyClient;
  beforeAll(async () => {
    polly = await startFakePolly();
    client = new PollyClient({
      region: 'us-east-1',
      endpoint: polly.endpoint,
      credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
      requestHandler: new NodeHttpHandler(),
      maxAttempts: 1,
    });
  });
  afterAll(async () => {
    client.destroy();
    await polly.close();
  });

  it('narrates a long story through neural voices in requests under 3,000 characters, timed by word speech marks', async () => {
    const provider = new PollyTtsProvider({ client, retry: noWait });
    const sentences = englishStory(80);
    expect(sentences.join(' ').length).toBeGreaterThan(POLLY_MAX_CHARS);
    const { context, requests } = recordingContext();
    polly.calls.length = 0;

    const result = await provider.synthesize({ sentences, gender: 1 }, context);

    const audioCalls = polly.calls.filter((c) => c.OutputFormat === 'pcm');
    const markCalls = polly.calls.filter((c) => c.OutputFormat === 'json');
    expect(audioCalls.length).toBeGreaterThanOrEqual(2);
    expect(markCalls.map((c) => c.Text)).toEqual(audioCalls.map((c) => c.Text));
    for (const call of polly.calls) {
      expect(call).toMatchObject({ VoiceId: 'Matthew', Engine: 'neural', status: 200 });
      expect(Array.from(call.Text).length).toBeLessThanOrEqual(POLLY_MAX_CHARS);
    }
    expect(markCalls.every((c) => c.SpeechMarkTypes?.includes('word'))).toBe(true);
    expect(requests.map((r) => r.kind)).toEqual(audioCalls.flatMap(() => ['audio', 'speech_marks']));
    const partsMs = audioCalls.reduce((sum, c) => sum + c.duration_ms, 0);
    expect(Math.abs(result.duration_ms - partsMs)).toBeLessThan(100);
    let offset = 0;
    const truth = audioCalls.flatMap((c) => {
      const words = c.words.map((w) => ({ ...w, start_ms: w.start_ms + offset, end_ms: w.end_ms + offset }));
      offset += c.duration_ms;
      return words;
    });
    const alignment = cueAlignment(cuesFromSentences(result.sentences), truth);
    console.info(
      `[measured] polly: ${audioCalls.length} chunks, |duration - sum of parts| ${Math.abs(result.duration_ms - partsMs).toFixed(2)} ms, cue max error ${alignment.max_ms} ms`,
    );
    expect(alignment.max_ms).toBeLessThanOrEqual(150);
    expect(result).toMatchObject({ voice: 'Matthew', language: 'en', details: { engine: 'neural', chunks: audioCalls.length } });
    expect(result.voice_substitution).toBeUndefined();
  });

  it('narrates a male Mandarin request with Zhiyu and records the substitution', async () => {
    const provider = new PollyTtsProvider({ client, retry: noWait });
    polly.calls.length = 0;
    const result = await provider.synthesize({ sentences: CHINESE_STORY.slice(0, 3), gender: 1 });
    expect(polly.calls.every((c) => c.VoiceId === 'Zhiyu')).toBe(true);
    expect(result.voice).toBe('Zhiyu');
    expect(result.voice_substitution).toMatchObject({ language: 'cmn', requested_gender: 'male', voice: 'Zhiyu' });
    expect(result.details).toMatchObject({ voice_substitution: { voice: 'Zhiyu' } });
    expect(result.sentences.map((s) => s.words.map((w) => w.text).join(''))).toEqual(CHINESE_STORY.slice(0, 3));
  });

  it('picks the neural voice per language and gender, with overrides', () => {
    expect(pollyVoiceFor('en', 1)).toEqual({ voice: 'Matthew' });
    expect(pollyVoiceFor('en', 2)).toEqual({ voice: 'Joanna' });
    expect(pollyVoiceFor('en', 0)).toEqual({ voice: 'Joanna' });
    expect(pollyVoiceFor('cmn', 2)).toEqual({ voice: 'Zhiyu' });
    expect(pollyVoiceFor('cmn', 1).substitution?.voice).toBe('Zhiyu');
    expect(pollyVoiceFor('en', 1, { en: { male: 'Stephen' } })).toEqual({ voice: 'Stephen' });
    expect(pollyVoiceFor('cmn', 1, { cmn: { male: 'SomeFutureVoice' } })).toEqual({ voice: 'SomeFutureVoice' });
  });

  it('retries throttling, and fails the task when Polly refuses the request', async () => {
    const provider = new PollyTtsProvider({ client, retry: noWait });
    polly.failNext(['ThrottlingException', 'ServiceFailureException']);
    const { context, requests } = recordingContext();
    await provider.synthesize({ sentences: ['It was late.'], gender: 2 }, context);
    expect(requests.map((r) => `${r.kind}#${r.attempt}`)).toEqual(['audio#1', 'audio#2', 'audio#3', 'speech_marks#1']);

    polly.failNext(['TextLengthExceededException']);
    await expect(provider.synthesize({ sentences: ['It was late.'], gender: 2 })).rejects.toMatchObject({
      name: 'TtsFailedError',
      message: expect.stringContaining('TextLengthExceededException'),
    });
    polly.failNext(['ThrottlingException', 'ThrottlingException', 'ThrottlingException']);
    const error = await provider.synthesize({ sentences: ['It was late.'], gender: 2 }).catch((e: unknown) => e);
    expect(error).toMatchObject({ name: 'TransientStageError', throttled: true });
  });
});

describe('choosing the provider from settings', () => {
  const base = { AWS_REGION: 'us-east-1', AWS_ACCESS_KEY_ID: 'x', AWS_SECRET_ACCESS_KEY: 'y' };

  it('uses eSpeak by default, http when TTS_URL is set, polly when asked, and names a missing TTS_URL', () => {
    expect(ttsProviderFor(createRuntime(base)).name).toBe('espeak');
    expect(ttsProviderFor(createRuntime({ ...base, TTS_URL: 'http://127.0.0.1:1/tts' })).name).toBe('http');
    expect(ttsProviderFor(createRuntime({ ...base, TTS_PROVIDER: 'polly' })).name).toBe('polly');
    expect(() => ttsProviderFor(createRuntime({ ...base, TTS_PROVIDER: 'http' }))).toThrow(/TTS_URL/);
    expect(() => createRuntime({ ...base, TTS_PROVIDER: 'azure' })).toThrow(/TTS_PROVIDER/);
  });

  it('talks to the Polly endpoint the settings name', async () => {
    const polly = await startFakePolly();
    try {
      const rt = createRuntime({ ...base, TTS_PROVIDER: 'polly', AWS_ENDPOINT_URL_POLLY: polly.endpoint, POLLY_VOICE_EN_FEMALE: 'Ruth' });
      const result = await ttsProviderFor(rt).synthesize({ sentences: ['Good morning.'], gender: 2 });
      expect(result.voice).toBe('Ruth');
      expect(polly.calls.map((c) => c.VoiceId)).toEqual(['Ruth', 'Ruth']);
    } finally {
      await polly.close();
    }
  });
});
