import { afterAll, describe, expect, it } from 'vitest';
import { espeakEngineLoaded } from '../../shared/tts/espeak-tts.js';
import { startTestStack, type TestStack } from '../support/stack.js';

/** `npm start` loads the eSpeak engine while it starts, so the first narration does not pay for it. */
let stack: TestStack | undefined;
afterAll(async () => {
  await stack?.close();
});

describe('warm engines', () => {
  it('loads the eSpeak engine at start when asked to, before any narration', async () => {
    // This file's process has narrated nothing yet.
    expect(espeakEngineLoaded()).toBe(false);
    stack = await startTestStack({ warmEngines: true });
    await stack.enginesReady;
    expect(espeakEngineLoaded()).toBe(true);
  });
});
