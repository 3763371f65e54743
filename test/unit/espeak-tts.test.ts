import { describe, expect, it } from 'vitest';
import { EspeakTtsProvider } from '../../shared/tts/espeak-tts.js';
import { detectLanguage, TtsInputError, type SynthesisResult } from '../../shared/tts/tts-provider.js';
import { encodeWav, joinPcmClips, parseWav } from '../../shared/tts/wav.js';

const provider = new EspeakTtsProvider();

const HAN = /\p{Script=Han}/gu;

/** Asserts the timeline invariants a subtitle renderer relies on. */
function expectConsistentTimeline(result: SynthesisResult): void {
  let previousEnd = 0;
  for (const sentence of result.sentences) {
    expect(sentence.start_ms).toBeGreaterThanOrEqual(previousEnd);
    expect(sentence.end_ms).toBeGreaterThan(sentence.start_ms);
    expect(sentence.end_ms).toBeLessThanOrEqual(result.duration_ms);
    let previousWordEnd = sentence.start_ms;
    for (const word of sentence.words) {
      expect(word.start_ms).toBeGreaterThanOrEqual(previousWordEnd);
      expect(word.end_ms).toBeGreaterThanOrEqual(word.start_ms);
      expect(word.end_ms).toBeLessThanOrEqual(sentence.end_ms);
      previousWordEnd = word.end_ms;
    }
    previousEnd = sentence.end_ms;
  }
}

/** Median fundamental frequency (Hz) of the voiced 46 ms frames, by normalized autocorrelation. */
function medianPitchHz(samples: Int16Array, sampleRate: number): number {
  const frame = 1024;
  const minLag = Math.floor(sampleRate / 400);
  const maxLag = Math.ceil(sampleRate / 60);
  const pitches: number[] = [];
  for (let start = 0; start + frame + maxLag < samples.length; start += frame / 2) {
    let energy = 0;
    for (let i = 0; i < frame; i++) energy += samples[start + i] ** 2;
    if (Math.sqrt(energy / frame) < 1500) continue;
    let bestLag = 0;
    let bestScore = 0;
    for (let lag = minLag; lag <= maxLag; lag++) {
      let product = 0;
      let lagEnergy = 0;
      for (let i = 0; i < frame; i++) {
        product += samples[start + i] * samples[start + i + lag];
        lagEnergy += samples[start + i + lag] ** 2;
      }
      const score = product / Math.sqrt(energy * lagEnergy || 1);
      if (score > bestScore) {
        bestScore = score;
        bestLag = lag;
      }
    }
    if (bestScore > 0.6) pitches.push(sampleRate / bestLag);
  }
  pitches.sort((a, b) => a - b);
  return pitches[Math.floor(pitches.length / 2)] ?? 0;
}

function sineClip(sampleRate: number, durationMs: number, hz: number, amplitude: number): Int16Array {
  const samples = new Int16Array(Math.round((durationMs * sampleRate) / 1000));
  for (let i = 0; i < samples.length; i++) samples[i] = Math.round(amplitude * Math.sin((2 * Math.PI * hz * i) / sampleRate));
  return samples;
}

function maxSampleJump(samples: Int16Array): number {
  let max = 0;
  for (let i = 1; i < samples.length; i++) max = Math.max(max, Math.abs(samples[i] - samples[i - 1]));
  return max;
}

describe('EspeakTtsProvider', () => {
  it('narrates two English sentences as one WAV whose sentence and word times fit its measured length', async () => {
    // prepare
    const sentences = ['The fox jumps over the lazy dog, then it runs away.', 'It costs $5.50 today.'];

    // act
    const result = await provider.synthesize({ sentences, gender: 0 });

    // assess
    const wav = parseWav(result.audio);
    expect(result).toMatchObject({ content_type: 'audio/wav', extension: 'wav', language: 'en', voice: 'en-us' });
    expect(wav.channels).toBe(1);
    expect(result.duration_ms).toBeCloseTo((wav.samples.length * 1000) / wav.sampleRate, 6);
    expect(result.sentences.map((sentence) => sentence.text)).toEqual(sentences);
    expectConsistentTimeline(result);
    // The words add up to the sentence, so subtitles lose nothing (the number is one word).
    for (const [index, sentence] of result.sentences.entries()) {
      expect(sentence.words.map((word) => word.text).join(' ')).toBe(sentences[index]);
    }
    expect(result.sentences[1].words.map((word) => word.text)).toContain('$5.50');
    // The pause between sentences is the configured 250 ms.
    expect(result.sentences[1].start_ms - result.sentences[0].end_ms).toBeGreaterThanOrEqual(249);
    expect(result.sentences[1].start_ms - result.sentences[0].end_ms).toBeLessThanOrEqual(251);
  });

  it('speaks Chinese in Mandarin, one timed word per character, not letter by letter', async () => {
    // prepare
    const text = '今天我们去公园散步。天气很好。';
    const ideographs = text.match(HAN)?.length ?? 0;

    // act
    const result = await provider.synthesize({ sentences: [text], gender: 0 });

    // assess
    expect(result.language).toBe('cmn');
    expect(result.voice).toBe('cmn');
    expect(result.duration_ms).toBeGreaterThan(1000);
    // Read by the English voice each character becomes "Chinese letter" (about 650 ms each).
    expect(result.duration_ms / ideographs).toBeLessThan(400);
    expect(result.sentences[0].words.length).toBeGreaterThanOrEqual(10);
    expect(result.sentences[0].words.map((word) => word.text).join('')).toBe(text);
    expectConsistentTimeline(result);
  });

  it('uses a male voice for gender 1 and a higher-pitched female voice for gender 2', async () => {
    // prepare
    const sentences = ['Welcome back to the channel, today we cook dinner.'];

    // act
    const male = await provider.synthesize({ sentences, gender: 1 });
    const female = await provider.synthesize({ sentences, gender: 2 });

    // assess
    expect(male.voice).toBe('en-us+m3');
    expect(female.voice).toBe('en-us+f3');
    expect(male.audio.equals(female.audio)).toBe(false);
    const malePitch = medianPitchHz(parseWav(male.audio).samples, male.sample_rate ?? 22050);
    const femalePitch = medianPitchHz(parseWav(female.audio).samples, female.sample_rate ?? 22050);
    expect(malePitch).toBeGreaterThan(60);
    expect(femalePitch).toBeGreaterThan(malePitch * 1.3);
  });

  it('keeps each narration in its own voice when two run at the same time', async () => {
    // prepare
    const chinese = ['今天我们去公园散步。', '天气很好。'];
    const english = ['Good morning everyone.', 'Let us begin.'];

    // act
    const [cmn, en] = await Promise.all([provider.synthesize({ sentences: chinese, gender: 2 }), provider.synthesize({ sentences: english, gender: 1 })]);

    // assess
    expect([cmn.voice, en.voice]).toEqual(['cmn+f3', 'en-us+m3']);
    for (const [index, sentence] of cmn.sentences.entries()) {
      const ideographs = chinese[index].match(HAN)?.length ?? 1;
      expect((sentence.end_ms - sentence.start_ms) / ideographs).toBeLessThan(400);
    }
    expectConsistentTimeline(cmn);
    expectConsistentTimeline(en);
  });

  it('rejects an empty request, a blank sentence and an unsupported language as input errors', async () => {
    await expect(provider.synthesize({ sentences: [], gender: 0 })).rejects.toBeInstanceOf(TtsInputError);
    await expect(provider.synthesize({ sentences: ['Hi.', '  '], gender: 0 })).rejects.toThrow(/sentence 1 is blank/);
    await expect(provider.synthesize({ sentences: ['Bonjour.'], gender: 0, language: 'fr' })).rejects.toMatchObject({
      name: 'TtsInputError',
    });
  });
});

describe('detectLanguage', () => {
  it('chooses Mandarin when any CJK ideograph is present and English otherwise', () => {
    expect(detectLanguage('我喜欢用iPhone拍照')).toBe('cmn');
    expect(detectLanguage('Hello, world')).toBe('en');
  });
});

describe('wav helpers', () => {
  it('round-trips PCM through a WAV buffer', () => {
    // prepare
    const samples = sineClip(22050, 100, 440, 12000);

    // act
    const parsed = parseWav(encodeWav(samples, 22050));

    // assess
    expect(parsed).toMatchObject({ sampleRate: 22050, channels: 1 });
    expect(parsed.samples).toEqual(samples);
    expect(parsed.durationMs).toBeCloseTo(100, 6);
  });

  it('joins clips without a click and with exactly the parts plus the gaps', () => {
    // prepare: loud sines cut mid-wave, the worst case for a click
    const sampleRate = 22050;
    const parts = [sineClip(sampleRate, 333, 440, 26000), sineClip(sampleRate, 517, 300, -26000), sineClip(sampleRate, 201, 440, 26000)];
    const naturalJump = Math.max(...parts.map(maxSampleJump));
    const partsMs = parts.reduce((sum, part) => sum + (part.length * 1000) / sampleRate, 0);

    for (const gapMs of [0, 250]) {
      // act
      const joined = joinPcmClips(
        parts.map((samples) => ({ samples, sampleRate })),
        { gapMs },
      );

      // assess
      const joinedMs = (joined.samples.length * 1000) / sampleRate;
      expect(Math.abs(joinedMs - (partsMs + 2 * gapMs))).toBeLessThan(1);
      expect(maxSampleJump(joined.samples)).toBeLessThanOrEqual(naturalJump * 1.1);
      for (const placement of joined.placements) {
        expect(joined.samples[placement.startSample]).toBe(0);
        expect(joined.samples[placement.endSample - 1]).toBe(0);
      }
      expect(joined.placements[1].startSample - joined.placements[0].endSample).toBe(Math.round((gapMs * sampleRate) / 1000));
    }
  });

  it('resamples a clip recorded at another rate so the joined timeline stays in real time', () => {
    // prepare
    const clips = [
      { samples: sineClip(22050, 200, 440, 8000), sampleRate: 22050 },
      { samples: sineClip(16000, 300, 440, 8000), sampleRate: 16000 },
    ];

    // act
    const joined = joinPcmClips(clips, { gapMs: 100 });

    // assess
    expect(joined.sampleRate).toBe(22050);
    expect(joined.samples.length / 22.05).toBeCloseTo(600, 0);
  });
});
