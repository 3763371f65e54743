import type { Runtime } from '../shared/runtime.js';
import { PassthroughStoryProvider, type StoryProvider } from '../shared/story/story-provider.js';
import { EspeakTtsProvider } from '../shared/tts/espeak-tts.js';
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

/** The story provider the settings choose (offline: passthrough). */
export function storyProviderFor(_rt: Runtime): StoryProvider {
  return new PassthroughStoryProvider();
}

/** The TTS provider the settings choose (offline: eSpeak NG compiled to WASM). */
export function ttsProviderFor(_rt: Runtime): TtsProvider {
  return new EspeakTtsProvider();
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
