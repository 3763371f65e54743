/**
 * Runs with every test file (vitest `setupFiles`): after a file that started embedded stacks,
 * every AWS call their handlers made must be allowed by that function's policy in the
 * synthesized template, in every deployment mode — so a new key prefix, item kind, queue or
 * action without its grant fails `npm test` (test/support/iam-call-check.ts).
 */
import { afterAll } from 'vitest';
import { takeRecordedCalls } from './aws-call-recorder.js';

afterAll(async () => {
  const calls = takeRecordedCalls();
  if (!calls.length) return;
  const { deniedCalls, describeDenied } = await import('./iam-call-check.js');
  const denied = await deniedCalls(calls);
  if (denied.length) throw new Error(describeDenied(denied));
}, 120_000);
