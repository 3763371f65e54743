import { withLambdaContext } from '../../shared/logger.js';
import { sharedRuntime } from '../../shared/runtime.js';
import { requireSettings } from '../../shared/settings.js';
import { ttsProviderFor } from '../../shared/tts/tts-provider-for.js';
import { createTtsHandler } from './handler.js';

const rt = sharedRuntime();
requireSettings(rt.settings, ['tableName', 'bucketName']);
export const handler = withLambdaContext(createTtsHandler(rt, ttsProviderFor(rt)));
