import { createDraftHandler } from '../../lambdas/draft/handler.js';
import { createFailHandler } from '../../lambdas/fail/handler.js';
import { createFinalizeHandler } from '../../lambdas/finalize/handler.js';
import { createStartHandler } from '../../lambdas/start/handler.js';
import { createStoryHandler } from '../../lambdas/story/handler.js';
import { createTtsHandler } from '../../lambdas/tts/handler.js';
import type { StateMachineFunction } from '../../shared/resources/functions.js';
import type { Runtime } from '../../shared/runtime.js';
import { storyProviderFor } from '../../shared/story/story-provider-for.js';
import { ttsProviderFor } from '../../shared/tts/tts-provider-for.js';

/** A handler as the embedded stack invokes it (its event type is the handler's own business). */
export type AnyHandler = (event: never) => Promise<unknown>;

/**
 * Every state-machine handler, and the fail handler that the execution-ended path calls, wired exactly as each function's `lambdas/<fn>/index.ts` wires
 * it. The map lives here, in the embedded stack, because on AWS each function is its own bundle
 * and builds only its own dependencies; only a process that runs them all needs them all.
 */
export function createStateMachineHandlers(rt: Runtime): Record<StateMachineFunction | 'fail', AnyHandler> {
  return {
    start: createStartHandler(rt),
    story: createStoryHandler(rt, storyProviderFor(rt)),
    tts: createTtsHandler(rt, ttsProviderFor(rt)),
    draft: createDraftHandler(rt),
    finalize: createFinalizeHandler(rt),
    fail: createFailHandler(rt),
  };
}
