import { withLambdaContext } from '../../shared/logger.js';
import { sharedRuntime } from '../../shared/runtime.js';
import { requireSettings } from '../../shared/settings.js';
import { createFinalizeHandler } from './handler.js';

const rt = sharedRuntime();
requireSettings(rt.settings, ['tableName', 'bucketName']);
export const handler = withLambdaContext(createFinalizeHandler(rt));
