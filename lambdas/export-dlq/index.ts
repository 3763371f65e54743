import { sharedRuntime } from '../../shared/runtime.js';
import { createExportDeadLetterHandler } from './handler.js';

export const handler = createExportDeadLetterHandler(sharedRuntime());
