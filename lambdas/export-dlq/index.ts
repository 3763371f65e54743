import { withLambdaContext } from '../../shared/logger.js';
import { sharedRuntime } from '../../shared/runtime.js';
import { createExportDeadLetterHandler } from './handler.js';

export const handler = withLambdaContext(createExportDeadLetterHandler(sharedRuntime()));
