import { handle } from 'hono/aws-lambda';
import { withLambdaContext } from '../../shared/logger.js';
import { sharedRuntime } from '../../shared/runtime.js';
import { requireSettings } from '../../shared/settings.js';
import { createApiApp } from './app.js';

const rt = sharedRuntime();
requireSettings(rt.settings, ['tableName', 'bucketName', 'stateMachineArn']);
export const app = createApiApp(rt);
export const handler = withLambdaContext(handle(app));
