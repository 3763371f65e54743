import { AsyncLocalStorage } from 'node:async_hooks';
import type { PipelineFunctionName } from '../../shared/resources/functions.js';
import type { Settings } from '../../shared/settings.js';

/**
 * Who makes an AWS call in the embedded stack, as AWS would see it: on AWS every function has
 * its own role, here every handler shares one runtime and one set of clients. The embedded
 * stack runs each handler (and the state machine's own SQS send) inside {@link runAsPrincipal},
 * so a test can attribute every call to the role that would sign it on AWS and check it against
 * that role's policy (test/support/aws-call-recorder.ts). Nothing in lambdas/ or shared/ sees this.
 */
export type EmbeddedPrincipal =
  /** a function's role (`export`: the Lambda worker's role, or the export agent's policy) */
  | PipelineFunctionName
  /** the state machine's own role (the Export state's sqs:sendMessage) */
  | 'stateMachine';

export interface PrincipalContext {
  principal: EmbeddedPrincipal;
  /** the handlers' settings: which providers the deployment uses decides which grants it has */
  settings: Settings;
}

// One store per process, whatever copy of this module a caller loaded (vitest re-evaluates
// source modules per test file, the SDK clients that read it are loaded once).
const STORE_KEY = Symbol.for('reel-pipeline.embedded-principal');
const holder = globalThis as { [STORE_KEY]?: AsyncLocalStorage<PrincipalContext> };
const store: AsyncLocalStorage<PrincipalContext> = (holder[STORE_KEY] ??= new AsyncLocalStorage<PrincipalContext>());

/** Runs `work` (and everything it starts) as `context.principal`. */
export function runAsPrincipal<T>(context: PrincipalContext, work: () => T): T {
  return store.run(context, work);
}

/** The principal of the code running now; undefined for the embedded stack's own plumbing and for test code. */
export function currentPrincipal(): PrincipalContext | undefined {
  return store.getStore();
}
