import { withLambdaContext } from '../../shared/logger.js';
import { sharedRuntime } from '../../shared/runtime.js';
import { requireSettings } from '../../shared/settings.js';
import { webhookSecretSource } from '../../shared/webhook/webhook-delivery.js';
import { createWebhookHandler } from './handler.js';

const rt = sharedRuntime();
requireSettings(rt.settings, ['tableName', 'webhookQueueUrl']);
export const handler = withLambdaContext(createWebhookHandler(rt, { secret: webhookSecretSource(rt.settings) }));
