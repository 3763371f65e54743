/**
 * Measures how long eSpeak NG narrates the benchmark's source texts (the words-per-second figure
 * in `support/narrations.ts`): `npx tsx bench/calibrate-narration.ts [seconds] [count]`.
 */
import { splitSentences } from '../shared/story/sentences.js';
import { EspeakTtsProvider } from '../shared/tts/espeak-tts.js';
import { narrationSource } from './support/narrations.js';

const seconds = Number(process.argv[2] ?? 20);
const count = Number(process.argv[3] ?? 5);
const tts = new EspeakTtsProvider();
for (let i = 0; i < count; i++) {
  const text = narrationSource(i, seconds);
  const started = performance.now();
  const result = await tts.synthesize({ sentences: splitSentences(text), gender: (i % 3) as 0 | 1 | 2 });
  const words = text.split(/\s+/).length;
  console.log(
    `task ${i}: ${words} words, narration ${(result.duration_ms / 1000).toFixed(1)} s, ` +
      `${(words / (result.duration_ms / 1000)).toFixed(2)} words/s, synthesis ${Math.round(performance.now() - started)} ms`,
  );
}
