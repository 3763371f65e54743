import { afterAll, describe, expect, it } from 'vitest';
import { espeakEngineLoaded, espeakVoiceFor, espeakVoicesUsed } from '../../shared/tts/espeak-tts.js';
import { startTestStack, type TestStack } from '../support/stack.js';

/** `npm start` loads the eSpeak engine and speaks in each of its voices while it starts, so the first narration does not pay for it. */
let stack: TestStack | undefined;
afterAll(async () => {
  await stack?.close();
});

describe('warm engines', () => {
  it('loads the eSpeak engine at start when asked to and speaks once in every voice, before any narration', async () => {
    // This file's process has narrated nothing yet.
    expect(espeakEngineLoaded()).toBe(false);
    expect(espeakVoicesUsed()).toEqual([]);
    stack = await startTestStack({ warmEngines: true });
    await stack.enginesReady;
    expect(espeakEngineLoaded()).toBe(true);
    const voices = (['en', 'cmn'] as const).flatMap((language) => ([0, 1, 2] as const).map((gender) => espeakVoiceFor(language, gender)));
    expect(espeakVoicesUsed().sort()).toEqual([...new Set(voices)].sort());
  });
});
