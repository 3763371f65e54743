import { withLambdaContext } from '../../shared/logger.js';
import { sharedRuntime } from '../../shared/runtime.js';
import { requireSettings } from '../../shared/settings.js';
import { createFailHandler } from './handler.js';

const rt = sharedRuntime();
requireSettings(rt.settings, ['tableName']);
export const handler = withLambdaContext(createFailHandler(rt));
