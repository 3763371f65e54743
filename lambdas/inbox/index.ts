import { withLambdaContext } from '../../shared/logger.js';
import { sharedRuntime } from '../../shared/runtime.js';
import { requireSettings } from '../../shared/settings.js';
import { createInboxHandler } from './handler.js';

const rt = sharedRuntime();
requireSettings(rt.settings, ['tableName', 'bucketName', 'stateMachineArn']);
export const handler = withLambdaContext(createInboxHandler(rt));
