import type { Context, S3Event, SQSEvent } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import type { createExportDeadLetterHandler } from '../../lambdas/export-dlq/handler.js';
import type { createExportWorkerHandler } from '../../lambdas/export/handler.js';
import type { createInboxHandler } from '../../lambdas/inbox/handler.js';

/**
 * The event handlers ask only for the fields they read, picked from `@types/aws-lambda`; what
 * Lambda hands them — a whole `SQSEvent`, `S3Event` and `Context` — must still fit. Checked by
 * the compiler (`npx tsc --noEmit` covers test/): a handler that asks for a field the standard
 * type does not have, or types one differently, makes the `true` below a type error.
 */
type Fits<Handler, Event> = Handler extends (event: infer Wanted, ...rest: never[]) => unknown ? ([Event] extends [Wanted] ? true : false) : false;
type FitsContext<Handler> = Handler extends (event: never, context: infer Wanted) => unknown ? ([Context] extends [Wanted] ? true : false) : false;

describe('the Lambda event types', () => {
  it('take the standard events and context that Lambda passes', () => {
    const fits: [
      Fits<ReturnType<typeof createExportWorkerHandler>, SQSEvent>,
      FitsContext<ReturnType<typeof createExportWorkerHandler>>,
      Fits<ReturnType<typeof createExportDeadLetterHandler>, SQSEvent>,
      Fits<ReturnType<typeof createInboxHandler>, S3Event>,
    ] = [true, true, true, true];

    expect(fits).toEqual([true, true, true, true]);
  });
});
